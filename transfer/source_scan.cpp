#include "transfer/source_scan.hpp"

#include <algorithm>
#include <set>
#include <stdexcept>
#include <system_error>

namespace transfer {
namespace {

namespace fs = std::filesystem;

/// Names cross the wire as JSON strings, which must be UTF-8: anything else would arrive altered.
void check_name(const std::string& rel, const fs::path& source) {
  std::size_t i = 0;
  while (i < rel.size()) {
    const auto c = static_cast<unsigned char>(rel[i]);
    const std::size_t length = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xe ? 3 : (c >> 3) == 0x1e ? 4 : 0;
    bool valid = length != 0 && i + length <= rel.size();
    for (std::size_t k = 1; valid && k < length; ++k) valid = (static_cast<unsigned char>(rel[i + k]) >> 6) == 0x2;
    if (!valid) throw std::runtime_error("cannot send '" + source.string() + "': its name is not valid UTF-8");
    i += length;
  }
}

mode_t mode_of(const fs::file_status& status) { return static_cast<mode_t>(status.permissions()) & 0777; }

/// The name a path named on the command line is sent under ("dir/" and "." use the real name).
std::string top_name(const std::string& path) {
  auto name = fs::path(path).lexically_normal().filename().string();
  if (name.empty() || name == "." || name == "..") {
    std::error_code ec;
    name = fs::canonical(path, ec).filename().string();
  }
  if (name.empty()) throw std::runtime_error("cannot send '" + path + "': it has no name to send it under");
  return name;
}

void add_tree(source_list& out, const fs::path& dir, const std::string& rel) {
  std::error_code ec;
  fs::directory_iterator it(dir, ec), end;
  if (ec) throw std::runtime_error("cannot read directory " + dir.string() + ": " + ec.message());
  std::vector<fs::directory_entry> children(it, end);
  std::sort(children.begin(), children.end(), [](const auto& a, const auto& b) { return a.path() < b.path(); });
  for (const auto& child : children) {
    const auto child_rel = rel + "/" + child.path().filename().string();
    check_name(child_rel, child.path());
    const auto status = child.symlink_status(ec);
    if (ec) throw std::runtime_error("cannot read " + child.path().string() + ": " + ec.message());
    if (fs::is_directory(status)) {
      out.entries.push_back({child_rel, child.path(), true, 0, mode_of(status)});
      ++out.dirs;
      add_tree(out, child.path(), child_rel);
    } else if (fs::is_regular_file(status)) {
      const auto size = child.file_size(ec);
      if (ec) throw std::runtime_error("cannot read " + child.path().string() + ": " + ec.message());
      out.entries.push_back({child_rel, child.path(), false, size, mode_of(status)});
      out.total_bytes += size;
      ++out.files;
    } else {
      out.skipped.push_back(child.path().string());  // links and special files
    }
  }
}

}  // namespace

source_list scan_sources(const std::vector<std::string>& paths) {
  source_list out;
  std::set<std::string> names;
  for (const auto& path : paths) {
    std::error_code ec;
    const auto status = fs::status(path, ec);  // a path named directly is followed
    if (ec || !fs::exists(status)) throw std::runtime_error("cannot send '" + path + "': no such file or directory");
    const auto name = top_name(path);
    check_name(name, path);
    if (!names.insert(name).second) throw std::runtime_error("two paths would both arrive as '" + name + "'");
    if (fs::is_directory(status)) {
      out.entries.push_back({name, path, true, 0, mode_of(status)});
      ++out.dirs;
      add_tree(out, path, name);
    } else if (fs::is_regular_file(status)) {
      const auto size = fs::file_size(path, ec);
      if (ec) throw std::runtime_error("cannot read '" + path + "': " + ec.message());
      out.entries.push_back({name, path, false, size, mode_of(status)});
      out.total_bytes += size;
      ++out.files;
    } else {
      throw std::runtime_error("cannot send '" + path + "': not a regular file or directory");
    }
  }
  return out;
}

}  // namespace transfer
