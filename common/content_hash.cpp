#include "common/content_hash.hpp"

#include <openssl/evp.h>

#include <array>
#include <stdexcept>

#include "common/crypto.hpp"

namespace crypto {

void content_hash::free_context::operator()(evp_md_ctx_st* context) const { EVP_MD_CTX_free(context); }

content_hash::content_hash() : context_(EVP_MD_CTX_new()) {
  if (!context_ || EVP_DigestInit_ex(context_.get(), EVP_sha256(), nullptr) != 1) {
    throw std::runtime_error("cannot start a SHA-256 hash (OpenSSL)");
  }
}

void content_hash::update(std::span<const unsigned char> data) {
  EVP_DigestUpdate(context_.get(), data.data(), data.size());
}

std::string content_hash::hex_digest() {
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int size = 0;
  EVP_DigestFinal_ex(context_.get(), digest.data(), &size);
  return to_hex(digest.data(), size);
}

}  // namespace crypto
