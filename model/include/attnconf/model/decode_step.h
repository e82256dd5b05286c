#pragma once

#include <cstdint>
#include <vector>

namespace attnconf {

/// The per-sequence state a paged-attention server keeps between decode steps (vLLM's model
/// input): one entry per sequence slot of the batch.
struct DecodeState {
  std::vector<std::int64_t> input_tokens;     ///< the token each sequence feeds next
  std::vector<std::int64_t> input_positions;  ///< that token's position in its sequence
  std::vector<std::int64_t> seq_lens;         ///< tokens each sequence holds
  std::vector<std::int64_t> slot_mapping;     ///< the cache slot that token's key is written to
};

/// One decode step in API-neutral form: the state before it, the token each of the first
/// `sampled.size()` sequences drew (the rest are padding), and where each sequence's cache
/// blocks live.
struct DecodeStep {
  DecodeState before;
  std::vector<std::int64_t> sampled;                   ///< one per query, queries first
  std::vector<std::vector<std::int64_t>> block_table;  ///< per sequence: block numbers in order
  std::int64_t block_size = 1;                         ///< cache slots per block
};

}  // namespace attnconf
