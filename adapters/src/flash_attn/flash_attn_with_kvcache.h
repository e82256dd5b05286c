#pragma once

#include "front_end.h"

namespace attnconf::adapters {

/// flash_attn_with_kvcache's front end, written from flash-attn's mha_fwd_kvcache: copies the
/// caches, appends k and v to each batch entry's cache row (or pages) at cache_seqlens, and runs
/// the kernel per entry over its cached keys from cache_leftpad on and its new keys, in num_splits
/// pieces combined by their LSEs when num_splits > 1. The updated caches are returned as the
/// outputs `k_cache` and `v_cache` (flash-attn writes them in place).
std::map<std::string, Tensor> flashAttnWithKvcache(const Case& c, PlantedFault fault,
                                                   const ForwardKernel& kernel,
                                                   const BackwardKernel* backward);

/// FlashAttention-3's flash_attn_with_kvcache over a contiguous cache, written from hopper's
/// mha_fwd: the same call with its own checks and messages; fp8_e4m3 inputs are dequantised by
/// q/k/v_descale (per batch entry and kv head) and the output returned in bf16.
std::map<std::string, Tensor> flashAttn3WithKvcache(const Case& c, PlantedFault fault,
                                                    const ForwardKernel& kernel,
                                                    const BackwardKernel* backward);

}  // namespace attnconf::adapters
