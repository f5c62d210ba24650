// Why a file transfer stopped. A refusal is the other side's policy (a peer not accepted, an
// unsafe name, a link in the inbox); busy means "not now" (the file is being received by another
// transfer, or too many transfers run); any other failure is a broken stream, a bad message or a
// local file error.
#pragma once
#include <stdexcept>
#include <string>

namespace transfer {

enum class failure_kind { failed, refused, busy };

/// Stream resets that carry a refusal or a busy answer start with these, so the sender can tell
/// them from a failure.
inline constexpr const char* refusal_prefix = "refused: ";
inline constexpr const char* busy_prefix = "busy: ";
inline constexpr const char* failure_prefix = "failed: ";

class transfer_error : public std::runtime_error {
 public:
  explicit transfer_error(const std::string& message, failure_kind kind = failure_kind::failed)
      : std::runtime_error(message), kind_(kind) {}
  failure_kind kind() const { return kind_; }
  bool refused() const { return kind_ == failure_kind::refused; }

 private:
  failure_kind kind_;
};

/// The error for a stream that failed with `reason` (a reset from the other side, perhaps a
/// refusal or a busy answer).
transfer_error stream_failure(const std::string& reason);
/// The reset reason that carries `error` to the other side, prefix included.
std::string reset_reason(const transfer_error& error);

}  // namespace transfer
