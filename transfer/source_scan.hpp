// What `peer send` offers: the files and directories named on its command line, directories
// walked recursively, each with the relative path the receiver stores it under and its mode.
#pragma once
#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace transfer {

struct source_entry {
  std::string rel;               ///< relative path at the receiver, '/'-separated
  std::filesystem::path source;  ///< where it is here
  bool is_dir = false;
  std::uint64_t size = 0;
  mode_t mode = 0644;
};

struct source_list {
  std::vector<source_entry> entries;  ///< every directory before its contents
  std::uint64_t total_bytes = 0;
  std::size_t files = 0;
  std::size_t dirs = 0;
  std::vector<std::string> skipped;  ///< links and special files inside directories, not sent
};

/// Scans `paths`: a file is sent under its own name, a directory as itself and everything in it.
/// Links and special files inside directories are skipped (and listed); a path named directly is
/// followed. Throws std::runtime_error for a missing or unreadable path, or two paths that would
/// land on the same name.
source_list scan_sources(const std::vector<std::string>& paths);

}  // namespace transfer
