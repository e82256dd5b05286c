#pragma once

#include "front_end.h"

namespace attnconf::adapters {

/// torch_npu.npu_incre_flash_attention's front end (the Ascend docs): one query per batch entry
/// (decode) over a contiguous cache, `actual_seq_lengths` the keys' valid lengths, the head dim
/// a multiple of 16, and otherwise npu::inferenceAttention's call.
std::map<std::string, Tensor> npuIncreFlashAttention(const Case& c, PlantedFault fault,
                                                     const ForwardKernel& kernel,
                                                     const BackwardKernel* backward);

}  // namespace attnconf::adapters
