// File helpers for tests: random payloads, whole-file reads, waiting for text to appear.
#pragma once
#include <chrono>
#include <string>

namespace test {

/// A fresh empty directory under the system temp dir.
std::string make_temp_dir(const std::string& prefix);
/// Writes `size` pseudo-random bytes (seeded) to `path`.
void write_random_file(const std::string& path, std::size_t size, unsigned seed);
std::string read_file(const std::string& path);
/// Writes `text` to `path`, replacing it.
void write_file(const std::string& path, const std::string& text);
/// Polls `path` until it contains `needle`; returns false at the deadline.
bool wait_for_text(const std::string& path, const std::string& needle, std::chrono::milliseconds limit);

}  // namespace test
