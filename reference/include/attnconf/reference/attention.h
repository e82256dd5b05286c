#pragma once

#include "attnconf/model/problem.h"

namespace attnconf::reference {

/// Attention computed in double precision: the exact answer for the problem's (already rounded)
/// inputs. Fully masked rows get the problem's declared values.
Result attention(const Problem& problem);

/// Standard attention as it runs in the input dtype: scores, probabilities and output are
/// rounded to `problem.dtype` where a framework's math path materialises them; the LSE is
/// rounded to fp32. Its error against `attention` is the baseline of the spec's tolerance.
Result attentionInInputDType(const Problem& problem);

/// The same, rounding where `precision` says (FlashAttention-3's fp8 baseline: bf16, with the
/// probabilities in fp8).
Result standardAttention(const Problem& problem, const Precision& precision);

/// The backward pass in double precision, given dout = dLoss/dout ([batch, heads_q, max
/// seqlen_q, head_dim_v]): dV = P^T dO, dS = P * (dO V^T - rowsum(dO * O)), through the
/// softcap, dQ = scale dS K, dK = scale dS^T Q. ALiBi slopes get no gradient.
Gradients attentionBackward(const Problem& problem, const Tensor& dout);

/// The same with standard attention's roundings in the input dtype (P, dP, dS and the gradients
/// stored in it): the baseline of the backward tolerance.
Gradients attentionBackwardInInputDType(const Problem& problem, const Tensor& dout);

}  // namespace attnconf::reference
