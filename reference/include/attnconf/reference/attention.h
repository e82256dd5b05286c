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

}  // namespace attnconf::reference
