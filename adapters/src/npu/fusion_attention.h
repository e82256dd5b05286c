#pragma once

#include "front_end.h"

namespace attnconf::adapters {

/// torch_npu.npu_fusion_attention's front end (shared/seeds/002 and the Ascend docs): query,
/// key and value in the `input_layout` BNSD, BSND, BSH or SBH (H = N * D, split by `head_num`),
/// a boolean `atten_mask` whose true hides a key, `scale` 1.0 when left out, and `sparse_mode`
/// with the `pre_tockens`/`next_tockens` band. Returns attention_out, and softmax_max and
/// softmax_sum fp32 (B, N, Sq, 8): each row's score max, and its sum of exp(score - max). With
/// `backward`, npu_fusion_attention_grad's dq, dk, dv for the output gradient `dy`.
std::map<std::string, Tensor> npuFusionAttention(const Case& c, PlantedFault fault,
                                                 const ForwardKernel& kernel,
                                                 const BackwardKernel* backward);

}  // namespace attnconf::adapters
