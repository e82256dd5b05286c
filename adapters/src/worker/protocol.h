#pragma once

// The worker protocol, version 1 (docs/worker-protocol.md): a message is one line of JSON (the
// header) followed by the raw bytes of the tensors the header lists, in order.
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>

#include "attnconf/model/case.h"

namespace attnconf::adapters::worker {

inline constexpr int kProtocolVersion = 1;

/// A message that breaks the protocol; the message says what was expected.
class ProtocolError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// What the suite accepts from a worker, checked before anything is allocated.
struct Limits {
  std::size_t max_header_bytes = std::size_t{1} << 20;
  std::int64_t max_tensor_bytes = std::int64_t{1} << 32;
  std::size_t max_rank = 8;
  std::size_t max_tensors = 64;
};

/// A header's tensor entry: name, dtype and shape; the size follows from them.
struct TensorDesc {
  std::string name;
  DType dtype = DType::fp32;
  Shape shape;
  std::int64_t bytes() const;
};

/// The header of a call, and its tensors' bytes after it.
std::string encodeCall(std::int64_t id, const std::string& api, const std::string& mode,
                       const Case& c);

/// The tensor list of a header, validated against `limits`.
std::vector<TensorDesc> tensorDescs(const nlohmann::json& header, const Limits& limits);

/// A tensor from its description and exactly `desc.bytes()` bytes.
Tensor decodeTensor(const TensorDesc& desc, const std::string& bytes);

/// A tensor's bytes as the protocol sends them (little-endian, bf16 as the high half of fp32,
/// fp8 as its one-byte code, bool as one byte).
std::string encodeTensor(const Tensor& t);

/// A header line parsed as a JSON object.
nlohmann::json parseHeader(const std::string& line);

}  // namespace attnconf::adapters::worker
