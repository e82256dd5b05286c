#pragma once

#include <cstdint>
#include <string_view>

#include "npu/layouts.h"

namespace attnconf::adapters::npu {

/// What sets one of torch_npu's inference APIs apart for their shared front end.
struct InferenceCall {
  std::string_view api;                 ///< the API's name, for errors
  const char* scale = "scale_value";    ///< the scale's parameter name
  const char* query_lengths = nullptr;  ///< the list of each entry's valid query length, if any
  const char* key_lengths = nullptr;    ///< the same for the keys
  std::int64_t max_head_dim = 0;
  std::int64_t head_dim_multiple = 1;
  bool single_query = false;  ///< the incremental API: one query per batch entry
  /// npu_fused_infer_attention_score: one query per entry runs the incremental path (and its
  /// head-dim alignment), longer queries the prompt path; the path is reported by name.
  bool dispatches = false;
  bool returns_lse = false;      ///< softmax_lse, (B, N, S, 1) fp32, is returned
  bool pages = false;            ///< takes a paged cache (block_table, block_size)
  std::int64_t sparse_mode = 1;  ///< 1: the mask as given
  Band band{};
};

/// The incremental kernel's head-dim alignment (mindspore_ifa).
constexpr std::int64_t kIncreHeadDimMultiple = 16;

/// The call of an API that takes the prompt kernel's sparse modes: `sparse_mode` 0-4 (others
/// rejected) with the `pre_tokens`/`next_tokens` band (`default_next` when left out), and
/// `actual_seq_lengths(_kv)` the valid lengths of each entry's queries and keys.
InferenceCall promptCall(const Case& c, std::string_view api, std::int64_t default_next);

/// torch_npu's inference attention (the prompt, incremental and fused inference APIs):
/// query, key and value of fp16 or bf16 in the `input_layout` BSH (the default), BSND or BNSD,
/// split by `num_heads` and `num_key_value_heads` (0: num_heads); a boolean `atten_mask` whose
/// true hides a key; the scale (`call.scale`) 1.0 when left out; the valid lengths of each batch
/// entry, whose diagonals the bottom-right modes follow; with `call.pages`, a paged cache when
/// `block_table` is given (see gatherPagedCache). Returns attention_out, 0 past a query length
/// and on rows that see no key, and softmax_lse when asked.
std::map<std::string, Tensor> inferenceAttention(const Case& c, PlantedFault fault,
                                                 const ForwardKernel& kernel,
                                                 const InferenceCall& call);

}  // namespace attnconf::adapters::npu
