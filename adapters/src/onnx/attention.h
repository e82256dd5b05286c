#pragma once

#include "front_end.h"

namespace attnconf::adapters {

/// The ONNX Attention operator's (opset 23) front end for 4-D inputs with an optional past
/// key/value cache, written from the operator's text and reference implementation, with
/// onnxruntime's messages. It has no backward (an inference operator).
std::map<std::string, Tensor> onnxAttention(const Case& c, PlantedFault fault,
                                            const ForwardKernel& kernel,
                                            const BackwardKernel* backward);

}  // namespace attnconf::adapters
