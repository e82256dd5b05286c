#include "worker/subprocess.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>

extern char** environ;

namespace attnconf::adapters::worker {
namespace {

int remainingMs(Clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  return static_cast<int>(std::max<std::int64_t>(0, left.count()));
}

// The environment of the child: ours, with `env` added or replaced.
std::vector<std::string> childEnvironment(const std::map<std::string, std::string>& env) {
  std::vector<std::string> out;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string entry = *e;
    const auto eq = entry.find('=');
    if (eq == std::string::npos || !env.contains(entry.substr(0, eq))) out.push_back(entry);
  }
  for (const auto& [key, value] : env) out.push_back(key + "=" + value);
  return out;
}

std::vector<char*> cStrings(std::vector<std::string>& strings) {
  std::vector<char*> out;
  for (auto& s : strings) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

}  // namespace

Subprocess::Subprocess(const std::vector<std::string>& argv, const std::filesystem::path& cwd,
                       const std::map<std::string, std::string>& env) {
  if (argv.empty()) throw ChildError("empty command");
  int in_pipe[2], out_pipe[2];
  if (pipe2(in_pipe, O_CLOEXEC) != 0 || pipe2(out_pipe, O_CLOEXEC) != 0) {
    throw ChildError(fmt::format("cannot create pipes: {}", std::strerror(errno)));
  }
  // Everything exec needs is built before fork: only async-signal-safe calls in the child.
  std::vector<std::string> args = argv;
  std::vector<std::string> environment = childEnvironment(env);
  const auto c_args = cStrings(args);
  const auto c_env = cStrings(environment);
  const std::string dir = cwd.string();
  pid_ = fork();
  if (pid_ < 0) throw ChildError(fmt::format("cannot fork: {}", std::strerror(errno)));
  if (pid_ == 0) {
    dup2(in_pipe[0], STDIN_FILENO);
    dup2(out_pipe[1], STDOUT_FILENO);
    if (!dir.empty() && chdir(dir.c_str()) != 0) _exit(126);
    execvpe(c_args[0], c_args.data(), c_env.data());
    _exit(127);
  }
  ::close(in_pipe[0]);
  ::close(out_pipe[1]);
  to_child_ = in_pipe[1];
  from_child_ = out_pipe[0];
  signal(SIGPIPE, SIG_IGN);  // a dead child is reported by write's EPIPE, not a signal
}

Subprocess::~Subprocess() {
  close(std::chrono::milliseconds(200));
}

void Subprocess::close(std::chrono::milliseconds grace) {
  if (pid_ <= 0) return;
  if (to_child_ >= 0) ::close(to_child_);
  to_child_ = -1;
  const auto deadline = Clock::now() + grace;
  int status = 0;
  while (waitpid(pid_, &status, WNOHANG) == 0) {
    if (Clock::now() >= deadline) {
      kill(pid_, SIGKILL);
      waitpid(pid_, &status, 0);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  if (from_child_ >= 0) ::close(from_child_);
  from_child_ = -1;
  pid_ = -1;
}

std::string Subprocess::exitDescription() {
  int status = 0;
  // The pipe closed; the child is exiting. Give it a moment to be reaped.
  for (int i = 0; i < 100 && waitpid(pid_, &status, WNOHANG) == 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  if (WIFEXITED(status)) {
    const int code = WEXITSTATUS(status);
    return code == 127 ? "the command was not found (exit status 127)"
                       : fmt::format("the worker exited with status {}", code);
  }
  if (WIFSIGNALED(status)) {
    return fmt::format("the worker was killed by signal {} ({})", WTERMSIG(status),
                       strsignal(WTERMSIG(status)));
  }
  return "the worker closed its output";
}

void Subprocess::fail(const std::string& what) {
  kill(pid_, SIGKILL);
  close(std::chrono::milliseconds(0));
  throw ChildError(what);
}

void Subprocess::write(const std::string& bytes, Clock::time_point deadline) {
  std::size_t done = 0;
  while (done < bytes.size()) {
    pollfd p{to_child_, POLLOUT, 0};
    const int ready = poll(&p, 1, remainingMs(deadline));
    if (ready == 0) fail("the worker did not read its input before the timeout");
    const ssize_t n = ::write(to_child_, bytes.data() + done, bytes.size() - done);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n <= 0) fail(exitDescription() + " while the suite was sending a call");
    done += static_cast<std::size_t>(n);
  }
}

void Subprocess::fill(Clock::time_point deadline) {
  pollfd p{from_child_, POLLIN, 0};
  const int ready = poll(&p, 1, remainingMs(deadline));
  if (ready == 0) fail("the worker did not answer before the timeout (killed)");
  char chunk[1 << 16];
  const ssize_t n = ::read(from_child_, chunk, sizeof chunk);
  if (n < 0 && errno == EINTR) return;
  if (n <= 0) fail(exitDescription());
  buffer_.append(chunk, static_cast<std::size_t>(n));
}

std::string Subprocess::readLine(std::size_t max_bytes, Clock::time_point deadline) {
  for (;;) {
    if (const auto eol = buffer_.find('\n'); eol != std::string::npos) {
      std::string line = buffer_.substr(0, eol);
      buffer_.erase(0, eol + 1);
      return line;
    }
    if (buffer_.size() > max_bytes) {
      fail(fmt::format("the worker sent a header line longer than {} bytes", max_bytes));
    }
    fill(deadline);
  }
}

std::string Subprocess::readExact(std::size_t n, Clock::time_point deadline) {
  while (buffer_.size() < n) fill(deadline);
  std::string out = buffer_.substr(0, n);
  buffer_.erase(0, n);
  return out;
}

}  // namespace attnconf::adapters::worker
