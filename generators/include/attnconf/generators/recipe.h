#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "attnconf/model/case.h"
#include "attnconf/spec/api_spec.h"

namespace attnconf::gen {

/// Everything that decides a case except the tensor values, which a seeded generator fills in.
/// Shrinking acts on the recipe, so a failure shrinks to small shapes and plain data.
struct Recipe {
  std::map<std::string, std::int64_t> dims;
  std::map<std::string, DType> dtypes;              ///< per present input tensor
  std::map<std::string, std::size_t> shape_choice;  ///< present inputs: index of the alternative
  std::map<std::string, ParamValue> params;
  std::uint64_t data_seed = 0;
  double magnitude = 1.0;  ///< q and k values lie in [-magnitude, magnitude]
  /// Inputs declared `broadcast`: bit a set = axis a has extent 1 (absent or 0: full extents).
  std::map<std::string, std::uint32_t> broadcast_axes = {};
};

/// Builds the call a recipe describes: shapes from dims, values drawn from the seed and rounded
/// to each tensor's dtype.
Case materialize(const spec::ApiSpec& spec, const Recipe& recipe);

/// Fills a tensor's values from a seed, for the value range its declaration gives.
void fillValues(const spec::ApiSpec& spec, const std::string& name, std::uint64_t seed,
                double magnitude, Tensor& t);

/// The longest length a `lengths_of` input may hold: its dim's extent, less its `room_for`.
std::int64_t longestLength(const spec::TensorDecl& decl,
                           const std::map<std::string, std::int64_t>& dims);

/// Fills an input's values as fillValues does, then as its `values` declare: lengths, indices
/// or a dim's extent, read from `dims`.
void fillInput(const spec::ApiSpec& spec, const std::string& name,
               const std::map<std::string, std::int64_t>& dims, std::uint64_t seed,
               double magnitude, Tensor& t);

/// `r` with what the rules ask to be given alongside what it gives: every partner of a
/// `together` rule, the name a `given` rule asks for (while the inputs its `if` names are given,
/// or always when it has neither `if` nor `unless`); rule `except` (the one an invalid case
/// breaks) is not asked.
Recipe withPartners(const spec::ApiSpec& spec, Recipe r, std::string_view except = {});

/// torch_npu's compressed mask of `shape`: true (hidden) above the diagonal, where the key comes
/// after the query, and below the square (mode 6's 3072 x 2048) the right half; the sparse mode
/// places the triangle, the tensor only marks it.
Tensor compressedMask(DType dtype, const Shape& shape);

}  // namespace attnconf::gen
