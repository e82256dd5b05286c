#include "npu/layouts.h"

#include <algorithm>

namespace attnconf::adapters::npu {

using front_end::check;

bool splitsHidden(const std::string& layout) {
  return layout == "BSH" || layout == "SBH";
}

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

Operands readOperands(const std::string& layout, const Tensor& q, const Tensor& k, const Tensor& v,
                      std::int64_t heads, std::string_view heads_param) {
  check(heads > 0, fmt::format("{} must be positive, got {}", heads_param, heads));
  const std::int64_t head_dim =
      splitsHidden(layout) && q.rank() == 3 && q.shape[2] % heads == 0 ? q.shape[2] / heads : 0;
  check(
      !splitsHidden(layout) || head_dim > 0,
      fmt::format("query's hidden size must be a positive multiple of {} {}", heads_param, heads));
  Operands o{readLayout(q, layout, head_dim, "query"), {}, {}};
  o.k = readLayout(k, layout, o.q.head_dim, "key");
  o.v = readLayout(v, layout, o.q.head_dim, "value");
  check(o.q.heads == heads,
        fmt::format("{} {} does not match query's {} heads", heads_param, heads, o.q.heads));
  check(o.k.batch == o.q.batch && o.k.head_dim == o.q.head_dim,
        fmt::format("key's shape ({}) does not match query's ({}) in layout {}",
                    fmt::join(k.shape, ", "), fmt::join(q.shape, ", "), layout));
  checkSameShape(k, v);
  checkHeads(o.q.heads, o.k.heads);
  return o;
}

bool templatedHeadDim(std::int64_t head_dim) {
  return head_dim == 64 || head_dim == 128;
}

void checkSameShape(const Tensor& key, const Tensor& value) {
  check(value.shape == key.shape,
        fmt::format("value's shape ({}) must equal key's ({})", fmt::join(value.shape, ", "),
                    fmt::join(key.shape, ", ")));
}

void applySparseMode(std::int64_t mode, Band band, AttentionArgs& args) {
  const std::int64_t bottom_right = args.seqlen_k - args.seqlen_q;
  args.causal = args.band = false;  // a packed call's previous sequence may have set either
  if (mode == 2 || mode == 3 || mode == 5 || mode == 6) {  // 5, 6: prefixes widen it
    args.causal = true;
    const bool top_left =
        mode == 2 || (mode == 3 && args.fault == PlantedFault::sparse_mode3_top_left);
    args.causal_offset = top_left ? 0 : bottom_right;
  }
  if (mode == 0 || mode == 4) {
    args.band = true;
    args.band_pre = band.pre;
    args.band_next = band.next;
    args.band_offset = mode == 4 ? bottom_right : 0;
  }
}

std::int64_t splitSequenceMode(std::int64_t mode, std::span<const std::int64_t> seqlens_q,
                               std::size_t b, PlantedFault fault) {
  const bool last = (mode == 7) != (fault == PlantedFault::split_band_at_wrong_end);
  const auto has_queries = [](std::int64_t n) { return n > 0; };
  const auto first_at = std::ranges::find_if(seqlens_q, has_queries);
  const auto last_at = std::ranges::find_if(seqlens_q.rbegin(), seqlens_q.rend(), has_queries);
  if (first_at == seqlens_q.end()) return mode == 7 ? 3 : 2;
  const auto banded = last ? static_cast<std::size_t>(seqlens_q.rend() - last_at) - 1
                           : static_cast<std::size_t>(first_at - seqlens_q.begin());
  return b == banded ? 4 : (mode == 7 ? 3 : 2);
}

void checkHeads(std::int64_t heads, std::int64_t heads_k) {
  check(heads_k > 0 && heads % heads_k == 0,
        fmt::format("the query's {} heads must be a multiple of the key's {}", heads, heads_k));
}

const Tensor* attenMask(const Case& c, std::int64_t mode, const Shape& full, PlantedFault fault,
                        AttentionArgs& args, Tensor& converted) {
  const Tensor* mask = c.tensor("atten_mask");
  if (!mask) return nullptr;
  check(mask->dtype == DType::boolean, "atten_mask must be bool");
  const bool compressed = mode >= 2 && mode != 5;
  if (compressed) {
    const Shape expected{mode == 6 ? kCompressedPrefixMaskRows : kCompressedMaskSide,
                         kCompressedMaskSide};
    check(mask->shape == expected,
          fmt::format("sparse_mode {} needs the compressed atten_mask of shape ({}), got ({})",
                      mode, fmt::join(expected, ", "), fmt::join(mask->shape, ", ")));
    return mask;
  }
  if (mode == 5) {  // each entry's own prefix mask, written out
    const bool per_entry = mask->rank() == 4 && mask->shape[0] == full[0] &&
                           (mask->shape[1] == 1 || mask->shape[1] == full[1]) &&
                           mask->shape[2] == full[2] && mask->shape[3] == full[3];
    check(per_entry, fmt::format("sparse_mode 5 needs atten_mask of shape BNSS or B1SS for ({}), "
                                 "got ({})",
                                 fmt::join(full, ", "), fmt::join(mask->shape, ", ")));
  }
  check(front_end::maskBroadcasts(mask->shape, full),
        fmt::format("atten_mask of shape ({}) is none of BNSS, B1SS, 11SS, SS for ({})",
                    fmt::join(mask->shape, ", "), fmt::join(full, ", ")));
  args.bias = front_end::maskBias(*mask, /*true_keeps=*/fault == PlantedFault::bool_mask_inverted,
                                  converted);
  return mask;
}

std::vector<std::int64_t> prefixes(const Case& c, std::int64_t mode, std::int64_t batch,
                                   PlantedFault fault) {
  if (mode != 5 && mode != 6) return {};
  const Tensor* prefix = c.tensor("prefix");
  check(prefix && prefix->dtype == DType::int64 && prefix->rank() == 1 && prefix->shape[0] == batch,
        fmt::format("sparse_mode {} needs prefix, one int64 per batch entry ({})", mode, batch));
  std::vector<std::int64_t> shown = integers(*prefix);
  if (fault == PlantedFault::prefix_ignored) std::ranges::fill(shown, 0);
  return shown;
}

std::vector<float> sinks(const Case& c, std::int64_t heads) {
  const Tensor* sink = c.tensor("sink");
  if (!sink) return {};
  // The aclnn front end's words (InputDtypeCheck).
  check(sink->dtype == DType::fp32,
        fmt::format("The data type of sink is [{}], should be fp32.", dtypeName(sink->dtype)));
  check(sink->rank() == 1 && sink->shape[0] == heads,
        fmt::format("sink of shape ({}) is not (N1) = ({})", fmt::join(sink->shape, ", "), heads));
  return {sink->values.begin(), sink->values.end()};
}

}  // namespace attnconf::adapters::npu
