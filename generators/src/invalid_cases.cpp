#include <algorithm>
#include <optional>

#include "attnconf/generators/cases.h"
#include "attnconf/spec/rules.h"
#include "detail/partners.h"

namespace attnconf::gen {
namespace {

using detail::withGiven;
using detail::withTensors;
using spec::ApiSpec;

// Collects mutations that break exactly the target rule; any that break another rule too (or
// an assumption), or none, are dropped, so every invalid case isolates one rule.
class Mutations {
 public:
  Mutations(const ApiSpec& spec, const spec::Rule& rule) : spec_(spec), rule_(rule) {}

  void tryRecipe(const Recipe& r) { tryCase(materialize(spec_, withPartners(r))); }

  // `r` with what the rules other than the target ask to be given alongside what it gives, so
  // that a case breaks only the target.
  Recipe withPartners(Recipe r) const { return gen::withPartners(spec_, std::move(r), rule_.id); }

  void tryCase(Case c) {
    if (spec::brokenRules(spec_, c) != std::vector<std::string>{rule_.id} ||
        !spec::keepsAssumptions(spec_, c))
      return;
    c.broken_rule = rule_.id;
    if (std::ranges::find(found_, c) == found_.end()) found_.push_back(std::move(c));
  }

  // `dim` set to each of `values`; a derived dim through one of its parts (the first part that
  // gives it the value), since its own extent is always computed from them.
  void tryDim(const Recipe& base, const std::string& dim,
              std::initializer_list<std::int64_t> values) {
    for (const std::int64_t v : values) {
      if (v < 0) continue;
      if (auto r = withExtent(base, dim, v)) tryRecipe(withTiedDims(std::move(*r)));
    }
  }

  std::vector<Case> take() { return std::move(found_); }

 private:
  // `r` with each plain dim that an unconditional `equals` rule other than the target ties to
  // another dim set to that dim's extent (torch_npu's tensors of num_seqs rows, as the padding
  // changes num_seqs): a changed dim breaks the target alone.
  Recipe withTiedDims(Recipe r) const {
    for (const auto& rule : spec_.rules) {
      const auto* tie = std::get_if<spec::EqualsCheck>(&rule.check);
      if (!tie || tie->differs || rule.id == rule_.id || !rule.if_dims.empty() ||
          !rule.if_given.empty() || !rule.unless.empty() || spec_.dim(tie->dim)->derived())
        continue;
      const spec::Dim& other = *spec_.dim(tie->other);
      r.dims[tie->dim] =
          other.fromParts() ? spec::derivedExtent(other, r.dims) : r.dims.at(tie->other);
    }
    return r;
  }

  std::optional<Recipe> withExtent(Recipe r, const std::string& dim, std::int64_t v) const {
    const spec::Dim* d = spec_.dim(dim);
    if (!d->fromParts()) {
      r.dims[dim] = v;
      return r;
    }
    const auto& parts = d->sum_of.empty() ? d->product_of : d->sum_of;
    for (const auto& part : parts) {
      if (spec::isConstantPart(part) || spec_.dim(part)->derived()) continue;
      const std::int64_t original = r.dims.at(part);
      for (std::int64_t x = 1; x <= v; ++x) {
        r.dims[part] = x;
        if (spec::derivedExtent(*d, r.dims) == v) return r;
      }
      r.dims[part] = original;
    }
    return std::nullopt;
  }

  const ApiSpec& spec_;
  const spec::Rule& rule_;
  std::vector<Case> found_;
};

void breakShape(const ApiSpec& spec, const std::string& name, const Recipe& base, Mutations& m) {
  const Recipe r = m.withPartners(withTensors(spec, base, {name}));
  const Case valid = materialize(spec, r);
  const Tensor& original = valid.tensors.at(name);
  std::vector<Shape> shapes;
  for (std::size_t axis = 0; axis < original.shape.size(); ++axis) {
    for (const std::int64_t delta : {1, -1}) {
      Shape s = original.shape;
      s[axis] += delta;
      if (s[axis] >= 1) shapes.push_back(s);
    }
  }
  Shape longer = original.shape;
  longer.push_back(1);
  shapes.push_back(longer);
  if (!original.shape.empty())
    shapes.emplace_back(original.shape.begin(), original.shape.end() - 1);
  // A compressed mask keeps its triangle (and stays cheap to fill at 2048 x 2048).
  const bool compressed =
      name == spec.semantics.mask_tensor && spec::compressedMaskShape(spec, valid);
  for (const Shape& shape : shapes) {
    Case c = valid;
    Tensor& t = c.tensors.at(name);
    t.shape = shape;
    if (compressed)
      t = compressedMask(t.dtype, shape);
    else
      fillInput(spec, name, valid.dims, r.data_seed, r.magnitude, t);
    m.tryCase(std::move(c));
  }
}

// One entry of an index tensor moved just out of range, above and below, at the first and
// the last entry (a page past the last one, or -1).
void breakIndices(const ApiSpec& spec, const spec::IndexRangeCheck& check, const Recipe& base,
                  Mutations& m) {
  const Case valid = materialize(spec, m.withPartners(withTensors(spec, base, {check.tensor})));
  const auto extent = static_cast<double>(valid.dims.at(check.below));
  const std::size_t count = valid.tensors.at(check.tensor).values.size();
  if (count == 0) return;
  for (const std::size_t at : {std::size_t{0}, count - 1}) {
    for (const double index : {extent, -1.0}) {
      Case c = valid;
      c.tensors.at(check.tensor).values[at] = index;
      m.tryCase(std::move(c));
    }
  }
}

// `r` with each of a rule's dim conditions met where setting a plain dim meets it (the one query
// of torch_npu's incremental branch): a rule can only be broken where it applies.
Recipe withDimConditions(const ApiSpec& spec, Recipe r,
                         const std::vector<spec::Check>& conditions) {
  for (const auto& condition : conditions) {
    std::visit(
        [&](const auto& check) {
          using T = std::decay_t<decltype(check)>;
          if constexpr (std::is_same_v<T, spec::RangeCheck> ||
                        std::is_same_v<T, spec::OneOfCheck> ||
                        std::is_same_v<T, spec::MultipleOfCheck>) {
            const auto it = r.dims.find(check.dim);
            if (it == r.dims.end() || spec.dim(check.dim)->fromParts()) return;
            if constexpr (std::is_same_v<T, spec::RangeCheck>) {
              if (check.max) it->second = std::min(it->second, *check.max);
              if (check.min) it->second = std::max(it->second, *check.min);
            } else if constexpr (std::is_same_v<T, spec::MultipleOfCheck>) {
              const std::int64_t f = check.factor, v = it->second;  // up to the next multiple
              if (!check.negated) it->second = std::max(f, (v + f - 1) / f * f);
              if (check.negated && v % f == 0) it->second = v + 1;
            } else if (!check.negated) {
              if (std::ranges::find(check.values, it->second) == check.values.end())
                it->second = check.values.front();
            } else {
              // Doubling keeps every power-of-two alignment the other rules ask of the dim.
              while (std::ranges::find(check.values, it->second) != check.values.end())
                it->second = it->second > 0 ? it->second * 2 : 1;
            }
          }
        },
        condition);
  }
  return r;
}

}  // namespace

std::vector<Case> mutationsBreaking(const ApiSpec& spec, const spec::Rule& rule,
                                    const Recipe& given) {
  Mutations m(spec, rule);
  // A rule with `unless` applies only while that name is not given, one with `if` while the call
  // gives what it names and keeps its dim conditions.
  Recipe valid = withDimConditions(spec, given, rule.if_dims);
  valid.params.erase(rule.unless);
  valid.shape_choice.erase(rule.unless);
  for (const auto& name : rule.if_given) valid = withGiven(spec, std::move(valid), name);
  if (!rule.if_given.empty()) valid = m.withPartners(std::move(valid));
  std::visit(
      [&](const auto& check) {
        using T = std::decay_t<decltype(check)>;
        if constexpr (std::is_same_v<T, spec::RangeCheck>) {
          const auto dims = materialize(spec, valid).dims;
          const std::int64_t lo = check.min_dim.empty() ? check.min.value_or(1)
                                                        : dims.at(check.min_dim),
                             hi = check.max_dim.empty() ? check.max.value_or(lo)
                                                        : dims.at(check.max_dim) * check.max_times;
          m.tryDim(valid, check.dim, {lo - 1, lo - 2, hi + 1, hi + 8, 2 * hi});
        } else if constexpr (std::is_same_v<T, spec::MultipleOfCheck>) {
          const std::int64_t v = valid.dims.at(check.dim);
          m.tryDim(valid, check.dim, {v + 1, v - 1, v + check.factor / 2, check.factor / 2, 1});
        } else if constexpr (std::is_same_v<T, spec::DividesCheck>) {
          const std::int64_t other = valid.dims.at(check.other);
          m.tryDim(valid, check.dim, {other + 1, 0});
          for (std::int64_t v = 2; v < other; ++v) {
            if (other % v != 0) m.tryDim(valid, check.dim, {v});
          }
        } else if constexpr (std::is_same_v<T, spec::EqualsCheck>) {
          const std::int64_t other = valid.dims.at(check.other);
          if (check.differs)
            m.tryDim(valid, check.dim, {other});
          else
            m.tryDim(valid, check.dim, {other + 1, other - 1});
        } else if constexpr (std::is_same_v<T, spec::OneOfCheck>) {
          for (const std::int64_t v : check.values) m.tryDim(valid, check.dim, {v - 1, v + 1});
        } else if constexpr (std::is_same_v<T, spec::DTypeCheck>) {
          const Recipe base = withTensors(spec, valid, check.tensors);
          for (const DType d : allDTypes()) {
            if (!isFloating(d) || std::ranges::find(check.dtypes, d) != check.dtypes.end())
              continue;
            Recipe r = base;
            for (const auto& t : check.tensors) r.dtypes[t] = d;
            m.tryRecipe(r);
          }
        } else if constexpr (std::is_same_v<T, spec::SameDTypeCheck>) {
          const Recipe base = withTensors(spec, valid, check.tensors);
          for (std::size_t i = 1; i < check.tensors.size(); ++i) {
            for (const DType d : allDTypes()) {
              Recipe r = base;
              r.dtypes[check.tensors[i]] = d;
              if (isFloating(d) && d != base.dtypes.at(check.tensors[i])) m.tryRecipe(r);
            }
          }
        } else if constexpr (std::is_same_v<T, spec::ShapeCheck>) {
          breakShape(spec, check.tensor, valid, m);
        } else if constexpr (std::is_same_v<T, spec::NotTogetherCheck>) {
          Recipe r = valid;
          for (const auto& name : check.names) r = withGiven(spec, std::move(r), name);
          m.tryRecipe(r);
        } else if constexpr (std::is_same_v<T, spec::ActiveCheck>) {
          Case c = materialize(spec, valid);  // which may pass it whatever the recipe says
          c.params.erase(check.name);
          c.tensors.erase(check.name);
          m.tryCase(std::move(c));
        } else if constexpr (std::is_same_v<T, spec::AbsentCheck>) {
          m.tryRecipe(withGiven(spec, valid, check.name));
        } else if constexpr (std::is_same_v<T, spec::IndexRangeCheck>) {
          breakIndices(spec, check, valid, m);
        } else if constexpr (std::is_same_v<T, spec::ParamRangeCheck>) {
          std::vector<std::int64_t> outside{check.max + 1};
          if (check.min) outside.push_back(*check.min - 1);
          for (const std::int64_t v : outside) {
            Recipe r = valid;
            r.params[check.param] = v;
            m.tryRecipe(r);
          }
        } else if constexpr (std::is_same_v<T, spec::TogetherCheck>) {
          for (const auto& alone : check.names) {  // each given without the others
            Recipe r = valid;
            for (const auto& name : check.names) {
              r.params.erase(name);
              r.shape_choice.erase(name);
            }
            m.tryRecipe(withGiven(spec, std::move(r), alone));
          }
        }
      },
      rule.check);
  return m.take();
}

rc::Gen<Case> invalidCases(const ApiSpec& spec, const spec::Rule& rule, const Limits& limits) {
  const auto maybe = rc::gen::mapcat(validRecipes(spec, limits), [&spec, &rule](const Recipe& r) {
    auto found = mutationsBreaking(spec, rule, r);
    if (found.empty()) return rc::gen::just(std::optional<Case>());
    return rc::gen::map(rc::gen::elementOf(found),
                        [](Case c) { return std::optional<Case>(std::move(c)); });
  });
  return rc::gen::map(
      rc::gen::suchThat(maybe, [](const std::optional<Case>& c) { return c.has_value(); }),
      [](const std::optional<Case>& c) { return *c; });
}

}  // namespace attnconf::gen
