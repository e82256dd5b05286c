#include "attnconf/model/dtype.h"

#include <gtest/gtest.h>

#include <cmath>

namespace attnconf {
namespace {

TEST(DType, NamesRoundTrip) {
  for (const DType d : allDTypes()) EXPECT_EQ(parseDType(dtypeName(d)), d) << dtypeName(d);
  EXPECT_EQ(parseDType("fp17"), std::nullopt);
}

TEST(DType, RoundsToNearestRepresentable) {
  EXPECT_EQ(roundTo(DType::fp16, 1.0 + 0x1p-11), 1.0);  // tie goes to even
  EXPECT_EQ(roundTo(DType::fp16, 1.0 + 0x1p-10), 1.0 + 0x1p-10);
  EXPECT_EQ(roundTo(DType::bf16, 1.0 + 0x1p-8), 1.0);
  EXPECT_EQ(roundTo(DType::bf16, 1.0 + 0x1p-7), 1.0 + 0x1p-7);
  EXPECT_EQ(roundTo(DType::fp32, 0.1), static_cast<double>(0.1F));
  EXPECT_TRUE(std::isinf(roundTo(DType::fp16, 70000.0)));
  EXPECT_EQ(roundTo(DType::fp16, 65504.0), 65504.0);
}

// The 8-bit floats as PyTorch casts to them (c10/util/Float8_e4m3fn.h, Float8_e5m2.h): ties to
// even, subnormals below 2^-6 (e4m3) and 2^-14 (e5m2), and what lies past the largest value.
TEST(DType, RoundsToTheEightBitFloatsAsPyTorchCasts) {
  EXPECT_EQ(roundTo(DType::fp8_e4m3, 1.0 + 0x1p-4), 1.0);  // tie goes to even
  EXPECT_EQ(roundTo(DType::fp8_e4m3, 1.0 + 0x1p-4 + 0x1p-10), 1.0 + 0x1p-3);
  EXPECT_EQ(roundTo(DType::fp8_e4m3, -3.3), -3.25);
  EXPECT_EQ(roundTo(DType::fp8_e4m3, 0x1p-9), 0x1p-9);  // the smallest subnormal
  EXPECT_EQ(roundTo(DType::fp8_e4m3, 0x1p-11), 0.0);
  EXPECT_EQ(roundTo(DType::fp8_e4m3, 464.0), 448.0);  // the tie below the NaN code
  EXPECT_TRUE(std::isnan(roundTo(DType::fp8_e4m3, 470.0)));
  EXPECT_TRUE(std::isnan(roundTo(DType::fp8_e4m3, -INFINITY)));
  EXPECT_EQ(roundTo(DType::fp8_e5m2, 1.0 + 0x1p-3), 1.0);
  EXPECT_EQ(roundTo(DType::fp8_e5m2, 0x1p-16), 0x1p-16);
  EXPECT_EQ(roundTo(DType::fp8_e5m2, 60000.0), 57344.0);
  EXPECT_EQ(roundTo(DType::fp8_e5m2, 61440.0), INFINITY);
  EXPECT_EQ(maxFinite(DType::fp8_e4m3), 448.0);
  EXPECT_EQ(smallestSubnormal(DType::fp8_e5m2), 0x1p-16);
  EXPECT_TRUE(isFloating(DType::fp8_e5m2));
}

TEST(DType, EpsilonIsTheGapAboveOne) {
  for (const DType d : {DType::fp32, DType::fp16, DType::bf16, DType::fp8_e4m3, DType::fp8_e5m2}) {
    EXPECT_EQ(roundTo(d, 1.0 + epsilon(d)), 1.0 + epsilon(d)) << dtypeName(d);
    EXPECT_EQ(roundTo(d, 1.0 + epsilon(d) / 4), 1.0) << dtypeName(d);
  }
}

}  // namespace
}  // namespace attnconf
