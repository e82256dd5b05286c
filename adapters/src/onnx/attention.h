#pragma once

#include "front_end.h"

namespace attnconf::adapters {

/// The cache and the new keys (or values), one after the other on the sequence axis of a
/// (batch, heads, sequence, head_size) tensor: ONNX's and ORT's present cache.
Tensor withPast(const Tensor* past, const Tensor& fresh);

/// onnxruntime's check that a contrib operator's query, key or value is 3-D (batch, sequence,
/// hidden), with its message.
void checkThreeDimensional(const Tensor& t, const char* name);

/// The ONNX Attention operator's (opset 23) front end for 4-D inputs, or 3-D ones split into
/// heads by the q_num_heads / kv_num_heads attributes, with an optional past key/value cache,
/// written from the operator's text and reference implementation, with onnxruntime's messages. It
/// has no backward (an inference operator).
std::map<std::string, Tensor> onnxAttention(const Case& c, PlantedFault fault,
                                            const ForwardKernel& kernel,
                                            const BackwardKernel* backward);

}  // namespace attnconf::adapters
