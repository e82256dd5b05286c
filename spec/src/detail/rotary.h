#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <span>

#include "attnconf/model/case.h"
#include "attnconf/spec/api_spec.h"

namespace attnconf::spec::detail {

/// Rotary position embedding (flash-attn's rotary_cos and rotary_sin): channel pairs of a vector
/// turned by the tables' row for its position.
struct Rotary {
  const Tensor* cos = nullptr;
  const Tensor* sin = nullptr;
  bool interleaved = true;  ///< pairs (2i, 2i+1); else (i, i + rotary_dim / 2)

  /// Rotates one head's vector `x` by row `position`, each result rounded to `dtype` as the
  /// kernel that stores it rounds it. `allowance`, unless empty, gets for each channel one
  /// rounding of what its result sums: a kernel that sums in another precision may round
  /// differently. A position past the table is outside the spec: std::invalid_argument.
  void rotate(std::int64_t position, std::span<double> x, DType dtype,
              std::span<double> allowance) const;

  /// Rotates every vector of a canonical tensor (batch, heads, positions, dim), the one at
  /// (b, h, i) by row position(b, i); `allowance`, if given, is shaped like `t`.
  void rotateAll(Tensor& t, const std::function<std::int64_t(std::int64_t, std::int64_t)>& position,
                 Tensor* allowance) const;
};

/// The call's rotary embedding, if its spec has one and the call gives the tables.
std::optional<Rotary> rotaryOf(const ApiSpec& spec, const Case& c);

}  // namespace attnconf::spec::detail
