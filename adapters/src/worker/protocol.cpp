#include "worker/protocol.h"

#include <fmt/format.h>

#include <Eigen/Core>
#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>

namespace attnconf::adapters::worker {
namespace {

std::int64_t itemSize(DType dtype) {
  switch (dtype) {
    case DType::fp64:
    case DType::int64:
      return 8;
    case DType::fp32:
    case DType::int32:
      return 4;
    case DType::fp16:
    case DType::bf16:
      return 2;
    case DType::fp8_e4m3:
    case DType::fp8_e5m2:
    case DType::boolean:
      return 1;
  }
  return 1;
}

template <class T>
void put(std::string& out, T value) {
  static_assert(std::endian::native == std::endian::little, "the protocol is little-endian");
  char bytes[sizeof(T)];
  std::memcpy(bytes, &value, sizeof(T));
  out.append(bytes, sizeof(T));
}

template <class T>
T get(const char* at) {
  T value;
  std::memcpy(&value, at, sizeof(T));
  return value;
}

// An 8-bit float's code: sign, biased exponent, mantissa. 0x7F is NaN in both formats; e4m3fn
// has no infinity, e5m2's infinities have the top exponent and mantissa 0. The field widths come
// from the format as model/dtype.h defines it: epsilon is 2^-mantissa_bits, the smallest
// subnormal 2^(min_exponent - mantissa_bits).
struct Fp8Layout {
  int mantissa_bits, bias;
  explicit Fp8Layout(DType dtype)
      : mantissa_bits(-std::ilogb(epsilon(dtype))),
        bias(1 - std::ilogb(smallestSubnormal(dtype)) - mantissa_bits) {}
  int minExponent() const { return 1 - bias; }
};

std::uint8_t fp8Code(DType dtype, double x) {
  const Fp8Layout f(dtype);
  const std::uint8_t sign = std::signbit(x) ? 0x80 : 0;
  const double a = std::abs(x);
  if (std::isnan(a)) return 0x7F;
  if (std::isinf(a)) return sign | 0x7C;
  const bool normal = a >= std::ldexp(1.0, f.minExponent());
  const int exponent = normal ? std::ilogb(a) : f.minExponent();
  const int significand = static_cast<int>(std::ldexp(a, f.mantissa_bits - exponent));
  const int biased = normal ? exponent + f.bias : 0;
  return sign | static_cast<std::uint8_t>((biased << f.mantissa_bits) |
                                          (significand & ((1 << f.mantissa_bits) - 1)));
}

double fp8Value(DType dtype, std::uint8_t code) {
  const Fp8Layout f(dtype);
  const int biased = (code & 0x7F) >> f.mantissa_bits;
  const int mantissa = code & ((1 << f.mantissa_bits) - 1);
  const double sign = (code & 0x80) != 0 ? -1.0 : 1.0;
  if ((code & 0x7F) == 0x7F) return std::nan("");
  if (dtype == DType::fp8_e5m2 && biased == 0x1F)
    return mantissa == 0 ? sign * HUGE_VAL : std::nan("");
  const int significand = biased == 0 ? mantissa : mantissa + (1 << f.mantissa_bits);
  return sign * std::ldexp(significand, std::max(biased, 1) - f.bias - f.mantissa_bits);
}

nlohmann::json paramJson(const ParamValue& value) {
  return std::visit([](const auto& v) { return nlohmann::json(v); }, value);
}

}  // namespace

std::int64_t TensorDesc::bytes() const {
  return numel(shape) * itemSize(dtype);
}

std::string encodeTensor(const Tensor& t) {
  std::string out;
  out.reserve(static_cast<std::size_t>(numel(t.shape) * itemSize(t.dtype)));
  for (const double x : t.values) {
    switch (t.dtype) {
      case DType::fp64:
        put(out, x);
        break;
      case DType::fp32:
        put(out, static_cast<float>(x));
        break;
      case DType::fp16:
        put(out, Eigen::numext::bit_cast<std::uint16_t>(Eigen::half(static_cast<float>(x))));
        break;
      case DType::bf16:
        put(out,
            static_cast<std::uint16_t>(std::bit_cast<std::uint32_t>(static_cast<float>(x)) >> 16));
        break;
      case DType::fp8_e4m3:
      case DType::fp8_e5m2:
        put(out, fp8Code(t.dtype, x));
        break;
      case DType::int64:
        put(out, static_cast<std::int64_t>(x));
        break;
      case DType::int32:
        put(out, static_cast<std::int32_t>(x));
        break;
      case DType::boolean:
        put(out, static_cast<std::uint8_t>(x != 0 ? 1 : 0));
        break;
    }
  }
  return out;
}

Tensor decodeTensor(const TensorDesc& desc, const std::string& bytes) {
  Tensor t = Tensor::zeros(desc.dtype, desc.shape);
  const std::int64_t size = itemSize(desc.dtype);
  for (std::size_t i = 0; i < t.values.size(); ++i) {
    const char* at = bytes.data() + static_cast<std::int64_t>(i) * size;
    double& x = t.values[i];
    switch (desc.dtype) {
      case DType::fp64:
        x = get<double>(at);
        break;
      case DType::fp32:
        x = get<float>(at);
        break;
      case DType::fp16:
        x = static_cast<float>(Eigen::numext::bit_cast<Eigen::half>(get<std::uint16_t>(at)));
        break;
      case DType::bf16:
        x = std::bit_cast<float>(std::uint32_t{get<std::uint16_t>(at)} << 16);
        break;
      case DType::fp8_e4m3:
      case DType::fp8_e5m2:
        x = fp8Value(desc.dtype, get<std::uint8_t>(at));
        break;
      case DType::int64:
        x = static_cast<double>(get<std::int64_t>(at));
        break;
      case DType::int32:
        x = get<std::int32_t>(at);
        break;
      case DType::boolean:
        x = get<std::uint8_t>(at) != 0 ? 1.0 : 0.0;
        break;
    }
  }
  return t;
}

std::string encodeCall(std::int64_t id, const std::string& api, const std::string& mode,
                       const Case& c) {
  nlohmann::json header{{"type", "call"}, {"id", id}, {"api", api}, {"mode", mode}};
  header["params"] = nlohmann::json::object();
  for (const auto& [name, value] : c.params) header["params"][name] = paramJson(value);
  header["tensors"] = nlohmann::json::array();
  std::string payload;
  for (const auto& [name, t] : c.tensors) {
    header["tensors"].push_back(
        {{"name", name}, {"dtype", dtypeName(t.dtype)}, {"shape", t.shape}});
    payload += encodeTensor(t);
  }
  return header.dump() + "\n" + payload;
}

nlohmann::json parseHeader(const std::string& line) {
  nlohmann::json header = nlohmann::json::parse(line, nullptr, false);
  if (header.is_discarded() || !header.is_object()) {
    throw ProtocolError(
        fmt::format("expected a JSON object as the header line, got \"{}\"", line.substr(0, 80)));
  }
  if (!header.contains("type") || !header["type"].is_string())
    throw ProtocolError("header: expected a string field `type`");
  return header;
}

std::vector<TensorDesc> tensorDescs(const nlohmann::json& header, const Limits& limits) {
  std::vector<TensorDesc> out;
  if (!header.contains("tensors")) return out;
  const auto& list = header["tensors"];
  if (!list.is_array() || list.size() > limits.max_tensors) {
    throw ProtocolError(
        fmt::format("tensors: expected a list of at most {} entries", limits.max_tensors));
  }
  for (std::size_t i = 0; i < list.size(); ++i) {
    const auto& entry = list[i];
    const auto field = [&](const char* what) { return fmt::format("tensors[{}].{}", i, what); };
    if (!entry.is_object() || !entry.contains("name") || !entry["name"].is_string())
      throw ProtocolError(field("name") + ": expected a string");
    TensorDesc desc{entry["name"].get<std::string>(), DType::fp32, {}};
    const auto dtype = entry.contains("dtype") && entry["dtype"].is_string()
                           ? parseDType(entry["dtype"].get<std::string>())
                           : std::nullopt;
    if (!dtype)
      throw ProtocolError(field("dtype") +
                          ": expected fp64, fp32, fp16, bf16, int64, int32 or bool");
    desc.dtype = *dtype;
    if (!entry.contains("shape") || !entry["shape"].is_array() ||
        entry["shape"].size() > limits.max_rank)
      throw ProtocolError(field("shape") +
                          fmt::format(": expected a list of at most {} extents", limits.max_rank));
    std::int64_t bytes = itemSize(desc.dtype);
    for (const auto& extent : entry["shape"]) {
      if (!extent.is_number_integer() || extent.get<std::int64_t>() < 0)
        throw ProtocolError(field("shape") + ": expected non-negative integers");
      desc.shape.push_back(extent.get<std::int64_t>());
      // Checked as it grows, so a hostile shape cannot overflow the product.
      if (desc.shape.back() > 0 && bytes > limits.max_tensor_bytes / desc.shape.back())
        throw ProtocolError(field("shape") + fmt::format(": larger than the limit of {} bytes",
                                                         limits.max_tensor_bytes));
      bytes *= desc.shape.back();
    }
    out.push_back(std::move(desc));
  }
  return out;
}

}  // namespace attnconf::adapters::worker
