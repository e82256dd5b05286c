#include "attnconf/model/mask.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace attnconf {
namespace {

// Renders which keys each query sees: one row per query, '1' = visible.
std::string pattern(const std::vector<MaskPrimitive>& masks, std::int64_t sq, std::int64_t sk) {
  std::string out;
  for (std::int64_t i = 0; i < sq; ++i) {
    for (std::int64_t j = 0; j < sk; ++j) out += keeps(masks, i, j, sq, sk) ? '1' : '0';
    out += '\n';
  }
  return out;
}

TEST(Mask, CausalBottomRightWithShortQuery) {
  EXPECT_EQ(pattern({CausalMask{Alignment::bottom_right}}, 2, 5), "11110\n11111\n");
}

TEST(Mask, CausalBottomRightWithShortKeysMasksWholeRows) {
  EXPECT_EQ(pattern({CausalMask{Alignment::bottom_right}}, 5, 2), "00\n00\n00\n10\n11\n");
  EXPECT_TRUE(rowFullyMasked(std::vector<MaskPrimitive>{CausalMask{}}, 2, 5, 2));
  EXPECT_FALSE(rowFullyMasked(std::vector<MaskPrimitive>{CausalMask{}}, 3, 5, 2));
}

// Ascend's prefix modes: the first `prefix` keys are seen by every row, even one the diagonal
// leaves empty.
TEST(Mask, CausalPrefixShowsTheFirstKeysToEveryRow) {
  EXPECT_EQ(pattern({CausalMask{Alignment::bottom_right, 0, 2}}, 4, 3), "110\n110\n110\n111\n");
  EXPECT_EQ(pattern({CausalMask{Alignment::bottom_right, 0, 1}}, 2, 5), "11110\n11111\n");
}

TEST(Mask, CausalTopLeft) {
  EXPECT_EQ(pattern({CausalMask{Alignment::top_left}}, 2, 5), "10000\n11000\n");
}

TEST(Mask, WindowIsInclusiveOnBothSides) {
  EXPECT_EQ(pattern({WindowMask{1, 0, Alignment::bottom_right}}, 4, 4), "1000\n1100\n0110\n0011\n");
  EXPECT_EQ(pattern({WindowMask{0, 1, Alignment::bottom_right}}, 3, 3), "110\n011\n001\n");
  EXPECT_EQ(pattern({WindowMask{-1, -1, Alignment::bottom_right}}, 1, 3), "111\n");
}

TEST(Mask, PrimitivesIntersect) {
  const std::vector<MaskPrimitive> masks{CausalMask{}, WindowMask{1, -1, Alignment::bottom_right}};
  EXPECT_EQ(pattern(masks, 3, 3), "100\n110\n011\n");
}

// torch_npu's band: keys j with -pre <= j - i - offset <= next, on non-square shapes.
TEST(Mask, BandTopLeftKeepsPreBeforeAndNextAfterTheDiagonal) {
  EXPECT_EQ(pattern({BandMask{1, 0, Alignment::top_left}}, 3, 5), "10000\n11000\n01100\n");
  EXPECT_EQ(pattern({BandMask{2147483647, 2147483647, Alignment::top_left}}, 2, 3), "111\n111\n");
}

TEST(Mask, BandWithNegativeNextLeavesOutTheDiagonal) {
  EXPECT_EQ(pattern({BandMask{2, -1, Alignment::top_left}}, 3, 4), "0000\n1000\n1100\n");
  EXPECT_TRUE(
      rowFullyMasked(std::vector<MaskPrimitive>{BandMask{2, -1, Alignment::top_left}}, 0, 3, 4));
}

TEST(Mask, BandWithNegativePreStartsAfterTheDiagonal) {
  EXPECT_EQ(pattern({BandMask{-1, 2, Alignment::top_left}}, 2, 5), "01100\n00110\n");
}

TEST(Mask, BandBottomRightAlignsTheLastQueryWithTheLastKey) {
  EXPECT_EQ(pattern({BandMask{0, 0, Alignment::bottom_right}}, 2, 5), "00010\n00001\n");
  EXPECT_EQ(pattern({BandMask{1, 0, Alignment::bottom_right}}, 3, 2), "00\n10\n11\n");
}

TEST(Mask, Describe) {
  EXPECT_EQ(describe(BandMask{-1, 2, Alignment::top_left}), "band(-1,2,top_left)");
  EXPECT_EQ(describe(CausalMask{Alignment::top_left}), "causal(top_left)");
  EXPECT_EQ(describe(CausalMask{Alignment::top_left, 1, 4}), "causal(top_left, shift 1, prefix 4)");
  EXPECT_EQ(describe(WindowMask{3, 0, Alignment::bottom_right}), "window(3,0,bottom_right)");
}

}  // namespace
}  // namespace attnconf
