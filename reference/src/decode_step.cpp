#include "attnconf/reference/decode_step.h"

namespace attnconf::reference {

DecodeState advanceStep(const DecodeStep& step) {
  DecodeState after = step.before;
  for (std::size_t i = 0; i < after.seq_lens.size(); ++i) {
    if (i >= step.sampled.size()) {  // padding: no token, no slot
      after.input_tokens[i] = 0;
      after.input_positions[i] = 0;
      after.slot_mapping[i] = -1;
      continue;
    }
    const std::int64_t position = step.before.seq_lens[i];  // the new token's, 0-based
    after.input_tokens[i] = step.sampled[i];
    after.seq_lens[i] = position + 1;
    after.input_positions[i] = position;
    const std::int64_t block = step.block_table[i].at(position / step.block_size);
    after.slot_mapping[i] = block * step.block_size + position % step.block_size;
  }
  return after;
}

}  // namespace attnconf::reference
