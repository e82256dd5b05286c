#include "flash_attn/flash_attn_func.h"

#include <fmt/format.h>

#include <cmath>
#include <limits>

namespace attnconf::adapters {
namespace {

using front_end::check;
using front_end::Layout;
using front_end::paramOr;
using front_end::required;

std::vector<float> alibiSlopes(const Tensor& slopes, std::int64_t batch, std::int64_t heads) {
  check(slopes.dtype == DType::fp32, "ALiBi slopes must have dtype fp32");
  const bool per_head = slopes.shape == Shape{heads};
  check(per_head || slopes.shape == Shape{batch, heads},
        "ALiBi slopes tensor must have shape (num_heads) or (batch_size, num_heads)");
  std::vector<float> out;
  for (std::int64_t b = 0; b < batch; ++b) {
    for (std::int64_t h = 0; h < heads; ++h) {
      out.push_back(static_cast<float>(
          slopes.values[static_cast<std::size_t>(per_head ? h : b * heads + h)]));
    }
  }
  return out;
}

}  // namespace

std::map<std::string, Tensor> flashAttnFunc(const Case& c, PlantedFault fault,
                                            const ForwardKernel& kernel,
                                            const BackwardKernel* backward) {
  const Tensor& q = required(c, "q");
  const Tensor& k = required(c, "k");
  const Tensor& v = required(c, "v");
  check(q.dtype == DType::fp16 || q.dtype == DType::bf16,
        "FlashAttention only support fp16 and bf16 data type");
  check(k.dtype == q.dtype, "query and key must have the same dtype");
  check(v.dtype == q.dtype, "query and value must have the same dtype");
  check(q.rank() == 4, "q must have shape (batch_size, seqlen_q, num_heads, head_size)");
  check(k.rank() == 4, "k must have shape (batch_size, seqlen_k, num_heads_k, head_size)");
  check(v.rank() == 4, "v must have shape (batch_size, seqlen_k, num_heads_k, head_size)");
  const std::int64_t batch = q.shape[0], seqlen_q = q.shape[1], heads = q.shape[2];
  const std::int64_t head_dim = q.shape[3], seqlen_k = k.shape[1], heads_k = k.shape[2];
  check(batch > 0, "batch size must be positive");
  check(seqlen_q > 0 && seqlen_k > 0, "seqlen_q and seqlen_k must be positive");
  check(heads > 0, "number of heads must be positive");
  check(head_dim <= 256, fault == PlantedFault::wrong_error_message
                             ? "query must be contiguous"
                             : "FlashAttention forward only supports head dimension at most 256");
  check(fault == PlantedFault::accept_any_head_dim || head_dim % 8 == 0,
        "query, key, value, and out_ must have a head_size that is a multiple of 8");
  check(heads_k > 0 && (fault == PlantedFault::accept_gqa_mismatch || heads % heads_k == 0),
        "Number of heads in key/value must divide number of heads in query");
  check(k.shape == Shape{batch, seqlen_k, heads_k, head_dim},
        "k must have shape (batch_size, seqlen_k, num_heads_k, head_size)");
  check(v.shape == Shape{batch, seqlen_k, heads_k, head_dim},
        "v must have shape (batch_size, seqlen_k, num_heads_k, head_size)");
  const double dropout_p = paramOr(c, "dropout_p", 0.0);
  const double softcap = paramOr(c, "softcap", 0.0);
  if (softcap > 0) check(dropout_p == 0, "Softcapping does not support dropout for now");

  AttentionArgs args{.dtype = q.dtype,
                     .batch = batch,
                     .seqlen_q = seqlen_q,
                     .seqlen_k = seqlen_k,
                     .heads = heads,
                     // Under the accept_gqa_mismatch fault every query head reads kv head 0.
                     .heads_k = heads % heads_k == 0 ? heads_k : 1,
                     .head_dim = head_dim,
                     .head_dim_v = head_dim,
                     .q = front_end::view(q, Layout::bshd),
                     .k = front_end::view(k, Layout::bshd),
                     .v = front_end::view(v, Layout::bshd)};
  if (fault == PlantedFault::batch_kv_stride_bug) args.k.batch_stride = args.v.batch_stride = 0;
  const double default_scale = fault == PlantedFault::default_scale_wrong
                                   ? 1.0 / static_cast<double>(head_dim)
                                   : 1.0 / std::sqrt(static_cast<double>(head_dim));
  args.scale = static_cast<float>(paramOr(c, "softmax_scale", default_scale));
  args.softcap = static_cast<float>(softcap);
  // The causal and window diagonals are aligned bottom-right: query i sits at key i + Sk - Sq.
  const std::int64_t bottom_right = seqlen_k - seqlen_q;
  args.causal = paramOr(c, "causal", false);
  args.causal_offset = fault == PlantedFault::causal_top_left ? 0 : bottom_right;
  const auto window = paramOr(c, "window_size", std::vector<std::int64_t>{-1, -1});
  check(window.size() == 2, "window_size must be a pair (left, right)");
  args.window_left = window[0];
  args.window_right = window[1];
  args.window_offset = bottom_right;
  args.alibi_offset = bottom_right;
  if (const Tensor* slopes = c.tensor("alibi_slopes"))
    args.alibi_slopes = alibiSlopes(*slopes, batch, heads);
  args.softcap_after_mask = fault == PlantedFault::softcap_after_mask;
  args.empty_row_value =
      fault == PlantedFault::fully_masked_row_nan ? std::numeric_limits<double>::quiet_NaN() : 0.0;
  args.fault = fault;

  std::map<std::string, Tensor> outputs;
  Tensor& out = outputs["out"] = Tensor::zeros(q.dtype, {batch, seqlen_q, heads, head_dim});
  args.out = front_end::writable(out, Layout::bshd);
  Tensor lse = Tensor::zeros(DType::fp32, {batch, heads, seqlen_q});
  args.lse = lse.values.data();
  kernel(args);
  if (fault == PlantedFault::inplace_q_write) {  // a kernel that pre-scales q in its own buffer
    for (double& x : const_cast<Tensor&>(q).values) x = roundTo(q.dtype, x * args.scale);
  }
  if (backward) {
    return front_end::gradients(c, args, {{{"q", "dq"}, {"k", "dk"}, {"v", "dv"}}}, "dout", out,
                                lse, Layout::bshd, *backward);
  }
  if (paramOr(c, "return_attn_probs", false)) outputs["softmax_lse"] = std::move(lse);
  return outputs;
}

}  // namespace attnconf::adapters
