#pragma once

#include "front_end.h"

namespace attnconf::adapters {

/// jax.nn.dot_product_attention's front end for 4-D (B, T, N, H) inputs, written from JAX's
/// source (jax/_src/nn/functions.py) with its checks and messages, and its `xla` semantics: a
/// hidden score becomes a large finite negative number, so a query that sees no key attends
/// uniformly to every key. It has no backward here (JAX differentiates it with jax.grad).
std::map<std::string, Tensor> jaxDotProductAttention(const Case& c, PlantedFault fault,
                                                     const ForwardKernel& kernel,
                                                     const BackwardKernel* backward);

}  // namespace attnconf::adapters
