#include "attnconf/model/tensor.h"

#include <algorithm>
#include <functional>
#include <numeric>
#include <stdexcept>
#include <string>

namespace attnconf {

std::int64_t numel(const Shape& shape) {
  return std::accumulate(shape.begin(), shape.end(), std::int64_t{1}, std::multiplies<>());
}

Shape rowMajorStrides(const Shape& shape) {
  Shape strides(shape.size(), 1);
  for (std::size_t d = shape.size(); d-- > 1;) strides[d - 1] = strides[d] * shape[d];
  return strides;
}

Shape unflattenIndex(const Shape& shape, std::int64_t offset) {
  Shape index(shape.size(), 0);
  for (std::size_t d = shape.size(); d-- > 0;) {
    index[d] = offset % shape[d];
    offset /= shape[d];
  }
  return index;
}

Tensor Tensor::zeros(DType dtype, Shape shape) {
  const auto n = static_cast<std::size_t>(numel(shape));
  return Tensor{dtype, std::move(shape), std::vector<double>(n, 0.0)};
}

double Tensor::at(std::span<const std::int64_t> index) const {
  const Shape strides = rowMajorStrides(shape);
  std::int64_t offset = 0;
  for (std::size_t d = 0; d < index.size(); ++d) offset += index[d] * strides[d];
  return values[static_cast<std::size_t>(offset)];
}

void Tensor::roundToDType() {
  for (double& v : values) v = roundTo(dtype, v);
}

namespace {

// A tensor of the given shape whose entry at `index` is t's entry at source(index).
template <class Source>
Tensor gatherFrom(const Tensor& t, Shape shape, Source source) {
  Tensor out = Tensor::zeros(t.dtype, std::move(shape));
  for (std::int64_t flat = 0; flat < out.size(); ++flat) {
    Shape index = unflattenIndex(out.shape, flat);
    source(index);
    out.values[static_cast<std::size_t>(flat)] = t.at(index);
  }
  return out;
}

}  // namespace

Tensor sliceAxis(const Tensor& t, std::size_t axis, std::int64_t index) {
  if (axis >= t.shape.size() || index < 0 || index >= t.shape[axis])
    throw std::out_of_range("sliceAxis: index " + std::to_string(index) + " outside axis " +
                            std::to_string(axis));
  Shape shape = t.shape;
  shape[axis] = 1;
  return gatherFrom(t, shape, [&](Shape& i) { i[axis] = index; });
}

Tensor repeatAxis(const Tensor& t, std::size_t axis, std::int64_t times) {
  Shape shape = t.shape;
  shape[axis] *= times;
  return gatherFrom(t, shape, [&](Shape& i) { i[axis] /= times; });
}

Tensor reverseAxis(const Tensor& t, std::size_t axis) {
  return gatherFrom(t, t.shape, [&](Shape& i) { i[axis] = t.shape[axis] - 1 - i[axis]; });
}

Tensor takeAxis(const Tensor& t, std::size_t axis, std::span<const std::int64_t> order) {
  Shape shape = t.shape;
  shape[axis] = std::ssize(order);
  return gatherFrom(t, shape,
                    [&](Shape& i) { i[axis] = order[static_cast<std::size_t>(i[axis])]; });
}

Tensor permuteAxes(const Tensor& t, std::span<const std::size_t> perm) {
  Shape shape;
  for (const std::size_t p : perm) shape.push_back(t.shape[p]);
  Tensor out = Tensor::zeros(t.dtype, shape);
  const Shape in_strides = rowMajorStrides(t.shape);
  for (std::int64_t flat = 0; flat < out.size(); ++flat) {
    const Shape index = unflattenIndex(shape, flat);
    std::int64_t offset = 0;
    for (std::size_t a = 0; a < perm.size(); ++a) offset += index[a] * in_strides[perm[a]];
    out.values[static_cast<std::size_t>(flat)] = t.values[static_cast<std::size_t>(offset)];
  }
  return out;
}

Tensor concatAxis(std::span<const Tensor* const> parts, std::size_t axis) {
  Shape shape = parts.front()->shape;
  shape[axis] = 0;
  for (const Tensor* t : parts) shape[axis] += t->shape[axis];
  Tensor out = Tensor::zeros(parts.front()->dtype, shape);
  // Row-major: each part contributes one contiguous block per index of the outer axes.
  const std::int64_t outer = numel(Shape(shape.begin(), shape.begin() + axis));
  auto at = out.values.begin();
  for (std::int64_t o = 0; o < outer; ++o) {
    for (const Tensor* t : parts) {
      const std::int64_t block = t->size() / outer;
      const auto from = t->values.begin() + o * block;
      at = std::copy(from, from + block, at);
    }
  }
  return out;
}

std::vector<std::int64_t> integers(const Tensor& t) {
  std::vector<std::int64_t> out;
  out.reserve(t.values.size());
  for (const double v : t.values) out.push_back(static_cast<std::int64_t>(v));
  return out;
}

bool offsetsRise(std::span<const std::int64_t> offsets, std::int64_t total) {
  return !offsets.empty() && offsets.front() == 0 && offsets.back() <= total &&
         std::ranges::is_sorted(offsets);
}

std::int64_t longestSequence(std::span<const std::int64_t> offsets) {
  std::int64_t longest = 0;
  for (std::size_t b = 0; b + 1 < offsets.size(); ++b)
    longest = std::max(longest, offsets[b + 1] - offsets[b]);
  return longest;
}

namespace {

void checkOffsets(std::span<const std::int64_t> offsets, std::int64_t total, const char* what) {
  if (!offsetsRise(offsets, total))
    throw std::out_of_range(std::string(what) +
                            ": offsets must rise from 0 to at most the packed extent");
}

}  // namespace

Tensor unpackAxis(const Tensor& t, std::size_t axis, std::span<const std::int64_t> offsets,
                  std::int64_t longest) {
  checkOffsets(offsets, t.shape.at(axis), "unpackAxis");
  Shape shape = t.shape;
  shape[axis] = std::ssize(offsets) - 1;
  shape.insert(shape.begin() + static_cast<std::ptrdiff_t>(axis) + 1, longest);
  Tensor out = Tensor::zeros(t.dtype, shape);
  for (std::int64_t flat = 0; flat < out.size(); ++flat) {
    Shape index = unflattenIndex(shape, flat);
    const auto b = static_cast<std::size_t>(index[axis]);
    const std::int64_t position = index[axis + 1];
    if (offsets[b] + position >= offsets[b + 1]) continue;  // past the sequence: 0
    index[axis] = offsets[b] + position;
    index.erase(index.begin() + static_cast<std::ptrdiff_t>(axis) + 1);
    out.values[static_cast<std::size_t>(flat)] = t.at(index);
  }
  return out;
}

Tensor packAxes(const Tensor& t, std::size_t axis, std::span<const std::int64_t> offsets) {
  if (std::ssize(offsets) != t.shape.at(axis) + 1)
    throw std::out_of_range("packAxes: expected one offset per sequence and one more");
  checkOffsets(offsets, offsets.back(), "packAxes");
  Shape shape = t.shape;
  shape.erase(shape.begin() + static_cast<std::ptrdiff_t>(axis) + 1);
  shape[axis] = offsets.back();
  return gatherFrom(t, shape, [&](Shape& i) {
    const auto next = std::ranges::upper_bound(offsets, i[axis]);
    const auto b = next - offsets.begin() - 1;
    const std::int64_t position = i[axis] - offsets[static_cast<std::size_t>(b)];
    i[axis] = b;
    i.insert(i.begin() + static_cast<std::ptrdiff_t>(axis) + 1, position);
  });
}

}  // namespace attnconf
