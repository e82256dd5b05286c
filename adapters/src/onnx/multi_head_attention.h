#pragma once

#include "front_end.h"

namespace attnconf::adapters {

/// ONNX Runtime's com.microsoft MultiHeadAttention (3-D query, key and value split by
/// num_heads, key_padding_mask as key lengths, attention_bias, past key/value), written from its
/// schema and CPU kernel, with messages in onnxruntime's style. Its attention is ONNX
/// Attention's with equal head counts, so it runs through that front end. No backward.
std::map<std::string, Tensor> ortMultiHeadAttention(const Case& c, PlantedFault fault,
                                                    const ForwardKernel& kernel,
                                                    const BackwardKernel* backward);

}  // namespace attnconf::adapters
