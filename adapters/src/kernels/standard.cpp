// Standard attention as a framework's math path runs it: the Sq x Sk score matrix is
// materialised and every intermediate is stored in the input dtype.
#include <Eigen/Core>
#include <cmath>

#include "attnconf/model/parallel.h"
#include "kernels/attention_args.h"
#include "kernels/score_rules.h"

namespace attnconf::adapters {
namespace {

using MatrixF = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

MatrixF load(const SeqView& view, std::int64_t b, std::int64_t h, std::int64_t rows,
             std::int64_t dim) {
  MatrixF m(rows, dim);
  for (std::int64_t r = 0; r < rows; ++r) {
    for (std::int64_t d = 0; d < dim; ++d) m(r, d) = static_cast<float>(view.row(b, r, h)[d]);
  }
  return m;
}

void attendHead(const AttentionArgs& a, std::int64_t b, std::int64_t h) {
  const std::int64_t hk = h / (a.heads / a.heads_k);
  const MatrixF dots = load(a.q, b, h, a.seqlen_q, a.head_dim) *
                       load(a.k, b, hk, a.seqlen_k, a.head_dim).transpose();
  MatrixF p(a.seqlen_q, a.seqlen_k);
  for (std::int64_t i = 0; i < a.seqlen_q; ++i) {
    float row_max = kernels::kMinusInf;
    for (std::int64_t j = 0; j < a.seqlen_k; ++j) {
      const float scaled = kernels::toDType(a, dots(i, j) * a.scale);
      p(i, j) = kernels::toDType(a, kernels::finalScore(a, b, h, i, j, scaled));
      row_max = std::max(row_max, p(i, j));
    }
    double* lse = a.lse + (b * a.heads + h) * a.seqlen_q + i;
    if (row_max == kernels::kMinusInf) {
      p.row(i).setZero();
      *lse = std::numeric_limits<double>::infinity();
      continue;
    }
    p.row(i) = (p.row(i).array() - row_max).exp();
    const float sum = p.row(i).sum();
    *lse = static_cast<double>(row_max + std::log(sum));
    for (std::int64_t j = 0; j < a.seqlen_k; ++j) p(i, j) = kernels::toDType(a, p(i, j) / sum);
  }
  const MatrixF o = p * load(a.v, b, hk, a.seqlen_k, a.head_dim_v);
  for (std::int64_t i = 0; i < a.seqlen_q; ++i) {
    for (std::int64_t d = 0; d < a.head_dim_v; ++d) {
      a.out.row(b, i, h)[d] = roundTo(a.dtype, static_cast<double>(o(i, d)));
    }
  }
}

}  // namespace

void standardForward(const AttentionArgs& a) {
  parallelFor(a.batch * a.heads,
              [&](std::int64_t bh) { attendHead(a, bh / a.heads, bh % a.heads); });
}

}  // namespace attnconf::adapters
