// Standard attention as a framework's math path runs it: the Sq x Sk score matrix is
// materialised and every intermediate is stored in the input dtype.
#include <Eigen/Core>
#include <algorithm>
#include <cmath>

#include "attnconf/model/parallel.h"
#include "kernels/attention_args.h"
#include "kernels/matrices.h"
#include "kernels/score_rules.h"

namespace attnconf::adapters {
namespace {

using kernels::gather;
using kernels::MatrixF;

// The probabilities of query head h, every score and probability stored in the input dtype;
// writes the LSE row by row when `lse` is given (a fully masked row: P 0, LSE +inf), and with
// `statistics` the row max and sum the call asks for (a.row_max, a.row_sum). A sink takes part
// in the row max and sum as a key without value.
MatrixF probabilities(const AttentionArgs& a, std::int64_t b, std::int64_t h, const MatrixF& scaled,
                      double* lse, bool statistics = false) {
  const std::int64_t row0 = (b * a.heads + h) * a.seqlen_q;
  MatrixF p(a.seqlen_q, a.seqlen_k);
  const float sink = kernels::sinkOf(a, h);
  for (std::int64_t i = 0; i < a.seqlen_q; ++i) {
    for (std::int64_t j = 0; j < a.seqlen_k; ++j) {
      p(i, j) = kernels::toDType(
          a, kernels::finalScore(a, b, h, i, j, kernels::toDType(a, scaled(i, j))));
    }
    // std::max keeps a NaN first argument: a NaN score is no key.
    const float row_max = std::max(p.row(i).maxCoeff<Eigen::PropagateNaN>(), sink);
    if (row_max == kernels::kMinusInf) {
      p.row(i).setZero();
      if (lse) lse[i] = std::numeric_limits<double>::infinity();
      continue;
    }
    p.row(i) = (p.row(i).array() - row_max).exp();
    const float sum = p.row(i).sum() + std::exp(sink - row_max);
    if (statistics && a.row_max) a.row_max[row0 + i] = row_max;
    if (statistics && a.row_sum) a.row_sum[row0 + i] = sum;
    if (lse) lse[i] = static_cast<double>(row_max + std::log(sum));
    for (std::int64_t j = 0; j < a.seqlen_k; ++j) p(i, j) = kernels::toDType(a, p(i, j) / sum);
  }
  return p;
}

void attendHead(const AttentionArgs& a, std::int64_t b, std::int64_t h) {
  const std::int64_t hk = h / (a.heads / a.heads_k);
  const MatrixF scaled = (gather(a.q, b, h, a.seqlen_q, 0, a.head_dim) *
                          gather(a.k, b, hk, a.seqlen_k, 0, a.head_dim).transpose()) *
                         a.scale;
  double* lse = a.lse + (b * a.heads + h) * a.seqlen_q;
  const MatrixF p = probabilities(a, b, h, scaled, lse, /*statistics=*/true);
  kernels::store(a.partial_output ? DType::fp32 : a.dtype, a.out, b, h, 0,
                 p * gather(a.v, b, hk, a.seqlen_k, 0, a.head_dim_v));
  for (std::int64_t i = 0; i < a.seqlen_q; ++i) {  // rows that see no key
    if (!std::isinf(lse[i])) continue;
    double* row = a.out.row(b, i, h);
    std::fill(row, row + a.head_dim_v, a.empty_row_value);
  }
}

}  // namespace

void standardForward(const AttentionArgs& a) {
  parallelFor(a.batch * a.heads,
              [&](std::int64_t bh) { attendHead(a, bh / a.heads, bh % a.heads); });
}

namespace {

MatrixF roundedTo(const AttentionArgs& a, const MatrixF& m) {
  return m.unaryExpr([&](float x) { return kernels::toDType(a, x); });
}

}  // namespace

void standardBackward(const BackwardArgs& g) {
  const AttentionArgs& a = *g.fwd;
  const std::int64_t group = a.heads / a.heads_k;
  parallelFor(a.batch * a.heads_k, [&](std::int64_t bk) {
    const std::int64_t b = bk / a.heads_k, kv = bk % a.heads_k;
    const MatrixF k = gather(a.k, b, kv, a.seqlen_k, 0, a.head_dim),
                  v = gather(a.v, b, kv, a.seqlen_k, 0, a.head_dim_v);
    MatrixF dk = MatrixF::Zero(a.seqlen_k, a.head_dim),
            dv = MatrixF::Zero(a.seqlen_k, a.head_dim_v);
    for (std::int64_t h = kv * group; h < (kv + 1) * group; ++h) {
      const MatrixF q = gather(a.q, b, h, a.seqlen_q, 0, a.head_dim);
      const MatrixF d_out = gather(g.dout, b, h, a.seqlen_q, 0, a.head_dim_v);
      const MatrixF raw = (q * k.transpose()) * a.scale;
      const MatrixF p = probabilities(a, b, h, raw, nullptr);
      const MatrixF out = gather(g.out, b, h, a.seqlen_q, 0, a.head_dim_v);
      const Eigen::VectorXf row_dot = (d_out.array() * out.array()).rowwise().sum();
      const MatrixF d_p = roundedTo(a, d_out * v.transpose());
      MatrixF ds = p.array() * (d_p.colwise() - row_dot).array();
      kernels::storeScoreGradient(g, b, h, 0, 0, ds);
      if (a.softcap > 0) ds = ds.array() * (1.0F - (raw.array() / a.softcap).tanh().square());
      ds = roundedTo(a, ds);
      kernels::store(a.dtype, g.dq, b, h, 0, (ds * k) * a.scale);
      dk.noalias() += (ds.transpose() * q) * a.scale;
      dv.noalias() += p.transpose() * d_out;
    }
    kernels::store(a.dtype, g.dk, b, kv, 0, dk);
    kernels::store(a.dtype, g.dv, b, kv, 0, dv);
  });
}

}  // namespace attnconf::adapters
