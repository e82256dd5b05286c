// Each step follows the canonical definition in model/problem.h; the comments name it.
#include "attnconf/reference/attention.h"

#include <Eigen/Core>
#include <cmath>
#include <limits>
#include <optional>

#include "attnconf/model/parallel.h"
#include "detail/steps.h"

namespace attnconf::reference {
namespace {

using detail::applyMask;
using detail::block;
using detail::Matrix;
using detail::Rounding;
using detail::scores;
using detail::softmax;

// §fully masked rows: the declared value, or the mean of every value of the kv head.
Eigen::RowVectorXd fullyMaskedRow(const Problem& p, std::int64_t b, std::int64_t h) {
  if (!p.fully_masked_rows.out_mean_of_values)
    return Eigen::RowVectorXd::Constant(p.head_dim_v, p.fully_masked_rows.out);
  return block(p.v, b, p.kvHead(h), p.maxSeqlenK()).colwise().mean();
}

void attendHead(const Problem& p, std::int64_t b, std::int64_t h, const Rounding& rounding,
                Result& result) {
  const std::int64_t sq = p.seqlens_q[b], sk = p.seqlens_k[b];
  const std::int64_t max_sq = p.maxSeqlenQ(), dv = p.head_dim_v;
  Matrix s = scores(p, b, h, rounding);
  applyMask(p, b, rounding, s);
  auto [prob, row_max, row_sum] = softmax(s, detail::sinkOf(p, h));
  rounding.applyToProbabilities(prob);
  // §output: O = P V.
  Matrix out = rounding.product(prob, block(p.v, b, p.kvHead(h), sk));
  rounding.apply(out);
  const Eigen::RowVectorXd empty_row = fullyMaskedRow(p, b, h);
  const auto& lse_of_empty = p.fully_masked_rows.lse;
  const std::int64_t row0 = (b * p.heads_q + h) * max_sq;
  for (std::int64_t i = 0; i < max_sq; ++i) {
    const auto row = static_cast<std::size_t>(row0 + i);
    // Rows past the query length are 0; their LSE is as open as a fully masked row's.
    const bool fully_masked = i < sq && row_sum(i) == 0;
    if (!lse_of_empty && (i >= sq || fully_masked)) result.lse_unspecified.values[row] = 1;
    if (i >= sq) continue;
    double* out_row = result.out.values.data() + (row0 + i) * dv;
    for (std::int64_t d = 0; d < dv; ++d) out_row[d] = fully_masked ? empty_row(d) : out(i, d);
    if (!fully_masked) result.row_max.values[row] = row_max(i);
    result.lse.values[row] = !fully_masked  ? rounding.lse(row_max(i) + std::log(row_sum(i)))
                             : lse_of_empty ? *lse_of_empty
                                            : 0.0;
  }
}

Result run(const Problem& p, const Rounding& rounding) {
  const std::int64_t max_sq = p.maxSeqlenQ();
  Result result{Tensor::zeros(DType::fp64, {p.batch, p.heads_q, max_sq, p.head_dim_v}),
                Tensor::zeros(DType::fp64, {p.batch, p.heads_q, max_sq}),
                {},
                Tensor::zeros(DType::fp64, {p.batch, p.heads_q, max_sq})};
  if (!p.fully_masked_rows.lse) result.lse_unspecified = result.lse;
  parallelFor(p.batch * p.heads_q, [&](std::int64_t bh) {
    attendHead(p, bh / p.heads_q, bh % p.heads_q, rounding, result);
  });
  return result;
}

}  // namespace

Result attention(const Problem& problem) {
  return run(problem, Rounding{});
}

Result attentionInInputDType(const Problem& problem) {
  return standardAttention(problem, Precision::all(problem.dtype));
}

Result standardAttention(const Problem& problem, const Precision& precision) {
  return run(problem, Rounding{precision.dtype, precision.probabilities});
}

}  // namespace attnconf::reference
