#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

namespace attnconf::adapters::worker {

using Clock = std::chrono::steady_clock;

/// The child failed us: it exited, timed out, or its pipe broke. The message says which.
class ChildError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// A child process with pipes to its stdin and stdout (stderr is inherited, so a worker's own
/// diagnostics reach the user). Reads and writes take a deadline; the destructor kills the
/// child.
class Subprocess {
 public:
  Subprocess(const std::vector<std::string>& argv, const std::filesystem::path& cwd,
             const std::map<std::string, std::string>& env);
  Subprocess(const Subprocess&) = delete;
  Subprocess& operator=(const Subprocess&) = delete;
  Subprocess(Subprocess&&) = delete;
  Subprocess& operator=(Subprocess&&) = delete;
  ~Subprocess();

  void write(const std::string& bytes, Clock::time_point deadline);
  /// One line without its '\n'; longer than `max_bytes` is an error.
  std::string readLine(std::size_t max_bytes, Clock::time_point deadline);
  /// Exactly `n` bytes.
  std::string readExact(std::size_t n, Clock::time_point deadline);
  /// Closes stdin and gives the child `grace` to exit before it is killed.
  void close(std::chrono::milliseconds grace);

 private:
  void fill(Clock::time_point deadline);
  [[noreturn]] void fail(const std::string& what);
  std::string exitDescription();

  pid_t pid_ = -1;
  int to_child_ = -1, from_child_ = -1;
  std::string buffer_;  ///< read from the child, not yet consumed
};

}  // namespace attnconf::adapters::worker
