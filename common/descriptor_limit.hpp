// The process's file descriptor limit: what is in force, and raising the soft limit to the hard
// one (a server sizes its caps from it; a peer serving an exposed port or many forwards needs
// more than the usual soft 1,024).
#pragma once

namespace net {

/// The soft descriptor limit in force now.
long current_descriptor_limit();
/// Raises the soft descriptor limit to the hard one; returns the soft limit now in force.
long raise_descriptor_limit();

}  // namespace net
