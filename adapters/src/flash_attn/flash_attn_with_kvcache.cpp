#include "flash_attn/flash_attn_with_kvcache.h"

#include <algorithm>
#include <limits>
#include <numeric>

#include "flash_attn/fa3.h"
#include "flash_attn/mha_checks.h"
#include "flash_attn/rotary.h"
#include "flash_attn/split_kv.h"

namespace attnconf::adapters {
namespace {

using front_end::check;
using front_end::Layout;
using front_end::pageOf;
using front_end::required;

// How a version's messages name the new keys and values: the clause that opens their checks,
// the value in it, and each in the dtype and the shape checks.
struct NewKvNames {
  std::string_view supplied, value_also, key_dtype, value_dtype, key_shape, value_shape;
};

// What 2.x (mha_fwd_kvcache) and 3 (hopper's mha_fwd) do differently with the same call: the
// checks of the query, the caches and the version's own arguments, and the names in messages.
struct Dialect {
  void (*check_call)(const Case& c, const Tensor& q, const Tensor& k_cache, PlantedFault fault);
  NewKvNames new_kv;
  std::string_view seqlens, batch_index;  // cache_seqlens and cache_batch_idx
  std::string_view v_cache_shape;         // the message of a v_cache unlike k_cache
};

// The new keys and values, checked as the dialect's version checks them.
void checkAppended(const Case& c, const Tensor& q, std::int64_t seqlen_cache,
                   const Shape& cache_shape, const NewKvNames& n) {
  const Tensor* k = c.tensor("k");
  const Tensor* v = c.tensor("v");
  check(k || !v, "attnconf: v is given without k; key and value must be passed in together");
  if (!k) return;
  check(v != nullptr, fmt::format("{}, {} must also be passed in", n.supplied, n.value_also));
  check(c.tensor("cache_seqlens") != nullptr,
        fmt::format("{}, seqlens_k must also be passed in", n.supplied));
  check(q.shape[1] <= seqlen_cache,
        fmt::format("{}, it must have seqlen <= the seqlen of the KV cache", n.supplied));
  check(k->dtype == q.dtype, fmt::format("{} must have the same dtype as query", n.key_dtype));
  check(v->dtype == q.dtype, fmt::format("{} must have the same dtype as query", n.value_dtype));
  const bool rank4 = k->rank() == 4;
  const Shape expected = {q.shape[0], rank4 ? k->shape[1] : 0, cache_shape[2], cache_shape[3]};
  for (const auto& [name, t] : {std::pair{n.key_shape, k}, std::pair{n.value_shape, v}}) {
    check(t->shape == expected,
          fmt::format("{} must have shape (batch_size, seqlen_knew, num_heads_k, head_size_og)",
                      name));
  }
}

// The per-entry integer inputs, checked as mha_fwd_kvcache checks cache_seqlens and
// cache_batch_idx (and, beyond it, cache_batch_idx's documented shape).
std::vector<std::int64_t> perEntry(const Tensor& t, std::string_view name, std::int64_t batch) {
  check(t.dtype == DType::int32, fmt::format("{} must have dtype int32", name));
  check(t.shape == Shape{batch}, fmt::format("{} must have shape (batch_size)", name));
  return integers(t);
}

// Where the keys of each batch entry are: entry b's position p is position `slot(b, p).second`
// of cache row (or page) `slot(b, p).first`.
struct CacheSlots {
  std::vector<std::int64_t> rows;                // contiguous: the row entry b reads
  std::vector<std::vector<std::int64_t>> pages;  // paged: entry b's pages, in order
  std::int64_t page_size = 0, page_count = 0;
  bool pages_consecutive = false;  // planted fault: page n of an entry is its first page + n

  std::pair<std::int64_t, std::int64_t> slot(std::size_t b, std::int64_t p) const {
    if (pages.empty()) return {rows[b], p};
    return {pageOf(pages[b], p / page_size, page_count, pages_consecutive), p % page_size};
  }
};

// The paged cache's table, checked as mha_fwd_kvcache checks it (and, beyond it, its entries).
CacheSlots pagedSlots(const Case& c, const Tensor& table, std::int64_t batch,
                      const Shape& cache_shape) {
  check(c.tensor("cache_batch_idx") == nullptr, "Paged KVcache does not support cache_batch_idx");
  check(table.dtype == DType::int32, "block_table must have dtype torch.int32");
  check(cache_shape[1] % 256 == 0, "Paged KV cache block size must be divisible by 256");
  check(table.rank() == 2 && table.shape[0] == batch,
        "block_table must have shape (batch_size, max_num_blocks_per_seq)");
  const auto entries = integers(table);
  // mha_fwd_kvcache trusts the table (a missing page is read and written out of bounds).
  check(std::ranges::all_of(entries, [&](std::int64_t e) { return e >= 0 && e < cache_shape[0]; }),
        "attnconf: block_table entries must lie in [0, num_blocks)");
  CacheSlots slots;
  slots.page_size = cache_shape[1];
  slots.page_count = cache_shape[0];
  for (std::int64_t b = 0; b < batch; ++b) {
    const auto first = entries.begin() + b * table.shape[1];
    slots.pages.emplace_back(first, first + table.shape[1]);
  }
  return slots;
}

// Copies the new rows of batch entry b into its cache positions from `start` on.
void append(const Tensor& fresh, std::int64_t b, Tensor& cache, const CacheSlots& slots,
            std::int64_t start) {
  const std::int64_t position = fresh.shape[2] * fresh.shape[3];
  for (std::int64_t i = 0; i < fresh.shape[1]; ++i) {
    const auto [row, at] = slots.slot(static_cast<std::size_t>(b), start + i);
    std::copy_n(fresh.values.begin() + (b * fresh.shape[1] + i) * position, position,
                cache.values.begin() + (row * cache.shape[1] + at) * position);
  }
}

// Batch entry b's keys (or values) end to end from position `first` on, (1, length, heads_k,
// headdim), read through the slots: a copy for a paged cache, the row itself for a contiguous one.
SeqView entryView(const Tensor& cache, const CacheSlots& slots, std::int64_t b, std::int64_t first,
                  std::int64_t length, Tensor& gathered) {
  if (slots.pages.empty()) {
    SeqView row = front_end::batchEntry(front_end::view(cache, Layout::bshd), slots.rows.at(b));
    row.data += first * row.seq_stride;
    return row;
  }
  const std::int64_t position = cache.shape[2] * cache.shape[3];
  gathered = Tensor::zeros(cache.dtype, {1, length, cache.shape[2], cache.shape[3]});
  for (std::int64_t p = 0; p < length; ++p) {
    const auto [row, at] = slots.slot(static_cast<std::size_t>(b), first + p);
    std::copy_n(cache.values.begin() + (row * cache.shape[1] + at) * position, position,
                gathered.values.begin() + p * position);
  }
  return front_end::view(gathered, Layout::bshd);
}

// The 2.x checks of the query and the caches (mha_fwd_kvcache).
void checkV2(const Case& c, const Tensor& q, const Tensor& k_cache, PlantedFault fault) {
  flash_attn::checkDTypes(q, k_cache, required(c, "v_cache"));
  check(q.shape[0] > 0, "batch size must be positive");
  flash_attn::checkHeads(q.shape[2], k_cache.shape[2], q.shape[3], fault,
                         flash_attn::HeadDimPadding::padded);
}

constexpr Dialect kV2{&checkV2,
                      {"If key is supplied", "value", "Key", "Value", "k", "v"},
                      "seqlens_k",
                      "cache_batch_idx",
                      "vcache must have shape (batch_size_c, seqlen_k, num_heads_k, head_size_og)"};
constexpr Dialect kV3{&flash_attn::checkV3KvcacheCall,
                      {"If k_new is supplied", "v_new", "k_new", "v_new", "k_new", "v_new"},
                      "seqused_k",
                      "kv_batch_idx",
                      "v must have shape (batch_size_k, seqlen_k, num_heads_k, head_size_v)"};

std::map<std::string, Tensor> kvcacheCall(const Case& c, PlantedFault fault,
                                          const ForwardKernel& kernel,
                                          const BackwardKernel* backward, const Dialect& dialect) {
  check(backward == nullptr, "flash_attn_with_kvcache does not support backward pass");
  const Tensor& q = required(c, "q");
  const Tensor& k_cache = required(c, "k_cache");
  const Tensor& v_cache = required(c, "v_cache");
  check(q.rank() == 4, "q must have shape (batch_size, seqlen_q, num_heads, head_size_og)");
  check(k_cache.rank() == 4,
        "kcache must have shape (batch_size_c, seqlen_k, num_heads_k, head_size_og)");
  dialect.check_call(c, q, k_cache, fault);
  const std::int64_t batch = q.shape[0], seqlen_q = q.shape[1], heads = q.shape[2];
  const std::int64_t head_dim = q.shape[3], heads_k = k_cache.shape[2];
  const Tensor* table = c.tensor("block_table");
  CacheSlots slots = table ? pagedSlots(c, *table, batch, k_cache.shape) : CacheSlots{};
  slots.pages_consecutive = fault == PlantedFault::pages_assumed_consecutive;
  const std::int64_t seqlen_cache = table ? table->shape[1] * k_cache.shape[1] : k_cache.shape[1];
  check(v_cache.shape == k_cache.shape && k_cache.shape[3] == head_dim,
        std::string(dialect.v_cache_shape));
  checkAppended(c, q, seqlen_cache, k_cache.shape, dialect.new_kv);
  const Tensor* k = c.tensor("k");
  const std::int64_t seqlen_new = k ? k->shape[1] : 0;
  const Tensor* seqlens_given = c.tensor("cache_seqlens");
  const auto seqlens = seqlens_given
                           ? perEntry(*seqlens_given, dialect.seqlens, batch)
                           : std::vector<std::int64_t>(static_cast<std::size_t>(batch), 0);
  if (!table) {
    slots.rows.resize(static_cast<std::size_t>(batch));
    std::iota(slots.rows.begin(), slots.rows.end(), 0);
    if (const Tensor* index = c.tensor("cache_batch_idx"))
      slots.rows = perEntry(*index, dialect.batch_index, batch);
  }
  const Tensor* leftpad_given = c.tensor("cache_leftpad");
  check(!leftpad_given || !table,
        "We don't support Paged KV and leftpad_k running at the same time yet");
  auto firsts = leftpad_given ? perEntry(*leftpad_given, "leftpad_k", batch)
                              : std::vector<std::int64_t>(static_cast<std::size_t>(batch), 0);
  for (std::size_t at = 0; at < seqlens.size(); ++at) {
    // mha_fwd_kvcache trusts these (it would read or write past the cache); attnconf refuses.
    check(table || (slots.rows[at] >= 0 && slots.rows[at] < k_cache.shape[0]),
          "attnconf: cache_batch_idx entries must lie in [0, batch_size_cache)");
    check(seqlens[at] >= 0 && seqlens[at] + seqlen_new <= seqlen_cache,
          "attnconf: cache_seqlens + seqlen_new must fit in the cache");
    check(firsts[at] >= 0 && firsts[at] <= (seqlens_given ? seqlens[at] : seqlen_cache),
          "attnconf: cache_leftpad entries must lie in [0, cache_seqlens]");
  }
  if (fault == PlantedFault::cache_leftpad_ignored) std::ranges::fill(firsts, 0);

  // An fp8 call runs in bf16, the dtype of its output, on the inputs its descale factors give.
  const DType out_dtype = flash_attn::outputDType(q.dtype);
  AttentionArgs args{.dtype = out_dtype,
                     .batch = 1,
                     .seqlen_q = seqlen_q,
                     .heads = heads,
                     .heads_k = heads % heads_k == 0 ? heads_k : 1,
                     .head_dim = head_dim,
                     .head_dim_v = head_dim};
  flash_attn::decodeParams(c, fault, batch, args);
  // The new keys rotated at their cache positions, the queries there too when causal or local
  // (a window side past the cache does not count), else all at cache_seqlens.
  const auto rotary = flash_attn::rotaryTables(c, q, seqlen_cache);
  Tensor rotated_q, rotated_k;
  if (rotary) {
    const auto side = [&](std::int64_t w) { return w >= 0 && w < seqlen_cache; };
    const bool per_query = fault != PlantedFault::rotary_query_at_cache_start &&
                           (args.causal || side(args.window_left) || side(args.window_right));
    // Positions in the row, counted from its start whatever cache_leftpad leaves out.
    const auto cached = [&](std::int64_t b) {
      const auto at = static_cast<std::size_t>(b);
      return seqlens[at] - (fault == PlantedFault::rotary_from_leftpad ? firsts[at] : 0);
    };
    rotated_k = flash_attn::rotated(*k, *rotary,
                                    [&](std::int64_t b, std::int64_t i) { return cached(b) + i; });
    rotated_q = flash_attn::rotated(q, *rotary, [&](std::int64_t b, std::int64_t i) {
      return cached(b) + (per_query ? i : 0);
    });
  }
  const Tensor& query = rotary ? rotated_q : q;
  const Tensor* new_keys = rotary ? &rotated_k : k;
  const std::vector<float> slopes = args.alibi_slopes;  // batch * heads; one row per call
  std::map<std::string, Tensor> outputs{{"k_cache", k_cache}, {"v_cache", v_cache}};
  Tensor& keys = outputs.at("k_cache");
  Tensor& values = outputs.at("v_cache");
  Tensor& out = outputs["out"] = Tensor::zeros(out_dtype, q.shape);
  // A batch entry that sees no key keeps output 0 and LSE +inf (the split kernel's combine).
  Tensor lse = Tensor::zeros(DType::fp32, {batch, heads, seqlen_q});
  std::ranges::fill(lse.values, std::numeric_limits<double>::infinity());
  Tensor entry_keys, entry_values;  // a paged entry's keys and values, gathered
  // 0 lets flash-attn's heuristic choose; the in-tree kernel then runs unsplit.
  const std::int64_t splits = front_end::paramOr(c, "num_splits", std::int64_t{0});
  for (std::int64_t b = 0; b < batch; ++b) {
    const auto at = static_cast<std::size_t>(b);
    if (k) {
      append(*new_keys, b, keys, slots, seqlens[at]);
      append(required(c, "v"), b, values, slots, seqlens[at]);
    }
    const bool decode_fault = fault == PlantedFault::decode_drops_new_keys && seqlen_q == 1;
    const std::int64_t end = fault == PlantedFault::cache_seqlens_ignored || !seqlens_given
                                 ? seqlen_cache
                                 : seqlens[at] + (decode_fault ? 0 : seqlen_new);
    const std::int64_t seqlen_k = end - firsts[at];  // keys before cache_leftpad take no part
    if (seqlen_k == 0) continue;
    args.seqlen_k = seqlen_k;
    args.q = front_end::batchEntry(front_end::view(query, Layout::bshd), b);
    args.k = entryView(keys, slots, b, firsts[at], seqlen_k, entry_keys);
    args.v = entryView(values, slots, b, firsts[at], seqlen_k, entry_values);
    const flash_attn::Dequantized dequantized(c, b, args, fault);
    args.out = front_end::batchEntry(front_end::writable(out, Layout::bshd), b);
    args.lse = lse.values.data() + b * heads * seqlen_q;
    // Bottom-right by each entry's own key count: the new queries are the last positions.
    args.window_offset = args.alibi_offset = seqlen_k - seqlen_q;
    args.causal_offset = fault == PlantedFault::causal_top_left ? 0 : seqlen_k - seqlen_q;
    if (!slopes.empty())
      args.alibi_slopes.assign(slopes.begin() + b * heads, slopes.begin() + (b + 1) * heads);
    flash_attn::splitKvForward(args, splits, kernel, fault);
  }
  if (front_end::paramOr(c, "return_softmax_lse", false)) outputs["softmax_lse"] = std::move(lse);
  if (fault == PlantedFault::append_to_batch_row && k && !table) {  // attention was right
    keys = k_cache;
    values = v_cache;
    std::iota(slots.rows.begin(), slots.rows.end(), 0);
    for (std::int64_t b = 0; b < batch; ++b) {
      append(*new_keys, b, keys, slots, seqlens[static_cast<std::size_t>(b)]);
      append(required(c, "v"), b, values, slots, seqlens[static_cast<std::size_t>(b)]);
    }
  }
  return outputs;
}

}  // namespace

std::map<std::string, Tensor> flashAttnWithKvcache(const Case& c, PlantedFault fault,
                                                   const ForwardKernel& kernel,
                                                   const BackwardKernel* backward) {
  return kvcacheCall(c, fault, kernel, backward, kV2);
}

std::map<std::string, Tensor> flashAttn3WithKvcache(const Case& c, PlantedFault fault,
                                                    const ForwardKernel& kernel,
                                                    const BackwardKernel* backward) {
  return kvcacheCall(c, fault, kernel, backward, kV3);
}

}  // namespace attnconf::adapters
