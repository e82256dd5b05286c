#include "attnconf/model/tensor.h"

#include <gtest/gtest.h>

#include <stdexcept>
#include <vector>

namespace attnconf {
namespace {

TEST(PermuteAxes, MovesValues) {
  const Tensor t{DType::fp32, {2, 3}, {0, 1, 2, 3, 4, 5}};
  const Tensor transposed = permuteAxes(t, std::vector<std::size_t>{1, 0});
  EXPECT_EQ(transposed.shape, (Shape{3, 2}));
  EXPECT_EQ(transposed.values, (std::vector<double>{0, 3, 1, 4, 2, 5}));
}

// Three sequences of 2, 0 and 1 rows, packed on axis 0 of a (total, 2) tensor.
const std::vector<std::int64_t> kOffsets{0, 2, 2, 3};
const Tensor kPacked{DType::fp32, {3, 2}, {1, 2, 3, 4, 5, 6}};

TEST(UnpackAxis, SpreadsSequencesAndPadsWithZeros) {
  const Tensor unpacked = unpackAxis(kPacked, 0, kOffsets, 2);
  EXPECT_EQ(unpacked.shape, (Shape{3, 2, 2}));
  EXPECT_EQ(unpacked.values, (std::vector<double>{1, 2, 3, 4, 0, 0, 0, 0, 5, 6, 0, 0}));
}

TEST(UnpackAxis, PackAxesIsItsInverseOnAnInnerAxis) {
  const Tensor heads_first{DType::fp32, {2, 3}, {1, 2, 3, 4, 5, 6}};  // (heads, total)
  const Tensor unpacked = unpackAxis(heads_first, 1, kOffsets, 2);
  EXPECT_EQ(unpacked.shape, (Shape{2, 3, 2}));
  EXPECT_EQ(packAxes(unpacked, 1, kOffsets), heads_first);
  EXPECT_EQ(packAxes(unpackAxis(kPacked, 0, kOffsets, 2), 0, kOffsets), kPacked);
}

TEST(UnpackAxis, RefusesOffsetsThatDoNotRiseWithinTheTensor) {
  EXPECT_THROW(unpackAxis(kPacked, 0, std::vector<std::int64_t>{0, 2, 1}, 2), std::out_of_range);
  EXPECT_THROW(unpackAxis(kPacked, 0, std::vector<std::int64_t>{0, 4}, 4), std::out_of_range);
  EXPECT_THROW(packAxes(kPacked, 0, std::vector<std::int64_t>{0, 1}), std::out_of_range);
}

}  // namespace
}  // namespace attnconf
