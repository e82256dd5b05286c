#include "flash_attn/flash_attn_varlen_func.h"

#include <algorithm>
#include <limits>

#include "flash_attn/mha_checks.h"

namespace attnconf::adapters {
namespace {

using front_end::check;
using front_end::required;

constexpr std::array<front_end::GradName, 3> kGradNames{{{"q", "dq"}, {"k", "dk"}, {"v", "dv"}}};

// The cumulative lengths as integers. The CUDA kernel trusts them (it would read out of bounds);
// attnconf's kernel refuses offsets that do not rise from 0 within the packed tensor.
std::vector<std::int64_t> offsets(const Tensor& cu_seqlens, std::int64_t total, const char* name) {
  auto out = integers(cu_seqlens);
  check(offsetsRise(out, total),
        fmt::format("attnconf: {} must rise from 0 to at most the packed length {}", name, total));
  return out;
}

// The planted fault: the sequence's keys run on to the end of their last 16-key tile, into the
// next sequences', and the extra keys are hidden by an added -inf instead of never being loaded.
// `room` is how many keys the packed tensor holds from the sequence's start; `bias` keeps the
// key bias the kernel reads.
void overreadTile(std::int64_t room, AttentionArgs& args, std::vector<double>& bias) {
  constexpr std::int64_t kTile = 16;
  const std::int64_t loaded = std::min((args.seqlen_k + kTile - 1) / kTile * kTile, room);
  bias.assign(static_cast<std::size_t>(loaded), 0.0);
  std::fill(bias.begin() + args.seqlen_k, bias.end(), -std::numeric_limits<double>::infinity());
  args.seqlen_k = loaded;
  args.bias = BiasView{bias.data(), 0, 0, 0, 1};
}

}  // namespace

std::map<std::string, Tensor> flashAttnVarlenFunc(const Case& c, PlantedFault fault,
                                                  const ForwardKernel& kernel,
                                                  const BackwardKernel* backward) {
  const Tensor& q = required(c, "q");
  const Tensor& k = required(c, "k");
  const Tensor& v = required(c, "v");
  const Tensor& cu_seqlens_q = required(c, "cu_seqlens_q");
  const Tensor& cu_seqlens_k = required(c, "cu_seqlens_k");
  const auto max_seqlen_q = front_end::paramOr<std::int64_t>(c, "max_seqlen_q", -1);
  const auto max_seqlen_k = front_end::paramOr<std::int64_t>(c, "max_seqlen_k", -1);
  check(max_seqlen_q >= 0 && max_seqlen_k >= 0, "max_seqlen_q and max_seqlen_k are required");
  flash_attn::checkDTypes(q, k, v);
  check(cu_seqlens_q.dtype == DType::int32, "cu_seqlens_q must have dtype int32");
  check(cu_seqlens_k.dtype == DType::int32, "cu_seqlens_k must have dtype int32");
  check(q.rank() == 3, "q must have shape (total_q, num_heads, head_size_og)");
  check(k.rank() == 3, "k must have shape (total_k, num_heads_k, head_size_og)");
  check(v.rank() == 3, "v must have shape (total_k, num_heads_k, head_size_og)");
  check(cu_seqlens_q.rank() == 1, "cu_seqlens_q must have shape (batch_size + 1)");
  const std::int64_t batch = cu_seqlens_q.size() - 1;
  const std::int64_t total_q = q.shape[0], heads = q.shape[1], head_dim = q.shape[2];
  const std::int64_t total_k = k.shape[0], heads_k = k.shape[1];
  check(batch > 0, "batch size must be positive");
  flash_attn::checkHeads(heads, heads_k, head_dim, fault);
  check(k.shape == Shape{total_k, heads_k, head_dim},
        "k must have shape (total_k, num_heads_k, head_size_og)");
  check(v.shape == Shape{total_k, heads_k, head_dim},
        "v must have shape (total_k, num_heads_k, head_size_og)");
  check(cu_seqlens_k.shape == Shape{batch + 1}, "cu_seqlens_k must have shape (batch_size + 1)");
  const auto starts_q = offsets(cu_seqlens_q, total_q, "cu_seqlens_q");
  const auto starts_k = offsets(cu_seqlens_k, total_k, "cu_seqlens_k");

  AttentionArgs args{.dtype = q.dtype,
                     .batch = 1,
                     .heads = heads,
                     .heads_k = heads % heads_k == 0 ? heads_k : 1,
                     .head_dim = head_dim,
                     .head_dim_v = head_dim};
  flash_attn::decodeParams(c, fault, batch, args);
  const std::vector<float> slopes = args.alibi_slopes;  // batch * heads; one row per call
  std::map<std::string, Tensor> outputs;
  Tensor& out = outputs["out"] = Tensor::zeros(q.dtype, q.shape);
  // The backward runs after each sequence's forward; a key no query reads keeps a gradient of 0.
  std::map<std::string, Tensor> grads;
  if (backward) grads = front_end::zeroGradients(c, kGradNames, "dout", out);
  Tensor lse = Tensor::zeros(DType::fp32, {heads, total_q});
  std::vector<double> overread_bias;
  for (std::int64_t b = 0; b < batch; ++b) {
    const auto at = static_cast<std::size_t>(b);
    const std::int64_t seqlen_q = starts_q[at + 1] - starts_q[at];
    std::int64_t seqlen_k = starts_k[at + 1] - starts_k[at];
    if (seqlen_q == 0) continue;
    // The planted fault lets each sequence read the first key of the next one.
    if (fault == PlantedFault::cu_seqlens_off_by_one && starts_k[at + 1] < total_k) ++seqlen_k;
    std::vector<double> seq_lse(static_cast<std::size_t>(heads * seqlen_q),
                                std::numeric_limits<double>::infinity());
    if (seqlen_k > 0) {  // no key: output 0, LSE +inf, as mha_varlen_fwd's empty case
      args.seqlen_q = seqlen_q;
      args.seqlen_k = seqlen_k;
      args.q = front_end::packedRows(q, starts_q[at]);
      args.k = front_end::packedRows(k, starts_k[at]);
      args.v = front_end::packedRows(v, starts_k[at]);
      args.out = front_end::packedRows(out, starts_q[at]);
      args.lse = seq_lse.data();
      // Each sequence's diagonal is aligned bottom-right by its own lengths; the planted fault
      // aligns it by the longest ones, as a padded batch would be.
      const std::int64_t bottom_right = fault == PlantedFault::varlen_causal_padded
                                            ? max_seqlen_k - max_seqlen_q
                                            : seqlen_k - seqlen_q;
      args.causal_offset = args.window_offset = args.alibi_offset = bottom_right;
      if (!slopes.empty())
        args.alibi_slopes.assign(slopes.begin() + b * heads, slopes.begin() + (b + 1) * heads);
      if (fault == PlantedFault::varlen_tile_overread)
        overreadTile(total_k - starts_k[at], args, overread_bias);
      kernel(args);
      if (backward)
        front_end::addBackward(c, kGradNames, "dout", args, out, seq_lse.data(), grads, *backward);
    }
    for (std::int64_t h = 0; h < heads; ++h) {
      std::copy_n(seq_lse.begin() + h * seqlen_q, seqlen_q,
                  lse.values.begin() + h * total_q + starts_q[at]);
    }
  }
  if (backward) return grads;
  if (front_end::paramOr(c, "return_attn_probs", false)) outputs["softmax_lse"] = std::move(lse);
  return outputs;
}

}  // namespace attnconf::adapters
