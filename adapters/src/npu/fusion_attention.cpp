#include "npu/fusion_attention.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>

#include "npu/layouts.h"

namespace attnconf::adapters {
namespace {

using front_end::check;
using front_end::paramOr;
using front_end::required;
using npu::attenMask;
using npu::checkHeads;
using npu::checkSameShape;

// seed 002: "head_dim <= 768".
constexpr std::int64_t kMaxHeadDim = 768;
// torch_npu's npu_fusion_attention_grad names: dy in, dq, dk, dv out.
constexpr std::array<front_end::GradName, 3> kGradNames{
    {{"query", "dq"}, {"key", "dk"}, {"value", "dv"}}};

// The pre_tockens/next_tockens band (torch_npu's spelling), every key by default.
npu::Band bandOf(const Case& c) {
  return {paramOr<std::int64_t>(c, "pre_tockens", npu::kAllTokens),
          paramOr<std::int64_t>(c, "next_tockens", npu::kAllTokens)};
}

// §pse: scale * pse, over (B, N1, S1, S2), as the score bias; the batch and query axes may be 1
// (the documented BNSS, BN1S and 1NSS forms).
Tensor positionBias(const Tensor& pse, const AttentionArgs& args, double scale) {
  check(pse.dtype == args.dtype, "pse must have the dtype of query");
  const Shape full{args.batch, args.heads, args.seqlen_q, args.seqlen_k};
  const auto fits = [&](std::size_t axis, bool may_be_one) {
    return pse.shape[axis] == full[axis] || (may_be_one && pse.shape[axis] == 1);
  };
  check(pse.rank() == 4 && fits(0, true) && fits(1, false) && fits(2, true) && fits(3, false),
        fmt::format("pse of shape ({}) is none of BNSS, BN1S, 1NSS for ({})",
                    fmt::join(pse.shape, ", "), fmt::join(full, ", ")));
  Tensor bias = Tensor::zeros(DType::fp64, full);
  Tensor unused;  // a floating pse is read as it is
  front_end::addScoreBias(bias, front_end::maskBias(pse, /*true_keeps=*/true, unused), scale);
  return bias;
}

// npu_fusion_attention_grad's dpse from the score gradient `ds` (the shape of positionBias):
// scale * dS, summed over the axes pse broadcasts. The planted fault keeps the last term of each
// sum instead.
Tensor pseGradient(const Tensor& pse, const Tensor& ds, double scale, PlantedFault fault) {
  Tensor unused;
  const BiasView at = front_end::maskBias(pse, /*true_keeps=*/true, unused);
  Tensor dpse = Tensor::zeros(pse.dtype, pse.shape);
  for (std::int64_t flat = 0; flat < ds.size(); ++flat) {
    const Shape i = unflattenIndex(ds.shape, flat);
    const auto offset = static_cast<std::size_t>(i[0] * at.batch_stride + i[1] * at.head_stride +
                                                 i[2] * at.row_stride + i[3] * at.key_stride);
    const double term = scale * ds.values[static_cast<std::size_t>(flat)];
    dpse.values[offset] =
        fault == PlantedFault::dpse_broadcast_not_summed ? term : dpse.values[offset] + term;
  }
  dpse.roundToDType();
  return dpse;
}

// softmax_max and softmax_sum: each row's value stored 8 times, fp32, from the kernel's (batch,
// heads, seqlen_q) rows; `at(b, h, i)` is the row's first copy. The planted fault reads row i
// of softmax_sum from row i + 1.
constexpr std::int64_t kCopies = 8;
void writeStatistic(const std::vector<double>& per_row, const AttentionArgs& args, Tensor& t,
                    const std::function<std::int64_t(std::int64_t, std::int64_t, std::int64_t)>& at,
                    std::int64_t shift_rows = 0) {
  const auto rows = static_cast<std::int64_t>(per_row.size());
  for (std::int64_t r = 0; r < rows; ++r) {
    const std::int64_t from = std::min(r + shift_rows, rows - 1);
    const std::int64_t first =
        at(r / (args.heads * args.seqlen_q), (r / args.seqlen_q) % args.heads, r % args.seqlen_q);
    std::fill_n(t.values.begin() + first, kCopies,
                roundTo(DType::fp32, per_row[static_cast<std::size_t>(from)]));
  }
}

// The kernel's row statistics, (batch, heads, seqlen_q) each, filled by a kernel call.
struct RowStatistics {
  std::vector<double> lse, max, sum;
  explicit RowStatistics(const AttentionArgs& args)
      : lse(static_cast<std::size_t>(args.batch * args.heads * args.seqlen_q)),
        max(lse.size()),
        sum(lse.size()) {}
  void runWith(AttentionArgs& args, const ForwardKernel& kernel) {
    args.lse = lse.data();
    args.row_max = max.data();
    args.row_sum = sum.data();
    kernel(args);
  }
};

// What every layout checks and decodes alike: dtypes, head_num, the scale and the sparse mode.
struct CommonArgs {
  std::int64_t head_num = 0, mode = 0;
  double scale = 1.0;
};

CommonArgs commonArgs(const Case& c, PlantedFault fault, const Tensor& q, const Tensor& k,
                      const Tensor& v, std::int64_t head_dim) {
  for (const Tensor* t : {&q, &k, &v}) {
    check(t->dtype == DType::fp16 || t->dtype == DType::bf16 || t->dtype == DType::fp32,
          "query, key and value must be float16, bfloat16 or float32");
  }
  check(k.dtype == q.dtype && v.dtype == q.dtype, "query, key and value must have the same dtype");
  check(head_dim <= kMaxHeadDim,
        fmt::format("head dim {} is larger than {}", head_dim, kMaxHeadDim));
  const double default_scale = fault == PlantedFault::default_scale_rsqrt
                                   ? 1.0 / std::sqrt(static_cast<double>(head_dim))
                                   : 1.0;
  const auto mode = paramOr<std::int64_t>(c, "sparse_mode", 0);
  check(mode >= 0 && mode <= 8, fmt::format("sparse_mode must be in [0, 8], got {}", mode));
  return {paramOr<std::int64_t>(c, "head_num", 0), mode, paramOr(c, "scale", default_scale)};
}

// Each sequence's start and one more entry, the total, from a TND length list: its ends alone,
// without the leading 0 (lengths 2 2 0 are passed as 2 4 4).
std::vector<std::int64_t> sequenceStarts(const Case& c, const char* name, std::int64_t total) {
  const Tensor& ends = required(c, name);
  check(ends.dtype == DType::int64 && ends.rank() == 1 && ends.size() > 0,
        fmt::format("{} must be a non-empty list of int64 in input_layout TND", name));
  std::vector<std::int64_t> starts{0};
  for (const std::int64_t end : integers(ends)) starts.push_back(end);
  check(offsetsRise(starts, total),
        fmt::format("{} must rise to at most the {} rows of the packed tensor", name, total));
  return starts;
}

// §TND: the sequences laid end to end, (T, N, D); sequence b is rows [starts[b], starts[b+1])
// of query and key, computed on its own: its diagonals are those of its own lengths, and a
// [maxSq, maxSkv] mask is read at its top-left corner. softmax_max and softmax_sum are (T, N, 8).
std::map<std::string, Tensor> packedSequences(const Case& c, PlantedFault fault,
                                              const ForwardKernel& kernel,
                                              const BackwardKernel* backward, const Tensor& q,
                                              const Tensor& k, const Tensor& v) {
  for (const auto& [t, name] : {std::pair{&q, "query"}, {&k, "key"}, {&v, "value"}}) {
    check(t->rank() == 3, fmt::format("{} must be 3-D (T, N, D) in input_layout TND, got ({})",
                                      name, fmt::join(t->shape, ", ")));
  }
  const CommonArgs common = commonArgs(c, fault, q, k, v, q.shape[2]);
  const std::int64_t heads = q.shape[1], heads_k = k.shape[1], head_dim = q.shape[2];
  check(common.head_num == heads,
        fmt::format("head_num {} does not match query's {} heads", common.head_num, heads));
  check(k.shape[2] == head_dim,
        fmt::format("key's head dim {} differs from query's {}", k.shape[2], head_dim));
  checkSameShape(k, v);
  checkHeads(heads, heads_k);
  // op_plugin refuses mode 5 with TND; mode 6 (a prefix per sequence) is not implemented here.
  check(common.mode != 5, "sparse_mode 5 (prefix, uncompressed) does not support input_layout TND");
  check(common.mode != 6,
        "sparse_mode 6 with input_layout TND is not supported by attnconf's CPU "
        "torch_npu front end");
  const auto starts_q = sequenceStarts(c, "actual_seq_qlen", q.shape[0]);
  const auto starts_k = sequenceStarts(c, "actual_seq_kvlen", k.shape[0]);
  check(starts_q.size() == starts_k.size(),
        "the size of actual_seq_qlen and actual_seq_kvlen must be the same");
  AttentionArgs args{.dtype = q.dtype,
                     .batch = 1,
                     .heads = heads,
                     .heads_k = heads_k,
                     .head_dim = head_dim,
                     .head_dim_v = head_dim,
                     .scale = static_cast<float>(common.scale),
                     .fault = fault};
  args.sink = npu::sinks(c, heads);
  Tensor converted_mask;
  const Tensor* mask =
      attenMask(c, common.mode, {1, heads, longestSequence(starts_q), longestSequence(starts_k)},
                fault, args, converted_mask);
  std::map<std::string, Tensor> outputs;
  Tensor& out = outputs["attention_out"] = Tensor::zeros(q.dtype, q.shape);
  Tensor& softmax_max = outputs["softmax_max"] =
      Tensor::zeros(DType::fp32, {q.shape[0], heads, kCopies});
  Tensor& softmax_sum = outputs["softmax_sum"] = softmax_max;
  // The backward runs after each sequence's forward; a key no query reads keeps a gradient of 0.
  std::map<std::string, Tensor> grads;
  if (backward) grads = front_end::zeroGradients(c, kGradNames, "dy", out);
  std::vector<std::int64_t> seqlens_q;
  for (std::size_t b = 0; b + 1 < starts_q.size(); ++b)
    seqlens_q.push_back(starts_q[b + 1] - starts_q[b]);
  for (std::size_t b = 0; b + 1 < starts_q.size(); ++b) {
    args.seqlen_q = starts_q[b + 1] - starts_q[b];
    args.seqlen_k = starts_k[b + 1] - starts_k[b];
    if (args.seqlen_q == 0) continue;
    check(args.seqlen_k > 0, fmt::format("sequence {} has queries but no keys, which TND does "
                                         "not support",
                                         b));
    // The planted fault reads each end as inclusive: a sequence sees the next one's first key.
    if (fault == PlantedFault::tnd_end_inclusive && starts_k[b + 1] < k.shape[0]) ++args.seqlen_k;
    args.q = front_end::packedRows(q, starts_q[b]);
    args.k = front_end::packedRows(k, starts_k[b]);
    args.v = front_end::packedRows(v, starts_k[b]);
    args.out = front_end::packedRows(out, starts_q[b]);
    const std::int64_t mode =
        common.mode >= 7 ? npu::splitSequenceMode(common.mode, seqlens_q, b, fault) : common.mode;
    if (mask) npu::applySparseMode(mode, bandOf(c), args);
    RowStatistics stats(args);
    stats.runWith(args, kernel);
    const auto at = [&](std::int64_t, std::int64_t h, std::int64_t i) {
      return ((starts_q[b] + i) * heads + h) * kCopies;
    };
    writeStatistic(stats.max, args, softmax_max, at);
    writeStatistic(stats.sum, args, softmax_sum, at);
    if (backward)
      front_end::addBackward(c, kGradNames, "dy", args, out, stats.lse.data(), grads, *backward);
  }
  return backward ? grads : outputs;
}

}  // namespace

std::map<std::string, Tensor> npuFusionAttention(const Case& c, PlantedFault fault,
                                                 const ForwardKernel& kernel,
                                                 const BackwardKernel* backward) {
  const Tensor& q = required(c, "query");
  const Tensor& k = required(c, "key");
  const Tensor& v = required(c, "value");
  const auto layout = paramOr<std::string>(c, "input_layout", "");
  if (layout == "TND") return packedSequences(c, fault, kernel, backward, q, k, v);
  check(layout == "BNSD" || layout == "BSND" || layout == "BSH" || layout == "SBH",
        fmt::format("input_layout must be BSH, SBH, BSND, BNSD or TND, got \"{}\"", layout));
  const auto [qv, kv, vv] =
      npu::readOperands(layout, q, k, v, paramOr<std::int64_t>(c, "head_num", 0), "head_num");
  const CommonArgs common = commonArgs(c, fault, q, k, v, qv.head_dim);
  check(common.mode < 7, fmt::format("sparse_mode {} (varlen outer split) needs input_layout TND, "
                                     "got {}",
                                     common.mode, layout));

  AttentionArgs args{.dtype = q.dtype,
                     .batch = qv.batch,
                     .seqlen_q = qv.seqlen,
                     .seqlen_k = kv.seqlen,
                     .heads = qv.heads,
                     .heads_k = kv.heads,
                     .head_dim = qv.head_dim,
                     .head_dim_v = qv.head_dim,
                     .q = qv.view,
                     .k = kv.view,
                     .v = vv.view,
                     .scale = static_cast<float>(common.scale),
                     .sink = npu::sinks(c, qv.heads),
                     .fault = fault};
  const Shape full{args.batch, args.heads, args.seqlen_q, args.seqlen_k};
  Tensor converted_mask;
  if (attenMask(c, common.mode, full, fault, args, converted_mask)) {
    npu::applySparseMode(common.mode, bandOf(c), args);
    args.causal_prefix = npu::prefixes(c, common.mode, args.batch, fault);
  }
  Tensor scores_bias;
  const Tensor* pse = c.tensor("pse");
  const double pse_factor = fault == PlantedFault::pse_after_scale ? 1.0 : common.scale;
  if (pse) {
    scores_bias = positionBias(*pse, args, pse_factor);
    if (args.bias.data) front_end::addScoreBias(scores_bias, args.bias);  // the mask's -inf
    args.bias = BiasView{scores_bias.values.data(), args.heads * args.seqlen_q * args.seqlen_k,
                         args.seqlen_q * args.seqlen_k, args.seqlen_k, 1};
  }

  std::map<std::string, Tensor> outputs;
  Tensor& out = outputs["attention_out"] = Tensor::zeros(q.dtype, q.shape);
  SeqView o = qv.view;
  if (fault == PlantedFault::sbh_output_in_bsh_order && layout == "SBH") {
    o.batch_stride = qv.seqlen * q.shape[2];
    o.seq_stride = q.shape[2];
  }
  args.out = OutView{out.values.data(), o.batch_stride, o.seq_stride, o.head_stride};
  RowStatistics stats(args);
  stats.runWith(args, kernel);
  if (backward) {
    Tensor ds = pse ? Tensor::zeros(DType::fp64, full) : Tensor{};
    auto grads = front_end::gradients(c, args, kGradNames, "dy", out, stats.lse.data(), *backward,
                                      pse ? ds.values.data() : nullptr);
    if (pse) grads["dpse"] = pseGradient(*pse, ds, pse_factor, fault);
    return grads;
  }
  const Shape statistic{args.batch, args.heads, args.seqlen_q, kCopies};
  const auto at = [&](std::int64_t b, std::int64_t h, std::int64_t i) {
    return ((b * args.heads + h) * args.seqlen_q + i) * kCopies;
  };
  writeStatistic(stats.max, args, outputs["softmax_max"] = Tensor::zeros(DType::fp32, statistic),
                 at);
  writeStatistic(stats.sum, args, outputs["softmax_sum"] = Tensor::zeros(DType::fp32, statistic),
                 at, fault == PlantedFault::softmax_sum_wrong_row ? 1 : 0);
  return outputs;
}

}  // namespace attnconf::adapters
