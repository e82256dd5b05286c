// The wire format of tensors (docs/worker-protocol.md): every dtype's bytes, fp8 as the codes
// PyTorch stores (torch.tensor(x, dtype=torch.float8_e4m3fn).view(torch.uint8)).
#include "worker/protocol.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>

namespace attnconf::adapters::worker {
namespace {

std::string bytesOf(DType dtype, std::vector<double> values) {
  const auto n = static_cast<std::int64_t>(values.size());
  return encodeTensor(Tensor{dtype, {n}, std::move(values)});
}

std::string codes(std::initializer_list<std::uint8_t> list) {
  return {list.begin(), list.end()};
}

TEST(Protocol, Fp8TravelsAsPyTorchsCodes) {
  EXPECT_EQ(bytesOf(DType::fp8_e4m3, {1.0, -2.0, 448.0, 0x1p-9, -0.0}),
            codes({0x38, 0xC0, 0x7E, 0x01, 0x80}));
  EXPECT_EQ(bytesOf(DType::fp8_e5m2, {1.0, -2.0, 57344.0, 0x1p-16, INFINITY}),
            codes({0x3C, 0xC0, 0x7B, 0x01, 0x7C}));
}

// Every code decodes to a value the dtype holds, which encodes back to the same code (NaN codes
// to NaN, whatever its sign and payload).
TEST(Protocol, EveryFp8CodeRoundTrips) {
  for (const DType dtype : {DType::fp8_e4m3, DType::fp8_e5m2}) {
    std::string all(256, '\0');
    for (int code = 0; code < 256; ++code)
      all[static_cast<std::size_t>(code)] = static_cast<char>(code);
    const Tensor decoded = decodeTensor(TensorDesc{"t", dtype, {256}}, all);
    const std::string encoded = encodeTensor(decoded);
    for (std::size_t code = 0; code < 256; ++code) {
      const double x = decoded.values[code];
      if (std::isnan(x)) continue;
      EXPECT_EQ(roundTo(dtype, x), x) << dtypeName(dtype) << " code " << code;
      EXPECT_EQ(encoded[code], all[code]) << dtypeName(dtype) << " code " << code << " = " << x;
    }
    EXPECT_TRUE(std::isnan(decoded.values[0x7F])) << dtypeName(dtype);
  }
}

}  // namespace
}  // namespace attnconf::adapters::worker
