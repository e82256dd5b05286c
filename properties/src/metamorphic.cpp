#include "attnconf/properties/metamorphic.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <limits>
#include <numeric>
#include <utility>

#include "attnconf/model/mask.h"
#include "attnconf/properties/accuracy.h"
#include "attnconf/properties/report.h"
#include "attnconf/properties/runner.h"
#include "attnconf/spec/binding.h"
#include "attnconf/spec/rules.h"

namespace attnconf::props {
namespace {

using spec::Relation;

// Applies `op` to every input that has `dim`, and sets the case's extent of `dim`. An axis an
// input broadcasts (extent 1 where the dim is longer) is left as it is.
template <class Op>
void onDim(const spec::ApiSpec& spec, Case& c, const std::string& dim, std::int64_t extent, Op op) {
  const std::int64_t before = spec::observedDims(spec, c).at(dim);
  for (auto& [name, t] : c.tensors) {
    const auto axis = spec::axisOf(spec, name, t.shape, dim);
    const spec::TensorDecl* decl = spec.input(name);
    const bool broadcast = axis && decl && decl->broadcast && t.shape[*axis] == 1 && before != 1;
    if (axis && !broadcast) t = op(t, *axis);
  }
  c.dims[dim] = extent;
  for (const auto& p : spec.params) {  // a param that passes the extent (torch_npu's head_num)
    if (p.extent_of == dim && c.params.contains(p.name)) c.params[p.name] = extent;
  }
}

// The base output with each of `dims` sliced at its index (an output without the dim is kept).
auto sliceOutput(const spec::ApiSpec& spec, std::map<std::string, std::int64_t> dims) {
  return [&spec, dims = std::move(dims)](const std::string& output, Tensor t) {
    for (const auto& [dim, index] : dims) {
      if (const auto axis = spec::axisOf(spec, output, t.shape, dim))
        t = sliceAxis(t, *axis, index);
    }
    return t;
  };
}

Tensor same(const std::string& /*output*/, const Tensor& t) {
  return t;
}

// The dim of a paged cache's pages: its batch-kind axis that is not the batch.
std::string pagesDim(const spec::ApiSpec& spec) {
  const auto& layout = spec.input(spec.semantics.key)->shapes[0];
  return *std::ranges::find_if(layout, [&](const std::string& name) {
    return spec.dim(name)->kind == spec::DimKind::batch &&
           name != spec.semantics.canonical.at("batch");
  });
}

// Old page of each new page when the pages move into table order (entry b's pages end to end,
// spare pages after, in their order), or nothing if the table names a page twice.
std::optional<std::vector<std::int64_t>> pagesInTableOrder(const Tensor& table,
                                                           std::int64_t pages) {
  std::vector<std::int64_t> order;
  std::vector<bool> named(static_cast<std::size_t>(pages), false);
  for (const double v : table.values) {
    const auto page = static_cast<std::int64_t>(v);
    if (page < 0 || page >= pages || named[static_cast<std::size_t>(page)]) return std::nullopt;
    named[static_cast<std::size_t>(page)] = true;
    order.push_back(page);
  }
  for (std::int64_t page = 0; page < pages; ++page)
    if (!named[static_cast<std::size_t>(page)]) order.push_back(page);
  return order;
}

// The call with a paged cache's pages moved into table order, the way a contiguous cache lays
// out memory: with the table 0, 1, 2, ... the kernel's page lookup is the identity, so a
// page-indexing bug shows as a difference.
std::optional<RelatedCalls> withPagesInTableOrder(const spec::ApiSpec& spec, const Case& c,
                                                  const std::map<std::string, std::int64_t>& dims) {
  const std::string pages = pagesDim(spec);
  const auto order = pagesInTableOrder(*c.tensor(spec.semantics.cache_block_table), dims.at(pages));
  if (!order) return std::nullopt;
  const auto take = [&spec, pages, order = *order](const std::string& name, const Tensor& t) {
    const auto axis = spec::axisOf(spec, name, t.shape, pages);
    return axis ? takeAxis(t, *axis, order) : t;
  };
  // The in-place caches come back in the new page order.
  RelatedCalls r{c, c, take, "the pages moved into table order (the table 0, 1, 2, ...)"};
  for (auto& [name, t] : r.transformed.tensors) t = take(name, t);
  Tensor& table = r.transformed.tensors.at(spec.semantics.cache_block_table);
  std::iota(table.values.begin(), table.values.end(), 0.0);
  return r;
}

// The dim of the new keys' positions: the sequence-kind axis of the appended keys.
std::string newKeysDim(const spec::ApiSpec& spec) {
  const auto& layout = spec.input(spec.semantics.append_key)->shapes[0];
  return *std::ranges::find_if(layout, [&](const std::string& name) {
    return spec.dim(name)->kind == spec::DimKind::seqlen;
  });
}

// Positions [first, last) of an axis, as takeAxis orders them.
std::vector<std::int64_t> positions(std::int64_t first, std::int64_t last) {
  std::vector<std::int64_t> order(static_cast<std::size_t>(last - first));
  std::iota(order.begin(), order.end(), first);
  return order;
}

// The call that decodes the last query alone: the other new keys and values are already in the
// cache (written where the call itself writes them) and cache_seqlens counts them.
std::optional<RelatedCalls> decodeLastQuery(const spec::ApiSpec& spec, const Case& c,
                                            const std::map<std::string, std::int64_t>& dims) {
  const spec::Semantics& s = spec.semantics;
  if (!c.tensor(s.append_key) || !c.tensor(s.cache_seqlens)) return std::nullopt;
  const std::string fresh = newKeysDim(spec), queries = s.canonical.at("seqlen_q");
  const std::int64_t n = dims.at(fresh), sq = dims.at(queries);
  if (n < 2 || fresh == queries) return std::nullopt;
  // Rotary embedding places the last query where the decoding call does only when each query
  // sits at its own position and the queries are the new keys' tokens.
  const bool rotary = s.hasRotary() && c.tensor(s.rotary_cos);
  if (rotary && (!spec::rotatesEachQuery(spec, c) || sq != n)) return std::nullopt;
  Case earlier = c;  // the call that appends all new keys but the last
  onDim(spec, earlier, fresh, n - 1,
        [&](const Tensor& t, std::size_t axis) { return takeAxis(t, axis, positions(0, n - 1)); });
  RelatedCalls r{c, c, sliceOutput(spec, {{queries, sq - 1}}), ""};
  Case& decode = r.transformed;
  for (const auto& cache : {s.key, s.value})
    decode.tensors[cache] = inputAfterCall(spec, earlier, cache);
  for (double& length : decode.tensors.at(s.cache_seqlens).values)
    length += static_cast<double>(n - 1);
  onDim(spec, decode, fresh, 1,
        [&](const Tensor& t, std::size_t axis) { return sliceAxis(t, axis, n - 1); });
  onDim(spec, decode, queries, 1,
        [&](const Tensor& t, std::size_t axis) { return sliceAxis(t, axis, sq - 1); });
  r.describe = fmt::format(
      "the last query and new key alone, the earlier new keys ({}) already cached", n - 1);
  return r;
}

// The call with every cache slot no entry reads or writes set to a large value: a kernel that
// reads past an entry's keys, or into rows or pages no entry owns, sees scores far off.
RelatedCalls withUnusedCacheFilled(const spec::ApiSpec& spec, const Case& c) {
  constexpr double kFill = 1000.0;  // exact in fp16 and bf16; finite, so 0 * fill stays 0
  RelatedCalls r{c, c, same, fmt::format("every unused cache slot set to {}", kFill)};
  for (const auto& cache : {spec.semantics.key, spec.semantics.value}) {
    const Tensor used = spec::cacheEntriesInUse(spec, c, cache);
    Tensor& t = r.transformed.tensors.at(cache);
    for (std::size_t i = 0; i < t.values.size(); ++i) {
      if (used.values[i] == 0.0) t.values[i] = kFill;
    }
  }
  r.bounds_of_base = true;
  // The caches come back as this call leaves them, the large values where they were.
  r.expected = [&spec, filled = r.transformed](const std::string& name, const Tensor& t) {
    const bool cache = name == spec.semantics.key || name == spec.semantics.value;
    return cache ? spec::inputAfterCall(spec, filled, name) : t;
  };
  return r;
}

// What a mask of `dtype` holds for a key a query keeps or not: a bool, or the 0 or -inf added
// to the score.
double maskValue(const spec::Semantics& s, DType dtype, bool kept) {
  if (dtype == DType::boolean) return kept == s.mask_true_keeps ? 1.0 : 0.0;
  return kept ? 0.0 : -std::numeric_limits<double>::infinity();
}

// Sets every entry at index `first` or later on `axis` to `value`.
void fillFrom(Tensor& t, std::size_t axis, std::int64_t first, double value) {
  std::int64_t inner = 1;
  for (std::size_t a = axis + 1; a < t.shape.size(); ++a) inner *= t.shape[a];
  for (std::size_t at = 0; at < t.values.size(); ++at) {
    if ((static_cast<std::int64_t>(at) / inner) % t.shape[axis] >= first) t.values[at] = value;
  }
}

// The axes of a layout with each merged dim (BSH's H = N * D) and each packed one (TND's T, of
// a batch of one) split into its parts.
std::vector<std::string> splitMerged(const spec::ApiSpec& spec,
                                     const std::vector<std::string>& layout) {
  std::vector<std::string> parts;
  for (const auto& name : layout) {
    const spec::Dim* d = spec.dim(name);
    if (d && !d->axisParts().empty()) {
      parts.insert(parts.end(), d->axisParts().begin(), d->axisParts().end());
    } else {
      parts.push_back(name);
    }
  }
  return parts;
}

// `t`, laid out by `from`, moved into the layout `to`: the same dims in another order, merged
// dims split or joined (a merged axis is its parts, outermost first); a last axis of copies
// (torch_npu's softmax_max) stays last. Nothing if the layouts do not hold the same dims once
// split.
std::optional<Tensor> relayout(const spec::ApiSpec& spec, const Tensor& t,
                               const std::vector<std::string>& from,
                               const std::vector<std::string>& to,
                               const std::map<std::string, std::int64_t>& dims) {
  if (from == to) return t;
  const auto a = splitMerged(spec, from), b = splitMerged(spec, to);
  if (a.size() != b.size()) return std::nullopt;
  Shape split, joined;
  for (const auto& name : a) split.push_back(dims.at(name));
  for (const auto& name : to) joined.push_back(dims.at(name));
  std::vector<std::size_t> perm;
  for (const auto& name : b) {
    const auto it = std::ranges::find(a, name);
    if (it == a.end()) return std::nullopt;
    perm.push_back(static_cast<std::size_t>(it - a.begin()));
  }
  if (const std::int64_t n = numel(split); n > 0 && t.size() != n && t.size() % n == 0) {
    split.push_back(t.size() / n);
    joined.push_back(split.back());
    perm.push_back(perm.size());
  }
  Tensor parts = t;
  parts.shape = split;
  if (numel(split) != t.size()) return std::nullopt;
  Tensor moved = permuteAxes(parts, perm);
  moved.shape = joined;
  return moved;
}

// An explicit mask in its smallest declared shape at full extents, which every implementation
// must take, so a relation does not lean on broadcasting: a bool one where the spec takes one,
// else 0 and -inf added to the scores. Its last two axes are the query's and the keys'.
Tensor explicitMask(const spec::ApiSpec& spec, const Case& c,
                    const std::map<std::string, std::int64_t>& dims,
                    const std::function<bool(std::int64_t i, std::int64_t j, std::int64_t seqlen_q,
                                             std::int64_t seqlen_k)>& kept) {
  const auto& s = spec.semantics;
  const spec::TensorDecl& decl = *spec.input(s.mask_tensor);
  const auto smallest = std::ranges::min_element(decl.shapes, {}, &std::vector<std::string>::size);
  const Shape shape =
      spec::expectedShapes(decl, dims).at(static_cast<std::size_t>(smallest - decl.shapes.begin()));
  const std::int64_t seqlen_q = shape[shape.size() - 2], seqlen_k = shape.back();
  const DType query_dtype = c.tensor(s.query)->dtype;
  Tensor mask = Tensor::zeros(s.mask_may_be_bool ? DType::boolean : query_dtype, shape);
  for (std::size_t at = 0; at < mask.values.size(); ++at) {
    const std::int64_t j = static_cast<std::int64_t>(at) % seqlen_k;
    const std::int64_t i = (static_cast<std::int64_t>(at) / seqlen_k) % seqlen_q;
    mask.values[at] = maskValue(s, mask.dtype, kept(i, j, seqlen_q, seqlen_k));
  }
  return mask;
}

// The causal flag against the mask it stands for, over every key (cached ones too): the first
// call sets the flag and passes no mask, the second passes the mask and leaves the flag out.
RelatedCalls causalAsMask(const spec::ApiSpec& spec, const Case& c,
                          const std::map<std::string, std::int64_t>& dims) {
  const auto& s = spec.semantics;
  RelatedCalls r{c, c, same, "the causal mask passed as an explicit mask"};
  r.base.params[s.causal_param] = true;
  r.base.tensors.erase(s.mask_tensor);
  r.transformed.params.erase(s.causal_param);
  r.transformed.tensors[s.mask_tensor] = explicitMask(
      spec, c, dims,
      [&](std::int64_t i, std::int64_t j, std::int64_t seqlen_q, std::int64_t seqlen_k) {
        const std::int64_t past =
            s.causal_shift_by_past ? seqlen_k - dims.at(s.canonical.at("seqlen_k")) : 0;
        return keeps(MaskPrimitive{CausalMask{s.causal_alignment, past}}, i, j, seqlen_q, seqlen_k);
      });
  return r;
}

// The packed dims of a spec (flash-attn's total_q and total_k, torch_npu's TND T).
std::vector<const spec::Dim*> packedDims(const spec::ApiSpec& spec) {
  std::vector<const spec::Dim*> packed;
  for (const auto& d : spec.dims) {
    if (!d.packs.empty()) packed.push_back(&d);
  }
  return packed;
}

// One packed sequence run alone: the first with rows on every packed axis, its rows cut out of
// each, the batch 1 and its offsets those of one sequence; a tensor over the longest length (a
// mask) keeps the sequence's top-left corner. Its rows of the packed call are what it must
// return.
std::optional<RelatedCalls> oneSequenceAlone(const spec::ApiSpec& spec, const Case& c) {
  const auto packed = packedDims(spec);
  std::map<std::string, std::vector<std::int64_t>> offsets;  // by packed dim, read once
  for (const spec::Dim* d : packed) offsets[d->name] = spec::sequenceOffsets(c, *d);
  const auto rows = [offsets](const spec::Dim& d, std::int64_t b) {
    const auto& starts = offsets.at(d.name);
    return positions(starts.at(static_cast<std::size_t>(b)),
                     starts.at(static_cast<std::size_t>(b + 1)));
  };
  const std::string& batch = packed.front()->packs[0];
  const std::int64_t batch_size = spec::observedDims(spec, c).at(batch);
  std::int64_t b = 0;
  while (b < batch_size &&
         std::ranges::any_of(packed, [&](const auto* d) { return rows(*d, b).empty(); }))
    ++b;
  if (b == batch_size) return std::nullopt;
  RelatedCalls r{c, c, same, fmt::format("sequence {} run alone", b)};
  // A mode that gives one sequence a band (torch_npu's 7 and 8) gives the sequence alone the
  // mode of the mask it had among the others.
  if (const spec::SparseMode* mode = spec::sparseModeOf(spec, c); mode && mode->band_sequence) {
    const auto seqlens_q = spec::sequenceLengths(spec, c, "seqlen_q");
    const bool banded = b == spec::bandSequence(*mode->band_sequence, seqlens_q);
    const spec::SparseMode* alone = spec::modeOfMaskAlone(spec, *mode, banded);
    if (!alone) return std::nullopt;
    r.transformed.params[spec.semantics.sparse_mode_param] = alone->value;
  }
  onDim(spec, r.transformed, batch, 1,
        [&](const Tensor& t, std::size_t axis) { return sliceAxis(t, axis, b); });
  const auto compressed = spec::compressedMaskShape(spec, c);
  for (const spec::Dim* d : packed) {
    const auto taken = rows(*d, b);
    const auto length = std::ssize(taken);
    onDim(spec, r.transformed, d->name, length,
          [&](const Tensor& t, std::size_t axis) { return takeAxis(t, axis, taken); });
    onDim(spec, r.transformed, d->packs[1], length, [&](const Tensor& t, std::size_t axis) {
      return compressed == t.shape ? t : takeAxis(t, axis, positions(0, length));
    });
    Tensor& alone = r.transformed.tensors.at(d->offsets);
    alone = spec::offsetsInput(*d, alone.dtype, {0, length});
    r.transformed.dims[spec.input(d->offsets)->shapes.front().front()] = alone.size();
  }
  r.expected = [&spec, packed, rows, b](const std::string& output, Tensor t) {
    for (const spec::Dim* d : packed) {
      if (const auto axis = spec::axisOf(spec, output, t.shape, d->name))
        t = takeAxis(t, *axis, rows(*d, b));
    }
    return t;
  };
  return r;
}

// The same problem in another layout variant of the API (the spec's first; the second for the
// first): every input moved into that layout (those it does not take left out), the outputs
// moved back before they are judged. A packed layout holds sequences of different lengths,
// which no padded layout does: one sequence is moved, alone (a batch of one, packed or not).
std::optional<RelatedCalls> inOtherLayout(const spec::ApiSpec& spec, const Case& c,
                                          const std::map<std::string, std::int64_t>& dims) {
  const spec::Variant& other = spec.other_variants.front();
  std::optional<RelatedCalls> alone;
  if (!packedDims(spec).empty() && !(alone = oneSequenceAlone(spec, c))) return std::nullopt;
  RelatedCalls r = alone.value_or(RelatedCalls{c, c, same, "the same problem"});
  r.describe = fmt::format("{} in {}", r.describe, other.api);
  const auto moved_dims = alone ? spec::observedDims(spec, r.transformed) : dims;
  r.transformed.api = other.api;
  for (const auto& [param, value] : other.fixed) r.transformed.params[param] = value;
  const auto declared = [](const spec::TensorDecl* decl) {
    return decl && decl->shapes.size() == 1 ? &decl->shapes.front() : nullptr;
  };
  std::erase_if(r.transformed.tensors,
                [&](const auto& entry) { return !other.inputs.contains(entry.first); });
  for (auto& [name, t] : r.transformed.tensors) {
    const auto* from = declared(spec.input(name));
    const auto to = other.shapes.find(name);
    if (!from || to == other.shapes.end()) continue;
    auto moved = relayout(spec, t, *from, to->second, moved_dims);
    if (!moved) return std::nullopt;
    t = std::move(*moved);
  }
  r.outputs_in_base_layout = [&spec, &other, moved_dims, declared](const std::string& output,
                                                                   const Tensor& t) {
    const auto* to = declared(spec.output(output));
    const auto from = other.shapes.find(output);
    if (!to || from == other.shapes.end()) return t;
    return relayout(spec, t, from->second, *to, moved_dims).value_or(t);
  };
  return r;
}

// Keys appended behind the mask, hidden from every query: their key rows copy the first keys
// (scores like the real ones) and their values are far off, so a key that leaks shows. Causal,
// window and sparse-mode masks, softcap (ONNX applies it after the mask), position bias, key
// lengths and cached keys all tie queries to key positions or change what a hidden key scores: the
// first call leaves them out.
std::optional<RelatedCalls> withMaskedKeysAppended(const spec::ApiSpec& spec, const Case& c) {
  constexpr std::int64_t kAppended = 7;  // off every tile size
  constexpr double kFarValue = 1000.0;   // exact in fp16 and bf16
  const auto& s = spec.semantics;
  RelatedCalls r{c, c, same, fmt::format("{} keys appended, hidden by the mask", kAppended)};
  // A compressed mask marks a sparse mode's own causal or band mask: the mask goes with the mode.
  if (spec::compressedMaskShape(spec, c)) r.base.tensors.erase(s.mask_tensor);
  for (const auto& param : {s.causal_param, s.window_param, s.softcap_param, s.sparse_mode_param,
                            s.band_pre_param, s.band_next_param})
    r.base.params.erase(param);
  for (const auto& tensor : {s.alibi_tensor, s.bias_tensor, s.query_lengths_tensor,
                             s.key_lengths_tensor, s.past_key, s.past_value})
    r.base.tensors.erase(tensor);
  const auto dims = spec::observedDims(spec, r.base);
  const std::string& keys = s.canonical.at("seqlen_k");
  const std::int64_t seqlen_k = dims.at(keys);
  if (seqlen_k == 0) return std::nullopt;
  if (!r.base.tensor(s.mask_tensor)) {
    r.base.tensors[s.mask_tensor] = explicitMask(spec, r.base, dims, [](auto...) { return true; });
  }
  // The mask over the new keys alone, at full extent: a past's part (in front) is cut off, a
  // broadcast keys axis spelled out.
  Tensor& mask = r.base.tensors.at(s.mask_tensor);
  const std::size_t last = mask.shape.size() - 1;
  const std::int64_t masked = mask.shape.back();
  if (masked == 1 && seqlen_k != 1) mask = repeatAxis(mask, last, seqlen_k);
  if (masked > seqlen_k) mask = takeAxis(mask, last, positions(masked - seqlen_k, masked));
  r.transformed = r.base;
  std::vector<std::int64_t> order = positions(0, seqlen_k);
  for (std::int64_t a = 0; a < kAppended; ++a) order.push_back(a % seqlen_k);
  onDim(spec, r.transformed, keys, seqlen_k + kAppended,
        [&](const Tensor& t, std::size_t axis) { return takeAxis(t, axis, order); });
  Tensor& value = r.transformed.tensors.at(s.value);
  fillFrom(value, *spec::axisOf(spec, s.value, value.shape, keys), seqlen_k, kFarValue);
  Tensor& hiding = r.transformed.tensors.at(s.mask_tensor);
  if (hiding.shape.back() == seqlen_k)  // its keys axis has another name (ONNX's total length)
    hiding = takeAxis(hiding, last, order);
  fillFrom(hiding, last, seqlen_k, maskValue(s, hiding.dtype, false));
  // The values far off scale the reference's bounds, yet no output may see them.
  r.bounds_of_base = true;
  return r;
}
}  // namespace

std::string relationPropertyName(Relation relation) {
  std::string name;
  bool upper = true;
  for (const char ch : relationName(relation)) {
    if (ch == '_') {
      upper = true;
      continue;
    }
    name += upper ? static_cast<char>(std::toupper(static_cast<unsigned char>(ch))) : ch;
    upper = false;
  }
  return name;
}

std::optional<RelatedCalls> relate(const spec::ApiSpec& spec, Relation relation, const Case& c) {
  const auto& canonical = spec.semantics.canonical;
  const auto dims = spec::observedDims(spec, c);
  const std::int64_t heads_q = dims.at(canonical.at("heads_q")),
                     heads_kv = dims.at(canonical.at("heads_kv"));
  RelatedCalls r{c, c, same, ""};
  switch (relation) {
    case Relation::batch_independence: {
      const std::string& batch = canonical.at("batch");
      const std::int64_t b = dims.at(batch) - 1;  // the last entry: where stride bugs land
      onDim(spec, r.transformed, batch, 1,
            [&](const Tensor& t, std::size_t axis) { return sliceAxis(t, axis, b); });
      r.expected = sliceOutput(spec, {{batch, b}});
      r.describe = fmt::format("batch entry {} run alone", b);
      return r;
    }
    case Relation::head_independence: {
      // Head 1, not the last: the last query head reads the last kv head even under a
      // modulo mapping bug, and head 0 hides stride bugs.
      const std::int64_t h = std::min<std::int64_t>(1, heads_q - 1), kv = h / (heads_q / heads_kv);
      onDim(spec, r.transformed, canonical.at("heads_q"), 1,
            [&](const Tensor& t, std::size_t axis) { return sliceAxis(t, axis, h); });
      if (canonical.at("heads_kv") != canonical.at("heads_q")) {  // one heads dim: sliced once
        onDim(spec, r.transformed, canonical.at("heads_kv"), 1,
              [&](const Tensor& t, std::size_t axis) { return sliceAxis(t, axis, kv); });
      }
      r.expected =
          sliceOutput(spec, {{canonical.at("heads_q"), h}, {canonical.at("heads_kv"), kv}});
      r.describe = fmt::format("query head {} with kv head {} run alone", h, kv);
      return r;
    }
    case Relation::gqa_equals_repeated_kv: {
      const std::int64_t group = heads_q / heads_kv;
      onDim(spec, r.transformed, canonical.at("heads_kv"), heads_q,
            [&](const Tensor& t, std::size_t axis) { return repeatAxis(t, axis, group); });
      // Outputs over kv heads (ONNX's present_key) are repeated too.
      r.expected = [&spec, kv_dim = canonical.at("heads_kv"), group](const std::string& output,
                                                                     const Tensor& t) {
        const auto axis = spec::axisOf(spec, output, t.shape, kv_dim);
        return axis ? repeatAxis(t, *axis, group) : t;
      };
      r.describe = fmt::format("each kv head repeated {} times", group);
      return r;
    }
    case Relation::kv_permutation: {
      // Masks and position bias tie keys to positions: the relation holds without them.
      for (const auto& param : {spec.semantics.causal_param, spec.semantics.window_param})
        r.base.params.erase(param);
      // So do key lengths; and cached keys stay in front, unpermuted: all are left out.
      for (const auto& tensor :
           {spec.semantics.alibi_tensor, spec.semantics.mask_tensor, spec.semantics.bias_tensor,
            spec.semantics.key_lengths_tensor, spec.semantics.past_key, spec.semantics.past_value})
        r.base.tensors.erase(tensor);
      r.transformed = r.base;
      for (const auto& role : {spec.semantics.key, spec.semantics.value}) {
        Tensor& t = r.transformed.tensors.at(role);
        t = reverseAxis(t, *spec::axisOf(spec, role, t.shape, canonical.at("seqlen_k")));
      }
      r.describe = "keys and values in reverse order";
      return r;
    }
    case Relation::paged_equals_contiguous:
      return withPagesInTableOrder(spec, c, dims);
    case Relation::decode_equals_prefill:
      return decodeLastQuery(spec, c, dims);
    case Relation::unused_cache_ignored:
      return withUnusedCacheFilled(spec, c);
    case Relation::causal_equals_mask:
      return causalAsMask(spec, c, dims);
    case Relation::layout_equivalence:
      return inOtherLayout(spec, c, dims);
    case Relation::varlen_equals_per_sequence:
      return oneSequenceAlone(spec, c);
    case Relation::masked_keys_appended:
      return withMaskedKeysAppended(spec, c);
    case Relation::split_invariance: {
      // One piece against several: a call that splits is compared with one that does not.
      const std::string& param = spec.semantics.splits_param;
      const auto given = c.param(param);
      const std::int64_t splits = given ? std::get<std::int64_t>(*given) : 0;
      const std::int64_t other = splits > 1 ? 1 : 3;
      r.transformed.params[param] = other;
      r.describe = fmt::format("{}={} instead of {}", param, other, splits);
      return r;
    }
  }
  return std::nullopt;
}

Verdict checkRelation(const spec::ApiSpec& spec, Relation relation, adapters::Adapter& adapter,
                      const RunConfig& config) {
  const std::string property = relationPropertyName(relation);
  const std::string clause = fmt::format("promises.relations.{}", relationName(relation));
  return runCases(
      fmt::format("{}.{}_{}", spec.api, property, adapter.name()),
      gen::validCases(spec, config.limits), config.accuracy_cases, config,
      [&spec](const Case& c) { return gen::caseTags(spec, c); },
      [&](const Case& c) {
        const auto related = relate(spec, relation, c);
        if (!related) return Judgement::pass();
        const adapters::Outcome base = adapter.run(related->base);
        if (base.rejected()) return Judgement::pass();  // Accuracy reports a rejected valid call
        const adapters::Outcome other = adapter.run(related->transformed);
        if (other.rejected()) {
          return Judgement::fail(
              failureMessage(spec.api, clause,
                             fmt::format("the call with {} was rejected (\"{}\")",
                                         related->describe, other.rejection().message),
                             c));
        }
        // Outputs in another layout are judged in the first call's, against its reference.
        const bool relaid = static_cast<bool>(related->outputs_in_base_layout);
        ReferenceOutputs expected =
            referenceOutputs(spec, relaid ? related->base : related->transformed);
        if (related->bounds_of_base) expected.bounds = referenceOutputs(spec, related->base).bounds;
        for (auto& [name, e] : expected.exact) {
          e.exact = related->expected(name, base.outputs().at(name));
          expected.bounds[name] *= 2;
        }
        std::map<std::string, Tensor> outputs = other.outputs();
        if (relaid) {
          for (auto& [name, t] : outputs) t = related->outputs_in_base_layout(name, t);
        }
        const AccuracyReport report = compareOutputs(expected.exact, outputs, expected.bounds);
        if (report.passed()) return Judgement::pass(report.max_ratio);
        const std::string what =
            !report.problems.empty()
                ? fmt::format("{} ({})", report.problems.front(), related->describe)
                : fmt::format(
                      "{}[{}]={} with {}, but should be {} as in the first call ± {} (err/bound "
                      "{:.2f})",
                      report.worst->output, report.worst->index, num(report.worst->actual),
                      related->describe, num(report.worst->expected), num(report.worst->bound),
                      report.worst->ratio);
        return Judgement::fail(failureMessage(spec.api, clause, what, c), report.max_ratio);
      });
}

}  // namespace attnconf::props
