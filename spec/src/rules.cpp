#include "attnconf/spec/rules.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <iterator>

namespace attnconf::spec {
namespace {

template <class... F>
struct Overloaded : F... {
  using F::operator()...;
};
template <class... F>
Overloaded(F...) -> Overloaded<F...>;  // clang before 17 deduces no aggregate

std::int64_t dimOf(const std::map<std::string, std::int64_t>& dims, const std::string& name) {
  const auto it = dims.find(name);
  return it == dims.end() ? 0 : it->second;
}

// Numpy broadcasting towards `target`: `shape` has at most its axes, aligned at the right, each
// of the target's extent or 1 (a mask that broadcasts to the scores).
bool broadcastsTo(const Shape& shape, const Shape& target) {
  if (shape.size() > target.size()) return false;
  const auto aligned = target.end() - static_cast<std::ptrdiff_t>(shape.size());
  return std::equal(shape.begin(), shape.end(), aligned,
                    [](std::int64_t got, std::int64_t e) { return got == e || got == 1; });
}

// Whether `shape` is the declared shape `names` (extents `target`), where only the axes of the
// declaration's `broadcast_dims` may be 1 (any axis, and leading axes left out, without them).
bool matchesDeclared(const TensorDecl& decl, const Shape& shape, const Shape& target,
                     const std::vector<std::string>& names) {
  if (!decl.broadcast) return shape == target;
  if (decl.broadcast_dims.empty()) return broadcastsTo(shape, target);
  if (shape.size() != target.size()) return false;
  for (std::size_t a = 0; a < shape.size(); ++a) {
    const bool may_be_one =
        std::ranges::find(decl.broadcast_dims, names[a]) != decl.broadcast_dims.end();
    if (shape[a] != target[a] && !(may_be_one && shape[a] == 1)) return false;
  }
  return true;
}

}  // namespace

std::map<std::string, std::int64_t> observedDims(const ApiSpec& spec, const Case& c) {
  std::map<std::string, std::int64_t> dims;
  for (const auto& decl : spec.inputs) {
    const Tensor* t = c.tensor(decl.name);
    // A broadcast input's extent of 1 says nothing of its dims.
    if (!t || decl.broadcast || decl.shapes.size() != 1 || t->rank() != std::ssize(decl.shapes[0]))
      continue;
    for (std::size_t axis = 0; axis < decl.shapes[0].size(); ++axis) {
      dims.emplace(decl.shapes[0][axis], t->shape[axis]);
    }
  }
  for (const auto& p : spec.params) {  // a param that passes a dim's extent
    const auto value = p.extent_of.empty() ? std::nullopt : c.param(p.name);
    if (value) dims.emplace(p.extent_of, static_cast<std::int64_t>(asNumber(*value).value_or(0)));
  }
  for (const auto& dim : spec.dims) {  // a packed axis's offsets show its sequences
    if (dim.packs.empty() || !c.tensor(dim.offsets)) continue;
    const auto offsets = sequenceOffsets(c, dim);
    dims.emplace(dim.packs[0], std::ssize(offsets) - 1);
    dims.emplace(dim.packs[1], longestSequence(offsets));
  }
  for (const auto& dim : spec.dims) {  // a merged axis shows its innermost factor
    const auto merged = dims.find(dim.name);
    if (dim.product_of.empty() || merged == dims.end()) continue;
    std::int64_t outer = 1;
    for (std::size_t f = 0; f + 1 < dim.product_of.size(); ++f)
      outer *= dims.contains(dim.product_of[f]) ? dims.at(dim.product_of[f]) : 0;
    if (outer > 0 && merged->second % outer == 0)
      dims.emplace(dim.product_of.back(), merged->second / outer);
  }
  for (const auto& dim : spec.dims) {  // and its outer factor where the inner one is known
    const auto merged = dims.find(dim.name);
    if (dim.product_of.size() != 2 || merged == dims.end()) continue;
    const auto inner = dims.find(dim.product_of.back());
    if (inner != dims.end() && inner->second > 0 && merged->second % inner->second == 0)
      dims.emplace(dim.product_of.front(), merged->second / inner->second);
  }
  for (const auto& [name, extent] : c.dims) dims.emplace(name, extent);
  const auto passed = [&](const std::string& input) { return c.tensor(input) != nullptr; };
  for (const auto& name : dimsOfAbsentInputs(spec, passed)) dims.emplace(name, 0);
  for (const auto& dim : spec.dims) {  // a product of known dims can be a part of a sum
    const auto known = [&](const std::string& factor) { return dims.contains(factor); };
    if (!dim.product_of.empty() && std::ranges::all_of(dim.product_of, known))
      dims.emplace(dim.name, derivedExtent(dim, dims));
  }
  for (const auto& dim : spec.dims) {  // a part nothing shows is what a sum a tensor shows leaves
    const auto sum = dims.find(dim.name);
    std::vector<std::string> unseen;
    std::ranges::copy_if(dim.sum_of, std::back_inserter(unseen), [&](const std::string& part) {
      return !isConstantPart(part) && !dims.contains(part);
    });
    if (sum != dims.end() && unseen.size() == 1)
      dims[unseen.front()] = sum->second - derivedExtent(dim, dims);
  }
  for (const auto& dim : spec.dims) {  // derived from their parts, never read off a tensor
    if (dim.fromParts()) dims[dim.name] = derivedExtent(dim, dims);
  }
  return dims;
}

std::set<std::string> dimsOfAbsentInputs(const ApiSpec& spec,
                                         const std::function<bool(const std::string&)>& passed) {
  std::set<std::string> declared, present;
  for (const auto& decl : spec.inputs) {
    for (const auto& shape : decl.shapes) {
      for (const auto& name : shape) {
        std::vector<std::string> names = spec.dim(name)->axisParts();  // carried with it
        names.push_back(name);
        declared.insert(names.begin(), names.end());
        if (passed(decl.name)) present.insert(names.begin(), names.end());
      }
    }
  }
  std::set<std::string> absent;
  std::ranges::set_difference(declared, present, std::inserter(absent, absent.end()));
  return absent;
}

std::int64_t derivedExtent(const Dim& dim, const std::map<std::string, std::int64_t>& dims) {
  if (!dim.product_of.empty()) {
    std::int64_t product = 1;
    for (const auto& part : dim.product_of) product *= dimOf(dims, part);
    return product;
  }
  std::int64_t sum = 0;
  for (const auto& part : dim.sum_of)
    sum += isConstantPart(part) ? std::stoll(part) : dimOf(dims, part);
  return sum;
}

bool isConstantPart(const std::string& part) {
  return !part.empty() && std::ranges::all_of(part, [](char ch) { return ch >= '0' && ch <= '9'; });
}

double numberParam(const ApiSpec& spec, const Case& c, const std::string& name, double fallback) {
  if (name.empty()) return fallback;
  const auto given = c.param(name);
  const auto value = given ? given : spec.param(name)->default_value;
  return value ? asNumber(*value).value_or(fallback) : fallback;
}

std::int64_t intParam(const ApiSpec& spec, const Case& c, const std::string& name) {
  return static_cast<std::int64_t>(numberParam(spec, c, name, 0.0));
}

bool boolParam(const ApiSpec& spec, const Case& c, const std::string& name) {
  return numberParam(spec, c, name, 0.0) != 0.0;
}

const SparseMode* sparseModeOf(const ApiSpec& spec, const Case& c) {
  const Semantics& s = spec.semantics;
  if (s.sparse_modes.empty()) return nullptr;
  const double value = numberParam(spec, c, s.sparse_mode_param, 0.0);
  const auto it = std::ranges::find_if(
      s.sparse_modes, [&](const SparseMode& m) { return static_cast<double>(m.value) == value; });
  return it == s.sparse_modes.end() ? nullptr : &*it;
}

std::int64_t bandSequence(BandSequence which, std::span<const std::int64_t> seqlens_q) {
  const auto has_queries = [](std::int64_t n) { return n > 0; };
  const auto n = static_cast<std::int64_t>(seqlens_q.size());
  if (which == BandSequence::first_with_queries) {
    const auto first = std::ranges::find_if(seqlens_q, has_queries);
    return first == seqlens_q.end() ? -1 : first - seqlens_q.begin();
  }
  const auto last = std::ranges::find_if(seqlens_q.rbegin(), seqlens_q.rend(), has_queries);
  return last == seqlens_q.rend() ? -1 : n - 1 - (last - seqlens_q.rbegin());
}

std::vector<MaskPrimitive> sparseModeMasks(const ApiSpec& spec, const Case& c,
                                           const SparseMode& mode, std::int64_t b) {
  const Semantics& s = spec.semantics;
  std::vector<MaskPrimitive> masks;
  if (mode.causal) {
    const Tensor* prefix = mode.prefix.empty() ? nullptr : c.tensor(mode.prefix);
    const auto shown =
        prefix ? static_cast<std::int64_t>(prefix->values.at(static_cast<std::size_t>(b))) : 0;
    masks.emplace_back(CausalMask{*mode.causal, 0, shown});
  }
  if (mode.band) {
    masks.emplace_back(BandMask{intParam(spec, c, s.band_pre_param),
                                intParam(spec, c, s.band_next_param), *mode.band});
  }
  if (mode.band_sequence) {  // the band for one sequence, the causal mask for the others
    const auto seqlens_q = sequenceLengths(spec, c, "seqlen_q");
    masks.erase(masks.begin() + (b == bandSequence(*mode.band_sequence, seqlens_q) ? 0 : 1));
  }
  return masks;
}

const SparseMode* modeOfMaskAlone(const ApiSpec& spec, const SparseMode& mode, bool banded) {
  const auto& modes = spec.semantics.sparse_modes;
  const auto it = std::ranges::find_if(modes, [&](const SparseMode& m) {
    const bool same_mask =
        banded ? m.band == mode.band && !m.causal : m.causal == mode.causal && !m.band;
    return same_mask && m.takesMaskAsGiven() == mode.takesMaskAsGiven() && !m.band_sequence;
  });
  return it == modes.end() ? nullptr : &*it;
}

std::vector<std::int64_t> sequenceLengths(const ApiSpec& spec, const Case& c,
                                          const std::string& axis) {
  const std::string& dim = spec.semantics.canonical.at(axis);
  if (const Dim* packed = spec.packedDimOf(dim)) {
    const auto offsets = sequenceOffsets(c, *packed);
    std::vector<std::int64_t> lengths;
    for (std::size_t b = 0; b + 1 < offsets.size(); ++b)
      lengths.push_back(offsets[b + 1] - offsets[b]);
    return lengths;
  }
  const auto dims = observedDims(spec, c);
  const auto batch = static_cast<std::size_t>(dims.at(spec.semantics.canonical.at("batch")));
  std::vector<std::int64_t> lengths(batch, dims.at(dim));
  return lengths;
}

bool keepsSparseModeAssumptions(const ApiSpec& spec, const Case& c) {
  const SparseMode* mode = sparseModeOf(spec, c);
  const Semantics& s = spec.semantics;
  if (!mode || (!mode->band_sequence && !mode->queries_within_keys) || !c.tensor(s.mask_tensor))
    return true;
  const auto seqlens_q = sequenceLengths(spec, c, "seqlen_q");
  const auto seqlens_k = sequenceLengths(spec, c, "seqlen_k");
  for (std::size_t b = 0; mode->queries_within_keys && b < seqlens_q.size(); ++b) {
    if (seqlens_q[b] > seqlens_k[b]) return false;
  }
  const std::int64_t banded =
      mode->band_sequence ? bandSequence(*mode->band_sequence, seqlens_q) : -1;
  if (banded < 0) return true;
  const std::int64_t pre = intParam(spec, c, s.band_pre_param);
  const std::int64_t next = intParam(spec, c, s.band_next_param);
  const std::int64_t sq = seqlens_q[static_cast<std::size_t>(banded)];
  const std::int64_t sk = seqlens_k[static_cast<std::size_t>(banded)];
  const bool cut_after = mode->causal == Alignment::bottom_right;
  return pre >= sk && next >= sq - sk && (!cut_after || next <= 0);
}

std::optional<Shape> compressedMaskShape(const ApiSpec& spec, const Case& c) {
  const SparseMode* mode = sparseModeOf(spec, c);
  if (!mode || mode->takesMaskAsGiven()) return std::nullopt;
  return mode->compressed_mask_shape.empty() ? spec.semantics.compressed_mask_shape
                                             : mode->compressed_mask_shape;
}

std::vector<Shape> expectedShapes(const TensorDecl& decl,
                                  const std::map<std::string, std::int64_t>& dims) {
  std::vector<Shape> shapes;
  for (const auto& names : decl.shapes) {
    Shape shape;
    for (const auto& name : names) shape.push_back(dimOf(dims, name));
    shapes.push_back(std::move(shape));
  }
  return shapes;
}

std::vector<std::int64_t> sequenceOffsets(const Case& c, const Dim& packed) {
  std::vector<std::int64_t> offsets;
  if (packed.offsets_are_ends) offsets.push_back(0);
  for (const double v : c.tensor(packed.offsets)->values)
    offsets.push_back(static_cast<std::int64_t>(v));
  return offsets;
}

Tensor offsetsInput(const Dim& packed, DType dtype, const std::vector<std::int64_t>& offsets) {
  const auto first = offsets.begin() + (packed.offsets_are_ends ? 1 : 0);
  Tensor t = Tensor::zeros(dtype, {std::ssize(offsets) - (first - offsets.begin())});
  std::transform(first, offsets.end(), t.values.begin(),
                 [](std::int64_t v) { return static_cast<double>(v); });
  return t;
}

std::optional<std::size_t> axisOf(const ApiSpec& spec, const std::string& tensor,
                                  const Shape& shape, const std::string& dim) {
  const TensorDecl* decl = spec.input(tensor) ? spec.input(tensor) : spec.output(tensor);
  if (!decl) return std::nullopt;
  const std::ptrdiff_t copies_axis = decl->copies > 0 ? 1 : 0;  // a last axis of copies
  for (const auto& names : decl->shapes) {
    if (std::ssize(names) + copies_axis != std::ssize(shape)) continue;
    const auto it = std::find(names.begin(), names.end(), dim);
    if (it != names.end()) return static_cast<std::size_t>(it - names.begin());
  }
  return std::nullopt;
}

bool isActive(const ApiSpec& spec, const Case& c, const std::string& param) {
  const auto value = c.param(param);
  if (!value) return false;
  const ParamDecl* decl = spec.param(param);
  return !decl || !decl->default_value || *value != *decl->default_value;
}

bool isGiven(const ApiSpec& spec, const Case& c, const std::string& name) {
  return c.tensor(name) != nullptr || isActive(spec, c, name);
}

bool refused(const ApiSpec& spec, const std::string& name) {
  return std::ranges::any_of(spec.rules, [&](const Rule& rule) {
    const auto* absent = std::get_if<AbsentCheck>(&rule.check);
    return absent && absent->name == name && rule.if_given.empty() && rule.if_dims.empty() &&
           rule.unless.empty();
  });
}

bool satisfies(const ApiSpec& spec, const Case& c, const Rule& rule) {
  if (!rule.unless.empty() && isGiven(spec, c, rule.unless)) return true;
  const auto given = [&](const std::string& name) { return isGiven(spec, c, name); };
  if (!std::ranges::all_of(rule.if_given, given)) return true;
  const auto dims_hold = [&](const Check& check) { return holds(spec, c, check); };
  if (!std::ranges::all_of(rule.if_dims, dims_hold)) return true;
  return holds(spec, c, rule.check);
}

bool holdsForDims(const Check& check, const std::map<std::string, std::int64_t>& dims) {
  const auto dim = [&](const std::string& name) { return dimOf(dims, name); };
  return std::visit(
      Overloaded{
          [&](const RangeCheck& r) {
            return (!r.min || dim(r.dim) >= *r.min) && (!r.max || dim(r.dim) <= *r.max) &&
                   (r.max_dim.empty() || dim(r.dim) <= dim(r.max_dim) * r.max_times) &&
                   (r.min_dim.empty() || dim(r.dim) >= dim(r.min_dim));
          },
          [&](const MultipleOfCheck& m) { return (dim(m.dim) % m.factor == 0) != m.negated; },
          [&](const DividesCheck& d) { return dim(d.dim) > 0 && dim(d.other) % dim(d.dim) == 0; },
          [&](const EqualsCheck& e) { return (dim(e.dim) == dim(e.other)) != e.differs; },
          [&](const OneOfCheck& o) {
            return (std::ranges::find(o.values, dim(o.dim)) != o.values.end()) != o.negated;
          },
          [](const auto&) { return true; },
      },
      check);
}

bool holds(const ApiSpec& spec, const Case& c, const Check& check) {
  const auto dims = observedDims(spec, c);
  const auto dim = [&](const std::string& name) { return dimOf(dims, name); };
  const auto presentTensors = [&](const std::vector<std::string>& names) {
    std::vector<const Tensor*> out;
    for (const auto& name : names) {
      if (const Tensor* t = c.tensor(name)) out.push_back(t);
    }
    return out;
  };
  return std::visit(
      Overloaded{
          [&](const RangeCheck& r) { return holdsForDims(r, dims); },
          [&](const MultipleOfCheck& m) { return holdsForDims(m, dims); },
          [&](const DividesCheck& d) { return holdsForDims(d, dims); },
          [&](const EqualsCheck& e) { return holdsForDims(e, dims); },
          [&](const OneOfCheck& o) { return holdsForDims(o, dims); },
          [&](const DTypeCheck& d) {
            const Tensor* same = d.or_same_as.empty() ? nullptr : c.tensor(d.or_same_as);
            return std::all_of(d.tensors.begin(), d.tensors.end(), [&](const std::string& name) {
              const Tensor* t = c.tensor(name);
              return !t || (same && t->dtype == same->dtype) ||
                     std::find(d.dtypes.begin(), d.dtypes.end(), t->dtype) != d.dtypes.end();
            });
          },
          [&](const SameDTypeCheck& s) {
            const auto tensors = presentTensors(s.tensors);
            return std::all_of(tensors.begin(), tensors.end(),
                               [&](const Tensor* t) { return t->dtype == tensors.front()->dtype; });
          },
          [&](const ShapeCheck& s) {
            const Tensor* t = c.tensor(s.tensor);
            if (!t) return true;
            if (const auto compressed = compressedMaskShape(spec, c);
                compressed && s.tensor == spec.semantics.mask_tensor)
              return t->shape == *compressed;
            const TensorDecl& decl = *spec.input(s.tensor);
            const auto expected = expectedShapes(decl, dims);
            for (std::size_t i = 0; i < expected.size(); ++i) {
              if (matchesDeclared(decl, t->shape, expected[i], decl.shapes[i])) return true;
            }
            return false;
          },
          [&](const NotTogetherCheck& n) {
            return !std::all_of(n.names.begin(), n.names.end(),
                                [&](const std::string& name) { return isGiven(spec, c, name); });
          },
          [&](const TogetherCheck& t) {
            const auto given = std::ranges::count_if(
                t.names, [&](const std::string& name) { return isGiven(spec, c, name); });
            return given == 0 || given == std::ssize(t.names);
          },
          [&](const ActiveCheck& a) { return isGiven(spec, c, a.name); },
          [&](const AbsentCheck& a) { return !isGiven(spec, c, a.name); },
          [&](const IndexRangeCheck& r) {
            const Tensor* t = c.tensor(r.tensor);
            return !t || std::ranges::all_of(t->values, [&](double v) {
              return v >= 0 && v < static_cast<double>(dim(r.below));
            });
          },
          [&](const ParamRangeCheck& r) {
            const auto value = c.param(r.param);
            const double v = value ? asNumber(*value).value_or(0) : 0;
            return !value || ((!r.min || v >= static_cast<double>(*r.min)) &&
                              v <= static_cast<double>(r.max));
          },
      },
      check);
}

bool inRegion(const ApiSpec& spec, const Case& c, const PathDecl& path) {
  return std::all_of(path.when.begin(), path.when.end(),
                     [&](const Check& check) { return holds(spec, c, check); });
}

std::string describeRegion(const PathDecl& path) {
  if (path.when.empty()) return "everywhere";
  std::vector<std::string> parts;
  for (const auto& check : path.when) parts.push_back(describeCheck(check));
  return fmt::format("{}", fmt::join(parts, " and "));
}

std::vector<std::string> brokenRules(const ApiSpec& spec, const Case& c) {
  std::vector<std::string> broken;
  for (const auto& rule : spec.rules) {
    if (!satisfies(spec, c, rule)) broken.push_back(rule.id);
  }
  return broken;
}

bool keepsAssumptions(const ApiSpec& spec, const Case& c) {
  return keepsSparseModeAssumptions(spec, c) &&
         std::ranges::all_of(spec.assumptions, [&](const Rule& assumption) {
           return satisfies(spec, c, assumption);
         });
}

std::vector<std::string> dimsRead(const Check& check) {
  return std::visit(Overloaded{
                        [](const RangeCheck& r) {
                          std::vector<std::string> read{r.dim};
                          for (const auto* bound : {&r.min_dim, &r.max_dim}) {
                            if (!bound->empty()) read.push_back(*bound);
                          }
                          return read;
                        },
                        [](const MultipleOfCheck& m) { return std::vector<std::string>{m.dim}; },
                        [](const DividesCheck& d) {
                          return std::vector<std::string>{d.dim, d.other};
                        },
                        [](const EqualsCheck& e) {
                          return std::vector<std::string>{e.dim, e.other};
                        },
                        [](const OneOfCheck& o) { return std::vector<std::string>{o.dim}; },
                        [](const auto&) { return std::vector<std::string>{}; },
                    },
                    check);
}

std::string describeCheck(const Check& check) {
  return std::visit(
      Overloaded{
          [](const RangeCheck& r) {
            if (!r.max_dim.empty() && r.max_times != 1)
              return fmt::format("{} <= {} * {}", r.dim, r.max_times, r.max_dim);
            if (!r.max_dim.empty()) return fmt::format("{} <= {}", r.dim, r.max_dim);
            if (!r.min_dim.empty()) return fmt::format("{} >= {}", r.dim, r.min_dim);
            if (r.min && r.max) return fmt::format("{} <= {} <= {}", *r.min, r.dim, *r.max);
            if (r.min) return fmt::format("{} >= {}", r.dim, *r.min);
            return fmt::format("{} <= {}", r.dim, *r.max);
          },
          [](const MultipleOfCheck& m) {
            return fmt::format("{} % {} {} 0", m.dim, m.factor, m.negated ? "!=" : "==");
          },
          [](const DividesCheck& d) { return fmt::format("{} % {} == 0", d.other, d.dim); },
          [](const EqualsCheck& e) {
            return fmt::format("{} {} {}", e.dim, e.differs ? "!=" : "==", e.other);
          },
          [](const OneOfCheck& o) {
            return fmt::format("{} {}in {{{}}}", o.dim, o.negated ? "not " : "",
                               fmt::join(o.values, ", "));
          },
          [](const DTypeCheck& d) {
            std::vector<std::string_view> names;
            for (const DType t : d.dtypes) names.push_back(dtypeName(t));
            const std::string same = d.or_same_as.empty() ? "" : " or dtype(" + d.or_same_as + ")";
            return fmt::format("dtype({}) in {{{}}}{}", fmt::join(d.tensors, ", "),
                               fmt::join(names, ", "), same);
          },
          [](const SameDTypeCheck& s) {
            return fmt::format("same dtype({})", fmt::join(s.tensors, ", "));
          },
          [](const ShapeCheck& s) { return fmt::format("shape({}) as declared", s.tensor); },
          [](const NotTogetherCheck& n) {
            return fmt::format("not all given: {}", fmt::join(n.names, ", "));
          },
          [](const TogetherCheck& t) {
            return fmt::format("all or none given: {}", fmt::join(t.names, ", "));
          },
          [](const ActiveCheck& a) { return fmt::format("{} given", a.name); },
          [](const AbsentCheck& a) { return fmt::format("{} not given (unsupported)", a.name); },
          [](const IndexRangeCheck& r) {
            return fmt::format("0 <= {}[...] < {}", r.tensor, r.below);
          },
          [](const ParamRangeCheck& r) {
            if (!r.min) return fmt::format("{} <= {}", r.param, r.max);
            return fmt::format("{} <= {} <= {}", *r.min, r.param, r.max);
          },
      },
      check);
}

std::string describeRule(const Rule& rule) {
  std::string text = describeCheck(rule.check);
  if (!rule.if_given.empty())
    text += fmt::format(" when {} {} given", fmt::join(rule.if_given, " and "),
                        rule.if_given.size() > 1 ? "are" : "is");
  for (const auto& condition : rule.if_dims)
    text += fmt::format(" when {}", describeCheck(condition));
  if (!rule.unless.empty()) text += fmt::format(" unless {} is given", rule.unless);
  return text;
}

}  // namespace attnconf::spec
