#pragma once

// The steps of the canonical definition (model/problem.h) shared by the forward and backward
// references; each is commented with the clause it implements.
#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>

#include "attnconf/model/problem.h"

namespace attnconf::reference::detail {

using Matrix = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using ConstMap = Eigen::Map<const Matrix>;
constexpr double kMinusInf = -std::numeric_limits<double>::infinity();

// Rounding applied where standard attention materialises a tensor, and its matrix products
// accumulated in fp32 as a framework's GEMMs do for fp32, fp16 and bf16; nothing = exact. The
// probabilities may be stored in a dtype of their own (an fp8 kernel's P).
struct Rounding {
  std::optional<DType> dtype;
  std::optional<DType> probabilities = dtype;
  void apply(Matrix& m) const { roundAll(dtype, m); }
  void applyToProbabilities(Matrix& m) const { roundAll(probabilities, m); }
  static void roundAll(std::optional<DType> to, Matrix& m) {
    if (to) m = m.unaryExpr([d = *to](double x) { return roundTo(d, x); });
  }
  template <class A, class B>
  Matrix product(const A& a, const B& b) const {
    if (!dtype || *dtype == DType::fp64) return a * b;
    return (a.template cast<float>() * b.template cast<float>()).template cast<double>();
  }
  double lse(double x) const { return dtype ? roundTo(DType::fp32, x) : x; }
};

// The (seqlen, dim) block of a [batch, heads, max seqlen, dim] tensor.
inline ConstMap block(const Tensor& t, std::int64_t b, std::int64_t h, std::int64_t seqlen) {
  const std::int64_t heads = t.shape[1], rows = t.shape[2], dim = t.shape[3];
  const double* base = t.values.data() + ((b * heads + h) * rows) * dim;
  return {base, seqlen, dim};
}

// §softcap: S = softcap * tanh(S / softcap); -inf becomes -softcap.
inline void softcap(const Problem& p, const Rounding& rounding, Matrix& s) {
  s = s.unaryExpr([c = p.softcap](double x) { return c * std::tanh(x / c); });
  rounding.apply(s);
}

// §scores: S = scale * Q K^T, then softcap * tanh(S / softcap), then the ALiBi bias, then the
// explicit mask's bias.
inline Matrix scores(const Problem& p, std::int64_t b, std::int64_t h, const Rounding& rounding) {
  const std::int64_t sq = p.seqlens_q[b], sk = p.seqlens_k[b];
  Matrix s =
      p.scale * rounding.product(block(p.q, b, h, sq), block(p.k, b, p.kvHead(h), sk).transpose());
  rounding.apply(s);
  if (p.softcap > 0 && !p.softcap_after_mask) softcap(p, rounding, s);
  if (!p.alibi_slopes.empty()) {
    const double slope = p.alibi_slopes[b * p.heads_q + h];
    const std::int64_t offset = diagonalOffset(p.alibi_alignment, sq, sk);
    for (std::int64_t i = 0; i < sq; ++i) {
      for (std::int64_t j = 0; j < sk; ++j)
        s(i, j) -= slope * std::abs(static_cast<double>(i + offset - j));
    }
    rounding.apply(s);
  }
  if (p.hasBias()) {
    s += block(p.bias, b, h, sq).leftCols(sk);
    rounding.apply(s);
  }
  return s;
}

// §mask: a key entry b's mask primitives hide scores -inf (then the softcap, in ONNX's order).
inline void applyMask(const Problem& p, std::int64_t b, const Rounding& rounding, Matrix& s) {
  const std::int64_t sq = p.seqlens_q[b], sk = p.seqlens_k[b];
  const std::vector<MaskPrimitive> masks = p.masksOf(b);
  for (std::int64_t i = 0; i < sq && !masks.empty(); ++i) {
    for (std::int64_t j = 0; j < sk; ++j) {
      if (!keeps(masks, i, j, sq, sk)) s(i, j) = kMinusInf;
    }
  }
  if (p.softcap > 0 && p.softcap_after_mask) softcap(p, rounding, s);
}

// §softmax: P = exp(S - rowmax) / rowsum, a fully masked row all zero (its rowsum 0);
// lse = rowmax + log(rowsum). A sink is one more logit with no value: it takes part in rowmax
// and rowsum, so a row that sees no key has P 0 and lse = sink. No sink is a sink of -inf.
struct Softmax {
  Matrix prob;
  Eigen::VectorXd row_max, row_sum;
};

inline double sinkOf(const Problem& p, std::int64_t h) {
  if (p.sink.empty()) return kMinusInf;
  return p.sink[static_cast<std::size_t>(h)];
}

inline Softmax softmax(const Matrix& s, double sink = kMinusInf) {
  // A row of no keys (a key length of 0) is fully masked.
  // A NaN score makes the row max NaN (IEEE max would drop it and could call the row empty).
  Softmax out{Matrix::Zero(s.rows(), s.cols()), Eigen::VectorXd::Constant(s.rows(), sink),
              Eigen::VectorXd::Zero(s.rows())};
  for (Eigen::Index i = 0; i < s.rows() && s.cols() > 0; ++i)
    out.row_max(i) = std::max(s.row(i).maxCoeff<Eigen::PropagateNaN>(), sink);
  for (Eigen::Index i = 0; i < s.rows(); ++i) {
    if (out.row_max(i) == kMinusInf) continue;
    // std::exp: Eigen's vectorised exp turns -inf into 5.6e-309, not 0, which would let a
    // hidden key's infinite value through.
    out.prob.row(i) =
        (s.row(i).array() - out.row_max(i)).unaryExpr([](double x) { return std::exp(x); });
    out.row_sum(i) = out.prob.row(i).sum() + std::exp(sink - out.row_max(i));
    out.prob.row(i) /= out.row_sum(i);
  }
  return out;
}

}  // namespace attnconf::reference::detail
