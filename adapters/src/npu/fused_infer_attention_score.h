#pragma once

#include "front_end.h"

namespace attnconf::adapters {

/// torch_npu.npu_fused_infer_attention_score's front end (the Ascend docs): the prompt API's call
/// with `next_tokens` INT_MAX when left out and the scale named `scale`; one query per entry runs
/// the incremental kernel (reported as path `incre`, head dim a multiple of 16), longer queries
/// the prompt kernel (`prompt`); `softmax_lse_flag` returns softmax_lse (B, N, S, 1) fp32.
std::map<std::string, Tensor> npuFusedInferAttentionScore(const Case& c, PlantedFault fault,
                                                          const ForwardKernel& kernel,
                                                          const BackwardKernel* backward);

}  // namespace attnconf::adapters
