#pragma once

#include "front_end.h"

namespace attnconf::adapters {

/// The DIY Triton FlashAttention's front end (shared/seeds/004): flash_attention(q, k, v,
/// causal=False, seq_lens=None) on (batch, heads, seq_len, head_dim) tensors, with the cheat
/// sheet's error messages. Each batch entry runs at its own length; rows past it stay 0.
std::map<std::string, Tensor> diyFlashAttention(const Case& c, PlantedFault fault,
                                                const ForwardKernel& kernel,
                                                const BackwardKernel* backward);

}  // namespace attnconf::adapters
