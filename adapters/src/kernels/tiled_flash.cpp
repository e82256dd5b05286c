// FlashAttention-2 forward (Dao 2023, Algorithm 1) on the CPU: for each tile of queries, walk the
// tiles of keys the masks leave visible, keep a running row max m and row sum l, rescale the
// fp32 accumulator when m grows, and divide by l once at the end. Never an Sq x Sk matrix.
// A sink starts each row as a key of its score with no value: m = sink, l = 1.
#include <Eigen/Core>
#include <algorithm>
#include <atomic>
#include <cmath>
#include <vector>

#include "attnconf/model/parallel.h"
#include "kernels/attention_args.h"
#include "kernels/matrices.h"
#include "kernels/score_rules.h"

namespace attnconf::adapters {
namespace {

using kernels::gather;
using kernels::kMinusInf;
using kernels::MatrixF;
using VectorF = Eigen::VectorXf;

// Scores outside each row's visible keys become -inf.
void maskTile(const AttentionArgs& a, std::int64_t b, std::int64_t i0, std::int64_t j0,
              MatrixF& s) {
  const auto cols = s.cols();
  for (std::int64_t r = 0; r < s.rows(); ++r) {
    const auto [first, last] = kernels::visibleKeys(a, b, i0 + r);
    const std::int64_t lo = std::clamp(first - j0, std::int64_t{0}, cols);
    const std::int64_t hi = std::clamp(last - j0, lo, cols);
    s.row(r).head(lo).setConstant(kMinusInf);
    s.row(r).tail(cols - hi).setConstant(kMinusInf);
  }
}

// Softcap, ALiBi, the explicit mask's bias, then the mask, in the order the spec gives (ONNX's
// order puts the softcap last).
void finishScores(const AttentionArgs& a, std::int64_t b, std::int64_t h, std::int64_t i0,
                  std::int64_t j0, MatrixF& s) {
  const auto softcap = [&] { s = (s.array() / a.softcap).tanh() * a.softcap; };
  if (a.softcap > 0 && !a.softcap_after_mask) softcap();
  if (!a.alibi_slopes.empty() || a.bias.data) {
    for (std::int64_t r = 0; r < s.rows(); ++r) {
      for (std::int64_t c = 0; c < s.cols(); ++c) {
        if (!a.alibi_slopes.empty()) s(r, c) = kernels::withAlibi(a, b, h, i0 + r, j0 + c, s(r, c));
        if (a.bias.data) s(r, c) = kernels::withBias(a, b, h, i0 + r, j0 + c, s(r, c));
      }
    }
  }
  maskTile(a, b, i0, j0, s);
  if (a.softcap > 0 && a.softcap_after_mask) softcap();
}

struct RowState {
  VectorF max, sum;
  MatrixF acc;
};

void attendKeyTile(const AttentionArgs& a, std::int64_t b, std::int64_t h, std::int64_t i0,
                   const MatrixF& q, const MatrixF& k, const MatrixF& v, std::int64_t j0,
                   std::int64_t cols, RowState& st) {
  MatrixF s = (q * k.middleRows(j0, cols).transpose()) * a.scale;
  finishScores(a, b, h, i0, j0, s);
  // NaN-propagating maxima (IEEE max drops a NaN): a NaN score must not leave the row empty.
  const bool drop_nan = a.fault == PlantedFault::nan_row_max_dropped;
  VectorF new_max(s.rows());
  for (std::int64_t r = 0; r < s.rows(); ++r) {
    const float tile_max = s.row(r).maxCoeff<Eigen::PropagateNaN>();
    new_max(r) = std::isnan(tile_max) && !drop_nan ? tile_max : std::max(st.max(r), tile_max);
  }
  for (std::int64_t r = 0; r < s.rows(); ++r) {
    if (new_max(r) == kMinusInf) {  // nothing visible yet: the row stays empty
      s.row(r).setZero();
      continue;
    }
    s.row(r) = (s.row(r).array() - new_max(r)).exp();
    const float rescale = std::exp(st.max(r) - new_max(r));
    st.sum(r) = st.sum(r) * rescale + s.row(r).sum();
    if (a.fault != PlantedFault::skip_rescale) st.acc.row(r) *= rescale;
    st.max(r) = new_max(r);
  }
  // The PV product takes P in the input dtype, as the GPU kernel's tensor cores do.
  s = s.unaryExpr([&](float p) { return kernels::toDType(a, p); });
  st.acc.noalias() += s * v.middleRows(j0, cols);
}

void writeRows(const AttentionArgs& a, std::int64_t b, std::int64_t h, std::int64_t i0,
               const RowState& st) {
  for (std::int64_t r = 0; r < st.acc.rows(); ++r) {
    const bool empty = st.sum(r) == 0;
    double* out = a.out.row(b, i0 + r, h);
    for (std::int64_t d = 0; d < a.head_dim_v; ++d) {
      out[d] = empty ? a.empty_row_value
                     : roundTo(a.partial_output ? DType::fp32 : a.dtype,
                               static_cast<double>(st.acc(r, d) / st.sum(r)));
    }
    float lse = empty ? std::numeric_limits<float>::infinity() : st.max(r) + std::log(st.sum(r));
    if (a.fault == PlantedFault::lse_base2 && !empty) lse /= std::log(2.0F);
    const std::int64_t row = (b * a.heads + h) * a.seqlen_q + i0 + r;
    a.lse[row] = static_cast<double>(lse);
    if (a.row_max) a.row_max[row] = empty ? 0.0 : st.max(r);
    if (a.row_sum) a.row_sum[row] = st.sum(r);
  }
}

}  // namespace

void tiledFlashForward(const AttentionArgs& a, std::int64_t block_q, std::int64_t block_k) {
  static std::atomic<unsigned> calls{0};
  const bool reverse_tiles =
      a.fault == PlantedFault::nondeterministic_reduction && calls++ % 2 == 1;
  parallelFor(a.batch * a.heads, [&](std::int64_t bh) {
    const std::int64_t b = bh / a.heads, h = bh % a.heads, hk = kernels::kvHead(a, h);
    const MatrixF k = gather(a.k, b, hk, a.seqlen_k, 0, a.head_dim);
    const MatrixF v = gather(a.v, b, hk, a.seqlen_k, 0, a.head_dim_v);
    const float sink = kernels::sinkOf(a, h);
    for (std::int64_t i0 = 0; i0 < a.seqlen_q; i0 += block_q) {
      const std::int64_t rows = std::min(block_q, a.seqlen_q - i0);
      const MatrixF q = gather(a.q, b, h, rows, i0, a.head_dim);
      RowState st{VectorF::Constant(rows, sink), VectorF::Constant(rows, sink == kMinusInf ? 0 : 1),
                  MatrixF::Zero(rows, a.head_dim_v)};
      // Key tiles no query of this tile can see are skipped: the visible runs grow with i.
      const auto [first, last] = kernels::keyRange(a, b, i0, rows);
      std::vector<std::int64_t> tiles;
      for (std::int64_t j0 = first; j0 < last; j0 += block_k) tiles.push_back(j0);
      if (reverse_tiles) std::reverse(tiles.begin(), tiles.end());
      for (const std::int64_t j0 : tiles) {
        attendKeyTile(a, b, h, i0, q, k, v, j0, std::min(block_k, last - j0), st);
      }
      writeRows(a, b, h, i0, st);
    }
  });
}

namespace {

// One query head's share of the backward, for the kv head whose dK and dV `dk`, `dv` hold.
void backwardHead(const BackwardArgs& g, std::int64_t b, std::int64_t h, const MatrixF& k,
                  const MatrixF& v, std::int64_t block_q, std::int64_t block_k, MatrixF& dk,
                  MatrixF& dv) {
  const AttentionArgs& a = *g.fwd;
  const float dk_scale = a.fault == PlantedFault::dk_wrong_scale ? 1.0F : a.scale;
  for (std::int64_t i0 = 0; i0 < a.seqlen_q; i0 += block_q) {
    const std::int64_t rows = std::min(block_q, a.seqlen_q - i0);
    const MatrixF q = gather(a.q, b, h, rows, i0, a.head_dim);
    const MatrixF d_out = gather(g.dout, b, h, rows, i0, a.head_dim_v);
    const VectorF row_dot =
        (d_out.array() * gather(g.out, b, h, rows, i0, a.head_dim_v).array()).rowwise().sum();
    VectorF lse(rows);
    for (std::int64_t r = 0; r < rows; ++r) {
      lse(r) = static_cast<float>(g.lse[(b * a.heads + h) * a.seqlen_q + i0 + r]);
    }
    MatrixF dq = MatrixF::Zero(rows, a.head_dim);
    const auto [first, last] = kernels::keyRange(a, b, i0, rows);
    for (std::int64_t j0 = first; j0 < last; j0 += block_k) {
      const std::int64_t cols = std::min(block_k, last - j0);
      const MatrixF raw = (q * k.middleRows(j0, cols).transpose()) * a.scale;
      MatrixF p = raw;
      finishScores(a, b, h, i0, j0, p);
      p = (p.array().colwise() - lse.array()).exp();  // an empty row has lse = +inf: p = 0
      const MatrixF p_in = p.unaryExpr([&](float x) { return kernels::toDType(a, x); });
      dv.middleRows(j0, cols).noalias() += p_in.transpose() * d_out;
      MatrixF ds =
          p.array() * ((d_out * v.middleRows(j0, cols).transpose()).colwise() - row_dot).array();
      kernels::storeScoreGradient(g, b, h, i0, j0, ds);
      if (a.softcap > 0) ds = ds.array() * (1.0F - (raw.array() / a.softcap).tanh().square());
      ds = ds.unaryExpr([&](float x) { return kernels::toDType(a, x); });
      dq.noalias() += (ds * k.middleRows(j0, cols)) * a.scale;
      dk.middleRows(j0, cols).noalias() += (ds.transpose() * q) * dk_scale;
    }
    kernels::store(a.dtype, g.dq, b, h, i0, dq);
  }
}

}  // namespace

void tiledFlashBackward(const BackwardArgs& g, std::int64_t block_q, std::int64_t block_k) {
  const AttentionArgs& a = *g.fwd;
  // One task per (batch, kv head): the query heads that share it add to its dK and dV in turn.
  parallelFor(a.batch * a.heads_k, [&](std::int64_t bk) {
    const std::int64_t b = bk / a.heads_k, kv = bk % a.heads_k;
    const MatrixF k = gather(a.k, b, kv, a.seqlen_k, 0, a.head_dim);
    const MatrixF v = gather(a.v, b, kv, a.seqlen_k, 0, a.head_dim_v);
    MatrixF dk = MatrixF::Zero(a.seqlen_k, a.head_dim),
            dv = MatrixF::Zero(a.seqlen_k, a.head_dim_v);
    for (std::int64_t h = 0; h < a.heads; ++h) {
      if (kernels::kvHead(a, h) == kv) backwardHead(g, b, h, k, v, block_q, block_k, dk, dv);
    }
    kernels::store(a.dtype, g.dk, b, kv, 0, dk);
    kernels::store(a.dtype, g.dv, b, kv, 0, dv);
  });
}

}  // namespace attnconf::adapters
