#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "attnconf/model/dtype.h"

namespace attnconf {

/// A tensor's extents, outermost first (row-major).
using Shape = std::vector<std::int64_t>;

/// Number of elements of a shape (1 for a scalar, 0 if any extent is 0).
std::int64_t numel(const Shape& shape);

/// Row-major strides of a shape, in elements.
Shape rowMajorStrides(const Shape& shape);

/// The multi-index of a flat row-major offset.
Shape unflattenIndex(const Shape& shape, std::int64_t offset);

/// A dense row-major tensor of one dtype. Values are stored as doubles that are exactly
/// representable in `dtype`, so every part of the suite sees the values the kernel received.
struct Tensor {
  DType dtype = DType::fp32;
  Shape shape;
  std::vector<double> values;

  /// A tensor of zeros.
  static Tensor zeros(DType dtype, Shape shape);

  /// Number of elements.
  std::int64_t size() const { return static_cast<std::int64_t>(values.size()); }

  /// Number of dimensions.
  std::int64_t rank() const { return static_cast<std::int64_t>(shape.size()); }

  /// Element at a multi-index.
  double at(std::span<const std::int64_t> index) const;

  /// Rounds every value to `dtype` (after values were written in higher precision).
  void roundToDType();

  friend bool operator==(const Tensor&, const Tensor&) = default;
};

/// The entries with index `index` on `axis`, keeping the axis (extent 1).
Tensor sliceAxis(const Tensor& t, std::size_t axis, std::int64_t index);

/// Each entry on `axis` repeated `times` times in place (a b -> a a b b for times 2).
Tensor repeatAxis(const Tensor& t, std::size_t axis, std::int64_t times);

/// The entries on `axis` in reverse order.
Tensor reverseAxis(const Tensor& t, std::size_t axis);

/// The entries on `axis` in the given order: entry i of the result is entry `order[i]` of `t`.
Tensor takeAxis(const Tensor& t, std::size_t axis, std::span<const std::int64_t> order);

/// Tensors of one dtype and equal shapes except on `axis`, joined along it in order.
Tensor concatAxis(std::span<const Tensor* const> parts, std::size_t axis);

/// A tensor with its axes reordered: out axis a is input axis `perm[a]`.
Tensor permuteAxes(const Tensor& t, std::span<const std::size_t> perm);

/// An integer tensor's entries (lengths, offsets, indices, token ids), in storage order.
std::vector<std::int64_t> integers(const Tensor& t);

/// Whether `offsets` (sequence starts and the total) rise from 0 to at most `total`.
bool offsetsRise(std::span<const std::int64_t> offsets, std::int64_t total);

/// The longest sequence's length, for `offsets` (sequence starts and the total); 0 for none.
std::int64_t longestSequence(std::span<const std::int64_t> offsets);

/// Sequences laid end to end on `axis` (sequence b on [offsets[b], offsets[b+1])) spread over
/// two axes (sequence, position < `longest`); positions past a sequence's length are 0.
Tensor unpackAxis(const Tensor& t, std::size_t axis, std::span<const std::int64_t> offsets,
                  std::int64_t longest);

/// The inverse of unpackAxis: axes `axis` (sequence) and `axis + 1` (position) laid end to end,
/// each sequence cut to its length.
Tensor packAxes(const Tensor& t, std::size_t axis, std::span<const std::int64_t> offsets);

}  // namespace attnconf
