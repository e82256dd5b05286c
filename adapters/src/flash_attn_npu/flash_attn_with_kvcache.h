#pragma once

#include "front_end.h"

namespace attnconf::adapters {

/// flash_attn_npu's flash_attn_with_kvcache, written from its mha_fwd_kvcache
/// (csrc/arch22/flash_attn_npu_v2/flash_api.cpp): flash-attn's call, which it refuses with
/// ALiBi, left padding, rotary embedding or more than one piece of keys.
std::map<std::string, Tensor> flashAttnNpuWithKvcache(const Case& c, PlantedFault fault,
                                                      const ForwardKernel& kernel,
                                                      const BackwardKernel* backward);

}  // namespace attnconf::adapters
