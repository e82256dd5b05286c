#include "detail/rotary.h"

#include <fmt/format.h>

#include <cmath>
#include <stdexcept>

namespace attnconf::spec::detail {

void Rotary::rotate(std::int64_t position, std::span<double> x, DType dtype,
                    std::span<double> allowance) const {
  if (position >= cos->shape[0]) {  // the spec's assumptions keep the table long enough
    throw std::invalid_argument(
        fmt::format("rotary position {} is past the table's {} rows", position, cos->shape[0]));
  }
  const std::int64_t half = cos->shape[1];
  const double eps = epsilon(dtype), tiny = smallestSubnormal(dtype);
  for (std::int64_t i = 0; i < half; ++i) {
    const auto a = static_cast<std::size_t>(interleaved ? 2 * i : i);
    const auto b = static_cast<std::size_t>(interleaved ? 2 * i + 1 : i + half);
    const auto at = static_cast<std::size_t>(position * half + i);
    const double co = cos->values[at], si = sin->values[at], x0 = x[a], x1 = x[b];
    x[a] = roundTo(dtype, x0 * co - x1 * si);
    x[b] = roundTo(dtype, x0 * si + x1 * co);
    if (allowance.empty()) continue;
    allowance[a] = eps * (std::abs(x0 * co) + std::abs(x1 * si)) + tiny;
    allowance[b] = eps * (std::abs(x0 * si) + std::abs(x1 * co)) + tiny;
  }
}

void Rotary::rotateAll(Tensor& t,
                       const std::function<std::int64_t(std::int64_t, std::int64_t)>& position,
                       Tensor* allowance) const {
  const auto dim = static_cast<std::size_t>(t.shape[3]);
  for (std::int64_t vector = 0; vector * t.shape[3] < t.size(); ++vector) {
    const std::int64_t i = vector % t.shape[2], b = vector / (t.shape[1] * t.shape[2]);
    const auto first = static_cast<std::size_t>(vector) * dim;
    rotate(position(b, i), std::span(t.values).subspan(first, dim), t.dtype,
           allowance ? std::span(allowance->values).subspan(first, dim) : std::span<double>{});
  }
}

std::optional<Rotary> rotaryOf(const ApiSpec& spec, const Case& c) {
  const Semantics& s = spec.semantics;
  const Tensor* cos = s.hasRotary() ? c.tensor(s.rotary_cos) : nullptr;
  if (!cos) return std::nullopt;
  const ParamDecl& interleaved = *spec.param(s.rotary_interleaved_param);
  const auto value =
      c.param(interleaved.name) ? c.param(interleaved.name) : interleaved.default_value;
  return Rotary{cos, c.tensor(s.rotary_sin), value && asNumber(*value).value_or(0) != 0};
}

}  // namespace attnconf::spec::detail
