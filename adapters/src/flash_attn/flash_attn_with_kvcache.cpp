#include "flash_attn/flash_attn_with_kvcache.h"

#include <algorithm>
#include <limits>
#include <numeric>

#include "flash_attn/mha_checks.h"

namespace attnconf::adapters {
namespace {

using front_end::check;
using front_end::integers;
using front_end::Layout;
using front_end::required;

// The new keys and values, checked as mha_fwd_kvcache checks them.
void checkAppended(const Case& c, const Tensor& q, std::int64_t seqlen_cache,
                   const Shape& cache_shape) {
  const Tensor* k = c.tensor("k");
  const Tensor* v = c.tensor("v");
  check(k || !v, "attnconf: v is given without k; key and value must be passed in together");
  if (!k) return;
  check(v != nullptr, "If key is supplied, value must also be passed in");
  check(c.tensor("cache_seqlens") != nullptr,
        "If key is supplied, seqlens_k must also be passed in");
  check(q.shape[1] <= seqlen_cache,
        "If key is supplied, it must have seqlen <= the seqlen of the KV cache");
  check(k->dtype == q.dtype, "Key must have the same dtype as query");
  check(v->dtype == q.dtype, "Value must have the same dtype as query");
  const bool rank4 = k->rank() == 4;
  const Shape expected = {q.shape[0], rank4 ? k->shape[1] : 0, cache_shape[2], cache_shape[3]};
  check(k->shape == expected,
        "k must have shape (batch_size, seqlen_knew, num_heads_k, head_size_og)");
  check(v->shape == expected,
        "v must have shape (batch_size, seqlen_knew, num_heads_k, head_size_og)");
}

// The per-entry integer inputs, checked as mha_fwd_kvcache checks cache_seqlens and
// cache_batch_idx (and, beyond it, cache_batch_idx's documented shape).
std::vector<std::int64_t> perEntry(const Tensor& t, const char* name, std::int64_t batch) {
  check(t.dtype == DType::int32, fmt::format("{} must have dtype int32", name));
  check(t.shape == Shape{batch}, fmt::format("{} must have shape (batch_size)", name));
  return integers(t);
}

// Copies the new rows of one batch entry into its cache row at `start`.
void append(const Tensor& fresh, std::int64_t b, Tensor& cache, std::int64_t row,
            std::int64_t start) {
  const std::int64_t count = fresh.shape[1] * fresh.shape[2] * fresh.shape[3];
  const std::int64_t position = cache.shape[2] * cache.shape[3];
  std::copy_n(fresh.values.begin() + b * count, count,
              cache.values.begin() + (row * cache.shape[1] + start) * position);
}

}  // namespace

std::map<std::string, Tensor> flashAttnWithKvcache(const Case& c, PlantedFault fault,
                                                   const ForwardKernel& kernel,
                                                   const BackwardKernel* backward) {
  check(backward == nullptr, "flash_attn_with_kvcache does not support backward pass");
  const Tensor& q = required(c, "q");
  const Tensor& k_cache = required(c, "k_cache");
  const Tensor& v_cache = required(c, "v_cache");
  flash_attn::checkDTypes(q, k_cache, v_cache);
  check(q.rank() == 4, "q must have shape (batch_size, seqlen_q, num_heads, head_size_og)");
  check(k_cache.rank() == 4,
        "kcache must have shape (batch_size_c, seqlen_k, num_heads_k, head_size_og)");
  const std::int64_t batch = q.shape[0], seqlen_q = q.shape[1], heads = q.shape[2];
  const std::int64_t head_dim = q.shape[3], batch_cache = k_cache.shape[0];
  const std::int64_t seqlen_cache = k_cache.shape[1], heads_k = k_cache.shape[2];
  check(batch > 0, "batch size must be positive");
  flash_attn::checkHeads(heads, heads_k, head_dim, fault, flash_attn::HeadDimPadding::padded);
  check(v_cache.shape == k_cache.shape && k_cache.shape[3] == head_dim,
        "vcache must have shape (batch_size_c, seqlen_k, num_heads_k, head_size_og)");
  checkAppended(c, q, seqlen_cache, k_cache.shape);
  const Tensor* k = c.tensor("k");
  const std::int64_t seqlen_new = k ? k->shape[1] : 0;
  const Tensor* seqlens_given = c.tensor("cache_seqlens");
  const auto seqlens = seqlens_given
                           ? perEntry(*seqlens_given, "seqlens_k", batch)
                           : std::vector<std::int64_t>(static_cast<std::size_t>(batch), 0);
  std::vector<std::int64_t> rows(static_cast<std::size_t>(batch));
  std::iota(rows.begin(), rows.end(), 0);
  if (const Tensor* index = c.tensor("cache_batch_idx"))
    rows = perEntry(*index, "cache_batch_idx", batch);
  for (std::size_t at = 0; at < rows.size(); ++at) {
    // mha_fwd_kvcache trusts these (it would read or write past the cache); attnconf refuses.
    check(rows[at] >= 0 && rows[at] < batch_cache,
          "attnconf: cache_batch_idx entries must lie in [0, batch_size_cache)");
    check(seqlens[at] >= 0 && seqlens[at] + seqlen_new <= seqlen_cache,
          "attnconf: cache_seqlens + seqlen_new must fit in the cache");
  }

  AttentionArgs args{.dtype = q.dtype,
                     .batch = 1,
                     .seqlen_q = seqlen_q,
                     .heads = heads,
                     .heads_k = heads % heads_k == 0 ? heads_k : 1,
                     .head_dim = head_dim,
                     .head_dim_v = head_dim};
  flash_attn::decodeParams(c, fault, batch, args);
  const std::vector<float> slopes = args.alibi_slopes;  // batch * heads; one row per call
  std::map<std::string, Tensor> outputs{{"k_cache", k_cache}, {"v_cache", v_cache}};
  Tensor& keys = outputs.at("k_cache");
  Tensor& values = outputs.at("v_cache");
  Tensor& out = outputs["out"] = Tensor::zeros(q.dtype, q.shape);
  // A batch entry that sees no key keeps output 0 and LSE +inf (the split kernel's combine).
  Tensor lse = Tensor::zeros(DType::fp32, {batch, heads, seqlen_q});
  std::ranges::fill(lse.values, std::numeric_limits<double>::infinity());
  for (std::int64_t b = 0; b < batch; ++b) {
    const auto at = static_cast<std::size_t>(b);
    if (k) {
      append(*k, b, keys, rows[at], seqlens[at]);
      append(required(c, "v"), b, values, rows[at], seqlens[at]);
    }
    const std::int64_t seqlen_k = fault == PlantedFault::cache_seqlens_ignored || !seqlens_given
                                      ? seqlen_cache
                                      : seqlens[at] + seqlen_new;
    if (seqlen_k == 0) continue;
    args.seqlen_k = seqlen_k;
    args.q = front_end::batchEntry(front_end::view(q, Layout::bshd), b);
    args.k = front_end::batchEntry(front_end::view(keys, Layout::bshd), rows[at]);
    args.v = front_end::batchEntry(front_end::view(values, Layout::bshd), rows[at]);
    args.out = front_end::batchEntry(front_end::writable(out, Layout::bshd), b);
    args.lse = lse.values.data() + b * heads * seqlen_q;
    // Bottom-right by each entry's own key count: the new queries are the last positions.
    args.window_offset = args.alibi_offset = seqlen_k - seqlen_q;
    args.causal_offset = fault == PlantedFault::causal_top_left ? 0 : seqlen_k - seqlen_q;
    if (!slopes.empty())
      args.alibi_slopes.assign(slopes.begin() + b * heads, slopes.begin() + (b + 1) * heads);
    kernel(args);
  }
  if (front_end::paramOr(c, "return_softmax_lse", false)) outputs["softmax_lse"] = std::move(lse);
  if (fault == PlantedFault::append_to_batch_row && k) {  // attention was right; the cache is not
    keys = k_cache;
    values = v_cache;
    for (std::int64_t b = 0; b < batch; ++b) {
      append(*k, b, keys, b, seqlens[static_cast<std::size_t>(b)]);
      append(required(c, "v"), b, values, b, seqlens[static_cast<std::size_t>(b)]);
    }
  }
  return outputs;
}

}  // namespace attnconf::adapters
