#include "attnconf/generators/recipe.h"

#include <algorithm>
#include <array>
#include <numeric>
#include <random>

#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "attnconf/spec/rules.h"

namespace attnconf::gen {

void fillValues(const spec::ApiSpec& spec, const std::string& name, std::uint64_t seed,
                double magnitude, Tensor& t) {
  const spec::TensorDecl* decl = spec.input(name);
  const spec::Semantics& roles = spec.semantics;
  const bool scaled = name == roles.query || name == roles.key || name == roles.past_key ||
                      name == roles.append_key;
  const double lo =
      decl && decl->uniform_hi > decl->uniform_lo ? decl->uniform_lo : (scaled ? -magnitude : -1.0);
  const double hi =
      decl && decl->uniform_hi > decl->uniform_lo ? decl->uniform_hi : (scaled ? magnitude : 1.0);
  std::mt19937_64 rng(seed ^ std::hash<std::string>{}(name));
  std::uniform_real_distribution<double> uniform(lo, hi);
  t.values.resize(static_cast<std::size_t>(numel(t.shape)));
  if (t.dtype == DType::boolean) {
    // A boolean mask: mostly true, with one row (last axis) in eight all false, so that fully
    // masked rows occur whatever the length.
    std::bernoulli_distribution mostly(0.75), empty_row(0.125);
    const std::int64_t row = t.shape.empty() ? 1 : std::max<std::int64_t>(t.shape.back(), 1);
    bool empty = false;
    for (std::size_t i = 0; i < t.values.size(); ++i) {
      if (static_cast<std::int64_t>(i) % row == 0) empty = empty_row(rng);
      t.values[i] = !empty && mostly(rng) ? 1.0 : 0.0;
    }
    return;
  }
  for (double& v : t.values) v = roundTo(t.dtype, uniform(rng));
}

namespace {

// Sequence lengths in [0, longest]: the full length, one short, a single token, empty, or any.
void fillLengths(std::int64_t longest, std::uint64_t seed, Tensor& t) {
  std::mt19937_64 rng(seed ^ 0x1e57);
  std::uniform_int_distribution<std::int64_t> any(0, longest), pick(0, 5);
  for (double& v : t.values) {
    const std::array<std::int64_t, 4> edges = {longest, longest - 1, 1, 0};
    const auto choice = static_cast<std::size_t>(pick(rng));
    v = static_cast<double>(std::max<std::int64_t>(0, choice < 4 ? edges.at(choice) : any(rng)));
  }
}

// Distinct indices in [0, count) in random order (repeated only if the tensor has more entries).
void fillIndices(std::int64_t count, std::uint64_t seed, Tensor& t) {
  std::vector<double> all(static_cast<std::size_t>(std::max<std::int64_t>(count, 1)));
  std::iota(all.begin(), all.end(), 0.0);
  std::shuffle(all.begin(), all.end(), std::mt19937_64(seed ^ 0x1d5));
  for (std::size_t i = 0; i < t.values.size(); ++i) t.values[i] = all[i % all.size()];
}

// Where each of `count` sequences laid end to end starts, and the total; lengths drawn as
// fillLengths draws them, one sequence (picked by the seed) `longest` long, so that the dim is
// the longest length, as flash-attn's max_seqlen_q is. With `keys` (the same sequences' key
// offsets), a sequence without keys has no queries either, and the longest has keys; with
// `within_keys` too, no sequence has more queries than keys.
std::vector<std::int64_t> drawOffsets(std::int64_t count, std::int64_t longest, std::uint64_t seed,
                                      const std::vector<std::int64_t>* keys, bool within_keys) {
  Tensor drawn = Tensor::zeros(DType::int64, {count});
  fillLengths(longest, seed, drawn);
  std::vector<std::int64_t> lengths = integers(drawn);
  const auto room = [&](std::size_t b) {
    return keys && within_keys ? std::min(longest, (*keys)[b + 1] - (*keys)[b]) : longest;
  };
  const auto has_keys = [&](std::size_t b) { return !keys || (*keys)[b + 1] > (*keys)[b]; };
  for (std::size_t b = 0; b < lengths.size(); ++b)
    lengths[b] = has_keys(b) ? std::min(lengths[b], room(b)) : 0;
  if (!lengths.empty() && std::ranges::max(lengths) < longest) {
    std::size_t b = seed % lengths.size();
    while (!has_keys(b)) b = (b + 1) % lengths.size();  // the longest key sequence has keys
    lengths[b] = room(b);
  }
  std::vector<std::int64_t> offsets{0};
  for (const std::int64_t length : lengths) offsets.push_back(offsets.back() + length);
  return offsets;
}

// A compressed mask is 32 MiB. glibc maps each block that large afresh and unmaps it when
// freed, so every copy of a case pays its page faults again (most of a generator's time);
// blocks kept on the heap are reused instead.
void keepLargeBlocksOnTheHeap() {
#ifdef __GLIBC__
  static const bool kept = [] {
    constexpr int kLarge = 1 << 28;  // 256 MiB
    return mallopt(M_MMAP_THRESHOLD, kLarge) == 1 && mallopt(M_TRIM_THRESHOLD, 2 * kLarge) == 1;
  }();
  (void)kept;
#endif
}

// The recipe's dims with those that only absent inputs carry set to 0 (no past keys without
// past_key), and derived dims computed again. A packed or merged dim carries its parts.
std::map<std::string, std::int64_t> presentDims(const spec::ApiSpec& spec, const Recipe& recipe) {
  std::map<std::string, std::int64_t> dims = recipe.dims;
  const auto passed = [&](const std::string& input) { return recipe.shape_choice.contains(input); };
  for (const auto& name : spec::dimsOfAbsentInputs(spec, passed)) {
    if (dims.contains(name)) dims[name] = 0;
  }
  for (const auto& dim : spec.dims) {
    if (dim.fromParts() && dims.contains(dim.name)) dims[dim.name] = spec::derivedExtent(dim, dims);
  }
  return dims;
}

// Draws the offsets input of every packed dim, which sets that dim's extent: the total. A dim
// whose sequences need keys (`keys_in`) is drawn after the keys' dim.
void drawPackedDims(const spec::ApiSpec& spec, const Recipe& recipe, Case& c) {
  std::vector<const spec::Dim*> order;
  for (const auto& dim : spec.dims) {
    if (!dim.packs.empty() && recipe.dtypes.contains(dim.offsets)) order.push_back(&dim);
  }
  std::stable_partition(order.begin(), order.end(),
                        [](const spec::Dim* d) { return d->keys_in.empty(); });
  // torch_npu's mode 7 takes no sequence with more queries than keys.
  const spec::SparseMode* mode = spec::sparseModeOf(spec, c);
  const bool within_keys =
      mode && mode->queries_within_keys && recipe.shape_choice.contains(spec.semantics.mask_tensor);
  std::map<std::string, std::vector<std::int64_t>> drawn;
  for (const spec::Dim* dim : order) {
    const auto keys = drawn.find(dim->keys_in);
    const auto& offsets = drawn[dim->name] =
        drawOffsets(c.dims.at(dim->packs[0]), c.dims.at(dim->packs[1]),
                    recipe.data_seed ^ std::hash<std::string>{}(dim->name),
                    keys == drawn.end() ? nullptr : &keys->second, within_keys);
    c.dims[dim->name] = offsets.back();
    c.tensors[dim->offsets] = spec::offsetsInput(*dim, recipe.dtypes.at(dim->offsets), offsets);
  }
}

// A sparse mode's band over one sequence (torch_npu's modes 7 and 8) drawn as what splitting a
// causal sequence by queries leaves of its mask (spec::keepsSparseModeAssumptions): pre covers
// every key; next is minus the rows cut after the sequence (bottom-right causal), or the rows
// cut before it less Skv - Sq (top-left).
void drawSplitBand(const spec::ApiSpec& spec, std::uint64_t seed, Case& c) {
  const spec::SparseMode* mode = spec::sparseModeOf(spec, c);
  const spec::Semantics& s = spec.semantics;
  if (!mode || !mode->band_sequence || !c.tensor(s.mask_tensor)) return;
  const auto seqlens_q = spec::sequenceLengths(spec, c, "seqlen_q");
  const std::int64_t b = spec::bandSequence(*mode->band_sequence, seqlens_q);
  if (b < 0) return;
  const std::int64_t sq = seqlens_q[static_cast<std::size_t>(b)];
  const std::int64_t sk = spec::sequenceLengths(spec, c, "seqlen_k")[static_cast<std::size_t>(b)];
  std::mt19937_64 rng(seed ^ 0xba4d);
  const bool cut_after = mode->causal == Alignment::bottom_right;
  const std::int64_t cut = std::uniform_int_distribution<std::int64_t>(
      0, std::max<std::int64_t>(0, cut_after ? sk - sq : sk))(rng);
  c.params[s.band_pre_param] = sk + std::uniform_int_distribution<std::int64_t>(0, 4)(rng);
  c.params[s.band_next_param] = cut_after ? -cut : cut - (sk - sq);
}

// Lengths bounded entry by entry by another input's, when the call gives it (flash-attn's
// cache_leftpad within cache_seqlens). An entry at its bound is an edge worth drawing often.
void boundLengthsByOtherInputs(const spec::ApiSpec& spec, Case& c) {
  for (const auto& decl : spec.inputs) {
    const Tensor* bound = decl.lengths_at_most.empty() ? nullptr : c.tensor(decl.lengths_at_most);
    const auto lengths = c.tensors.find(decl.name);
    if (!bound || lengths == c.tensors.end()) continue;
    auto& values = lengths->second.values;
    for (std::size_t i = 0; i < values.size() && i < bound->values.size(); ++i)
      values[i] = std::min(values[i], bound->values[i]);
  }
}

// A sparse mode's mask as the call must pass it written out (torch_npu's mode 5: its prefix
// causal mask per entry, BNSS or B1SS), in place of the drawn one.
void spellOutModeMask(const spec::ApiSpec& spec, Case& c) {
  const spec::SparseMode* mode = spec::sparseModeOf(spec, c);
  const spec::Semantics& s = spec.semantics;
  const auto found = c.tensors.find(s.mask_tensor);
  if (!mode || mode->mask != spec::ModeMask::spelled_out || found == c.tensors.end()) return;
  const spec::TensorDecl& decl = *spec.input(s.mask_tensor);
  const auto& full = *std::ranges::max_element(decl.shapes, {}, &std::vector<std::string>::size);
  const Tensor& drawn = found->second;
  Shape shape;
  for (const auto& dim : full) shape.push_back(c.dims.at(dim));
  // Each entry's mask differs (its prefix), so only the heads axis may broadcast (B1SS).
  const bool per_head = drawn.rank() == 4 && drawn.shape[1] != 1;
  if (!per_head) shape[1] = 1;
  Tensor mask = Tensor::zeros(drawn.dtype, shape);
  const std::int64_t sq = shape[2], sk = shape[3];
  for (std::int64_t b = 0; b < shape[0]; ++b) {
    const auto masks = spec::sparseModeMasks(spec, c, *mode, b);
    for (std::int64_t h = 0; h < shape[1]; ++h) {
      for (std::int64_t i = 0; i < sq; ++i) {
        for (std::int64_t j = 0; j < sk; ++j) {
          const bool hidden = !keeps(masks, i, j, sq, sk);
          mask.values[static_cast<std::size_t>(((b * shape[1] + h) * sq + i) * sk + j)] =
              hidden != s.mask_true_keeps ? 1.0 : 0.0;
        }
      }
    }
  }
  found->second = std::move(mask);
}

}  // namespace

std::int64_t longestLength(const spec::TensorDecl& decl,
                           const std::map<std::string, std::int64_t>& dims) {
  const std::int64_t room = decl.room_for.empty() ? 0 : dims.at(decl.room_for);
  return std::max<std::int64_t>(0, dims.at(decl.lengths_of) - room);
}

void fillInput(const spec::ApiSpec& spec, const std::string& name,
               const std::map<std::string, std::int64_t>& dims, std::uint64_t seed,
               double magnitude, Tensor& t) {
  fillValues(spec, name, seed, magnitude, t);
  const spec::TensorDecl& decl = *spec.input(name);
  if (!decl.lengths_of.empty()) fillLengths(longestLength(decl, dims), seed, t);
  if (!decl.lengths_at_least_excess_over.empty()) {
    const std::int64_t excess =
        dims.at(decl.lengths_of) - dims.at(decl.lengths_at_least_excess_over);
    for (double& v : t.values) v = std::max(v, static_cast<double>(excess));
  }
  if (!decl.indices_of.empty()) fillIndices(dims.at(decl.indices_of), seed, t);
  if (!decl.extent_of.empty())
    std::ranges::fill(t.values, static_cast<double>(dims.at(decl.extent_of) + decl.extent_plus));
}

Tensor compressedMask(DType dtype, const Shape& shape) {
  keepLargeBlocksOnTheHeap();
  Tensor t = Tensor::zeros(dtype, shape);
  const std::int64_t columns = shape.empty() ? 1 : shape.back();  // any rank, as rows x columns
  const std::int64_t rows = columns > 0 ? t.size() / columns : 0;
  for (std::int64_t i = 0; i < rows; ++i) {
    const auto row = t.values.begin() + i * columns;
    // Below its square, a prefix mode's rectangle: the right half hidden (3072 x 2048).
    const std::int64_t hidden_from = i < columns ? i + 1 : columns / 2;
    std::fill(row + std::min(hidden_from, columns), row + columns, 1.0);
  }
  return t;
}

Case materialize(const spec::ApiSpec& spec, const Recipe& recipe) {
  Case c;
  c.api = spec.api;
  c.dims = presentDims(spec, recipe);
  c.params = recipe.params;
  for (const auto& p : spec.params) {
    if (!p.extent_of.empty()) c.params[p.name] = c.dims.at(p.extent_of);
    if (p.fixed) c.params[p.name] = *p.fixed;
  }
  drawPackedDims(spec, recipe, c);
  for (const auto& decl : spec.inputs) {
    const auto choice = recipe.shape_choice.find(decl.name);
    if (choice == recipe.shape_choice.end() || c.tensors.contains(decl.name)) continue;
    Tensor t;
    t.dtype = recipe.dtypes.at(decl.name);
    t.shape = spec::expectedShapes(decl, c.dims).at(choice->second);
    if (const auto bits = recipe.broadcast_axes.find(decl.name);
        bits != recipe.broadcast_axes.end()) {
      for (std::size_t a = 0; a < t.shape.size(); ++a) {
        if (bits->second & (1U << a)) t.shape[a] = 1;
      }
    }
    fillInput(spec, decl.name, c.dims, recipe.data_seed, recipe.magnitude, t);
    c.tensors[decl.name] = std::move(t);
  }
  boundLengthsByOtherInputs(spec, c);
  const auto compressed = spec::compressedMaskShape(spec, c);
  if (compressed && c.tensor(spec.semantics.mask_tensor)) {
    Tensor& mask = c.tensors.at(spec.semantics.mask_tensor);
    mask = compressedMask(mask.dtype, *compressed);
  }
  drawSplitBand(spec, recipe.data_seed, c);
  spellOutModeMask(spec, c);
  return c;
}

}  // namespace attnconf::gen
