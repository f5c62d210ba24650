// Where received files land, safely: every path a peer sends is checked (no "..", no absolute
// path, no empty or odd component), directories are walked one component at a time without
// following links (so a link inside the inbox cannot lead out of it), data lands in a partial
// file beside its final name and is renamed only when whole and verified, and an existing file
// is never replaced unless the inbox was opened with `overwrite` (otherwise "name (1).ext").
#pragma once
#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "transfer/unique_fd.hpp"

namespace transfer {

/// Suffix of partial files: `.NAME.hp-partial` beside NAME until it is whole.
inline constexpr std::string_view partial_suffix = ".hp-partial";

/// Why a relative path from a peer is unsafe, or empty when it is fine.
std::string unsafe_path_reason(std::string_view path);

/// A file being received: its directory, the open partial file, and how much it already holds.
struct partial_file {
  unique_fd dir;
  unique_fd file;
  std::string rel;           ///< the path the sender gave
  std::string partial_name;  ///< within `dir`
  std::uint64_t held = 0;    ///< bytes kept from an earlier, interrupted transfer
};

class inbox {
 public:
  /// Opens (creating it if needed) the directory `root`; throws transfer_error if it cannot.
  inbox(const std::filesystem::path& root, bool overwrite);

  const std::filesystem::path& root() const { return root_; }

  /// Makes directory `rel` (and its parents); its final `mode` is applied by finish_dirs().
  /// Throws transfer_error (refused for unsafe paths and links).
  void make_dir(const std::string& rel, mode_t mode);
  /// Opens the partial file of `rel` for a file of `size` bytes: what an earlier transfer left
  /// is kept (and reported in `held`) when it is no longer than `size`. Locked against a second
  /// transfer of the same file. Throws transfer_error (refused for unsafe paths and links).
  partial_file open_partial(const std::string& rel, std::uint64_t size);
  /// Renames a complete, verified partial to its final name (or "name (N).ext" if that exists
  /// and the inbox does not overwrite), with `mode`; returns the path stored, relative to root.
  std::string finish(partial_file& file, mode_t mode);
  /// Drops what a partial holds (its data failed verification), keeping it open to start over.
  void discard(partial_file& file);
  /// Deletes the partial file (a transfer that cannot be resumed).
  void remove(partial_file& file);
  /// Applies the modes of the directories made by make_dir (after their files are in).
  void finish_dirs();

 private:
  /// The directory holding `components` minus the last, made if missing, never through a link.
  unique_fd open_parent(const std::vector<std::string>& components, const std::string& rel);

  std::filesystem::path root_;
  bool overwrite_;
  unique_fd root_fd_;
  std::vector<std::pair<std::string, mode_t>> dir_modes_;
};

}  // namespace transfer
