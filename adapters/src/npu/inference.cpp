#include "npu/inference.h"

#include <vector>

namespace attnconf::adapters::npu {
namespace {

using front_end::check;
using front_end::paramOr;
using front_end::required;

// One valid length per batch entry, each in [0, extent]; `extent` for every entry without the
// list.
std::vector<std::int64_t> validLengths(const Case& c, const char* name, std::int64_t batch,
                                       std::int64_t extent) {
  const Tensor* t = name ? c.tensor(name) : nullptr;
  std::vector<std::int64_t> lengths(static_cast<std::size_t>(batch), extent);
  if (!t) return lengths;
  check(t->dtype == DType::int64 && t->shape == Shape{batch},
        fmt::format("{} must hold one int64 length per batch entry ({}), got shape ({})", name,
                    batch, fmt::join(t->shape, ", ")));
  lengths = front_end::integers(*t);
  for (const std::int64_t n : lengths) {
    check(n >= 0 && n <= extent, fmt::format("{} must lie in [0, {}], got {}", name, extent, n));
  }
  return lengths;
}

// The query, key and value views, checked against num_heads and num_key_value_heads (0:
// num_heads) and the API's limits.
Operands inferenceOperands(const Case& c, const std::string& layout, const Tensor& q,
                           const Tensor& k, const Tensor& v, const InferenceCall& call) {
  const auto heads = paramOr<std::int64_t>(c, "num_heads", 1);
  Operands o = readOperands(layout, q, k, v, heads, "num_heads");
  auto heads_k = paramOr<std::int64_t>(c, "num_key_value_heads", 0);
  if (heads_k == 0) heads_k = heads;
  check(o.k.heads == heads_k,
        fmt::format("num_key_value_heads {} does not match key's {} heads", heads_k, o.k.heads));
  check(o.q.head_dim <= call.max_head_dim,
        fmt::format("head dim {} is larger than {}", o.q.head_dim, call.max_head_dim));
  check(o.q.head_dim % call.head_dim_multiple == 0,
        fmt::format("head dim {} is not a multiple of {}", o.q.head_dim, call.head_dim_multiple));
  check(!call.single_query || o.q.seqlen == 1,
        fmt::format("{} takes one query per batch entry (S = 1), got {}", call.api, o.q.seqlen));
  return o;
}

}  // namespace

std::map<std::string, Tensor> inferenceAttention(const Case& c, PlantedFault fault,
                                                 const ForwardKernel& kernel,
                                                 const InferenceCall& call) {
  const Tensor& q = required(c, "query");
  const Tensor& k = required(c, "key");
  const Tensor& v = required(c, "value");
  for (const Tensor* t : {&q, &k, &v}) {
    check(t->dtype == DType::fp16 || t->dtype == DType::bf16,
          "query, key and value must be float16 or bfloat16");
  }
  check(k.dtype == q.dtype && v.dtype == q.dtype, "query, key and value must have the same dtype");
  const auto layout = paramOr<std::string>(c, "input_layout", "BSH");
  check(layout == "BNSD" || layout == "BSND" || layout == "BSH",
        fmt::format("input_layout must be BSH, BSND or BNSD, got \"{}\"", layout));
  const Operands o = inferenceOperands(c, layout, q, k, v, call);
  const std::int64_t batch = o.q.batch;
  const auto lengths_q = validLengths(c, call.query_lengths, batch, o.q.seqlen);
  const auto lengths_k = validLengths(c, call.key_lengths, batch, o.k.seqlen);

  AttentionArgs args{.dtype = q.dtype,
                     .batch = 1,
                     .heads = o.q.heads,
                     .heads_k = o.k.heads,
                     .head_dim = o.q.head_dim,
                     .head_dim_v = o.q.head_dim,
                     .scale = static_cast<float>(paramOr(c, "scale_value", 1.0)),
                     .fault = fault};
  Tensor converted_mask;
  const Tensor* mask = attenMask(c, call.sparse_mode, {batch, o.q.heads, o.q.seqlen, o.k.seqlen},
                                 fault, args, converted_mask);
  const BiasView whole_mask = args.bias;
  std::map<std::string, Tensor> outputs;
  Tensor& out = outputs["attention_out"] = Tensor::zeros(q.dtype, q.shape);
  const OutView out_rows{out.values.data(), o.q.view.batch_stride, o.q.view.seq_stride,
                         o.q.view.head_stride};
  std::vector<double> lse(static_cast<std::size_t>(o.q.heads * o.q.seqlen));
  // One kernel call per batch entry over its valid lengths: rows past them stay 0.
  for (std::int64_t b = 0; b < batch; ++b) {
    args.seqlen_q = lengths_q[static_cast<std::size_t>(b)];
    args.seqlen_k = lengths_k[static_cast<std::size_t>(b)];
    if (args.seqlen_q == 0 || args.seqlen_k == 0) continue;  // no key: the row gives 0
    args.q = front_end::batchEntry(o.q.view, b);
    args.k = front_end::batchEntry(o.k.view, b);
    args.v = front_end::batchEntry(o.v.view, b);
    args.out = front_end::batchEntry(out_rows, b);
    args.lse = lse.data();
    if (whole_mask.data) {
      args.bias = whole_mask;
      args.bias.data += b * whole_mask.batch_stride;
    }
    if (mask) applySparseMode(call.sparse_mode, call.band, args);
    kernel(args);
  }
  return outputs;
}

}  // namespace attnconf::adapters::npu
