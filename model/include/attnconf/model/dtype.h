#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace attnconf {

/// An element type a kernel accepts or returns. Values of every dtype are held as doubles that
/// are exactly representable in the dtype. The 8-bit floats are those of PyTorch and CUDA
/// (OCP FP8): fp8_e4m3 is float8_e4m3fn (finite: no infinities, a cast past 464 gives NaN),
/// fp8_e5m2 is float8_e5m2 (IEEE-like, with infinities).
enum class DType { fp64, fp32, fp16, bf16, fp8_e4m3, fp8_e5m2, int64, int32, boolean };

/// The spec name of a dtype ("fp16", "bf16", ...).
std::string_view dtypeName(DType dtype);

/// The dtype a spec name denotes, or nothing if the name is unknown.
std::optional<DType> parseDType(std::string_view name);

/// Every dtype, in declaration order; generators draw invalid dtypes from it.
const std::vector<DType>& allDTypes();

/// Whether the dtype holds floating-point values.
bool isFloating(DType dtype);

/// Whether the dtype is one of the 8-bit floats.
bool isFp8(DType dtype);

/// Machine epsilon of a floating dtype (distance from 1 to the next value); 0 for integers.
double epsilon(DType dtype);

/// The spacing of a floating dtype's subnormals (its smallest positive value); 0 otherwise.
double smallestSubnormal(DType dtype);

/// Largest finite value of the dtype.
double maxFinite(DType dtype);

/// Rounds a value to the nearest value of the dtype (round-to-nearest-even, as a cast does).
double roundTo(DType dtype, double value);

}  // namespace attnconf
