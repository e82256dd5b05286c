#include "npu/fusion_attention.h"

#include <cmath>
#include <limits>

namespace attnconf::adapters {
namespace {

using front_end::check;
using front_end::paramOr;
using front_end::required;

// torch_npu's default band bound: every key.
constexpr std::int64_t kAllTokens = 2147483647;
// The side of the compressed triangle sparse modes 2-4 take as atten_mask.
constexpr std::int64_t kCompressedMaskSide = 2048;
// seed 002: "head_dim <= 768".
constexpr std::int64_t kMaxHeadDim = 768;

// BSH and SBH merge heads and channels into one hidden axis H = N * D.
bool splitsHidden(const std::string& layout) {
  return layout == "BSH" || layout == "SBH";
}

// A tensor read in one of torch_npu's layouts as (batch, seq, head, dim).
struct LayoutView {
  std::int64_t batch = 0, seqlen = 0, heads = 0, head_dim = 0;
  SeqView view;
};

// `t` in `layout`; the hidden layouts (BSH, SBH) split H into heads of `head_dim` channels.
LayoutView readLayout(const Tensor& t, const std::string& layout, std::int64_t head_dim,
                      const char* name) {
  const bool hidden = splitsHidden(layout);
  check(t.rank() == (hidden ? 3 : 4),
        fmt::format("{} must be {}-D in input_layout {}, got shape ({})", name, hidden ? 3 : 4,
                    layout, fmt::join(t.shape, ", ")));
  const double* data = t.values.data();
  if (hidden) {
    const std::int64_t h = t.shape[2];
    check(
        head_dim > 0 && h % head_dim == 0,
        fmt::format("{}'s hidden size {} is not a multiple of the head dim {}", name, h, head_dim));
    if (layout == "BSH")
      return {t.shape[0], t.shape[1], h / head_dim, head_dim, {data, t.shape[1] * h, h, head_dim}};
    return {t.shape[1], t.shape[0], h / head_dim, head_dim, {data, h, t.shape[1] * h, head_dim}};
  }
  const Shape& s = t.shape;
  if (layout == "BNSD")
    return {s[0], s[2], s[1], s[3], front_end::view(t, front_end::Layout::bhsd)};
  return {s[0], s[1], s[2], s[3], front_end::view(t, front_end::Layout::bshd)};
}

// §sparse_mode: the band and causal masks of modes 0-4 (modes 5-8 need prefix or varlen
// inputs this front end does not take).
void applySparseMode(const Case& c, const Tensor& mask, std::int64_t mode, AttentionArgs& args) {
  check(mode <= 4, fmt::format("sparse_mode {} is not supported by attnconf's CPU "
                               "npu_fusion_attention (prefix and varlen modes)",
                               mode));
  if (mode >= 2) {
    check(mask.shape == Shape{kCompressedMaskSide, kCompressedMaskSide},
          fmt::format("sparse_mode {} needs the compressed atten_mask of shape (2048, 2048), got "
                      "({})",
                      mode, fmt::join(mask.shape, ", ")));
  }
  const std::int64_t bottom_right = args.seqlen_k - args.seqlen_q;
  if (mode == 2 || mode == 3) {
    args.causal = true;
    const bool right_down = mode == 3 && args.fault != PlantedFault::sparse_mode3_top_left;
    args.causal_offset = right_down ? bottom_right : 0;
  }
  if (mode == 0 || mode == 4) {
    args.band = true;
    args.band_pre = paramOr<std::int64_t>(c, "pre_tockens", kAllTokens);
    args.band_next = paramOr<std::int64_t>(c, "next_tockens", kAllTokens);
    args.band_offset = mode == 4 ? bottom_right : 0;
  }
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

// softmax_max and softmax_sum: each row's value stored 8 times, fp32 (B, N, Sq, 8).
Tensor rowStatistic(const std::vector<double>& per_row, const AttentionArgs& args,
                    std::int64_t shift_rows = 0) {
  constexpr std::int64_t kCopies = 8;
  Tensor t = Tensor::zeros(DType::fp32, {args.batch, args.heads, args.seqlen_q, kCopies});
  const auto rows = static_cast<std::int64_t>(per_row.size());
  for (std::int64_t r = 0; r < rows; ++r) {
    const std::int64_t from = std::min(r + shift_rows, rows - 1);
    for (std::int64_t k = 0; k < kCopies; ++k)
      t.values[static_cast<std::size_t>(r * kCopies + k)] =
          roundTo(DType::fp32, per_row[static_cast<std::size_t>(from)]);
  }
  return t;
}

}  // namespace

std::map<std::string, Tensor> npuFusionAttention(const Case& c, PlantedFault fault,
                                                 const ForwardKernel& kernel,
                                                 const BackwardKernel* backward) {
  check(backward == nullptr, "attnconf's CPU npu_fusion_attention has no backward yet");
  const Tensor& q = required(c, "query");
  const Tensor& k = required(c, "key");
  const Tensor& v = required(c, "value");
  const auto layout = paramOr<std::string>(c, "input_layout", "");
  check(layout == "BNSD" || layout == "BSND" || layout == "BSH" || layout == "SBH",
        fmt::format("input_layout must be BSH, SBH, BSND or BNSD, got \"{}\"", layout));
  for (const Tensor* t : {&q, &k, &v}) {
    check(t->dtype == DType::fp16 || t->dtype == DType::bf16 || t->dtype == DType::fp32,
          "query, key and value must be float16, bfloat16 or float32");
  }
  check(k.dtype == q.dtype && v.dtype == q.dtype, "query, key and value must have the same dtype");
  const auto head_num = paramOr<std::int64_t>(c, "head_num", 0);
  check(head_num > 0, fmt::format("head_num must be positive, got {}", head_num));
  const bool hidden = splitsHidden(layout);
  const std::int64_t query_head_dim =
      hidden && q.rank() == 3 && q.shape[2] % head_num == 0 ? q.shape[2] / head_num : 0;
  check(!hidden || query_head_dim > 0,
        fmt::format("query's hidden size must be a positive multiple of head_num {}", head_num));
  const LayoutView qv = readLayout(q, layout, query_head_dim, "query");
  const LayoutView kv = readLayout(k, layout, qv.head_dim, "key");
  const LayoutView vv = readLayout(v, layout, qv.head_dim, "value");
  check(qv.heads == head_num,
        fmt::format("head_num {} does not match query's {} heads", head_num, qv.heads));
  check(kv.batch == qv.batch && kv.head_dim == qv.head_dim,
        fmt::format("key's shape ({}) does not match query's ({}) in layout {}",
                    fmt::join(k.shape, ", "), fmt::join(q.shape, ", "), layout));
  check(k.shape == v.shape, fmt::format("value's shape ({}) must equal key's ({})",
                                        fmt::join(v.shape, ", "), fmt::join(k.shape, ", ")));
  check(kv.heads > 0 && qv.heads % kv.heads == 0,
        fmt::format("the query's {} heads must be a multiple of the key's {}", qv.heads, kv.heads));

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
                     .v = vv.view};
  const double default_scale = fault == PlantedFault::default_scale_rsqrt
                                   ? 1.0 / std::sqrt(static_cast<double>(qv.head_dim))
                                   : 1.0;
  const double scale = paramOr(c, "scale", default_scale);
  args.scale = static_cast<float>(scale);
  check(qv.head_dim <= kMaxHeadDim,
        fmt::format("head dim {} is larger than {}", qv.head_dim, kMaxHeadDim));
  const auto mode = paramOr<std::int64_t>(c, "sparse_mode", 0);
  check(mode >= 0 && mode <= 8, fmt::format("sparse_mode must be in [0, 8], got {}", mode));
  args.fault = fault;
  Tensor converted_mask;
  if (const Tensor* mask = c.tensor("atten_mask")) {  // without one, no mode masks anything
    check(mask->dtype == DType::boolean, "atten_mask must be bool");
    applySparseMode(c, *mask, mode, args);
    if (mode <= 1) {  // modes 2-4 take the mask as the compressed marker of their own
      const Shape full{args.batch, args.heads, args.seqlen_q, args.seqlen_k};
      check(front_end::maskBroadcasts(mask->shape, full),
            fmt::format("atten_mask of shape ({}) is none of BNSS, B1SS, 11SS, SS for ({})",
                        fmt::join(mask->shape, ", "), fmt::join(full, ", ")));
      args.bias = front_end::maskBias(
          *mask, /*true_keeps=*/fault == PlantedFault::bool_mask_inverted, converted_mask);
    }
  }
  Tensor scores_bias;
  if (const Tensor* pse = c.tensor("pse")) {
    scores_bias = positionBias(*pse, args, fault == PlantedFault::pse_after_scale ? 1.0 : scale);
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
  std::vector<double> lse(static_cast<std::size_t>(args.batch * args.heads * args.seqlen_q));
  std::vector<double> row_max(lse.size()), row_sum(lse.size());
  args.lse = lse.data();
  args.row_max = row_max.data();
  args.row_sum = row_sum.data();
  kernel(args);
  outputs["softmax_max"] = rowStatistic(row_max, args);
  outputs["softmax_sum"] =
      rowStatistic(row_sum, args, fault == PlantedFault::softmax_sum_wrong_row ? 1 : 0);
  return outputs;
}

}  // namespace attnconf::adapters
