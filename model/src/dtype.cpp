#include "attnconf/model/dtype.h"

#include <Eigen/Core>
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
    DTypeInfo{DType::fp64, "fp64"},    DTypeInfo{DType::fp32, "fp32"},
    DTypeInfo{DType::fp16, "fp16"},    DTypeInfo{DType::bf16, "bf16"},
    DTypeInfo{DType::int64, "int64"},  DTypeInfo{DType::int32, "int32"},
    DTypeInfo{DType::boolean, "bool"},
};

// Eigen converts from float, so a double is first rounded to float. That double rounding can
// pick the other neighbour in rare ties; every consumer sees the same rounded value, so the
// result is still one exact value of the dtype.
template <class T>
double viaEigen(double value) {
  return static_cast<double>(static_cast<float>(T(static_cast<float>(value))));
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
         dtype == DType::bf16;
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
    case DType::int64:
    case DType::int32:
      return std::nearbyint(value);
    case DType::boolean:
      return value != 0.0 ? 1.0 : 0.0;
  }
  return value;
}

}  // namespace attnconf
