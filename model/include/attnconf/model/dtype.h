#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace attnconf {

/// An element type a kernel accepts or returns. Values of every dtype are held as doubles that
/// are exactly representable in the dtype.
enum class DType { fp64, fp32, fp16, bf16, int64, int32, boolean };

/// The spec name of a dtype ("fp16", "bf16", ...).
std::string_view dtypeName(DType dtype);

/// The dtype a spec name denotes, or nothing if the name is unknown.
std::optional<DType> parseDType(std::string_view name);

/// Every dtype, in declaration order; generators draw invalid dtypes from it.
const std::vector<DType>& allDTypes();

/// Whether the dtype holds floating-point values.
bool isFloating(DType dtype);

/// Machine epsilon of a floating dtype (distance from 1 to the next value); 0 for integers.
double epsilon(DType dtype);

/// The spacing of a floating dtype's subnormals (its smallest positive value); 0 otherwise.
double smallestSubnormal(DType dtype);

/// Largest finite value of the dtype.
double maxFinite(DType dtype);

/// Rounds a value to the nearest value of the dtype (round-to-nearest-even, as a cast does).
double roundTo(DType dtype, double value);

}  // namespace attnconf
