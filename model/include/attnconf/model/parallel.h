#pragma once

#include <cstdint>
#include <functional>

namespace attnconf {

/// Runs body(i) for i in [0, count) on the machine's cores; rethrows the first exception.
void parallelFor(std::int64_t count, const std::function<void(std::int64_t)>& body);

}  // namespace attnconf
