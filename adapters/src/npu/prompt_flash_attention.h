#pragma once

#include "front_end.h"

namespace attnconf::adapters {

/// torch_npu.npu_prompt_flash_attention's front end (shared/seeds/002 and the Ascend docs):
/// `sparse_mode` 0-4 with the `pre_tokens`/`next_tokens` band (next_tokens 0 when left out),
/// `actual_seq_lengths(_kv)` the valid lengths of each entry's queries and keys, the head dim at
/// most 512, and otherwise npu::inferenceAttention's call.
std::map<std::string, Tensor> npuPromptFlashAttention(const Case& c, PlantedFault fault,
                                                      const ForwardKernel& kernel,
                                                      const BackwardKernel* backward);

}  // namespace attnconf::adapters
