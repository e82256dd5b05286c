#include "attnconf/model/dtype.h"

#include <Eigen/Core>
#include <algorithm>
#include <array>
#include <cmath>
#include <limits>

namespace attnconf {
namespace {

struct DTypeInfo {
  DType dtype;
  std::string_view name;
};

constexpr std::array kDTypes = {
    DTypeInfo{DType::fp64, "fp64"},         DTypeInfo{DType::fp32, "fp32"},
    DTypeInfo{DType::fp16, "fp16"},         DTypeInfo{DType::bf16, "bf16"},
    DTypeInfo{DType::fp8_e4m3, "fp8_e4m3"}, DTypeInfo{DType::fp8_e5m2, "fp8_e5m2"},
    DTypeInfo{DType::int64, "int64"},       DTypeInfo{DType::int32, "int32"},
    DTypeInfo{DType::boolean, "bool"},
};

// Eigen converts from float, so a double is first rounded to float. That double rounding can
// pick the other neighbour in rare ties; every consumer sees the same rounded value, so the
// result is still one exact value of the dtype.
template <class T>
double viaEigen(double value) {
  return static_cast<double>(static_cast<float>(T(static_cast<float>(value))));
}

// An 8-bit float: `mantissa_bits` stored bits, normal exponents from `min_exponent` on. Neither
// Eigen nor the standard library has one. A value is rounded on the grid of its binade (the
// subnormal grid below min_exponent) with the current rounding mode, round-to-nearest-even, as
// PyTorch's casts round; a value that rounds past max_finite becomes `overflow_to` (e4m3fn has
// no infinity, so it is NaN there).
struct Fp8Format {
  int mantissa_bits;
  int min_exponent;
  double max_finite;
  double overflow_to;
};

constexpr Fp8Format kE4m3{3, -6, 448.0, std::numeric_limits<double>::quiet_NaN()};
constexpr Fp8Format kE5m2{2, -14, 57344.0, std::numeric_limits<double>::infinity()};

double roundToFp8(const Fp8Format& f, double value) {
  if (!std::isfinite(value) || value == 0.0)
    return std::isinf(value) ? std::copysign(f.overflow_to, value) : value;
  const int exponent = std::max(std::ilogb(value), f.min_exponent);
  const double quantum = std::ldexp(1.0, exponent - f.mantissa_bits);
  const double rounded = std::nearbyint(value / quantum) * quantum;
  return std::abs(rounded) > f.max_finite ? std::copysign(f.overflow_to, value) : rounded;
}

const Fp8Format& fp8Format(DType dtype) {
  return dtype == DType::fp8_e4m3 ? kE4m3 : kE5m2;
}

}  // namespace

std::string_view dtypeName(DType dtype) {
  for (const auto& info : kDTypes) {
    if (info.dtype == dtype) return info.name;
  }
  return "unknown";
}

std::optional<DType> parseDType(std::string_view name) {
  for (const auto& info : kDTypes) {
    if (info.name == name) return info.dtype;
  }
  return std::nullopt;
}

const std::vector<DType>& allDTypes() {
  static const std::vector<DType> all = [] {
    std::vector<DType> v;
    v.reserve(kDTypes.size());
    for (const auto& info : kDTypes) v.push_back(info.dtype);
    return v;
  }();
  return all;
}

bool isFloating(DType dtype) {
  return dtype == DType::fp64 || dtype == DType::fp32 || dtype == DType::fp16 ||
         dtype == DType::bf16 || isFp8(dtype);
}

bool isFp8(DType dtype) {
  return dtype == DType::fp8_e4m3 || dtype == DType::fp8_e5m2;
}

double epsilon(DType dtype) {
  switch (dtype) {
    case DType::fp64:
      return std::numeric_limits<double>::epsilon();
    case DType::fp32:
      return std::numeric_limits<float>::epsilon();
    case DType::fp16:
      return 0x1p-10;
    case DType::bf16:
      return 0x1p-7;
    case DType::fp8_e4m3:
    case DType::fp8_e5m2:
      return std::ldexp(1.0, -fp8Format(dtype).mantissa_bits);
    default:
      return 0.0;
  }
}

double smallestSubnormal(DType dtype) {
  switch (dtype) {
    case DType::fp64:
      return std::numeric_limits<double>::denorm_min();
    case DType::fp32:
      return std::numeric_limits<float>::denorm_min();
    case DType::fp16:
      return 0x1p-24;
    case DType::bf16:
      return 0x1p-133;
    case DType::fp8_e4m3:
    case DType::fp8_e5m2:
      return std::ldexp(1.0, fp8Format(dtype).min_exponent - fp8Format(dtype).mantissa_bits);
    default:
      return 0.0;
  }
}

double maxFinite(DType dtype) {
  switch (dtype) {
    case DType::fp64:
      return std::numeric_limits<double>::max();
    case DType::fp32:
      return std::numeric_limits<float>::max();
    case DType::fp16:
      return 65504.0;
    case DType::bf16:
      return 0x1.FEp127;
    case DType::fp8_e4m3:
    case DType::fp8_e5m2:
      return fp8Format(dtype).max_finite;
    case DType::int64:
      return 9.2233720368547758e18;
    case DType::int32:
      return 2147483647.0;
    case DType::boolean:
      return 1.0;
  }
  return 0.0;
}

double roundTo(DType dtype, double value) {
  switch (dtype) {
    case DType::fp64:
      return value;
    case DType::fp32:
      return static_cast<double>(static_cast<float>(value));
    case DType::fp16:
      return viaEigen<Eigen::half>(value);
    case DType::bf16:
      return viaEigen<Eigen::bfloat16>(value);
    case DType::fp8_e4m3:
    case DType::fp8_e5m2:
      return roundToFp8(fp8Format(dtype), value);
    case DType::int64:
    case DType::int32:
      return std::nearbyint(value);
    case DType::boolean:
      return value != 0.0 ? 1.0 : 0.0;
  }
  return value;
}

}  // namespace attnconf
