// How SIGINT, SIGTERM and SIGHUP end a peer command cleanly: the signal is raised here; a stdio
// bridge that is running takes it and hangs up its own stream, and otherwise every live secure
// session is closed with a close record (the other side sees a clean close, not a truncation)
// before the process exits. One per process: signals are.
#pragma once
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/async_event.hpp"
#include "session/session.hpp"

namespace peer {

class interruption {
 public:
  /// The process's interruption.
  static interruption& process();

  /// A signal arrived: wakes every waiter.
  void raise(int signal);
  bool raised() const { return signal_ != 0; }
  /// "interrupted by SIGHUP": the reason given to the other side.
  std::string reason() const;
  /// What a command ends with when a signal cut its work short: 128 + the signal, as shells report.
  int exit_code() const { return 128 + signal_; }
  /// Waits until a signal has been raised (at once if one was).
  net::awaitable<void> wait();

  /// While a claim is held, the claimant ends its own work on a signal (a stdio bridge); main
  /// only closes sessions and exits when nothing claims the signal.
  class claim {
   public:
    explicit claim(interruption& owner) : owner_(owner) { ++owner_.claims_; }
    ~claim() { --owner_.claims_; }
    claim(const claim&) = delete;
    claim& operator=(const claim&) = delete;

   private:
    interruption& owner_;
  };
  /// The command has its outcome and is only returning it: a signal now changes nothing.
  void decided() { decided_ = true; }
  bool claimed() const { return claims_ > 0 || decided_; }
  bool has_decided() const { return decided_; }

  /// Sessions to close on a signal (held weakly: a session that ended is simply skipped).
  void track(const std::shared_ptr<session::session>& s);
  /// How long a signalled command waits for its peers to answer their close: a peer that does
  /// not answer must not keep a user's Ctrl-C waiting.
  static constexpr std::chrono::milliseconds close_wait{1500};
  /// Closes every live tracked session with the signal's reason and waits, at most close_wait,
  /// for them to end.
  net::awaitable<void> close_sessions();

 private:
  std::optional<net::async_event> raised_;  ///< made on the first wait, on the waiter's executor
  asio::any_io_executor raised_executor_;
  int signal_ = 0;
  int claims_ = 0;
  bool decided_ = false;
  std::vector<std::weak_ptr<session::session>> sessions_;
};

}  // namespace peer
