// The pure parts of the file-transfer wire (transfer/wire.cpp).
//
// stream_reader::read_message (the [u32][JSON] framing) is a coroutine over a session::stream
// and cannot be driven here; this harness covers what the receiver and sender do with a message
// once read: the body is parsed as read_message parses it, then transfer::string_field /
// size_field read it (they may throw transfer_error only). It also checks that a refusal or busy
// answer survives the trip through a stream reset: stream_failure(reset_reason(e)) must give
// back e's kind and text (transfer/wire.cpp, both functions).
//
// Input: [u8 kind][reason text] NUL [message body].
#include <exception>
#include <typeinfo>

#include "fuzz/fuzz_util.hpp"
#include "transfer/wire.hpp"
#if __has_include("common/json_fields.hpp")
#include "common/json_fields.hpp"
#define HAVE_JSON_FIELDS 1
#endif

namespace {

constexpr const char* harness = "transfer_wire";
using transfer::failure_kind;
using transfer::transfer_error;

const char* name(failure_kind kind) {
  switch (kind) {
    case failure_kind::failed: return "failed";
    case failure_kind::refused: return "refused";
    case failure_kind::busy: return "busy";
  }
  return "?";
}

nlohmann::json parse_like_read_message(std::string_view text) {
#ifdef HAVE_JSON_FIELDS
  return wire::parse_bounded(text).value;
#else
  return nlohmann::json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
#endif
}

template <typename F>
void only_transfer_error(const char* what, const char* key, F&& read) {
  try {
    read();
  } catch (const transfer_error&) {
  } catch (const std::exception& e) {
    fuzz::fail(harness, std::string(what) + "(\"" + key + "\") threw " + typeid(e).name() + ": " + e.what());
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const auto parts = fuzz::split_nul(fuzz::as_text(data + 1, size - 1), 2);
  const std::string reason(parts[0]);

  // A reset reason from the other side: any text must give an error, never throw.
  try {
    const auto error = transfer::stream_failure(reason);
    (void)transfer::reset_reason(error);
  } catch (const std::exception& e) {
    fuzz::fail(harness, std::string("stream_failure threw ") + e.what());
  }

  // Our own error, sent as a reset reason and read back by the other side.
  const auto kind = static_cast<failure_kind>(data[0] % 3);
  const transfer_error mine(reason, kind);
  const auto sent = transfer::reset_reason(mine);
  for (const std::string prefix : {"", "stream reset by the peer: "}) {
    const auto back = transfer::stream_failure(prefix + sent);
    FUZZ_CHECK(harness, back.kind() == kind,
               std::string("a ") + name(kind) + " error with text '" + reason.substr(0, 80) + "' came back as " +
                   name(back.kind()) + " (reset reason '" + (prefix + sent).substr(0, 120) + "')");
    if (kind != failure_kind::failed) {
      FUZZ_CHECK(harness, std::string(back.what()) == reason,
                 "the text of a " + std::string(name(kind)) + " error changed on the way: '" + reason.substr(0, 80) +
                     "' -> '" + std::string(back.what()).substr(0, 80) + "'");
    }
  }

  if (parts.size() < 2 || parts[1].size() > transfer::max_message_size) return 0;
  const auto message = parse_like_read_message(parts[1]);
  fuzz::check_depth(harness, message, "the transfer message parser");
  if (!message.is_object() || !message.contains("type") || !message["type"].is_string()) return 0;  // read_message refuses
  for (const char* key : {"type", "path", "hash", "kind"}) {
    only_transfer_error("transfer::string_field", key, [&] { (void)transfer::string_field(message, key); });
  }
  for (const char* key : {"size", "mode", "offset", "bytes", "files", "dirs"}) {
    only_transfer_error("transfer::size_field", key, [&] { (void)transfer::size_field(message, key); });
  }
  return 0;
}
