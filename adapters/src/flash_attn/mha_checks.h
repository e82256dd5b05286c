#pragma once

// What flash-attn's mha_fwd and mha_varlen_fwd share: the dtype and head checks, and the decoding
// of the scalar parameters and ALiBi slopes into kernel arguments.
#include "front_end.h"

namespace attnconf::adapters::flash_attn {

/// q, k and v in fp16 or bf16, all alike (mha_fwd's messages).
void checkDTypes(const Tensor& q, const Tensor& k, const Tensor& v);

/// Whether the API pads a head size that is not a multiple of 8 itself (mha_fwd_kvcache) or
/// rejects it (mha_fwd, mha_varlen_fwd).
enum class HeadDimPadding { rejected, padded };

/// The head count and head size checks, in mha_fwd's order.
void checkHeads(std::int64_t heads, std::int64_t heads_k, std::int64_t head_dim, PlantedFault fault,
                HeadDimPadding padding = HeadDimPadding::rejected);

/// Scale, softcap, causal, window and ALiBi slopes (batch * heads) into `args`; the diagonal
/// offsets are left to the caller, which knows the lengths.
void decodeParams(const Case& c, PlantedFault fault, std::int64_t batch, AttentionArgs& args);

}  // namespace attnconf::adapters::flash_attn
