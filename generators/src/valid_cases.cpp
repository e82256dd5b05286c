#include <algorithm>
#include <iterator>
#include <numeric>
#include <optional>

#include "attnconf/generators/cases.h"
#include "attnconf/spec/rules.h"
#include "detail/partners.h"
#include "detail/sequence.h"

namespace attnconf::gen {
namespace {

using spec::ApiSpec;
using Dims = std::map<std::string, std::int64_t>;

std::int64_t kindCap(spec::DimKind kind, const Limits& limits) {
  switch (kind) {
    case spec::DimKind::batch:
      return limits.max_batch;
    case spec::DimKind::seqlen:
      return limits.max_seqlen;
    case spec::DimKind::heads:
      return limits.max_heads;
    case spec::DimKind::head_dim:
      return limits.max_head_dim;
  }
  return 1;
}

// Whether input `input` has `dim` as an axis in one of its declared shapes.
bool carries(const ApiSpec& spec, const std::string& input, const std::string& dim) {
  const spec::TensorDecl* decl = spec.input(input);
  return decl && std::ranges::any_of(decl->shapes, [&](const auto& shape) {
           return std::ranges::find(shape, dim) != shape.end();
         });
}

// Whether only optional inputs have `dim` as an axis (and some input does).
bool onlyOptionalInputsCarry(const ApiSpec& spec, const std::string& dim) {
  bool carried = false;
  for (const auto& decl : spec.inputs) {
    if (!carries(spec, decl.name, dim)) continue;
    if (!decl.optional) return false;
    carried = true;
  }
  return carried;
}

// Whether `value` for `dim` keeps every dim rule that reads it (or a dim summed or multiplied
// from it) and reads only dims known by now. A rule that applies only while some inputs are
// given counts when each has `dim` as an axis: without them, the dim means nothing.
bool allowed(const ApiSpec& spec, const std::string& dim, std::int64_t value, const Dims& chosen) {
  Dims probe = chosen;  // dim rules read nothing else
  probe[dim] = value;
  std::vector<std::string> decided{dim};
  for (const auto& d : spec.dims) {  // derived dims whose parts are now all known
    const auto& parts = d.sum_of.empty() ? d.product_of : d.sum_of;
    const auto known = [&](const std::string& p) {
      return spec::isConstantPart(p) || probe.contains(p);
    };
    if (d.fromParts() && !probe.contains(d.name) && std::ranges::all_of(parts, known)) {
      probe[d.name] = spec::derivedExtent(d, probe);
      decided.push_back(d.name);
    }
  }
  const auto inProbe = [&](const spec::Check& check) {
    return std::ranges::all_of(spec::dimsRead(check),
                               [&](const auto& d) { return probe.contains(d); });
  };
  const auto kept = [&](const spec::Rule& rule) {
    auto read = spec::dimsRead(rule.check);
    // A rule under dim conditions alone applies once they are known to hold (the incremental
    // branch's head dim, for one query); one that also names inputs is left to validRecipes'
    // filter.
    const bool conditions_hold =
        rule.if_dims.empty() ||
        (rule.if_given.empty() && std::ranges::all_of(rule.if_dims, [&](const auto& condition) {
           return inProbe(condition) && spec::holdsForDims(condition, probe);
         }));
    for (const auto& condition : rule.if_dims)
      std::ranges::copy(spec::dimsRead(condition), std::back_inserter(read));
    const bool applies =
        rule.unless.empty() && conditions_hold &&
        std::ranges::all_of(rule.if_given, [&](const auto& in) { return carries(spec, in, dim); });
    const bool decidable =
        applies &&
        std::ranges::any_of(read, [&](const auto& d) { return std::ranges::count(decided, d); }) &&
        inProbe(rule.check);
    return !decidable || spec::holdsForDims(rule.check, probe);
  };
  return std::ranges::all_of(spec.rules, kept) && std::ranges::all_of(spec.assumptions, kept);
}

// The smallest extent the rules allow when none is under the cap (flash-attn's pages hold a
// multiple of 256 keys, its rotary table at least the cache's length): the rules win over the
// cap, by as little as they need. Searched up to four caps or twice the largest dim chosen.
std::vector<std::int64_t> smallestOverCap(const ApiSpec& spec, const spec::Dim& dim,
                                          const Dims& chosen, std::int64_t cap) {
  std::int64_t largest = 4 * cap;
  for (const auto& [name, extent] : chosen) largest = std::max(largest, 2 * extent);
  for (std::int64_t v = cap + 1; v <= largest; ++v) {
    if (allowed(spec, dim.name, v, chosen)) return {v};
  }
  return {};
}

rc::Gen<Dims> dimsFrom(const ApiSpec& spec, const Limits& limits, std::size_t index, Dims chosen) {
  if (index == spec.dims.size()) return rc::gen::just(std::move(chosen));
  const spec::Dim dim = spec.dims[index];
  if (dim.derived()) {  // its parts come before it; a packed dim's total comes with its offsets
    chosen[dim.name] = dim.packs.empty() ? spec::derivedExtent(dim, chosen) : 0;
    return dimsFrom(spec, limits, index + 1, std::move(chosen));
  }
  return rc::gen::withSize([=, &spec](int size) {
    const std::int64_t cap = kindCap(dim.kind, limits);
    // Batches and heads are cheap and their stride bugs need more than one: a few from the start.
    const bool cheap = dim.kind == spec::DimKind::batch || dim.kind == spec::DimKind::heads;
    const std::int64_t floor = cheap ? std::min<std::int64_t>(cap, 4) : 1;
    const std::int64_t grown = std::max<std::int64_t>(floor, cap * std::max(size, 1) / 100);
    auto candidates = dimCandidates(spec, dim, chosen, grown);
    if (candidates.empty()) candidates = dimCandidates(spec, dim, chosen, cap);
    if (candidates.empty()) candidates = smallestOverCap(spec, dim, chosen, cap);
    // An optional input's axis can be empty (a head too small for any rotary table).
    if (candidates.empty() && onlyOptionalInputsCarry(spec, dim.name)) candidates = {0};
    if (candidates.empty()) return rc::gen::just(chosen);  // rejected by validRecipes' filter
    std::vector<std::int64_t> siblings;                    // chosen dims of the same kind
    for (const auto& other : spec.dims) {
      if (other.kind == dim.kind && chosen.contains(other.name))
        siblings.push_back(chosen.at(other.name));
    }
    return rc::gen::mapcat(dimValues(std::move(candidates), dim.kind, siblings),
                           [=, &spec](std::int64_t v) {
                             Dims next = chosen;
                             next[dim.name] = v;
                             return dimsFrom(spec, limits, index + 1, std::move(next));
                           });
  });
}

// The query's dtype options narrowed to those the implementation takes (kept whole when it
// takes none of them: its calls then fail visibly instead of never running).
std::vector<DType> takenBy(const Limits& limits, std::vector<DType> options) {
  std::vector<DType> taken;
  std::ranges::copy_if(options, std::back_inserter(taken), [&](DType d) {
    return std::ranges::find(limits.dtypes, d) != limits.dtypes.end();
  });
  return limits.dtypes.empty() || taken.empty() ? options : taken;
}

// One dtype per same_dtype group (the first member's), copied to the rest of the group.
rc::Gen<std::map<std::string, DType>> dtypeChoices(const ApiSpec& spec, const Limits& limits) {
  std::map<std::string, std::string> leader;
  for (const auto& rule : spec.rules) {
    if (const auto* same = std::get_if<spec::SameDTypeCheck>(&rule.check)) {
      for (const auto& t : same->tensors) leader.emplace(t, same->tensors.front());
    }
  }
  std::vector<std::string> leaders;
  std::vector<rc::Gen<DType>> picks;
  for (const auto& decl : spec.inputs) {
    if (leader.contains(decl.name) && leader.at(decl.name) != decl.name) continue;
    leaders.push_back(decl.name);
    const bool query =
        decl.name == spec.semantics.query ||
        (leader.contains(spec.semantics.query) && leader.at(spec.semantics.query) == decl.name);
    const auto options = allowedDTypes(spec, decl);
    picks.push_back(rc::gen::elementOf(query ? takenBy(limits, options) : options));
  }
  return rc::gen::map(detail::sequence(std::move(picks)),
                      [&spec, leaders, leader](const std::vector<DType>& chosen) {
                        std::map<std::string, DType> out;
                        for (std::size_t i = 0; i < leaders.size(); ++i)
                          out[leaders[i]] = chosen[i];
                        for (const auto& decl : spec.inputs) {
                          if (leader.contains(decl.name))
                            out[decl.name] = out.at(leader.at(decl.name));
                        }
                        return out;
                      });
}

using MaybeParam = std::optional<ParamValue>;

// A parameter's value, or nothing to leave it at the vendor's default; shrinks to the default.
rc::Gen<MaybeParam> paramChoice(const spec::ParamDecl& p, const Dims& dims) {
  const auto some = [](auto gen) {
    return rc::gen::map(gen, [](auto v) { return MaybeParam(ParamValue(v)); });
  };
  switch (p.type) {
    case spec::ParamType::boolean:
      return rc::gen::oneOf(rc::gen::just(MaybeParam()), some(rc::gen::arbitrary<bool>()));
    case spec::ParamType::integer: {
      if (!p.generate_choices.empty()) {
        return rc::gen::oneOf(rc::gen::just(MaybeParam()),
                              some(rc::gen::elementOf(p.generate_choices)));
      }
      const auto lo = static_cast<std::int64_t>(p.generate_lo);
      const auto hi = static_cast<std::int64_t>(p.generate_hi);
      // A short range is a choice among modes (torch_npu's sparse_mode): each as likely at any
      // size, where inRange favours the small values while the size is small.
      constexpr std::int64_t kModes = 8;
      if (hi < lo || hi - lo >= kModes) {
        return rc::gen::oneOf(rc::gen::just(MaybeParam()),
                              some(rc::gen::inRange<std::int64_t>(lo, hi + 1)));
      }
      std::vector<std::int64_t> modes(static_cast<std::size_t>(hi - lo + 1));
      std::iota(modes.begin(), modes.end(), lo);
      return rc::gen::oneOf(rc::gen::just(MaybeParam()), some(rc::gen::elementOf(modes)));
    }
    case spec::ParamType::floating: {
      const double lo = p.generate_lo, hi = p.generate_hi;
      // Three significant steps per decade are plenty and keep counterexamples readable.
      return rc::gen::weightedOneOf<MaybeParam>(
          {{2, rc::gen::just(MaybeParam())},
           {3, some(rc::gen::map(rc::gen::inRange(0, 1001),
                                 [=](int k) { return lo + (hi - lo) * k / 1000.0; }))}});
    }
    case spec::ParamType::int_pair: {
      const std::int64_t hi = p.generate_hi_dim.empty() ? static_cast<std::int64_t>(p.generate_hi)
                                                        : dims.at(p.generate_hi_dim);
      // A negative lower bound is -1, "unbounded" (flash-attn); JAX's sizes start at 0.
      const auto sized = rc::gen::inRange<std::int64_t>(0, hi + 1);
      const auto side = p.generate_lo < 0 ? rc::gen::weightedOneOf<std::int64_t>(
                                                {{1, rc::gen::just<std::int64_t>(-1)}, {2, sized}})
                                          : sized;
      return rc::gen::oneOf(
          rc::gen::just(MaybeParam()),
          some(
              rc::gen::map(rc::gen::pair(side, side), [](std::pair<std::int64_t, std::int64_t> lr) {
                return std::vector<std::int64_t>{lr.first, lr.second};
              })));
    }
    case spec::ParamType::string:  // always fixed, set by materialize
      break;
  }
  return rc::gen::just(MaybeParam());
}

rc::Gen<std::map<std::string, ParamValue>> paramChoices(const ApiSpec& spec, const Dims& dims) {
  std::vector<std::string> names;
  std::vector<rc::Gen<MaybeParam>> picks;
  for (const auto& p : spec.params) {
    // Declared but never exercised by valid cases; or set from a dim by materialize.
    if (!p.unchecked.empty() || !p.extent_of.empty() || p.fixed || spec::refused(spec, p.name))
      continue;
    names.push_back(p.name);
    picks.push_back(paramChoice(p, dims));
  }
  return rc::gen::map(detail::sequence(std::move(picks)),
                      [names](const std::vector<MaybeParam>& values) {
                        std::map<std::string, ParamValue> out;
                        for (std::size_t i = 0; i < names.size(); ++i) {
                          if (values[i]) out[names[i]] = *values[i];
                        }
                        return out;
                      });
}

// Which inputs are passed and with which of their declared shapes; optional ones shrink to
// absent.
rc::Gen<std::map<std::string, std::size_t>> shapeChoices(const ApiSpec& spec) {
  std::vector<std::string> names;
  std::vector<rc::Gen<int>> picks;
  for (const auto& decl : spec.inputs) {
    names.push_back(decl.name);
    const int alternatives = static_cast<int>(decl.shapes.size());
    if (decl.optional && spec::refused(spec, decl.name)) {
      picks.push_back(rc::gen::just(-1));
      continue;
    }
    picks.push_back(decl.optional
                        ? rc::gen::weightedOneOf<int>(
                              {{2, rc::gen::just(-1)}, {1, rc::gen::inRange(0, alternatives)}})
                        : rc::gen::inRange(0, alternatives));
  }
  return rc::gen::map(detail::sequence(std::move(picks)), [names](const std::vector<int>& chosen) {
    std::map<std::string, std::size_t> out;
    for (std::size_t i = 0; i < names.size(); ++i) {
      if (chosen[i] >= 0) out[names[i]] = static_cast<std::size_t>(chosen[i]);
    }
    return out;
  });
}

// For each input declared `broadcast`, the axes drawn at extent 1: none in two draws of three
// (shrinking to none), any subset otherwise.
rc::Gen<std::map<std::string, std::uint32_t>> broadcastChoices(const ApiSpec& spec) {
  std::vector<std::string> names;
  std::vector<rc::Gen<std::uint32_t>> picks;
  for (const auto& decl : spec.inputs) {
    if (!decl.broadcast) continue;
    std::size_t rank = 0;
    for (const auto& shape : decl.shapes) rank = std::max(rank, shape.size());
    // The axes that may be 1: those of the declared broadcast dims, or all.
    std::uint32_t allowed = (1U << rank) - 1;
    if (!decl.broadcast_dims.empty()) {
      allowed = 0;
      const auto& longest =
          *std::ranges::max_element(decl.shapes, {}, &std::vector<std::string>::size);
      for (std::size_t a = 0; a < longest.size(); ++a) {
        if (std::ranges::find(decl.broadcast_dims, longest[a]) != decl.broadcast_dims.end())
          allowed |= 1U << a;
      }
    }
    names.push_back(decl.name);
    picks.push_back(rc::gen::weightedOneOf<std::uint32_t>(
        {{2, rc::gen::just(0U)},
         {1, rc::gen::map(rc::gen::inRange<std::uint32_t>(0, 1U << rank),
                          [allowed](std::uint32_t bits) { return bits & allowed; })}}));
  }
  return rc::gen::map(detail::sequence(std::move(picks)),
                      [names](const std::vector<std::uint32_t>& chosen) {
                        std::map<std::string, std::uint32_t> out;
                        for (std::size_t i = 0; i < names.size(); ++i) {
                          if (chosen[i] != 0) out[names[i]] = chosen[i];
                        }
                        return out;
                      });
}

// Whether every input of lengths that leave room for others can (a cache longer than the keys
// the call appends).
bool leavesRoom(const ApiSpec& spec, const Case& c) {
  return std::ranges::all_of(spec.inputs, [&](const spec::TensorDecl& decl) {
    return decl.room_for.empty() || c.dims.at(decl.lengths_of) >= c.dims.at(decl.room_for);
  });
}

}  // namespace

std::vector<DType> allowedDTypes(const ApiSpec& spec, const spec::TensorDecl& decl) {
  std::vector<DType> options = decl.dtype                     ? std::vector<DType>{*decl.dtype}
                               : !decl.covered_dtypes.empty() ? decl.covered_dtypes
                                                              : allDTypes();
  for (const auto& rule : spec.rules) {
    const auto* check = std::get_if<spec::DTypeCheck>(&rule.check);
    if (!check || std::ranges::find(check->tensors, decl.name) == check->tensors.end()) continue;
    // A rule under conditions (flash-attn 3's fp8 head sizes) narrows only some calls:
    // validRecipes' filter decides once the dims are known.
    if (!rule.if_given.empty() || !rule.if_dims.empty() || !rule.unless.empty()) continue;
    // With `or_same_as`, any floating dtype may match the other input's: validRecipes' filter
    // decides once both are drawn.
    const bool maybe_same = !check->or_same_as.empty();
    std::erase_if(options, [&](DType d) {
      return std::ranges::find(check->dtypes, d) == check->dtypes.end() &&
             !(maybe_same && isFloating(d));
    });
  }
  return options;
}

std::vector<std::int64_t> dimCandidates(const ApiSpec& spec, const spec::Dim& dim,
                                        const Dims& chosen, std::int64_t cap) {
  std::vector<std::int64_t> out;
  for (std::int64_t v = 1; v <= cap; ++v) {
    if (allowed(spec, dim.name, v, chosen)) out.push_back(v);
  }
  return out;
}

rc::Gen<std::int64_t> dimValues(std::vector<std::int64_t> candidates, spec::DimKind kind,
                                const std::vector<std::int64_t>& siblings) {
  const auto edge = [&](std::int64_t v) {
    if (v == candidates.front() || v == candidates.back()) return true;
    if (std::ranges::find(siblings, v) != siblings.end()) return true;  // e.g. Sq == Sk
    if (kind == spec::DimKind::heads) return v % 4 == 0;  // GQA groups of 4 and 8 are typical
    return kind == spec::DimKind::seqlen && std::ranges::any_of(kTileEdges, [&](std::int64_t t) {
             const std::int64_t r = v % t;
             return v >= t - 1 && (r == 0 || r == 1 || r == t - 1);
           });
  };
  std::vector<std::int64_t> edges, equal;
  std::ranges::copy_if(candidates, std::back_inserter(edges), edge);
  std::ranges::copy_if(candidates, std::back_inserter(equal), [&](std::int64_t v) {
    return std::ranges::find(siblings, v) != siblings.end();
  });
  // A second head_dim (SDPA's Ev) usually equals the first: kernels take their fast path there,
  // so half the draws keep them equal.
  if (kind == spec::DimKind::head_dim && !equal.empty()) {
    return rc::gen::weightedOneOf<std::int64_t>({{1, rc::gen::elementOf(candidates)},
                                                 {1, rc::gen::elementOf(edges)},
                                                 {2, rc::gen::elementOf(equal)}});
  }
  return rc::gen::weightedOneOf<std::int64_t>(
      {{2, rc::gen::elementOf(candidates)}, {1, rc::gen::elementOf(edges)}});
}

rc::Gen<Recipe> validRecipes(const ApiSpec& spec, const Limits& limits) {
  const auto recipes =
      rc::gen::mapcat(dimsFrom(spec, limits, 0, {}), [&spec, limits](const Dims& dims) {
        return rc::gen::apply(
            [dims](std::map<std::string, DType> dtypes, std::map<std::string, std::size_t> shapes,
                   std::map<std::string, ParamValue> params, std::uint64_t seed, double magnitude,
                   std::map<std::string, std::uint32_t> broadcast) {
              return Recipe{dims, std::move(dtypes), std::move(shapes),   std::move(params),
                            seed, magnitude,         std::move(broadcast)};
            },
            dtypeChoices(spec, limits), shapeChoices(spec), paramChoices(spec, dims),
            rc::gen::noShrink(rc::gen::arbitrary<std::uint64_t>()),
            rc::gen::weightedOneOf<double>({{4, rc::gen::just(1.0)}, {1, rc::gen::just(8.0)}}),
            broadcastChoices(spec));
      });
  // A call that gives one of a pair gives the other (flash-attn's k with v, and with them
  // cache_seqlens): drawn alone, each would make most such calls invalid.
  const auto whole =
      rc::gen::map(recipes, [&spec](Recipe r) { return withPartners(spec, std::move(r)); });
  return rc::gen::suchThat(whole, [&spec](const Recipe& r) {
    if (r.dims.size() != spec.dims.size()) return false;
    const Case c = materialize(spec, r);
    return leavesRoom(spec, c) && spec::brokenRules(spec, c).empty() &&
           spec::keepsAssumptions(spec, c);
  });
}

rc::Gen<Case> validCases(const ApiSpec& spec, const Limits& limits) {
  return rc::gen::map(validRecipes(spec, limits),
                      [&spec](const Recipe& r) { return materialize(spec, r); });
}

}  // namespace attnconf::gen
