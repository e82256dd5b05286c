#pragma once

#include <cstdint>
#include <string_view>

#include "npu/layouts.h"

namespace attnconf::adapters::npu {

/// What sets one of torch_npu's inference APIs apart for their shared front end.
struct InferenceCall {
  std::string_view api;                 ///< the API's name, for errors
  const char* query_lengths = nullptr;  ///< the list of each entry's valid query length, if any
  const char* key_lengths = nullptr;    ///< the same for the keys
  std::int64_t max_head_dim = 0;
  std::int64_t head_dim_multiple = 1;
  bool single_query = false;     ///< the incremental API: one query per batch entry
  std::int64_t sparse_mode = 1;  ///< 1: the mask as given
  Band band{};
};

/// torch_npu's inference attention (npu_prompt_flash_attention, npu_incre_flash_attention):
/// query, key and value of fp16 or bf16 in the `input_layout` BSH (the default), BSND or BNSD,
/// split by `num_heads` and `num_key_value_heads` (0: num_heads); a boolean `atten_mask` whose
/// true hides a key; `scale_value` 1.0 when left out; the valid lengths of each batch entry, whose
/// diagonals the bottom-right modes follow. Returns attention_out, 0 past a query length and on
/// rows that see no key.
std::map<std::string, Tensor> inferenceAttention(const Case& c, PlantedFault fault,
                                                 const ForwardKernel& kernel,
                                                 const InferenceCall& call);

}  // namespace attnconf::adapters::npu
