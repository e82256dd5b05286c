#include "flash_attn/flash_attn_func.h"

#include "flash_attn/mha_checks.h"

namespace attnconf::adapters {

using front_end::check;
using front_end::Layout;
using front_end::paramOr;
using front_end::required;

std::map<std::string, Tensor> flashAttnFunc(const Case& c, PlantedFault fault,
                                            const ForwardKernel& kernel,
                                            const BackwardKernel* backward) {
  const Tensor& q = required(c, "q");
  const Tensor& k = required(c, "k");
  const Tensor& v = required(c, "v");
  flash_attn::checkDTypes(q, k, v);
  check(q.rank() == 4, "q must have shape (batch_size, seqlen_q, num_heads, head_size)");
  check(k.rank() == 4, "k must have shape (batch_size, seqlen_k, num_heads_k, head_size)");
  check(v.rank() == 4, "v must have shape (batch_size, seqlen_k, num_heads_k, head_size)");
  const std::int64_t batch = q.shape[0], seqlen_q = q.shape[1], heads = q.shape[2];
  const std::int64_t head_dim = q.shape[3], seqlen_k = k.shape[1], heads_k = k.shape[2];
  check(batch > 0, "batch size must be positive");
  check(seqlen_q > 0 && seqlen_k > 0, "seqlen_q and seqlen_k must be positive");
  flash_attn::checkHeads(heads, heads_k, head_dim, fault);
  check(k.shape == Shape{batch, seqlen_k, heads_k, head_dim},
        "k must have shape (batch_size, seqlen_k, num_heads_k, head_size)");
  check(v.shape == Shape{batch, seqlen_k, heads_k, head_dim},
        "v must have shape (batch_size, seqlen_k, num_heads_k, head_size)");

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
  flash_attn::decodeParams(c, fault, batch, args);
  // The causal and window diagonals are aligned bottom-right: query i sits at key i + Sk - Sq.
  const std::int64_t bottom_right = seqlen_k - seqlen_q;
  args.causal_offset = fault == PlantedFault::causal_top_left ? 0 : bottom_right;
  args.window_offset = args.alibi_offset = bottom_right;

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
                                lse.values.data(), *backward);
  }
  if (paramOr(c, "return_attn_probs", false)) outputs["softmax_lse"] = std::move(lse);
  return outputs;
}

}  // namespace attnconf::adapters
