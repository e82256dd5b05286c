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

}  // namespace attnconf::adapters::kernels
