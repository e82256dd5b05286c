#pragma once

// What FlashAttention-3's mha_fwd (hopper/flash_api.cpp) does beyond 2.x with a KV-cache call:
// its checks, and fp8_e4m3 inputs dequantised by their descale factors.
#include "front_end.h"

namespace attnconf::adapters::flash_attn {

/// mha_fwd's checks of the query, the caches, num_splits and the descale factors (the last
/// beyond mha_fwd, which checks them for fp8 calls only).
void checkV3KvcacheCall(const Case& c, const Tensor& q, const Tensor& k_cache, PlantedFault fault);

/// The dtype FlashAttention-3 returns for inputs of `dtype`: bf16 for fp8_e4m3, else the same.
DType outputDType(DType dtype);

/// Batch entry b of an fp8 call with its q, k and v (those the call passes a factor for) times
/// their descale factors of (b, kv head), in copies that `args` then reads; nothing otherwise.
class Dequantized {
 public:
  Dequantized(const Case& c, std::int64_t b, AttentionArgs& args, PlantedFault fault);

 private:
  Tensor q_, k_, v_;
};

}  // namespace attnconf::adapters::flash_attn
