#pragma once

#include <Eigen/Core>
#include <cstdint>

#include "kernels/attention_args.h"

namespace attnconf::adapters::kernels {

/// The fp32 matrices the in-tree kernels compute in.
using MatrixF = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

/// Rows [begin, begin + rows) of head h of batch entry b, as fp32.
inline MatrixF gather(const SeqView& view, std::int64_t b, std::int64_t h, std::int64_t rows,
                      std::int64_t begin, std::int64_t dim) {
  MatrixF m(rows, dim);
  for (std::int64_t r = 0; r < rows; ++r) {
    const double* src = view.row(b, begin + r, h);
    for (std::int64_t d = 0; d < dim; ++d) m(r, d) = static_cast<float>(src[d]);
  }
  return m;
}

/// Writes a matrix as rows [begin, begin + rows) of head h of batch entry b, rounded to `dtype`.
inline void store(DType dtype, const OutView& view, std::int64_t b, std::int64_t h,
                  std::int64_t begin, const MatrixF& m) {
  for (std::int64_t r = 0; r < m.rows(); ++r) {
    double* out = view.row(b, begin + r, h);
    for (std::int64_t d = 0; d < m.cols(); ++d)
      out[d] = roundTo(dtype, static_cast<double>(m(r, d)));
  }
}

/// Writes a block of score gradients at query rows from i0 and keys from j0 of head h of batch
/// entry b, when the backward was asked for them.
inline void storeScoreGradient(const BackwardArgs& g, std::int64_t b, std::int64_t h,
                               std::int64_t i0, std::int64_t j0, const MatrixF& ds) {
  if (!g.dbias) return;
  const AttentionArgs& a = *g.fwd;
  for (std::int64_t r = 0; r < ds.rows(); ++r) {
    double* row = g.dbias + ((b * a.heads + h) * a.seqlen_q + i0 + r) * a.seqlen_k + j0;
    for (std::int64_t j = 0; j < ds.cols(); ++j) row[j] = ds(r, j);
  }
}

}  // namespace attnconf::adapters::kernels
