#include "torch/scaled_dot_product_attention.h"

#include <cmath>
#include <limits>

namespace attnconf::adapters {
namespace {

using front_end::check;
using front_end::Layout;
using front_end::paramOr;
using front_end::required;

// torch prints dtypes as c10 names in its messages.
constexpr front_end::DTypeNames kTorchNames{
    "double",           "float",    "c10::Half", "c10::BFloat16", "c10::Float8_e4m3fn",
    "c10::Float8_e5m2", "long int", "int",       "bool"};

void checkSizes(const Shape& a, const Shape& b, std::size_t axis) {
  check(a[axis] == b[axis],
        fmt::format("The size of tensor a ({}) must match the size of tensor b ({}) at "
                    "non-singleton dimension {}",
                    a[axis], b[axis], axis));
}

}  // namespace

std::map<std::string, Tensor> scaledDotProductAttention(const Case& c, PlantedFault fault,
                                                        const ForwardKernel& kernel,
                                                        const BackwardKernel* backward) {
  const Tensor& q = required(c, "query");
  const Tensor& k = required(c, "key");
  const Tensor& v = required(c, "value");
  const Tensor* mask = c.tensor("attn_mask");
  check(k.dtype == q.dtype && v.dtype == q.dtype,
        fmt::format("Expected query, key, and value to have the same dtype, but got query.dtype: "
                    "{} key.dtype: {} and value.dtype: {} instead.",
                    kTorchNames(q.dtype), kTorchNames(k.dtype), kTorchNames(v.dtype)));
  check(q.rank() == 4 && k.rank() == 4 && v.rank() == 4,
        "attnconf's scaled_dot_product_attention expects 4-D shapes (N, H, L, E) for query, key "
        "and value");
  const bool is_causal = paramOr(c, "is_causal", false);
  if (mask) {
    check(mask->dtype == DType::boolean || mask->dtype == DType::fp32 || mask->dtype == q.dtype,
          fmt::format("Expected attn_mask dtype to be bool or float or to match query dtype, but "
                      "got attn_mask.dtype: {} and  query.dtype: {} instead.",
                      kTorchNames(mask->dtype), kTorchNames(q.dtype)));
    check(!is_causal,
          "_scaled_dot_product_attention: Explicit attn_mask should not be set when "
          "is_causal=True");
  }
  const std::int64_t batch = q.shape[0], heads = q.shape[1], seqlen_q = q.shape[2];
  const std::int64_t head_dim = q.shape[3], heads_k = k.shape[1], seqlen_k = k.shape[2];
  const std::int64_t head_dim_v = v.shape[3];
  if (paramOr(c, "enable_gqa", false)) {
    check(heads_k > 0 && heads % heads_k == 0,
          "Number of heads in key and value must divide the number of heads in query");
  } else {
    checkSizes(q.shape, k.shape, 1);
  }
  checkSizes(q.shape, k.shape, 0);
  check(k.shape[3] == head_dim,
        fmt::format("Expected size for first two dimensions of batch2 tensor to be: [{}, {}] but "
                    "got: [{}, {}].",
                    batch * heads, head_dim, batch * heads, k.shape[3]));
  check(v.shape == Shape{batch, heads_k, seqlen_k, head_dim_v},
        fmt::format("value of shape ({}) does not match key: expected (N, H, S, Ev) = ({}, {}, "
                    "{}, Ev)",
                    fmt::join(v.shape, ", "), batch, heads_k, seqlen_k));
  const double dropout_p = paramOr(c, "dropout_p", 0.0);
  check(dropout_p >= 0 && dropout_p <= 1,
        fmt::format("dropout probability has to be between 0 and 1, but got {}", dropout_p));

  AttentionArgs args{.dtype = q.dtype,
                     .batch = batch,
                     .seqlen_q = seqlen_q,
                     .seqlen_k = seqlen_k,
                     .heads = heads,
                     .heads_k = heads_k,
                     .head_dim = head_dim,
                     .head_dim_v = head_dim_v,
                     .q = front_end::view(q, Layout::bhsd),
                     .k = front_end::view(k, Layout::bhsd),
                     .v = front_end::view(v, Layout::bhsd)};
  args.scale =
      static_cast<float>(paramOr(c, "scale", 1.0 / std::sqrt(static_cast<double>(head_dim))));
  // is_causal is tril(diagonal=0): aligned top-left, query i sees keys j <= i.
  args.causal = is_causal;
  args.causal_offset = fault == PlantedFault::causal_bottom_right ? seqlen_k - seqlen_q : 0;
  Tensor converted_mask;
  if (mask) {
    const Shape full{batch, heads, seqlen_q, seqlen_k};
    check(front_end::maskBroadcasts(mask->shape, full),
          fmt::format("attn_mask of shape ({}) does not broadcast to (N, Hq, L, S) = ({})",
                      fmt::join(mask->shape, ", "), fmt::join(full, ", ")));
    args.bias =
        front_end::maskBias(*mask, fault != PlantedFault::bool_mask_inverted, converted_mask);
  }
  args.fault = fault;

  std::map<std::string, Tensor> outputs;
  Tensor& out = outputs["out"] = Tensor::zeros(q.dtype, {batch, heads, seqlen_q, head_dim_v});
  args.out = front_end::writable(out, Layout::bhsd);
  Tensor lse = Tensor::zeros(DType::fp32, {batch, heads, seqlen_q});
  args.lse = lse.values.data();
  kernel(args);
  if (backward) {
    return front_end::gradients(
        c, args, {{{"query", "query_grad"}, {"key", "key_grad"}, {"value", "value_grad"}}},
        "grad_out", out, lse.values.data(), *backward);
  }
  return outputs;
}

}  // namespace attnconf::adapters
