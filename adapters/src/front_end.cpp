#include "front_end.h"

#include <limits>

namespace attnconf::adapters::front_end {

const Tensor& required(const Case& c, const char* name) {
  const Tensor* t = c.tensor(name);
  check(t != nullptr, fmt::format("{} is required", name));
  return *t;
}

std::string_view DTypeNames::operator()(DType dtype) const {
  switch (dtype) {
    case DType::fp64:
      return fp64;
    case DType::fp32:
      return fp32;
    case DType::fp16:
      return fp16;
    case DType::bf16:
      return bf16;
    case DType::fp8_e4m3:
      return fp8_e4m3;
    case DType::fp8_e5m2:
      return fp8_e5m2;
    case DType::int64:
      return int64;
    case DType::int32:
      return int32;
    case DType::boolean:
      return boolean;
  }
  return "?";
}

SeqView view(const Tensor& t, Layout layout) {
  const std::int64_t dim = t.shape[3], batch_stride = t.shape[1] * t.shape[2] * dim;
  return layout == Layout::bshd ? SeqView{t.values.data(), batch_stride, t.shape[2] * dim, dim}
                                : SeqView{t.values.data(), batch_stride, dim, t.shape[2] * dim};
}

OutView writable(Tensor& t, Layout layout) {
  const SeqView v = view(t, layout);
  return OutView{t.values.data(), v.batch_stride, v.seq_stride, v.head_stride};
}

SeqView packedRows(const Tensor& t, std::int64_t start) {
  const std::int64_t row = t.shape[1] * t.shape[2];
  return SeqView{t.values.data() + start * row, 0, row, t.shape[2]};
}

OutView packedRows(Tensor& t, std::int64_t start) {
  const std::int64_t row = t.shape[1] * t.shape[2];
  return OutView{t.values.data() + start * row, 0, row, t.shape[2]};
}

bool maskBroadcasts(const Shape& shape, const Shape& full) {
  if (shape.size() != 2 && shape.size() != 4) return false;
  const std::size_t skip = full.size() - shape.size();
  for (std::size_t a = 0; a < shape.size(); ++a) {
    if (shape[a] != 1 && shape[a] != full[skip + a]) return false;
  }
  return true;
}

BiasView maskBias(const Tensor& mask, bool true_keeps, Tensor& converted) {
  const Tensor* values = &mask;
  if (mask.dtype == DType::boolean) {
    converted = Tensor::zeros(DType::fp32, mask.shape);
    for (std::size_t i = 0; i < mask.values.size(); ++i) {
      const bool keep = (mask.values[i] != 0) == true_keeps;
      converted.values[i] = keep ? 0.0 : -std::numeric_limits<double>::infinity();
    }
    values = &converted;
  }
  // Strides per (batch, head, query, key); 0 where the mask lacks the axis or has extent 1.
  std::array<std::int64_t, 4> strides{};
  std::int64_t stride = 1;
  for (std::size_t a = mask.shape.size(), axis = 4; a-- > 0;) {
    --axis;
    strides[axis] = mask.shape[a] == 1 ? 0 : stride;
    stride *= mask.shape[a];
  }
  return BiasView{values->values.data(), strides[0], strides[1], strides[2], strides[3]};
}

void addScoreBias(Tensor& scores_bias, const BiasView& view, double factor) {
  for (std::int64_t flat = 0; flat < scores_bias.size(); ++flat) {
    const Shape i = unflattenIndex(scores_bias.shape, flat);
    scores_bias.values[static_cast<std::size_t>(flat)] += factor * view.at(i[0], i[1], i[2], i[3]);
  }
}

std::map<std::string, Tensor> zeroGradients(const Case& c, const std::array<GradName, 3>& names,
                                            const char* grad_output, const Tensor& out) {
  const Tensor& dout = required(c, grad_output);
  check(dout.shape == out.shape && dout.dtype == out.dtype,
        fmt::format("{} must have the shape and dtype of the output", grad_output));
  std::map<std::string, Tensor> grads;
  for (const auto& [input, grad] : names)
    grads[grad] = Tensor::zeros(required(c, input).dtype, required(c, input).shape);
  return grads;
}

namespace {

// `view`, which reads `base`, moved onto `other`: the same elements of a tensor of base's shape,
// read (SeqView) or written (OutView).
template <typename View, typename Other>
View viewOn(const SeqView& view, const Tensor& base, Other& other) {
  return {other.values.data() + (view.data - base.values.data()), view.batch_stride,
          view.seq_stride, view.head_stride};
}

}  // namespace

void addBackward(const Case& c, const std::array<GradName, 3>& names, const char* grad_output,
                 const AttentionArgs& args, const Tensor& out, const double* lse,
                 std::map<std::string, Tensor>& grads, const BackwardKernel& backward,
                 double* dbias) {
  const SeqView out_rows{args.out.data, args.out.batch_stride, args.out.seq_stride,
                         args.out.head_stride};
  const auto grad = [&](const GradName& name, const SeqView& view) {
    return viewOn<OutView>(view, required(c, name.input), grads.at(name.grad));
  };
  backward(BackwardArgs{&args, viewOn<SeqView>(out_rows, out, required(c, grad_output)), out_rows,
                        lse, grad(names[0], args.q), grad(names[1], args.k), grad(names[2], args.v),
                        dbias});
}

std::map<std::string, Tensor> gradients(const Case& c, const AttentionArgs& args,
                                        const std::array<GradName, 3>& names,
                                        const char* grad_output, const Tensor& out,
                                        const double* lse, const BackwardKernel& backward,
                                        double* dbias) {
  auto grads = zeroGradients(c, names, grad_output, out);
  addBackward(c, names, grad_output, args, out, lse, grads, backward, dbias);
  return grads;
}

}  // namespace attnconf::adapters::front_end
