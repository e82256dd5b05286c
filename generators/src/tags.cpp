#include <algorithm>
#include <cmath>
#include <span>
#include <string>

#include "attnconf/generators/cases.h"
#include "attnconf/spec/binding.h"
#include "attnconf/spec/rules.h"

namespace attnconf::gen {
namespace {

// Whether some query row within its length sees no key, through the mask primitives, the
// explicit mask or bias, or a key length of 0.
bool hasFullyMaskedRow(const Problem& p) {
  const std::int64_t max_sq = p.maxSeqlenQ(), max_sk = p.maxSeqlenK();
  for (std::int64_t bh = 0; bh < p.batch * p.heads_q; ++bh) {
    const auto b = static_cast<std::size_t>(bh / p.heads_q);
    const std::int64_t sq = p.seqlens_q[b], sk = p.seqlens_k[b];
    const std::vector<MaskPrimitive> masks = p.masksOf(static_cast<std::int64_t>(b));
    for (std::int64_t i = 0; i < sq; ++i) {
      bool hidden = true;
      for (std::int64_t j = 0; j < sk && hidden; ++j) {
        const auto at = static_cast<std::size_t>((bh * max_sq + i) * max_sk + j);
        hidden = !keeps(masks, i, j, sq, sk) || (p.hasBias() && std::isinf(p.bias.values[at]));
      }
      if (hidden) return true;
    }
  }
  return false;
}

// "bool_mask" or "float_mask" for an explicit mask, "bias" for an additive bias input,
// "broadcast_mask" when either has an axis of extent 1 that broadcasts.
void maskTags(const spec::ApiSpec& spec, const Case& c, std::vector<std::string>& tags) {
  const auto dims = spec::observedDims(spec, c);
  for (const auto* name : {&spec.semantics.mask_tensor, &spec.semantics.bias_tensor}) {
    const Tensor* t = name->empty() ? nullptr : c.tensor(*name);
    const spec::TensorDecl* decl = spec.input(*name);
    for (std::size_t a = 0; t && a < t->shape.size(); ++a) {
      const auto& names = decl->shapes.back();  // the full form names every axis
      const auto& dim = names[names.size() - t->shape.size() + a];
      if (t->shape[a] == 1 && dims.at(dim) != 1) {
        tags.emplace_back("broadcast_mask");
        break;
      }
    }
  }
  if (const Tensor* mask =
          spec.semantics.mask_tensor.empty() ? nullptr : c.tensor(spec.semantics.mask_tensor)) {
    tags.emplace_back(mask->dtype == DType::boolean ? "bool_mask" : "float_mask");
  }
  if (!spec.semantics.bias_tensor.empty() && c.tensor(spec.semantics.bias_tensor))
    tags.emplace_back("bias");
  // Ascend's mode, where it masks anything (with the mask passed); "compressed_mask" with it.
  const spec::SparseMode* mode = spec::sparseModeOf(spec, c);
  if (mode && c.tensor(spec.semantics.mask_tensor)) {
    tags.push_back("sparse_mode_" + std::to_string(mode->value));
    if (!mode->takesMaskAsGiven()) tags.emplace_back("compressed_mask");
  }
}

// "appends_kv" when new keys are written into a KV cache, "cache_batch_idx" when entries pick
// their cache rows, "cache_leftpad" when some entry's keys start past its row's start,
// "full_cache" when an entry's keys fill its row to the end, "crosses_pages" when an entry's
// keys span pages; "rotary" with rotary embedding, "rotary_partial_head" when it turns only some
// channels, "rotary_queries_at_cache_end" when every query sits at the entry's
// cached length (neither causal nor local).
void kvCacheTags(const spec::ApiSpec& spec, const Case& c, const Problem& p,
                 std::vector<std::string>& tags) {
  const spec::Semantics& s = spec.semantics;
  if (!s.hasKvCache()) return;
  if (!s.append_key.empty() && c.tensor(s.append_key)) tags.emplace_back("appends_kv");
  if (!s.cache_batch_index.empty() && c.tensor(s.cache_batch_index))
    tags.emplace_back("cache_batch_idx");
  const Tensor* leftpad = s.cache_leftpad.empty() ? nullptr : c.tensor(s.cache_leftpad);
  if (leftpad && std::ranges::any_of(leftpad->values, [](double first) { return first > 0; }))
    tags.emplace_back("cache_leftpad");
  if (c.tensor(s.cache_seqlens) &&
      std::ranges::any_of(p.seqlens_k, [&](std::int64_t n) { return n == p.maxSeqlenK(); }))
    tags.emplace_back("full_cache");
  const Tensor* table = s.cache_block_table.empty() ? nullptr : c.tensor(s.cache_block_table);
  if (table && table->shape[1] > 0) {
    // Each entry's keys are its pages end to end.
    const std::int64_t page_size = p.k.shape[2] / table->shape[1];
    const auto spans_pages = [&](std::int64_t keys) { return keys > page_size; };
    const bool whole_cache = p.seqlens_k.empty();
    if (whole_cache ? spans_pages(p.maxSeqlenK()) : std::ranges::any_of(p.seqlens_k, spans_pages))
      tags.emplace_back("crosses_pages");
  }
  if (const Tensor* cos = s.hasRotary() ? c.tensor(s.rotary_cos) : nullptr) {
    tags.emplace_back("rotary");
    if (cos->shape[1] * 2 < p.head_dim) tags.emplace_back("rotary_partial_head");
    if (!spec::rotatesEachQuery(spec, c)) tags.emplace_back("rotary_queries_at_cache_end");
  }
}

// "padding" when some sequences are padding, "opens_block" when a query's new token starts a
// cache block, "last_block" when it lands in the table's last column, "empty_sequence" for a
// query sequence that held no token.
std::vector<std::string> decodeStepTags(const spec::ApiSpec& spec, const Case& c) {
  const DecodeStep step = spec::bindDecodeStep(spec, c);
  std::vector<std::string> tags;
  if (step.before.seq_lens.size() > 1) tags.emplace_back("batch>1");
  if (step.sampled.size() < step.before.seq_lens.size()) tags.emplace_back("padding");
  const auto queries = std::span(step.before.seq_lens).first(step.sampled.size());
  const auto blocks = static_cast<std::int64_t>(step.block_table.front().size());
  if (std::ranges::any_of(queries, [&](std::int64_t n) { return n % step.block_size == 0; }))
    tags.emplace_back("opens_block");
  if (std::ranges::any_of(queries,
                          [&](std::int64_t n) { return n / step.block_size == blocks - 1; }))
    tags.emplace_back("last_block");
  if (std::ranges::any_of(queries, [](std::int64_t n) { return n == 0; }))
    tags.emplace_back("empty_sequence");
  return tags;
}

}  // namespace

std::vector<std::string> caseTags(const spec::ApiSpec& spec, const Case& c) {
  if (spec.semantics.isDecodeStep()) return decodeStepTags(spec, c);
  const Problem p = spec::bindProblem(spec, c);
  const std::int64_t sq = p.maxSeqlenQ(), sk = p.maxSeqlenK();
  std::vector<std::string> tags{std::string(dtypeName(p.dtype))};
  if (sq != sk) tags.emplace_back(sq > sk ? "Sq>Sk" : "Sq<Sk");
  if (sq == 1 || sk == 1) tags.emplace_back("len1");
  if (p.batch > 1) tags.emplace_back("batch>1");
  const auto offTile = [](std::int64_t n) { return n > 16 && n % 16 != 0; };
  if (offTile(sq) || offTile(sk)) tags.emplace_back("off_tile_len");
  for (const auto& mask : p.masks)
    tags.emplace_back(std::holds_alternative<CausalMask>(mask) ? "causal" : "window");
  if (!p.entry_masks.empty()) tags.emplace_back("mask_per_entry");
  if (p.softcap > 0) tags.emplace_back("softcap");
  if (!p.alibi_slopes.empty()) tags.emplace_back("alibi");
  if (p.heads_kv == 1 && p.heads_q > 1)
    tags.emplace_back("mqa");
  else if (p.heads_kv != p.heads_q)
    tags.emplace_back("gqa");
  const auto shorter = [](const auto& lengths, std::int64_t max) {
    return std::ranges::any_of(lengths, [&](std::int64_t n) { return n < max; });
  };
  if (shorter(p.seqlens_q, sq) || shorter(p.seqlens_k, sk)) tags.emplace_back("padded_lengths");
  const auto empty = [](std::int64_t n) { return n == 0; };
  if (std::ranges::any_of(p.seqlens_q, empty) || std::ranges::any_of(p.seqlens_k, empty))
    tags.emplace_back("empty_sequence");
  maskTags(spec, c, tags);
  if (hasFullyMaskedRow(p)) tags.emplace_back("fully_masked_rows");
  if (!spec.semantics.past_key.empty() && c.tensor(spec.semantics.past_key))
    tags.emplace_back("past_kv");
  kvCacheTags(spec, c, p, tags);
  const auto big = std::ranges::any_of(p.q.values, [](double x) { return std::abs(x) > 2; });
  if (big) tags.emplace_back("large_magnitude");
  return tags;
}

}  // namespace attnconf::gen

namespace attnconf {

void showValue(const Case& c, std::ostream& os) {
  os << describeCase(c);
}

}  // namespace attnconf
