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

TEST(DType, EpsilonIsTheGapAboveOne) {
  for (const DType d : {DType::fp32, DType::fp16, DType::bf16}) {
    EXPECT_EQ(roundTo(d, 1.0 + epsilon(d)), 1.0 + epsilon(d)) << dtypeName(d);
    EXPECT_EQ(roundTo(d, 1.0 + epsilon(d) / 4), 1.0) << dtypeName(d);
  }
}

}  // namespace
}  // namespace attnconf
