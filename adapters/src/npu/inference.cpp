#include "npu/inference.h"

#include <vector>

#include "npu/paged_cache.h"

namespace attnconf::adapters::npu {
namespace {

using front_end::check;
using front_end::paramOr;
using front_end::required;

constexpr std::int64_t kMaxGroup = 64;  // pfa_tiling: GLIMIT_64, query heads per key head

// Whether the incremental kernel runs: the incremental API's, or the fused API's for one query
// per batch entry; otherwise the prompt kernel does.
bool incrementalKernel(const InferenceCall& call, std::int64_t seqlen_q) {
  return call.single_query || (call.dispatches && seqlen_q == 1);
}

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
  lengths = integers(*t);
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
  check(incrementalKernel(call, o.q.seqlen) || templatedHeadDim(o.q.head_dim) ||
            heads <= kMaxGroup * heads_k,
        fmt::format("In gqa non quant scenario, when dSize is not 64 or 128, the G(numHeads / "
                    "numKeyValueHeads) cannot be larger than {}, but numHeads = {}, "
                    "numKeyValueHeads = {}.",
                    kMaxGroup, heads, heads_k));
  check(o.q.head_dim <= call.max_head_dim,
        fmt::format("head dim {} is larger than {}", o.q.head_dim, call.max_head_dim));
  const std::int64_t multiple =
      incrementalKernel(call, o.q.seqlen) ? kIncreHeadDimMultiple : call.head_dim_multiple;
  check(o.q.head_dim % multiple == 0,
        fmt::format("head dim {} is not a multiple of {}{}", o.q.head_dim, multiple,
                    call.dispatches ? " (one query per entry runs the incremental kernel)" : ""));
  check(!call.single_query || o.q.seqlen == 1,
        fmt::format("{} takes one query per batch entry (S = 1), got {}", call.api, o.q.seqlen));
  return o;
}

// The fast path a dispatching API reports: the incremental kernel for one query per entry (the
// planted fault sends it to the prompt kernel), the prompt kernel otherwise.
std::string_view dispatchedPath(const InferenceCall& call, std::int64_t seqlen_q,
                                PlantedFault fault) {
  if (!call.dispatches) return "flash";
  const bool incre =
      incrementalKernel(call, seqlen_q) && fault != PlantedFault::fused_infer_misdispatch;
  return incre ? "incre" : "prompt";
}

// Whether the planted fault's incremental kernel attends to the whole cache.
bool keyLengthsIgnored(const InferenceCall& call, std::int64_t seqlen_q, PlantedFault fault) {
  if (call.single_query) return fault == PlantedFault::incre_ignores_actual_seq_lengths;
  return call.dispatches && incrementalKernel(call, seqlen_q) &&
         fault == PlantedFault::fused_incre_ignores_actual_seq_lengths_kv;
}

// softmax_lse (B, N, S, 1) fp32: entry b's rows from the kernel's (heads, seqlen_q) LSE.
void writeLse(const std::vector<double>& lse, const AttentionArgs& args, std::int64_t b,
              Tensor& out) {
  const std::int64_t heads = out.shape[1], seqlen = out.shape[2];
  for (std::int64_t h = 0; h < heads; ++h) {
    for (std::int64_t i = 0; i < args.seqlen_q; ++i) {
      out.values[static_cast<std::size_t>((b * heads + h) * seqlen + i)] =
          roundTo(DType::fp32, lse[static_cast<std::size_t>(h * args.seqlen_q + i)]);
    }
  }
}

// What page attention asks beyond the cache: the keys' lengths with one query per entry
// (ifa_tiling; the fused API's prompt branch reads each entry's whole table without them), and
// the block size's alignment: the fused API's by head dim and query length with `fused_blocks`.
void checkPagedCall(const Case& c, const InferenceCall& call, const LayoutView& q,
                    bool fused_blocks) {
  check(q.seqlen > 1 || c.tensor(call.key_lengths) != nullptr,
        fmt::format("{} must exist in pageAttention scene", call.key_lengths));
  const auto block_size = paramOr<std::int64_t>(c, "block_size", 0);
  if (fused_blocks)
    checkFusedBlockSize(block_size, q.head_dim, q.seqlen);
  else
    checkBlockSizeAligned(block_size);
}

}  // namespace

InferenceCall promptCall(const Case& c, std::string_view api, std::int64_t default_next) {
  const auto mode = paramOr<std::int64_t>(c, "sparse_mode", 0);
  check(mode >= 0 && mode <= 4,
        fmt::format("sparse_mode must be in [0, 4] for {}, got {}", api, mode));
  return {.api = api,
          .query_lengths = "actual_seq_lengths",
          .key_lengths = "actual_seq_lengths_kv",
          .max_head_dim = 512,  // mindspore_pfa: "D <= 512"
          .sparse_mode = mode,
          .band = {paramOr<std::int64_t>(c, "pre_tokens", kAllTokens),
                   paramOr<std::int64_t>(c, "next_tokens", default_next)}};
}

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
  const Tensor* table = c.tensor("block_table");
  check(call.pages || !table, fmt::format("{} takes no block_table", call.api));
  const bool fused_blocks = call.dispatches && fault != PlantedFault::fused_paged_incre_block_rules;
  const GatheredCache paged =
      table ? gatherPagedCache(c, layout, q, *table,
                               fused_blocks ? kMaxFusedBlockSize : kMaxIncreBlockSize, fault)
            : GatheredCache{};
  const Operands o =
      inferenceOperands(c, layout, q, table ? paged.key : k, table ? paged.value : v, call);
  if (table) checkPagedCall(c, call, o.q, fused_blocks);
  const std::int64_t batch = o.q.batch;
  const auto lengths_q = validLengths(c, call.query_lengths, batch, o.q.seqlen);
  const bool keys_ignored = keyLengthsIgnored(call, o.q.seqlen, fault);
  const auto lengths_k =
      validLengths(c, keys_ignored ? nullptr : call.key_lengths, batch, o.k.seqlen);

  AttentionArgs args{.dtype = q.dtype,
                     .batch = 1,
                     .heads = o.q.heads,
                     .heads_k = o.k.heads,
                     .head_dim = o.q.head_dim,
                     .head_dim_v = o.q.head_dim,
                     .scale = static_cast<float>(paramOr(c, call.scale, 1.0)),
                     .fault = fault,
                     .fast_path = dispatchedPath(call, o.q.seqlen, fault)};
  Tensor converted_mask;
  const Tensor* mask = attenMask(c, call.sparse_mode, {batch, o.q.heads, o.q.seqlen, o.k.seqlen},
                                 fault, args, converted_mask);
  const BiasView whole_mask = args.bias;
  std::map<std::string, Tensor> outputs;
  Tensor& out = outputs["attention_out"] = Tensor::zeros(q.dtype, q.shape);
  const OutView out_rows{out.values.data(), o.q.view.batch_stride, o.q.view.seq_stride,
                         o.q.view.head_stride};
  std::vector<double> lse(static_cast<std::size_t>(o.q.heads * o.q.seqlen));
  if (call.returns_lse) {
    outputs["softmax_lse"] = Tensor::zeros(DType::fp32, {batch, o.q.heads, o.q.seqlen, 1});
  }
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
    if (call.returns_lse) writeLse(lse, args, b, outputs["softmax_lse"]);
  }
  return outputs;
}

}  // namespace attnconf::adapters::npu
