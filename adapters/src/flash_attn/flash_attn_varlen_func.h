#pragma once

#include "front_end.h"

namespace attnconf::adapters {

/// flash_attn_varlen_func's front end, written from flash-attn's mha_varlen_fwd: packed
/// (total, heads, head_size) tensors cut into sequences by cu_seqlens_q/k, one kernel call per
/// sequence with its own bottom-right diagonal; the LSE is (heads, total_q). The backward runs
/// sequence by sequence too, giving packed dq, dk, dv.
std::map<std::string, Tensor> flashAttnVarlenFunc(const Case& c, PlantedFault fault,
                                                  const ForwardKernel& kernel,
                                                  const BackwardKernel* backward);

}  // namespace attnconf::adapters
