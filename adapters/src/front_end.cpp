#include "front_end.h"

namespace attnconf::adapters::front_end {

const Tensor& required(const Case& c, const char* name) {
  const Tensor* t = c.tensor(name);
  check(t != nullptr, fmt::format("{} is required", name));
  return *t;
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

std::map<std::string, Tensor> gradients(const Case& c, const AttentionArgs& args,
                                        const std::array<GradName, 3>& names,
                                        const char* grad_output, const Tensor& out,
                                        const Tensor& lse, Layout layout,
                                        const BackwardKernel& backward) {
  const Tensor& dout = required(c, grad_output);
  check(dout.shape == out.shape && dout.dtype == out.dtype,
        fmt::format("{} must have the shape and dtype of the output", grad_output));
  std::map<std::string, Tensor> grads;
  for (const auto& [input, grad] : names)
    grads[grad] = Tensor::zeros(args.dtype, c.tensor(input)->shape);
  backward(BackwardArgs{&args, view(dout, layout), view(out, layout), lse.values.data(),
                        writable(grads.at(names[0].grad), layout),
                        writable(grads.at(names[1].grad), layout),
                        writable(grads.at(names[2].grad), layout)});
  return grads;
}

}  // namespace attnconf::adapters::front_end
