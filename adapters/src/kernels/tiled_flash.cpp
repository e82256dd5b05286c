// FlashAttention-2 forward (Dao 2023, Algorithm 1) on the CPU: for each tile of queries, walk the
// tiles of keys the masks leave visible, keep a running row max m and row sum l, rescale the
// fp32 accumulator when m grows, and divide by l once at the end.
#include <Eigen/Core>
#include <algorithm>
#include <cmath>

#include "attnconf/model/parallel.h"
#include "kernels/attention_args.h"
#include "kernels/score_rules.h"

namespace attnconf::adapters {
namespace {

using kernels::kMinusInf;
using MatrixF = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using VectorF = Eigen::VectorXf;

MatrixF gather(const SeqView& view, std::int64_t b, std::int64_t h, std::int64_t rows,
               std::int64_t begin, std::int64_t dim) {
  MatrixF m(rows, dim);
  for (std::int64_t r = 0; r < rows; ++r) {
    const double* src = view.row(b, begin + r, h);
    for (std::int64_t d = 0; d < dim; ++d) m(r, d) = static_cast<float>(src[d]);
  }
  return m;
}

// Keys [first, last) that some query in [i0, i1) can see; skipping the rest is where block-sparse
// bugs live, so it is computed from the same mask rules as the elements.
std::pair<std::int64_t, std::int64_t> keyRange(const AttentionArgs& a, std::int64_t i0,
                                               std::int64_t i1) {
  std::int64_t first = 0, last = a.seqlen_k;
  if (a.causal) last = std::min(last, i1 - 1 + a.causal_offset + 1);
  if (a.window_right >= 0) last = std::min(last, i1 - 1 + a.window_offset + a.window_right + 1);
  if (a.window_left >= 0) {
    const std::int64_t widen = a.fault == PlantedFault::window_left_off_by_one ? 1 : 0;
    first = std::max(first, i0 + a.window_offset - a.window_left - widen);
  }
  return {std::max<std::int64_t>(first, 0), std::max<std::int64_t>(last, 0)};
}

struct RowState {
  VectorF max, sum;
  MatrixF acc;
};

void attendKeyTile(const AttentionArgs& a, std::int64_t b, std::int64_t h, std::int64_t i0,
                   const MatrixF& q, const MatrixF& k, const MatrixF& v, std::int64_t j0,
                   std::int64_t cols, RowState& st) {
  const MatrixF dots = q * k.middleRows(j0, cols).transpose();
  MatrixF p(q.rows(), cols);
  for (std::int64_t r = 0; r < q.rows(); ++r) {
    float tile_max = kMinusInf;
    for (std::int64_t c = 0; c < cols; ++c) {
      p(r, c) = kernels::finalScore(a, b, h, i0 + r, j0 + c, dots(r, c) * a.scale);
      tile_max = std::max(tile_max, p(r, c));
    }
    const float new_max = std::max(st.max(r), tile_max);
    if (new_max == kMinusInf) {  // nothing visible yet: the row stays empty
      p.row(r).setZero();
      continue;
    }
    const float rescale = std::exp(st.max(r) - new_max);
    float row_sum = 0;
    for (std::int64_t c = 0; c < cols; ++c) {
      const float e = std::exp(p(r, c) - new_max);
      row_sum += e;
      p(r, c) = kernels::toDType(a, e);  // the PV product takes P in the input dtype
    }
    st.sum(r) = st.sum(r) * rescale + row_sum;
    if (a.fault != PlantedFault::skip_rescale) st.acc.row(r) *= rescale;
    st.max(r) = new_max;
  }
  st.acc.noalias() += p * v.middleRows(j0, cols);
}

void writeRows(const AttentionArgs& a, std::int64_t b, std::int64_t h, std::int64_t i0,
               const RowState& st) {
  for (std::int64_t r = 0; r < st.acc.rows(); ++r) {
    const bool empty = st.sum(r) == 0 && a.fault != PlantedFault::fully_masked_row_nan;
    double* out = a.out.row(b, i0 + r, h);
    for (std::int64_t d = 0; d < a.head_dim_v; ++d) {
      out[d] = empty ? 0.0 : roundTo(a.dtype, static_cast<double>(st.acc(r, d) / st.sum(r)));
    }
    float lse = empty ? std::numeric_limits<float>::infinity() : st.max(r) + std::log(st.sum(r));
    if (a.fault == PlantedFault::lse_base2 && !empty) lse /= std::log(2.0F);
    a.lse[(b * a.heads + h) * a.seqlen_q + i0 + r] = static_cast<double>(lse);
  }
}

}  // namespace

void tiledFlashForward(const AttentionArgs& a, std::int64_t block_q, std::int64_t block_k) {
  parallelFor(a.batch * a.heads, [&](std::int64_t bh) {
    const std::int64_t b = bh / a.heads, h = bh % a.heads, hk = kernels::kvHead(a, h);
    const MatrixF k = gather(a.k, b, hk, a.seqlen_k, 0, a.head_dim);
    const MatrixF v = gather(a.v, b, hk, a.seqlen_k, 0, a.head_dim_v);
    for (std::int64_t i0 = 0; i0 < a.seqlen_q; i0 += block_q) {
      const std::int64_t rows = std::min(block_q, a.seqlen_q - i0);
      const MatrixF q = gather(a.q, b, h, rows, i0, a.head_dim);
      RowState st{VectorF::Constant(rows, kMinusInf), VectorF::Zero(rows),
                  MatrixF::Zero(rows, a.head_dim_v)};
      const auto [first, last] = keyRange(a, i0, i0 + rows);
      for (std::int64_t j0 = first; j0 < last; j0 += block_k) {
        attendKeyTile(a, b, h, i0, q, k, v, j0, std::min(block_k, last - j0), st);
      }
      writeRows(a, b, h, i0, st);
    }
  });
}

}  // namespace attnconf::adapters
