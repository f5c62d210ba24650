#include "transfer/inbox.hpp"

#include <fcntl.h>
#include <stdio.h>
#include <sys/file.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <functional>

#include "transfer/transfer_error.hpp"

namespace transfer {
namespace {

constexpr std::size_t max_path = 4096;
constexpr std::size_t max_component = 255;
/// Longest name kept whole inside a partial file's name (which adds a dot and the suffix).
constexpr std::size_t max_partial_stem = 200;
constexpr int max_new_names = 1000;

std::vector<std::string> split(const std::string& rel) {
  std::vector<std::string> parts;
  std::size_t start = 0;
  for (;;) {
    const auto slash = rel.find('/', start);
    parts.push_back(rel.substr(start, slash - start));
    if (slash == std::string::npos) return parts;
    start = slash + 1;
  }
}

std::string errno_text(int error) { return std::strerror(error); }

transfer_error refusal(const std::string& message) { return transfer_error(message, failure_kind::refused); }

/// The error for a failed openat of a directory component `shown`.
transfer_error dir_open_error(int dir, const std::string& component, const std::string& shown, int error) {
  struct stat st {};
  if (error == ELOOP || (::fstatat(dir, component.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode))) {
    return refusal("'" + shown + "' is a link in the inbox; links are not followed");
  }
  if (error == ENOTDIR) return transfer_error("'" + shown + "' exists and is not a directory");
  return transfer_error("cannot open directory '" + shown + "': " + errno_text(error));
}

/// Opens directory `name` in `dir` without following a link; `shown` names it in errors.
unique_fd open_dir_no_follow(int dir, const std::string& name, const std::string& shown) {
  unique_fd out(::openat(dir, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!out) throw dir_open_error(dir, name, shown, errno);
  return out;
}

/// "name (n).ext" for the n-th alternative to `name`.
std::string numbered_name(const std::string& name, int n) {
  const auto dot = name.rfind('.');
  const bool has_ext = dot != std::string::npos && dot != 0;
  const auto stem = has_ext ? name.substr(0, dot) : name;
  const auto ext = has_ext ? name.substr(dot) : std::string();
  return stem + " (" + std::to_string(n) + ")" + ext;
}

std::string partial_name_for(const std::string& name) {
  if (name.size() <= max_partial_stem) return "." + name + std::string(partial_suffix);
  char tag[17];
  std::snprintf(tag, sizeof tag, "%016zx", std::hash<std::string>{}(name));
  return "." + name.substr(0, max_partial_stem) + "~" + tag + std::string(partial_suffix);
}

/// Renames `from` to `to` in `dir` unless `to` exists; returns false if it does.
bool rename_no_replace(int dir, const std::string& from, const std::string& to) {
  if (::renameat2(dir, from.c_str(), dir, to.c_str(), RENAME_NOREPLACE) == 0) return true;
  if (errno == EEXIST) return false;
  if (errno != EINVAL && errno != ENOSYS) throw transfer_error("cannot rename to '" + to + "': " + errno_text(errno));
  // A file system without RENAME_NOREPLACE: a hard link fails just as atomically if `to` exists.
  if (::linkat(dir, from.c_str(), dir, to.c_str(), 0) != 0) {
    if (errno == EEXIST) return false;
    throw transfer_error("cannot store '" + to + "': " + errno_text(errno));
  }
  ::unlinkat(dir, from.c_str(), 0);
  return true;
}

std::string join(const std::vector<std::string>& parts, std::size_t count) {
  std::string out;
  for (std::size_t i = 0; i < count; ++i) out += (i ? "/" : "") + parts[i];
  return out;
}

}  // namespace

std::string unsafe_path_reason(std::string_view path) {
  if (path.empty()) return "an empty name";
  if (path.front() == '/') return "an absolute path";
  if (path.size() > max_path) return "a path longer than 4096 bytes";
  for (const auto& part : split(std::string(path))) {
    if (part.empty()) return "an empty path component";
    if (part == "." || part == "..") return "a '" + part + "' component";
    if (part.size() > max_component) return "a component longer than 255 bytes";
    if (std::any_of(part.begin(), part.end(), [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; })) {
      return "a control character";
    }
    if (part.size() > partial_suffix.size() && part.ends_with(partial_suffix)) return "the reserved suffix .hp-partial";
  }
  return "";
}

inbox::inbox(const std::filesystem::path& root, bool overwrite) : root_(root), overwrite_(overwrite) {
  std::error_code ec;
  std::filesystem::create_directories(root, ec);
  root_fd_ = unique_fd(::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!root_fd_) throw transfer_error("cannot use '" + root.string() + "' as the inbox: " + errno_text(errno));
}

unique_fd inbox::open_parent(const std::vector<std::string>& components, const std::string& rel) {
  const auto reason = unsafe_path_reason(rel);
  if (!reason.empty()) throw refusal("unsafe name '" + rel.substr(0, 300) + "': " + reason);
  unique_fd dir(::dup(root_fd_.get()));
  if (!dir) throw transfer_error("cannot open the inbox: " + errno_text(errno));
  for (std::size_t i = 0; i + 1 < components.size(); ++i) {
    const auto& part = components[i];
    if (::mkdirat(dir.get(), part.c_str(), 0700) != 0 && errno != EEXIST) {
      throw transfer_error("cannot make directory '" + join(components, i + 1) + "': " + errno_text(errno));
    }
    dir = open_dir_no_follow(dir.get(), part, join(components, i + 1));
  }
  return dir;
}

void inbox::make_dir(const std::string& rel, mode_t mode) {
  const auto parts = split(rel);
  auto parent = open_parent(parts, rel);
  const bool made = ::mkdirat(parent.get(), parts.back().c_str(), 0700) == 0;
  if (!made && errno != EEXIST) throw transfer_error("cannot make directory '" + rel + "': " + errno_text(errno));
  open_dir_no_follow(parent.get(), parts.back(), rel);  // a link here is refused, never followed
  // Only a directory this transfer made takes the sender's mode; one that was here keeps its own.
  if (made) dir_modes_.emplace_back(rel, mode & 0777);
}

partial_file inbox::open_partial(const std::string& rel, std::uint64_t size) {
  const auto parts = split(rel);
  partial_file out;
  out.dir = open_parent(parts, rel);
  out.rel = rel;
  const auto& name = parts.back();
  struct stat st {};
  if (::fstatat(out.dir.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode)) {
    throw transfer_error("cannot receive '" + rel + "': a directory of that name is in the way");
  }
  out.partial_name = partial_name_for(name);
  // Open, lock, then check the name still leads to the file we locked: another receiver may
  // have renamed it to its final name between our open and our lock.
  for (int tries = 0;; ++tries) {
    out.file = unique_fd(::openat(out.dir.get(), out.partial_name.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600));
    if (!out.file) {
      if (errno == ELOOP) throw refusal("the partial file of '" + rel + "' is a link in the inbox; links are not followed");
      throw transfer_error("cannot write '" + rel + "' into the inbox: " + errno_text(errno));
    }
    if (::flock(out.file.get(), LOCK_EX | LOCK_NB) != 0) {
      throw transfer_error("another transfer is receiving '" + rel + "' right now", failure_kind::busy);
    }
    struct stat by_name {};
    if (::fstat(out.file.get(), &st) != 0 || !S_ISREG(st.st_mode)) {
      throw transfer_error("the partial file of '" + rel + "' is not a regular file");
    }
    if (::fstatat(out.dir.get(), out.partial_name.c_str(), &by_name, AT_SYMLINK_NOFOLLOW) == 0 &&
        by_name.st_dev == st.st_dev && by_name.st_ino == st.st_ino) {
      break;
    }
    if (tries == 3) throw transfer_error("the partial file of '" + rel + "' keeps changing under us", failure_kind::busy);
  }
  // A second name for the partial could be a hard link to a file anywhere on this file system.
  if (st.st_nlink > 1) throw refusal("the partial file of '" + rel + "' has other links; it is not written through");
  out.held = static_cast<std::uint64_t>(st.st_size);
  if (out.held > size) discard(out);  // left by a different, longer file: start over
  if (::lseek(out.file.get(), static_cast<off_t>(out.held), SEEK_SET) < 0) {
    throw transfer_error("cannot seek in the partial file of '" + rel + "': " + errno_text(errno));
  }
  return out;
}

void inbox::discard(partial_file& file) {
  if (::ftruncate(file.file.get(), 0) != 0 || ::lseek(file.file.get(), 0, SEEK_SET) < 0) {
    throw transfer_error("cannot reset the partial file of '" + file.rel + "': " + errno_text(errno));
  }
  file.held = 0;
}

void inbox::remove(partial_file& file) {
  ::unlinkat(file.dir.get(), file.partial_name.c_str(), 0);
  file.file.reset();
  file.held = 0;
}

std::string inbox::finish(partial_file& file, mode_t mode) {
  if (::fchmod(file.file.get(), mode & 0777) != 0) {
    throw transfer_error("cannot set the mode of '" + file.rel + "': " + errno_text(errno));
  }
  const auto parts = split(file.rel);
  const auto& name = parts.back();
  const auto prefix = join(parts, parts.size() - 1);
  const auto stored = [&](const std::string& chosen) { return prefix.empty() ? chosen : prefix + "/" + chosen; };
  if (overwrite_) {
    if (::renameat(file.dir.get(), file.partial_name.c_str(), file.dir.get(), name.c_str()) != 0) {
      throw transfer_error("cannot store '" + file.rel + "': " + errno_text(errno));
    }
    return stored(name);
  }
  for (int n = 0; n < max_new_names; ++n) {
    const auto candidate = n == 0 ? name : numbered_name(name, n);
    if (candidate.size() > max_component) break;
    if (rename_no_replace(file.dir.get(), file.partial_name, candidate)) return stored(candidate);
  }
  throw transfer_error("cannot store '" + file.rel + "': the name and its numbered alternatives are all taken");
}

void inbox::finish_dirs() {
  // Deepest first, so a read-only parent never stops its children getting their modes.
  for (auto it = dir_modes_.rbegin(); it != dir_modes_.rend(); ++it) {
    const auto parts = split(it->first);
    auto parent = open_parent(parts, it->first);
    const auto dir = open_dir_no_follow(parent.get(), parts.back(), it->first);
    if (::fchmod(dir.get(), it->second) != 0) {
      throw transfer_error("cannot set the mode of directory '" + it->first + "': " + errno_text(errno));
    }
  }
  dir_modes_.clear();
}

}  // namespace transfer
