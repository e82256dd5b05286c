// vLLM's decode step on states small enough to follow by hand.
#include "attnconf/reference/decode_step.h"

#include <gtest/gtest.h>

namespace attnconf::reference {
namespace {

// Three sequences in blocks of 4 slots; the first two are queries, the third is padding.
DecodeStep threeSequences() {
  DecodeStep step;
  step.before = DecodeState{{11, 12, 13}, {4, 3, 2}, {5, 4, 3}, {50, 51, 52}};
  step.sampled = {42, 17};
  step.block_table = {{7, 3}, {2, 9}, {5, 6}};
  step.block_size = 4;
  return step;
}

TEST(ReferenceDecodeStep, QueriesTakeTheirTokenAndTheNextSlot) {
  const DecodeState after = advanceStep(threeSequences());
  // Sequence 0 held 5 tokens: the new one is at position 5, block 1 (number 3), offset 1.
  EXPECT_EQ(after.input_tokens[0], 42);
  EXPECT_EQ(after.seq_lens[0], 6);
  EXPECT_EQ(after.input_positions[0], 5);
  EXPECT_EQ(after.slot_mapping[0], 3 * 4 + 1);
  // Sequence 1 filled its first block: position 4 opens block 1 (number 9) at offset 0.
  EXPECT_EQ(after.input_tokens[1], 17);
  EXPECT_EQ(after.seq_lens[1], 5);
  EXPECT_EQ(after.input_positions[1], 4);
  EXPECT_EQ(after.slot_mapping[1], 9 * 4);
}

TEST(ReferenceDecodeStep, PaddingIsResetAndKeepsItsLength) {
  const DecodeState after = advanceStep(threeSequences());
  EXPECT_EQ(after.input_tokens[2], 0);
  EXPECT_EQ(after.input_positions[2], 0);
  EXPECT_EQ(after.slot_mapping[2], -1);
  EXPECT_EQ(after.seq_lens[2], 3);
}

TEST(ReferenceDecodeStep, AnEmptySequenceWritesTheFirstSlotOfItsFirstBlock) {
  DecodeStep step;
  step.before = DecodeState{{1}, {1}, {0}, {1}};
  step.sampled = {8};
  step.block_table = {{6}};
  step.block_size = 16;
  const DecodeState after = advanceStep(step);
  EXPECT_EQ(after.input_positions[0], 0);
  EXPECT_EQ(after.seq_lens[0], 1);
  EXPECT_EQ(after.slot_mapping[0], 6 * 16);
}

}  // namespace
}  // namespace attnconf::reference
