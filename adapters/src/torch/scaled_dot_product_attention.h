#pragma once

#include "front_end.h"

namespace attnconf::adapters {

/// torch.nn.functional.scaled_dot_product_attention's front end for 4-D (N, H, L, E) inputs,
/// written from PyTorch's documented contract and the checks of its ATen implementation (same
/// messages). Its backward is autograd's out.backward(grad_out).
std::map<std::string, Tensor> scaledDotProductAttention(const Case& c, PlantedFault fault,
                                                        const ForwardKernel& kernel,
                                                        const BackwardKernel* backward);

}  // namespace attnconf::adapters
