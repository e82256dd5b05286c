#include "attnconf/model/parallel.h"

#include <algorithm>
#include <atomic>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

namespace attnconf {

void parallelFor(std::int64_t count, const std::function<void(std::int64_t)>& body) {
  const auto workers = static_cast<std::int64_t>(
      std::max(1U, std::min<unsigned>(std::thread::hardware_concurrency(), 64U)));
  if (count <= 1 || workers == 1) {
    for (std::int64_t i = 0; i < count; ++i) body(i);
    return;
  }
  std::atomic<std::int64_t> next{0};
  std::exception_ptr error;
  std::mutex error_mutex;
  auto work = [&] {
    for (std::int64_t i = next++; i < count; i = next++) {
      try {
        body(i);
      } catch (...) {
        const std::lock_guard lock(error_mutex);
        if (!error) error = std::current_exception();
      }
    }
  };
  {
    std::vector<std::jthread> threads;
    for (std::int64_t t = 1; t < std::min(workers, count); ++t) threads.emplace_back(work);
    work();
  }
  if (error) std::rethrow_exception(error);
}

}  // namespace attnconf
