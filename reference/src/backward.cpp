// The backward pass of the canonical definition, differentiated step by step.
#include <cmath>

#include "attnconf/model/parallel.h"
#include "attnconf/reference/attention.h"
#include "detail/steps.h"

namespace attnconf::reference {
namespace {

using detail::applyMask;
using detail::block;
using detail::Matrix;
using detail::Rounding;
using detail::scores;
using detail::softmax;

void addBlock(Tensor& t, std::int64_t b, std::int64_t h, const Matrix& m) {
  const std::int64_t heads = t.shape[1], rows = t.shape[2], dim = t.shape[3];
  double* base = t.values.data() + ((b * heads + h) * rows) * dim;
  for (Eigen::Index r = 0; r < m.rows(); ++r) {
    for (Eigen::Index d = 0; d < m.cols(); ++d) base[r * dim + d] += m(r, d);
  }
}

// Query head h of batch b: its dQ, and its share of its kv head's dK and dV.
void backwardHead(const Problem& p, const Tensor& dout, std::int64_t b, std::int64_t h,
                  const Rounding& rounding, Gradients& g) {
  const std::int64_t sq = p.seqlens_q[b], sk = p.seqlens_k[b], kv = p.kvHead(h);
  Matrix s = scores(p, b, h, rounding);
  applyMask(p, b, rounding, s);
  Matrix prob = softmax(s, detail::sinkOf(p, h)).prob;
  rounding.applyToProbabilities(prob);
  const auto q = block(p.q, b, h, sq), k = block(p.k, b, kv, sk), v = block(p.v, b, kv, sk);
  const auto d_out = block(dout, b, h, sq);
  Matrix out = rounding.product(prob, v);
  rounding.apply(out);  // D below reads the output as the forward stored it
  Matrix d_prob = rounding.product(d_out, v.transpose());  // dP = dO V^T
  rounding.apply(d_prob);
  const Eigen::VectorXd row_dot = (d_out.array() * out.array()).rowwise().sum();  // rowsum(dO * O)
  Matrix d_s = prob.array() * (d_prob.colwise() - row_dot).array();  // dS = P * (dP - D)
  if (p.hasBias()) addBlock(g.dbias, b, h, d_s);                     // S += bias: dbias = dS
  if (p.softcap > 0) {  // d/dx c tanh(x/c) = 1 - tanh^2(x/c), x the scaled product
    const Matrix raw = p.scale * (q * k.transpose());
    d_s = d_s.array() * (1.0 - (raw.array() / p.softcap).tanh().square());
  }
  rounding.apply(d_s);
  addBlock(g.dq, b, h, p.scale * rounding.product(d_s, k));
  addBlock(g.dk, b, kv, p.scale * rounding.product(d_s.transpose(), q));
  addBlock(g.dv, b, kv, rounding.product(prob.transpose(), d_out));
}

Gradients run(const Problem& p, const Tensor& dout, const Rounding& rounding) {
  Gradients g{Tensor::zeros(DType::fp64, p.q.shape), Tensor::zeros(DType::fp64, p.k.shape),
              Tensor::zeros(DType::fp64, p.v.shape),
              p.hasBias() ? Tensor::zeros(DType::fp64, p.bias.shape) : Tensor{}};
  // One task per (batch, kv head): the query heads sharing a kv head add to it in turn.
  const std::int64_t group = p.heads_q / p.heads_kv;
  parallelFor(p.batch * p.heads_kv, [&](std::int64_t bk) {
    const std::int64_t b = bk / p.heads_kv, kv = bk % p.heads_kv;
    for (std::int64_t h = kv * group; h < (kv + 1) * group; ++h)
      backwardHead(p, dout, b, h, rounding, g);
  });
  if (rounding.dtype) {
    for (Tensor* t : {&g.dq, &g.dk, &g.dv, &g.dbias}) {
      for (double& x : t->values) x = roundTo(*rounding.dtype, x);
    }
  }
  return g;
}

}  // namespace

Gradients attentionBackward(const Problem& problem, const Tensor& dout) {
  return run(problem, dout, Rounding{});
}

Gradients attentionBackwardInInputDType(const Problem& problem, const Tensor& dout) {
  return run(problem, dout, Rounding{problem.dtype});
}

}  // namespace attnconf::reference
