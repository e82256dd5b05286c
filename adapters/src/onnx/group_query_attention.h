#pragma once

#include "front_end.h"

namespace attnconf::adapters {

/// ONNX Runtime's com.microsoft GroupQueryAttention (3-D query, key and value split by num_heads
/// and kv_num_heads, a BNSH past cache, seqlens_k and total_sequence_length, causal over the past
/// and the new keys), written from its schema and CPU kernel, with messages in onnxruntime's
/// style. Every entry uses its whole past: other seqlens_k are refused, not guessed at. No
/// backward.
std::map<std::string, Tensor> ortGroupQueryAttention(const Case& c, PlantedFault fault,
                                                     const ForwardKernel& kernel,
                                                     const BackwardKernel* backward);

}  // namespace attnconf::adapters
