// Shared helpers for the libFuzzer harnesses (fuzz/*.cpp). Header-only; no project code.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace fuzz {

/// Reports a broken property and aborts, so libFuzzer saves the input as a crash.
[[noreturn]] inline void fail(const char* harness, const std::string& what) {
  std::fprintf(stderr, "\n==FUZZ FINDING== [%s] %s\n", harness, what.c_str());
  std::fflush(stderr);
  std::abort();
}

#define FUZZ_CHECK(harness, cond, what)                                                          \
  do {                                                                                           \
    if (!(cond)) ::fuzz::fail(harness, std::string(what) + "  (check: " #cond ", " __FILE__ ":" + \
                                           std::to_string(__LINE__) + ")");                     \
  } while (0)

/// Depth of the deepest array/object in `value`, counted without recursion (so a deep value
/// cannot overflow the harness's own stack). A scalar is 0, `[]` and `{}` are 1.
inline int json_depth(const nlohmann::json& value) {
  struct item {
    const nlohmann::json* v;
    int depth;
  };
  std::vector<item> todo{{&value, 0}};
  int deepest = 0;
  while (!todo.empty()) {
    const auto [v, depth] = todo.back();
    todo.pop_back();
    if (!v->is_structured()) continue;
    const int here = depth + 1;
    if (here > deepest) deepest = here;
    for (const auto& child : *v) todo.push_back({&child, here});
  }
  return deepest;
}

/// The deepest nesting the project promises to refuse beyond (wire::max_json_depth).
inline constexpr int nesting_cap = 32;

/// Makes each nesting depth up to 48 its own coverage edge, so libFuzzer keeps an input that nests
/// one level deeper than any before it and soon walks up to (and past) the cap.
template <int N>
inline void depth_ladder(int depth) {
  static volatile int sink;
  if constexpr (N <= 48) {
    if (depth > N) {
      sink = N;
      depth_ladder<N + 1>(depth);
    }
  }
}

/// Aborts with a clear message when a decoder handed out a value nested deeper than the cap:
/// anything later that recurses over it (dump, copy, ==) could overflow the stack.
inline void check_depth(const char* harness, const nlohmann::json& value, const char* decoder) {
  const int depth = json_depth(value);
  depth_ladder<0>(depth);
  if (depth > nesting_cap) {
    fail(harness, std::string(decoder) + " accepted JSON nested " + std::to_string(depth) + " deep (cap " +
                      std::to_string(nesting_cap) + "); recursing over it (dump/copy/==) can overflow the stack");
  }
}

/// A wire frame: u32 big-endian length + body.
inline std::vector<std::uint8_t> frame_of(std::string_view body) {
  std::vector<std::uint8_t> out(4 + body.size());
  const auto n = static_cast<std::uint32_t>(body.size());
  out[0] = static_cast<std::uint8_t>(n >> 24);
  out[1] = static_cast<std::uint8_t>(n >> 16);
  out[2] = static_cast<std::uint8_t>(n >> 8);
  out[3] = static_cast<std::uint8_t>(n);
  std::copy(body.begin(), body.end(), out.begin() + 4);
  return out;
}

/// Splits `text` at NUL bytes (a NUL can never occur in JSON text, so it separates messages).
inline std::vector<std::string_view> split_nul(std::string_view text, std::size_t most) {
  std::vector<std::string_view> parts;
  while (parts.size() + 1 < most) {
    const auto at = text.find('\0');
    if (at == std::string_view::npos) break;
    parts.push_back(text.substr(0, at));
    text.remove_prefix(at + 1);
  }
  parts.push_back(text);
  return parts;
}

inline std::string_view as_text(const std::uint8_t* data, std::size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

}  // namespace fuzz
