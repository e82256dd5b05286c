#include "diy/flash_attention.h"

#include <cmath>

namespace attnconf::adapters {
namespace {

using front_end::batchEntry;
using front_end::check;
using front_end::Layout;
using front_end::paramOr;
using front_end::required;

// The length of each batch entry: seq_lens, or the full length.
std::vector<std::int64_t> lengths(const Case& c, std::int64_t batch, std::int64_t seq_len,
                                  PlantedFault fault) {
  const Tensor* seq_lens = c.tensor("seq_lens");
  if (!seq_lens) return std::vector<std::int64_t>(static_cast<std::size_t>(batch), seq_len);
  check(seq_lens->dtype == DType::int32, "seq_lens must be an int32 tensor");
  check(seq_lens->shape == Shape{batch}, "seq_lens must have shape (batch,)");
  std::vector<std::int64_t> out;
  for (const double v : seq_lens->values) {
    const auto n = static_cast<std::int64_t>(v);
    check(n >= 0 && n <= seq_len, "seq_lens must lie in [0, seq_len]");
    // The planted fault reads one key past the end of a shortened sequence.
    out.push_back(fault == PlantedFault::seq_lens_off_by_one && n < seq_len ? n + 1 : n);
  }
  return out;
}

}  // namespace

std::map<std::string, Tensor> diyFlashAttention(const Case& c, PlantedFault fault,
                                                const ForwardKernel& kernel,
                                                const BackwardKernel* backward) {
  check(backward == nullptr, "flash_attention has no backward");
  const Tensor& q = required(c, "q");
  const Tensor& k = required(c, "k");
  const Tensor& v = required(c, "v");
  check(q.rank() == 4 || q.rank() == 3, "Expected 3D or 4D tensors");
  check(k.shape == q.shape && v.shape == q.shape, "Q, K, V shapes must match");
  check(q.rank() == 4, "attnconf's flash_attention takes 4D (batch, heads, seq_len, head_dim)");
  check(k.dtype == q.dtype && v.dtype == q.dtype, "Q, K, V dtypes must match");
  const std::int64_t batch = q.shape[0], heads = q.shape[1], seq_len = q.shape[2];
  const std::int64_t head_dim = q.shape[3];
  check(head_dim == 32 || head_dim == 64, "Unsupported head_dim");
  const auto lens = lengths(c, batch, seq_len, fault);

  std::map<std::string, Tensor> outputs;
  Tensor& out = outputs["out"] = Tensor::zeros(q.dtype, q.shape);
  Tensor lse = Tensor::zeros(DType::fp32, {batch, heads, seq_len});
  // One kernel call per batch entry, at that entry's length.
  for (std::int64_t b = 0; b < batch; ++b) {
    const std::int64_t length = lens[static_cast<std::size_t>(b)];
    if (length == 0) continue;
    AttentionArgs args{.dtype = q.dtype,
                       .batch = 1,
                       .seqlen_q = length,
                       .seqlen_k = length,
                       .heads = heads,
                       .heads_k = heads,
                       .head_dim = head_dim,
                       .head_dim_v = head_dim,
                       .q = batchEntry(front_end::view(q, Layout::bhsd), b),
                       .k = batchEntry(front_end::view(k, Layout::bhsd), b),
                       .v = batchEntry(front_end::view(v, Layout::bhsd), b),
                       .out = batchEntry(front_end::writable(out, Layout::bhsd), b),
                       .lse = lse.values.data() + b * heads * seq_len,
                       .scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(head_dim))),
                       // One length for queries and keys: both alignments agree.
                       .causal = paramOr(c, "causal", false),
                       .fault = fault};
    kernel(args);
  }
  return outputs;
}

}  // namespace attnconf::adapters
