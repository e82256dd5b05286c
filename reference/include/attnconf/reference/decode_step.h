#pragma once

#include "attnconf/model/decode_step.h"

namespace attnconf::reference {

/// The state after one decode step, as vLLM's advance_step_flashattn defines it. For each query
/// sequence i (i < number of sampled tokens):
///   input_tokens[i] = sampled[i]; seq_lens[i] += 1; input_positions[i] = seq_lens[i] - 1;
///   slot_mapping[i] = block_table[i][p / block_size] * block_size + p % block_size,
///     with p = input_positions[i];
/// each padding sequence: input_tokens 0, input_positions 0, slot_mapping -1 (no slot), its
/// seq_lens unchanged.
DecodeState advanceStep(const DecodeStep& step);

}  // namespace attnconf::reference
