#include "attnconf/spec/binding.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <iterator>
#include <limits>
#include <numeric>
#include <optional>
#include <stdexcept>
#include <tuple>

#include "attnconf/spec/rules.h"
#include "detail/rotary.h"

namespace attnconf::spec {
namespace {

using detail::Rotary;
using detail::rotaryOf;

// Canonical axis orders, named by the keys of `semantics.canonical`.
const std::vector<std::string> kQueryAxes = {"batch", "heads_q", "seqlen_q", "head_dim"};
const std::vector<std::string> kKeyAxes = {"batch", "heads_kv", "seqlen_k", "head_dim"};
const std::vector<std::string> kValueAxes = {"batch", "heads_kv", "seqlen_k", "head_dim_v"};
const std::vector<std::string> kOutAxes = {"batch", "heads_q", "seqlen_q", "head_dim_v"};
const std::vector<std::string> kLseAxes = {"batch", "heads_q", "seqlen_q"};
const std::vector<std::string> kBiasAxes = {"batch", "heads_q", "seqlen_q", "seqlen_k"};

// For each canonical axis, the position of its spec dim in the vendor's shape.
std::vector<std::size_t> vendorPositions(const Semantics& s, const std::vector<std::string>& vendor,
                                         const std::vector<std::string>& canonical_axes) {
  std::vector<std::size_t> positions;
  for (const auto& axis : canonical_axes) {
    const std::string& dim = s.canonical.at(axis);
    const auto it = std::find(vendor.begin(), vendor.end(), dim);
    if (it == vendor.end()) {
      throw std::logic_error("semantics: dim " + dim + " is not an axis of the tensor");
    }
    positions.push_back(static_cast<std::size_t>(it - vendor.begin()));
  }
  return positions;
}

// A vendor layout with each packed dim replaced by its (batch, seqlen) pair and each merged dim
// by its factors.
std::vector<std::string> unpackedNames(const ApiSpec& spec, const std::vector<std::string>& names) {
  std::vector<std::string> out;
  for (const auto& name : names) {
    const Dim* d = spec.dim(name);
    if (d && !d->axisParts().empty()) {
      out.insert(out.end(), d->axisParts().begin(), d->axisParts().end());
    } else {
      out.push_back(name);
    }
  }
  return out;
}

// A merged axis split into its factors: the outer ones as the call gives them, the innermost
// what is left (the head size of a hidden size).
Tensor splitAxis(const ApiSpec& spec, const Case& c, const Dim& merged, Tensor t,
                 std::size_t axis) {
  const auto dims = observedDims(spec, c);
  Shape factors;
  std::int64_t outer = 1;
  for (std::size_t f = 0; f + 1 < merged.product_of.size(); ++f) {
    factors.push_back(dims.at(merged.product_of[f]));
    outer *= factors.back();
  }
  factors.push_back(outer == 0 ? 0 : t.shape[axis] / outer);
  t.shape.erase(t.shape.begin() + static_cast<std::ptrdiff_t>(axis));
  t.shape.insert(t.shape.begin() + static_cast<std::ptrdiff_t>(axis), factors.begin(),
                 factors.end());
  return t;  // row-major: the values stay where they are
}

// `t`, laid out as `names`, with each packed axis spread over (batch, seqlen) (positions past a
// sequence's length are 0, the longest sequence sets the padded extent) and each merged axis
// split into its factors.
Tensor unpacked(const ApiSpec& spec, const Case& c, const std::vector<std::string>& names,
                Tensor t) {
  std::size_t axis = 0;
  for (const auto& name : names) {
    const Dim* d = spec.dim(name);
    if (d && !d->packs.empty()) {
      const auto offsets = sequenceOffsets(c, *d);
      t = unpackAxis(t, axis++, offsets, longestSequence(offsets));
    } else if (d && !d->product_of.empty()) {
      t = splitAxis(spec, c, *d, std::move(t), axis);
      axis += d->product_of.size() - 1;
    }
    ++axis;
  }
  return t;
}

// The inverse of `unpacked`: `t` is laid out as unpackedNames(names).
Tensor packed(const ApiSpec& spec, const Case& c, const std::vector<std::string>& names, Tensor t) {
  std::size_t axis = 0;
  for (const auto& name : names) {
    const Dim* d = spec.dim(name);
    if (d && !d->packs.empty()) t = packAxes(t, axis, sequenceOffsets(c, *d));
    if (d && !d->product_of.empty()) {  // merge the factors back into one axis
      const auto first = t.shape.begin() + static_cast<std::ptrdiff_t>(axis);
      const auto last = first + static_cast<std::ptrdiff_t>(d->product_of.size());
      const std::int64_t merged = numel(Shape(first, last));
      t.shape.erase(first + 1, last);
      t.shape[axis] = merged;
    }
    ++axis;
  }
  return t;
}

// `t`, laid out as `layout`, in canonical axis order (packed and merged axes spread first).
Tensor canonicalOrder(const ApiSpec& spec, const Case& c, const std::vector<std::string>& layout,
                      const Tensor& t, const std::vector<std::string>& axes) {
  return permuteAxes(unpacked(spec, c, layout, t),
                     vendorPositions(spec.semantics, unpackedNames(spec, layout), axes));
}

// `name` in canonical axis order.
Tensor toCanonical(const ApiSpec& spec, const Case& c, const std::string& name,
                   const std::vector<std::string>& axes) {
  return canonicalOrder(spec, c, spec.input(name)->shapes[0], *c.tensor(name), axes);
}

// A cache's layout, merged axes split, with its axes that are no canonical dim named as the
// canonical dim of their kind: a KV cache's rows (pages) as the batch, its (or a past's)
// positions as the keys. For each canonical axis, its position there.
std::vector<std::size_t> keyPositions(const ApiSpec& spec, const std::vector<std::string>& layout,
                                      const std::vector<std::string>& axes) {
  const Semantics& s = spec.semantics;
  auto names = unpackedNames(spec, layout);
  for (auto& dim : names) {
    const bool canonical =
        std::ranges::any_of(s.canonical, [&](const auto& kv) { return kv.second == dim; });
    if (canonical) continue;
    const DimKind kind = spec.dim(dim)->kind;
    if (kind == DimKind::batch) dim = s.canonical.at("batch");
    if (kind == DimKind::seqlen) dim = s.canonical.at("seqlen_k");
  }
  return vendorPositions(s, names, axes);
}

// Keys or values of a cache (or of a past, or appended to a cache) in canonical axis order.
Tensor cacheToCanonical(const ApiSpec& spec, const Case& c, const std::string& name,
                        const std::vector<std::string>& axes) {
  const auto& layout = spec.input(name)->shapes[0];
  return permuteAxes(unpacked(spec, c, layout, *c.tensor(name)), keyPositions(spec, layout, axes));
}

// Where the cached keys of each batch entry are: position p of entry b is at position
// `slot(b, p).second` of cache row (or page) `slot(b, p).first`.
struct CacheMap {
  std::vector<std::int64_t> rows;                // contiguous: the row entry b reads
  std::vector<std::vector<std::int64_t>> pages;  // paged: the pages of entry b, in order
  std::vector<std::int64_t> firsts;              // the first position entry b attends (leftpad)
  std::int64_t page_size = 0;
  std::int64_t length = 0;  // positions per entry

  std::pair<std::int64_t, std::int64_t> slot(std::size_t b, std::int64_t position) const {
    if (pages.empty()) return {rows[b], position};
    return {pages[b][static_cast<std::size_t>(position / page_size)], position % page_size};
  }
};

// Entry `b` of the per-entry integer input `name`, into `per_entry`, when the call gives it.
void readPerEntry(const Case& c, const std::string& name, std::vector<std::int64_t>& per_entry) {
  if (const Tensor* given = name.empty() ? nullptr : c.tensor(name)) {
    for (std::size_t b = 0; b < per_entry.size(); ++b)
      per_entry[b] = static_cast<std::int64_t>(given->values[b]);
  }
}

// Entry b reads row cache_batch_index[b] (b without one) of a contiguous cache, or the pages
// block_table[b, :] of a paged one, from position cache_leftpad[b] (0 without one) on. `cache`
// is in canonical order, its rows (pages) first.
CacheMap cacheMap(const ApiSpec& spec, const Case& c, std::int64_t batch, const Tensor& cache) {
  const Semantics& s = spec.semantics;
  CacheMap map;
  map.length = cache.shape[2];
  map.firsts.assign(static_cast<std::size_t>(batch), 0);
  readPerEntry(c, s.cache_leftpad, map.firsts);
  if (const Tensor* table = s.cache_block_table.empty() ? nullptr : c.tensor(s.cache_block_table)) {
    map.page_size = cache.shape[2];
    map.length = table->shape[1] * map.page_size;
    for (std::int64_t b = 0; b < batch; ++b) {
      const auto first = table->values.begin() + b * table->shape[1];
      map.pages.emplace_back(first, first + table->shape[1]);
    }
    return map;
  }
  map.rows.resize(static_cast<std::size_t>(batch));
  std::iota(map.rows.begin(), map.rows.end(), 0);
  readPerEntry(c, s.cache_batch_index, map.rows);
  return map;
}

// The flat index of (row, head, position, d) in a canonical cache.
std::int64_t cacheOffset(const Shape& strides, std::int64_t row, std::int64_t head,
                         std::int64_t position, std::int64_t d) {
  return row * strides[0] + head * strides[1] + position * strides[2] + d * strides[3];
}

// §sparse_mode: while the call passes the mask, its mode adds a causal mask or the pre/next band,
// to every entry alike unless an entry's prefix or its place in the split picks its own.
// Whether the mask itself takes part as passed.
bool bindSparseMode(const ApiSpec& spec, const Case& c, Problem& p) {
  const Semantics& s = spec.semantics;
  if (s.sparse_modes.empty()) return true;
  const SparseMode* mode = sparseModeOf(spec, c);
  if (!mode) {
    throw std::logic_error(fmt::format("semantics: sparse_mode {} is not declared",
                                       intParam(spec, c, s.sparse_mode_param)));
  }
  if (!c.tensor(s.mask_tensor)) return false;  // without a mask no mode masks anything
  if (mode->band_sequence || !mode->prefix.empty()) {
    for (std::int64_t b = 0; b < p.batch; ++b)
      p.entry_masks.push_back(sparseModeMasks(spec, c, *mode, b));
  } else {
    std::ranges::copy(sparseModeMasks(spec, c, *mode, 0), std::back_inserter(p.masks));
  }
  return mode->takesMaskAsGiven();
}

// Entry b's cached keys as a canonical tensor's position axis counts them (cache_seqlens[b]).
std::int64_t cachedLength(const Case& c, const Semantics& s, std::int64_t b) {
  return static_cast<std::int64_t>(c.tensor(s.cache_seqlens)->values[static_cast<std::size_t>(b)]);
}

// A KV cache as the call leaves it, in canonical axis order with the cache's rows (pages) as
// the batch, and how far each value may lie from it (empty unless keys are rotated).
struct CacheAfterCall {
  Tensor cache, allowance;
};

// The appended keys (or values) of batch entry b written where its positions cache_seqlens[b]
// on are; keys rotated at those positions.
CacheAfterCall appendedCache(const ApiSpec& spec, const Case& c, const std::string& cache,
                             const std::string& appended, const std::vector<std::string>& axes) {
  CacheAfterCall after{cacheToCanonical(spec, c, cache, axes), {}};
  Tensor& t = after.cache;
  if (appended.empty() || !c.tensor(appended)) return after;
  Tensor fresh = cacheToCanonical(spec, c, appended, axes);
  const Semantics& s = spec.semantics;
  const auto rotary = appended == s.append_key ? rotaryOf(spec, c) : std::nullopt;
  Tensor fresh_allowance;
  if (rotary) {
    fresh_allowance = Tensor::zeros(DType::fp64, fresh.shape);
    after.allowance = Tensor::zeros(DType::fp64, t.shape);
    rotary->rotateAll(
        fresh, [&](std::int64_t b, std::int64_t i) { return cachedLength(c, s, b) + i; },
        &fresh_allowance);
  }
  const CacheMap map = cacheMap(spec, c, fresh.shape[0], t);
  const Shape to = rowMajorStrides(t.shape);
  for (std::int64_t flat = 0; flat < fresh.size(); ++flat) {
    const Shape index = unflattenIndex(fresh.shape, flat);  // (batch, heads, position, dim)
    const auto [row, position] =
        map.slot(static_cast<std::size_t>(index[0]), index[2] + cachedLength(c, s, index[0]));
    const auto at = static_cast<std::size_t>(cacheOffset(to, row, index[1], position, index[3]));
    t.values[at] = fresh.values[static_cast<std::size_t>(flat)];
    if (rotary) after.allowance.values[at] = fresh_allowance.values[static_cast<std::size_t>(flat)];
  }
  return after;
}

// The keys (or values) each batch entry reads from a canonical cache, from its first position
// on, in batch order: (batch, heads, positions, dim); 0 past the row's end.
Tensor entryKeys(const Tensor& cache, const CacheMap& map, std::int64_t batch) {
  Tensor keys = Tensor::zeros(cache.dtype, {batch, cache.shape[1], map.length, cache.shape[3]});
  const Shape from = rowMajorStrides(cache.shape);
  for (std::int64_t flat = 0; flat < keys.size(); ++flat) {
    const Shape index = unflattenIndex(keys.shape, flat);
    const auto b = static_cast<std::size_t>(index[0]);
    const std::int64_t at = map.firsts[b] + index[2];
    if (at >= map.length) continue;
    const auto [row, position] = map.slot(b, at);
    keys.values[static_cast<std::size_t>(flat)] =
        cache
            .values[static_cast<std::size_t>(cacheOffset(from, row, index[1], position, index[3]))];
  }
  return keys;
}

// A canonical tensor in the vendor's layout `vendor` (packed and merged dims packed again),
// `positions` giving each canonical axis's place among its unpacked axes.
Tensor fromCanonical(const ApiSpec& spec, const Case& c, const Tensor& canonical,
                     const std::vector<std::string>& vendor,
                     const std::vector<std::size_t>& positions) {
  std::vector<std::size_t> inverse(positions.size());
  for (std::size_t a = 0; a < positions.size(); ++a) inverse[positions[a]] = a;
  return packed(spec, c, vendor, permuteAxes(canonical, inverse));
}

// A canonical result in the vendor's layout `vendor`.
Tensor toVendor(const ApiSpec& spec, const Case& c, const Tensor& canonical,
                const std::vector<std::string>& vendor,
                const std::vector<std::string>& canonical_axes) {
  return fromCanonical(
      spec, c, canonical, vendor,
      vendorPositions(spec.semantics, unpackedNames(spec, vendor), canonical_axes));
}

// Whether a spec dim is the canonical axis: the axis's own dim, or for the keys also a dim
// that sums it with the past keys (a mask over all keys, cached and new).
bool namesAxis(const ApiSpec& spec, const std::string& dim, const std::string& axis) {
  const std::string& own = spec.semantics.canonical.at(axis);
  if (dim == own) return true;
  const Dim* d = spec.dim(dim);
  return axis == "seqlen_k" && d && std::ranges::find(d->sum_of, own) != d->sum_of.end();
}

// Where the mask or bias input `name` is read for each element of [batch, heads_q, seqlen_q,
// seqlen_k] `shape`: its axes are named by its declared shape, and axes it lacks broadcast.
// The axis names of the declared shape of input `name` that has `rank` axes.
const std::vector<std::string>& declaredShape(const ApiSpec& spec, const std::string& name,
                                              std::int64_t rank) {
  const auto& shapes = spec.input(name)->shapes;
  return *std::find_if(shapes.begin(), shapes.end(),
                       [&](const auto& n) { return std::ssize(n) == rank; });
}

std::vector<std::size_t> biasOffsets(const ApiSpec& spec, const std::string& name,
                                     const Tensor& mask, const Shape& shape) {
  const auto* declared = &declaredShape(spec, name, mask.rank());
  const Shape strides = rowMajorStrides(mask.shape);
  Shape stride_of(kBiasAxes.size(), 0);  // per canonical axis; 0 = broadcast
  for (std::size_t a = 0; a < declared->size(); ++a) {
    for (std::size_t axis = 0; axis < kBiasAxes.size(); ++axis) {
      // An axis of extent 1 broadcasts.
      if (namesAxis(spec, (*declared)[a], kBiasAxes[axis]) && mask.shape[a] != 1)
        stride_of[axis] = strides[a];
    }
  }
  std::vector<std::size_t> offsets(static_cast<std::size_t>(numel(shape)));
  for (std::size_t flat = 0; flat < offsets.size(); ++flat) {
    const Shape index = unflattenIndex(shape, static_cast<std::int64_t>(flat));
    std::int64_t offset = 0;
    for (std::size_t axis = 0; axis < kBiasAxes.size(); ++axis)
      offset += index[axis] * stride_of[axis];
    offsets[flat] = static_cast<std::size_t>(offset);
  }
  return offsets;
}

// The mask or bias input `name` as an additive bias over [batch, heads_q, seqlen_q, seqlen_k].
Tensor scoreBias(const ApiSpec& spec, const std::string& name, const Tensor& mask,
                 const Shape& shape) {
  const Semantics& s = spec.semantics;
  const bool is_bool = mask.dtype == DType::boolean;
  Tensor bias = Tensor::zeros(DType::fp64, shape);
  const auto offsets = biasOffsets(spec, name, mask, shape);
  for (std::size_t flat = 0; flat < offsets.size(); ++flat) {
    const double m = mask.values[offsets[flat]];
    const bool hidden = is_bool && ((m != 0) != s.mask_true_keeps);
    bias.values[flat] = hidden ? -std::numeric_limits<double>::infinity() : (is_bool ? 0.0 : m);
  }
  return bias;
}

// The gradient of the bias input from the score gradient `dbias` (the shape of Problem::bias):
// the adjoint of scoreBias, summed over the axes the input broadcasts, times the scale where it
// is added before the scale.
Tensor biasGradient(const ApiSpec& spec, const Problem& problem, const Tensor& bias,
                    const Tensor& dbias) {
  const std::string& name = spec.semantics.bias_tensor;
  const double factor = spec.semantics.bias_before_scale ? problem.scale : 1;
  Tensor grad = Tensor::zeros(bias.dtype, bias.shape);
  const auto offsets = biasOffsets(spec, name, bias, dbias.shape);
  for (std::size_t flat = 0; flat < offsets.size(); ++flat)
    grad.values[offsets[flat]] += factor * dbias.values[flat];
  return grad;
}

// An output that concatenates inputs, exactly as given. Each part is brought into the
// output's layout first (ONNX's 3-D K joins its 4-D past_key): its axis for the output's derived
// (sum_of) axis is the one named by a part of the sum.
ExpectedOutput concatOutput(const ApiSpec& spec, const TensorDecl& decl, const Case& c) {
  const auto& names = decl.shapes[0];
  const auto derived =
      std::ranges::find_if(names, [&](const auto& d) { return !spec.dim(d)->sum_of.empty(); });
  const auto& sum = spec.dim(*derived)->sum_of;
  std::vector<Tensor> parts;
  for (const auto& input : decl.concat) {
    const auto& layout = spec.input(input)->shapes[0];
    const auto own = unpackedNames(spec, layout);
    std::vector<std::size_t> perm;
    for (const auto& name : names) {
      const auto at = std::ranges::find_if(own, [&](const std::string& d) {
        return d == name || (name == *derived && std::ranges::find(sum, d) != sum.end());
      });
      if (at == own.end())
        throw std::logic_error(fmt::format("concat: {} has no axis for {}", input, name));
      perm.push_back(static_cast<std::size_t>(at - own.begin()));
    }
    parts.push_back(permuteAxes(unpacked(spec, c, layout, *c.tensor(input)), perm));
  }
  std::vector<const Tensor*> pointers;
  pointers.reserve(parts.size());
  for (const Tensor& part : parts) pointers.push_back(&part);
  Tensor exact = concatAxis(pointers, static_cast<std::size_t>(derived - names.begin()));
  return ExpectedOutput{decl.name, "copy", exact.dtype, std::move(exact), names, {}};
}

// Whether the call's causal mask applies: always, or while its param is true.
bool causalApplies(const ApiSpec& spec, const Case& c) {
  const Semantics& s = spec.semantics;
  return s.causal_always || boolParam(spec, c, s.causal_param);
}

// docstring: "If causal or local (i.e., window_size != (-1, -1)), q is rotated by rotary_cos and
// rotary_sin at indices cache_seqlens, cache_seqlens + 1, etc. If not causal and not local, the
// query q will be rotated by rotary_cos and rotary_sin at indices cache_seqlens only".
// mha_fwd_kvcache turns a window side of at least the cache's length into -1 before it decides
// what is local, so such a window is not.
bool eachQueryAtItsPosition(const ApiSpec& spec, const Case& c, std::int64_t cache_length) {
  const Semantics& s = spec.semantics;
  bool per_query = causalApplies(spec, c);
  if (const auto window = s.window_param.empty() ? std::nullopt : c.param(s.window_param)) {
    for (const std::int64_t side : std::get<std::vector<std::int64_t>>(*window))
      per_query = per_query || (side >= 0 && side < cache_length);
  }
  return per_query;
}

void rotateQueries(const ApiSpec& spec, const Case& c, const Rotary& rotary,
                   std::int64_t cache_length, Problem& p) {
  const Semantics& s = spec.semantics;
  const bool per_query = eachQueryAtItsPosition(spec, c, cache_length);
  rotary.rotateAll(
      p.q,
      [&](std::int64_t b, std::int64_t i) { return cachedLength(c, s, b) + (per_query ? i : 0); },
      nullptr);
}

// Keys and values of a KV cache: each batch entry attends over the row it reads, as the call
// leaves it, from its first position (cache_leftpad) up to its cached and appended keys (the
// row's end without cache_seqlens).
void bindKvCache(const ApiSpec& spec, const Case& c, Problem& p) {
  const Semantics& s = spec.semantics;
  const Tensor keys = appendedCache(spec, c, s.key, s.append_key, kKeyAxes).cache;
  const CacheMap map = cacheMap(spec, c, p.batch, keys);
  p.k = entryKeys(keys, map, p.batch);
  p.v = entryKeys(appendedCache(spec, c, s.value, s.append_value, kValueAxes).cache, map, p.batch);
  if (const auto rotary = rotaryOf(spec, c)) rotateQueries(spec, c, *rotary, map.length, p);
  const Tensor* seqlens = c.tensor(s.cache_seqlens);
  const Tensor* appended = s.append_key.empty() ? nullptr : c.tensor(s.append_key);
  const std::int64_t fresh =
      appended ? cacheToCanonical(spec, c, s.append_key, kKeyAxes).shape[2] : 0;
  for (std::size_t b = 0; b < p.seqlens_k.size(); ++b) {
    const std::int64_t end =
        seqlens ? static_cast<std::int64_t>(seqlens->values[b]) + fresh : p.k.shape[2];
    p.seqlens_k[b] = end - map.firsts[b];
  }
}

// An input as the call leaves it, in its layout, and how far each value may lie from that.
CacheAfterCall inputAfterCallWithAllowance(const ApiSpec& spec, const Case& c,
                                           const std::string& input) {
  const Semantics& s = spec.semantics;
  if (!s.hasKvCache() || (input != s.key && input != s.value)) return {*c.tensor(input), {}};
  const bool key = input == s.key;
  const auto& layout = spec.input(input)->shapes[0];
  const auto positions = keyPositions(spec, layout, key ? kKeyAxes : kValueAxes);
  CacheAfterCall after = appendedCache(spec, c, input, key ? s.append_key : s.append_value,
                                       key ? kKeyAxes : kValueAxes);
  after.cache = fromCanonical(spec, c, after.cache, layout, positions);
  after.cache.dtype = c.tensor(input)->dtype;
  if (!after.allowance.values.empty())
    after.allowance = fromCanonical(spec, c, after.allowance, layout, positions);
  return after;
}

// An output the call writes into an input: a KV cache with its appended keys or values, any
// other input unchanged.
ExpectedOutput inPlaceOutput(const ApiSpec& spec, const TensorDecl& decl, const Case& c) {
  auto [exact, allowance] = inputAfterCallWithAllowance(spec, c, decl.name);
  return ExpectedOutput{decl.name,      "copy", exact.dtype,         std::move(exact),
                        decl.shapes[0], {},     std::move(allowance)};
}

// A per-row result: the LSE, or a softmax statistic derived from it (the row sum is
// exp(lse - row max)).
Tensor rowValues(const Result& result, const std::string& role) {
  if (role == "lse") return result.lse;
  if (role == "row_max") return result.row_max;
  Tensor sum = result.lse;
  for (std::size_t i = 0; i < sum.values.size(); ++i)
    sum.values[i] = std::exp(result.lse.values[i] - result.row_max.values[i]);
  return sum;
}

// `t` with a new last axis holding `copies` copies of each value.
Tensor repeatLastAxis(const Tensor& t, std::int64_t copies) {
  Tensor out{t.dtype, t.shape, {}};
  out.shape.push_back(copies);
  out.values.reserve(t.values.size() * static_cast<std::size_t>(copies));
  for (const double v : t.values) out.values.insert(out.values.end(), copies, v);
  return out;
}

}  // namespace

Tensor inputAfterCall(const ApiSpec& spec, const Case& c, const std::string& input) {
  return inputAfterCallWithAllowance(spec, c, input).cache;
}

bool rotatesEachQuery(const ApiSpec& spec, const Case& c) {
  if (!rotaryOf(spec, c)) return false;
  const auto cache_length = observedDims(spec, c).at(spec.semantics.canonical.at("seqlen_k"));
  return eachQueryAtItsPosition(spec, c, cache_length);
}

Tensor cacheEntriesInUse(const ApiSpec& spec, const Case& c, const std::string& cache) {
  const auto& axes = cache == spec.semantics.key ? kKeyAxes : kValueAxes;
  const auto& layout = spec.input(cache)->shapes[0];
  Tensor used = cacheToCanonical(spec, c, cache, axes);
  std::ranges::fill(used.values, 0.0);
  const Problem p = bindProblem(spec, c);
  const CacheMap map = cacheMap(spec, c, p.batch, used);
  const Shape strides = rowMajorStrides(used.shape);
  for (std::int64_t b = 0; b < p.batch; ++b) {
    const std::int64_t first = map.firsts[static_cast<std::size_t>(b)];
    for (std::int64_t position = first; position < first + p.seqlens_k[static_cast<std::size_t>(b)];
         ++position) {
      const auto [row, at] = map.slot(static_cast<std::size_t>(b), position);
      for (std::int64_t h = 0; h < used.shape[1]; ++h) {
        for (std::int64_t d = 0; d < used.shape[3]; ++d)
          used.values[static_cast<std::size_t>(cacheOffset(strides, row, h, at, d))] = 1.0;
      }
    }
  }
  return fromCanonical(spec, c, used, layout, keyPositions(spec, layout, axes));
}

Tensor bindGradOutput(const ApiSpec& spec, const Case& c) {
  return canonicalOrder(spec, c, spec.output(spec.semantics.out)->shapes[0],
                        *c.tensor(spec.backward.grad_output), kOutAxes);
}

std::map<std::string, ExpectedOutput> expectedGradients(const ApiSpec& spec, const Case& c,
                                                        const Problem& problem,
                                                        const Gradients& gradients) {
  const Semantics& s = spec.semantics;
  std::map<std::string, ExpectedOutput> expected;
  for (const auto& [input, canonical, axes] : {std::tuple{s.query, &gradients.dq, &kQueryAxes},
                                               std::tuple{s.key, &gradients.dk, &kKeyAxes},
                                               std::tuple{s.value, &gradients.dv, &kValueAxes}}) {
    const std::string& name = spec.backward.grads.at(input);
    const auto& vendor = spec.input(input)->shapes[0];
    Tensor exact = toVendor(spec, c, *canonical, vendor, *axes);
    exact.dtype = c.tensor(input)->dtype;
    expected[name] = ExpectedOutput{name, "grad", exact.dtype, std::move(exact), vendor, {}};
  }
  const auto bias_grad = spec.backward.grads.find(s.bias_tensor);
  const Tensor* bias = s.bias_tensor.empty() ? nullptr : c.tensor(s.bias_tensor);
  if (bias_grad != spec.backward.grads.end() && bias && !gradients.dbias.values.empty()) {
    const std::string& name = bias_grad->second;
    expected[name] = ExpectedOutput{name,
                                    "grad",
                                    bias->dtype,
                                    biasGradient(spec, problem, *bias, gradients.dbias),
                                    declaredShape(spec, s.bias_tensor, bias->rank()),
                                    {}};
  }
  return expected;
}

// The sink tensor's logits, else a sink of 0 per head when the zero-sink param is on.
void bindSink(const ApiSpec& spec, const Case& c, Problem& p) {
  const Semantics& s = spec.semantics;
  if (const Tensor* sink = s.sink_tensor.empty() ? nullptr : c.tensor(s.sink_tensor)) {
    p.sink = sink->values;
  } else if (boolParam(spec, c, s.zero_sink_param)) {
    p.sink.assign(static_cast<std::size_t>(p.heads_q), 0.0);
  }
}

// An 8-bit call's query, key and value times their (batch, heads_kv) descale factors; a query
// head takes its kv head's.
void bindDescale(const ApiSpec& spec, const Case& c, Problem& p) {
  const Semantics& s = spec.semantics;
  if (std::ranges::find(s.descale_dtypes, p.dtype) == s.descale_dtypes.end()) return;
  for (auto [name, t, of_query] :
       {std::tuple{&s.q_descale, &p.q, true}, std::tuple{&s.k_descale, &p.k, false},
        std::tuple{&s.v_descale, &p.v, false}}) {
    const Tensor* factors = name->empty() ? nullptr : c.tensor(*name);
    if (!factors) continue;
    const std::int64_t heads = t->shape[1], block = t->shape[2] * t->shape[3];
    for (std::int64_t b = 0; b < p.batch; ++b) {
      for (std::int64_t h = 0; h < heads; ++h) {
        const std::int64_t kv = of_query ? p.kvHead(h) : h;
        const double factor = factors->values[static_cast<std::size_t>(b * p.heads_kv + kv)];
        const auto first = t->values.begin() + (b * heads + h) * block;
        std::for_each(first, first + block, [factor](double& x) { x *= factor; });
      }
    }
  }
}

Problem bindProblem(const ApiSpec& spec, const Case& c) {
  const Semantics& s = spec.semantics;
  const auto dims = observedDims(spec, c);
  const auto canonical = [&](const char* axis) { return dims.at(s.canonical.at(axis)); };
  Problem p;
  p.dtype = c.tensor(s.query)->dtype;
  p.batch = canonical("batch");
  p.heads_q = canonical("heads_q");
  p.heads_kv = canonical("heads_kv");
  p.head_dim = canonical("head_dim");
  p.head_dim_v = canonical("head_dim_v");
  const bool has_past = !s.past_key.empty() && c.tensor(s.past_key);
  const Tensor past_k = has_past ? cacheToCanonical(spec, c, s.past_key, kKeyAxes) : Tensor{};
  const std::int64_t past = has_past ? past_k.shape[2] : 0;
  p.seqlens_q.assign(static_cast<std::size_t>(p.batch), canonical("seqlen_q"));
  // Every key attention sees: the past ones, then the new ones. A key lengths tensor counts them
  // all (ORT's key_padding_mask).
  p.seqlens_k.assign(static_cast<std::size_t>(p.batch), past + canonical("seqlen_k"));
  for (auto [name, seqlens] : {std::pair{&s.query_lengths_tensor, &p.seqlens_q},
                               std::pair{&s.key_lengths_tensor, &p.seqlens_k}}) {
    if (const Tensor* lengths = name->empty() ? nullptr : c.tensor(*name)) {
      for (std::size_t b = 0; b < seqlens->size(); ++b)
        (*seqlens)[b] = static_cast<std::int64_t>(lengths->values[b]);
    }
  }
  for (auto [axis, seqlens] :
       {std::pair{"seqlen_q", &p.seqlens_q}, std::pair{"seqlen_k", &p.seqlens_k}}) {
    if (spec.packedDimOf(s.canonical.at(axis)))  // varlen: from offsets
      *seqlens = sequenceLengths(spec, c, axis);
  }
  p.scale = numberParam(spec, c, s.scale_param, 1.0 / std::sqrt(static_cast<double>(p.head_dim)));
  p.softcap = numberParam(spec, c, s.softcap_param, 0.0);
  p.softcap_after_mask = s.softcap_after_mask;
  if (causalApplies(spec, c)) {
    p.masks.emplace_back(CausalMask{s.causal_alignment, s.causal_shift_by_past ? past : 0});
  }
  if (!s.window_param.empty()) {
    if (const auto window = c.param(s.window_param)) {
      const auto& lr = std::get<std::vector<std::int64_t>>(*window);
      if (lr[0] >= 0 || lr[1] >= 0)
        p.masks.emplace_back(WindowMask{lr[0], lr[1], s.window_alignment});
    }
  }
  if (const Tensor* slopes = s.alibi_tensor.empty() ? nullptr : c.tensor(s.alibi_tensor)) {
    p.alibi_alignment = s.alibi_alignment;
    for (std::int64_t b = 0; b < p.batch; ++b) {
      for (std::int64_t h = 0; h < p.heads_q; ++h) {
        const std::int64_t i = slopes->rank() == 1 ? h : b * p.heads_q + h;
        p.alibi_slopes.push_back(slopes->values[static_cast<std::size_t>(i)]);
      }
    }
  }
  bindSink(spec, c, p);
  p.fully_masked_rows = s.fully_masked_rows;
  p.q = toCanonical(spec, c, s.query, kQueryAxes);
  if (s.hasKvCache()) {
    bindKvCache(spec, c, p);
  } else {
    p.k = toCanonical(spec, c, s.key, kKeyAxes);
    p.v = toCanonical(spec, c, s.value, kValueAxes);
  }
  if (has_past) {  // the cached keys and values come first
    const Tensor past_v = cacheToCanonical(spec, c, s.past_value, kValueAxes);
    p.k = concatAxis(std::array<const Tensor*, 2>{&past_k, &p.k}, 2);
    p.v = concatAxis(std::array<const Tensor*, 2>{&past_v, &p.v}, 2);
  }
  bindDescale(spec, c, p);
  // The mask and the bias add up to one score bias.
  const bool mask_as_given = bindSparseMode(spec, c, p);
  for (const std::string* name : {&s.mask_tensor, &s.bias_tensor}) {
    const Tensor* t = name->empty() ? nullptr : c.tensor(*name);
    if (!t || (name == &s.mask_tensor && !mask_as_given)) continue;
    Tensor bias = scoreBias(spec, *name, *t, {p.batch, p.heads_q, p.maxSeqlenQ(), p.maxSeqlenK()});
    if (name == &s.bias_tensor && s.bias_before_scale) {  // scale * (QK^T + bias)
      for (double& b : bias.values) b *= p.scale;
    }
    if (!p.hasBias()) {
      p.bias = std::move(bias);
      continue;
    }
    for (std::size_t i = 0; i < bias.values.size(); ++i) p.bias.values[i] += bias.values[i];
  }
  return p;
}

std::map<std::string, ExpectedOutput> expectedOutputs(const ApiSpec& spec, const Case& c,
                                                      const Result& result) {
  const Semantics& s = spec.semantics;
  std::map<std::string, ExpectedOutput> expected;
  for (const auto& decl : spec.outputs) {
    if (!decl.when.empty() && !isGiven(spec, c, decl.when)) continue;
    if (!decl.concat.empty() || decl.in_place) {
      expected[decl.name] =
          decl.in_place ? inPlaceOutput(spec, decl, c) : concatOutput(spec, decl, c);
      continue;
    }
    const bool is_out = decl.name == s.out;
    const std::string role = is_out                   ? "out"
                             : decl.name == s.lse     ? "lse"
                             : decl.name == s.row_max ? "row_max"
                             : decl.name == s.row_sum ? "row_sum"
                                                      : "";
    if (role.empty()) continue;
    const DType dtype = decl.outputDType(c);
    const auto& vendor = decl.shapes[0];
    Tensor exact = is_out ? toVendor(spec, c, result.out, vendor, kOutAxes)
                          : toVendor(spec, c, rowValues(result, role), vendor, kLseAxes);
    exact.dtype = dtype;
    Tensor unspecified = is_out || result.lse_unspecified.values.empty()
                             ? Tensor{}
                             : toVendor(spec, c, result.lse_unspecified, vendor, kLseAxes);
    std::vector<std::string> axis_names = vendor;
    if (decl.copies > 0) {  // the value again along a last axis
      exact = repeatLastAxis(exact, decl.copies);
      if (!unspecified.values.empty()) unspecified = repeatLastAxis(unspecified, decl.copies);
      axis_names.emplace_back("copy");
    }
    expected[decl.name] = ExpectedOutput{
        decl.name, role, dtype, std::move(exact), std::move(axis_names), std::move(unspecified)};
  }
  return expected;
}

}  // namespace attnconf::spec
