#include "rendezvous/account_book.hpp"

#include <algorithm>

#include <spdlog/fmt/fmt.h>
#include <spdlog/spdlog.h>

#include "common/account_token.hpp"
#include "rendezvous/state_db.hpp"

namespace rendezvous {
namespace {

/// The soonest expiry after `now` among `accounts`.
std::optional<long long> soonest_expiry(const std::map<std::string, account>& accounts, long long now) {
  std::optional<long long> soonest;
  for (const auto& [name, a] : accounts) {
    if (a.expires && *a.expires > now && (!soonest || *a.expires < *soonest)) soonest = a.expires;
  }
  return soonest;
}

}  // namespace

net::awaitable<void> account_book::load_from(account_store& reader) {
  const auto version = co_await reader.version();
  take(co_await reader.all());
  version_ = version;
}

net::awaitable<bool> account_book::refresh() {
  try {
    const auto version = co_await store_->version();
    if (version == version_) co_return false;
    // The counter only grows: one that went back (a cluster's Redis restarted empty, flushed, or
    // restored from an old snapshot) would silently drop or revive accounts, and open a server
    // that has had them. Keep what was read until an operator restarts the server on purpose.
    if (version < version_) throw std::runtime_error(fmt::format("its change counter went back from {} to {} (was it emptied or restored?)", version_, version));
    take(co_await store_->all());
    version_ = version;
    spdlog::info("accounts: {} now ({} changed)", accounts_.size(), store_->where());
    co_return true;
  } catch (const std::exception& e) {
    const auto now = unix_now();
    if (!closed_ && now - last_error_log_ >= 60) {
      last_error_log_ = now;
      spdlog::error("accounts: cannot read {}: {}; keeping the accounts last read", store_->where(), e.what());
    }
    co_return false;
  }
}

void account_book::take(std::vector<account> accounts) {
  accounts_.clear();
  for (auto& a : accounts) {
    auto name = a.name;
    accounts_.emplace(std::move(name), std::move(a));
  }
  next_expiry_ = soonest_expiry(accounts_, unix_now());
  any_quota_ = std::any_of(accounts_.begin(), accounts_.end(), [](const auto& entry) { return entry.second.relay_quota.has_value(); });
}

const account* account_book::find(const std::string& name) const {
  const auto it = accounts_.find(name);
  return it == accounts_.end() ? nullptr : &it->second;
}

std::optional<account_refusal> account_book::standing(const account& a, long long now) {
  if (a.disabled) return account_refusal{"account_disabled", "account '" + a.name + "' is disabled"};
  if (a.expires && *a.expires <= now) return account_refusal{"account_expired", "account '" + a.name + "' has expired"};
  return std::nullopt;
}

std::optional<account_refusal> account_book::check(const std::string& name, std::string_view challenge,
                                                   std::string_view signature_hex, long long now) const {
  const auto* a = find(name);
  // An unknown name and a wrong secret read the same, and take as long (a signature is checked
  // either way): neither the reply nor its timing tells who has an account.
  static const identity::public_key nobody = account_token::verifier_of(account_token::generate("nobody"));
  const bool proved = account_token::verify(a ? a->verifier : nobody, name, challenge, signature_hex);
  if (a == nullptr || !proved) return account_refusal{"auth_failed", "wrong token"};
  return standing(*a, now);
}

std::optional<account_refusal> account_book::revoked(const std::string& name, const identity::public_key& verifier,
                                                     long long now) const {
  const auto* a = find(name);
  if (a == nullptr) return standing_of(name, now);
  if (a->verifier != verifier) {
    return account_refusal{"token_rotated", "the token of account '" + name + "' was replaced (rendezvous user rotate)"};
  }
  return standing(*a, now);
}

std::optional<account_refusal> account_book::standing_of(const std::string& name, long long now) const {
  const auto* a = find(name);
  if (a == nullptr) return account_refusal{"account_removed", "account '" + name + "' was removed"};
  return standing(*a, now);
}

bool account_book::expiry_passed(long long now) {
  if (!next_expiry_ || *next_expiry_ > now) return false;
  next_expiry_ = soonest_expiry(accounts_, now);
  return true;
}

}  // namespace rendezvous
