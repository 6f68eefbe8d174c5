// Errors inside the library are exceptions carrying enough context (file, tensor, option) to be shown
// to a user as a single line; the CLI's main() turns them into that line and an exit code.
#pragma once
#include <fmt/format.h>
#include <stdexcept>
#include <string>

namespace lopper {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& msg) : std::runtime_error(msg) {}
};

// Bad user input: a missing or corrupt file, a wrong option value, an impossible target.
class InputError : public Error {
 public:
  using Error::Error;
};

// Something requested that lopper deliberately does not support (architecture, tokenizer model...).
class UnsupportedError : public Error {
 public:
  using Error::Error;
};

template <typename... Args>
[[noreturn]] void fail(fmt::format_string<Args...> f, Args&&... args) {
  throw InputError(fmt::format(f, std::forward<Args>(args)...));
}

template <typename... Args>
void check(bool ok, fmt::format_string<Args...> f, Args&&... args) {
  if (!ok) throw InputError(fmt::format(f, std::forward<Args>(args)...));
}

}  // namespace lopper
