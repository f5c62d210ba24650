// Why a file transfer stopped. A refusal is the other side's policy (a peer not accepted, an
// unsafe name, a link out of the inbox); any other failure is a broken stream, a bad message or
// a local file error.
#pragma once
#include <stdexcept>
#include <string>

namespace transfer {

/// Stream resets that carry a refusal start with this, so the sender can tell it from a failure.
inline constexpr const char* refusal_prefix = "refused: ";

class transfer_error : public std::runtime_error {
 public:
  explicit transfer_error(const std::string& message, bool refused = false)
      : std::runtime_error(message), refused_(refused) {}
  bool refused() const { return refused_; }

 private:
  bool refused_;
};

/// The error for a stream that failed with `reason` (a reset from the other side, perhaps a refusal).
transfer_error stream_failure(const std::string& reason);

}  // namespace transfer
