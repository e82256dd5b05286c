#pragma once

#include "front_end.h"

namespace attnconf::adapters::flash_attn {

/// flash-attn's split-KV forward (flash_fwd_split_kernel and its combine): the keys of a
/// one-entry call cut into `splits` pieces, each run as a call of its own with its output kept
/// in fp32 (the kernel's oaccum), then combined by their LSEs:
///   lse = log sum_s exp(lse_s),  out = sum_s exp(lse_s - lse) * out_s.
/// `splits` <= 1 runs the kernel once. A row no piece sees a key of keeps output 0, LSE +inf.
void splitKvForward(const AttentionArgs& args, std::int64_t splits, const ForwardKernel& kernel,
                    PlantedFault fault);

}  // namespace attnconf::adapters::flash_attn
