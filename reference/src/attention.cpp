// Each step follows the canonical definition in model/problem.h; the comments name it.
#include "attnconf/reference/attention.h"

#include <Eigen/Core>
#include <cmath>
#include <limits>
#include <optional>

#include "attnconf/model/parallel.h"

namespace attnconf::reference {
namespace {

using Matrix = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using ConstMap = Eigen::Map<const Matrix>;
constexpr double kMinusInf = -std::numeric_limits<double>::infinity();

// Rounding applied where standard attention materialises a tensor; nothing = exact.
struct Rounding {
  std::optional<DType> dtype;
  void apply(Matrix& m) const {
    if (dtype) m = m.unaryExpr([d = *dtype](double x) { return roundTo(d, x); });
  }
  double lse(double x) const { return dtype ? roundTo(DType::fp32, x) : x; }
};

// The (seqlen, dim) block of a [batch, heads, max seqlen, dim] tensor.
ConstMap block(const Tensor& t, std::int64_t b, std::int64_t h, std::int64_t seqlen) {
  const std::int64_t heads = t.shape[1], rows = t.shape[2], dim = t.shape[3];
  const double* base = t.values.data() + ((b * heads + h) * rows) * dim;
  return {base, seqlen, dim};
}

// §scores: S = scale * Q K^T, then softcap * tanh(S / softcap), then the ALiBi bias.
Matrix scores(const Problem& p, std::int64_t b, std::int64_t h, const Rounding& rounding) {
  const std::int64_t sq = p.seqlens_q[b], sk = p.seqlens_k[b];
  Matrix s = p.scale * (block(p.q, b, h, sq) * block(p.k, b, p.kvHead(h), sk).transpose());
  rounding.apply(s);
  if (p.softcap > 0) {
    s = s.unaryExpr([c = p.softcap](double x) { return c * std::tanh(x / c); });
    rounding.apply(s);
  }
  if (!p.alibi_slopes.empty()) {
    const double slope = p.alibi_slopes[b * p.heads_q + h];
    const std::int64_t offset = diagonalOffset(p.alibi_alignment, sq, sk);
    for (std::int64_t i = 0; i < sq; ++i) {
      for (std::int64_t j = 0; j < sk; ++j)
        s(i, j) -= slope * std::abs(static_cast<double>(i + offset - j));
    }
    rounding.apply(s);
  }
  return s;
}

// §mask: a key the mask primitives hide scores -inf.
void applyMask(const Problem& p, std::int64_t sq, std::int64_t sk, Matrix& s) {
  if (p.masks.empty()) return;
  for (std::int64_t i = 0; i < sq; ++i) {
    for (std::int64_t j = 0; j < sk; ++j) {
      if (!keeps(p.masks, i, j, sq, sk)) s(i, j) = kMinusInf;
    }
  }
}

void attendHead(const Problem& p, std::int64_t b, std::int64_t h, const Rounding& rounding,
                Result& result) {
  const std::int64_t sq = p.seqlens_q[b], sk = p.seqlens_k[b];
  const std::int64_t max_sq = p.maxSeqlenQ(), dv = p.head_dim_v;
  Matrix s = scores(p, b, h, rounding);
  applyMask(p, sq, sk, s);
  // §softmax: P = exp(S - rowmax) / rowsum; lse = rowmax + log(rowsum).
  const Eigen::VectorXd row_max = s.rowwise().maxCoeff();
  Matrix prob(sq, sk);
  Eigen::VectorXd row_sum(sq);
  for (std::int64_t i = 0; i < sq; ++i) {
    const bool fully_masked = row_max(i) == kMinusInf;
    prob.row(i) = fully_masked ? Eigen::RowVectorXd::Zero(sk)
                               : Eigen::RowVectorXd((s.row(i).array() - row_max(i)).exp());
    row_sum(i) = prob.row(i).sum();
  }
  for (std::int64_t i = 0; i < sq; ++i) {
    if (row_sum(i) > 0) prob.row(i) /= row_sum(i);
  }
  rounding.apply(prob);
  // §output: O = P V.
  Matrix out = prob * block(p.v, b, p.kvHead(h), sk);
  rounding.apply(out);
  const std::int64_t row0 = (b * p.heads_q + h) * max_sq;
  for (std::int64_t i = 0; i < sq; ++i) {
    const bool fully_masked = row_sum(i) == 0;
    double* out_row = result.out.values.data() + (row0 + i) * dv;
    for (std::int64_t d = 0; d < dv; ++d) {
      out_row[d] = fully_masked ? p.fully_masked_rows.out : out(i, d);
    }
    result.lse.values[static_cast<std::size_t>(row0 + i)] =
        fully_masked ? p.fully_masked_rows.lse : rounding.lse(row_max(i) + std::log(row_sum(i)));
  }
}

Result run(const Problem& p, const Rounding& rounding) {
  const std::int64_t max_sq = p.maxSeqlenQ();
  Result result{Tensor::zeros(DType::fp64, {p.batch, p.heads_q, max_sq, p.head_dim_v}),
                Tensor::zeros(DType::fp64, {p.batch, p.heads_q, max_sq})};
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
  return run(problem, Rounding{problem.dtype});
}

}  // namespace attnconf::reference
