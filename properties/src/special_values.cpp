#include "attnconf/properties/special_values.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <set>

#include "attnconf/properties/accuracy.h"
#include "attnconf/properties/report.h"
#include "attnconf/properties/runner.h"
#include "attnconf/reference/attention.h"
#include "attnconf/spec/binding.h"
#include "attnconf/spec/rules.h"

namespace attnconf::props {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr std::array kPoisons{std::numeric_limits<double>::quiet_NaN(), kInf, -kInf};

// Which value a case poisons its query row with, picked by the case so that every one comes up.
double poisonOf(const Case& c) {
  std::int64_t sum = 0;
  for (const auto& [dim, extent] : c.dims) sum += extent;
  return kPoisons.at(static_cast<std::size_t>(sum) % kPoisons.size());
}

// A row of an input (its last axis: one head's vector, or a whole token's in a hidden layout, so
// no layout knowledge is needed) and the value every entry of it is set to.
struct Poison {
  std::string input;
  std::int64_t row = 0;
  double value = 0;
};

// The query row a case poisons, the middle one; nothing if the query has no rows.
std::optional<Poison> queryPoisonOf(const spec::ApiSpec& spec, const Case& c) {
  const Tensor& query = *c.tensor(spec.semantics.query);
  if (query.shape.empty() || query.shape.back() == 0 || query.size() == 0) return std::nullopt;
  return Poison{spec.semantics.query, (query.size() / query.shape.back()) / 2, poisonOf(c)};
}

// The call with row `row` (of its last axis) of input `name` transformed by `op`.
template <class Op>
Case withRow(const Case& c, const std::string& name, std::int64_t row, Op op) {
  Case changed = c;
  Tensor& t = changed.tensors.at(name);
  const std::int64_t width = t.shape.back();
  std::for_each_n(t.values.begin() + row * width, width, [&](double& x) { x = op(x); });
  return changed;
}

bool sameValue(double a, double b) {
  return a == b || (std::isnan(a) && std::isnan(b));
}

// What the poisoned call must return. A row that sees no key has its declared value, but
// whether a non-finite query reaches it depends on how the mask hides keys (added -inf: NaN;
// replaced scores, JAX's `where`: the declared value): such outputs are left open. They are the
// non-finite outputs that do not move when the clean row is doubled (a row that sees a single
// key does not move either, and is left open too: the check only weakens there). `before` holds
// the clean call's exact outputs.
std::map<std::string, spec::ExpectedOutput> expectedWithQueryPoison(
    const spec::ApiSpec& spec, const Case& clean,
    const std::map<std::string, spec::ExpectedOutput>& before, const Case& poisoned,
    const Poison& poison) {
  auto expected = exactOutputs(spec, poisoned);
  const auto doubled =
      exactOutputs(spec, withRow(clean, poison.input, poison.row, [](double x) { return 2 * x; }));
  for (auto& [name, e] : expected) {
    const auto& was = before.at(name).exact.values;
    const auto& moved = doubled.at(name).exact.values;
    for (std::size_t i = 0; i < e.exact.values.size(); ++i) {
      if (std::isfinite(e.exact.values[i]) || !std::isfinite(was[i]) || was[i] != moved[i])
        continue;
      if (e.unspecified.values.empty()) e.unspecified = Tensor::zeros(DType::fp64, e.exact.shape);
      e.unspecified.values[i] = 1;
    }
  }
  return expected;
}

// Which key or value row a case poisons, and with what: spread over the whole tensor by the
// case (its dims and its integer inputs, such as sequence offsets), so that rows past a
// sequence's end, in a neighbour's tile or in a spare page all come up.
std::optional<Poison> kvPoisonOf(const spec::ApiSpec& spec, const Case& c) {
  std::uint64_t salt = 1469598103934665603ULL;  // FNV-1a over the case's integers
  const auto mix = [&salt](double x) {
    salt = (salt ^ static_cast<std::uint64_t>(static_cast<std::int64_t>(x))) * 1099511628211ULL;
  };
  for (const auto& [dim, extent] : c.dims) mix(static_cast<double>(extent));
  for (const auto& [name, t] : c.tensors) {
    if (!isFloating(t.dtype)) std::ranges::for_each(t.values, mix);
  }
  const std::string& input = salt % 2 == 0 ? spec.semantics.key : spec.semantics.value;
  const Tensor* t = c.tensor(input);
  if (t == nullptr || t->shape.empty() || t->shape.back() == 0 || t->size() == 0)
    return std::nullopt;
  const auto rows = static_cast<std::uint64_t>(t->size() / t->shape.back());
  return Poison{input, static_cast<std::int64_t>((salt / 2) % rows), poisonOf(c)};
}

// The (batch entry, kv head) pairs that hold a non-finite key or value in the canonical problem:
// where the poisoned row landed, if a call reads it at all.
std::set<std::pair<std::int64_t, std::int64_t>> nonFiniteKvHeads(const Problem& p) {
  std::set<std::pair<std::int64_t, std::int64_t>> heads;
  for (const Tensor* t : {&p.k, &p.v}) {
    for (std::int64_t i = 0; i < t->size(); ++i) {
      if (std::isfinite(t->values[static_cast<std::size_t>(i)])) continue;
      const Shape at = unflattenIndex(t->shape, i);
      heads.emplace(at[0], at[1]);
    }
  }
  return heads;
}

// Per output, 1 at each value written by a query head that reads one of `kv_heads`, found by
// moving a marked canonical result into the outputs' layouts.
std::map<std::string, std::vector<bool>> outputsOfKvHeads(
    const spec::ApiSpec& spec, const Case& c, const Problem& p,
    const std::set<std::pair<std::int64_t, std::int64_t>>& kv_heads) {
  const std::int64_t rows = p.maxSeqlenQ();
  const Result unmarked{Tensor::zeros(DType::fp64, {p.batch, p.heads_q, rows, p.head_dim_v}),
                        Tensor::zeros(DType::fp64, {p.batch, p.heads_q, rows}),
                        {},
                        Tensor::zeros(DType::fp64, {p.batch, p.heads_q, rows})};
  Result marked = unmarked;
  for (std::int64_t b = 0; b < p.batch; ++b) {
    for (std::int64_t h = 0; h < p.heads_q; ++h) {
      if (!kv_heads.contains({b, p.kvHead(h)})) continue;
      const std::int64_t row0 = (b * p.heads_q + h) * rows;
      std::fill_n(marked.out.values.begin() + row0 * p.head_dim_v, rows * p.head_dim_v, 1.0);
      std::fill_n(marked.lse.values.begin() + row0, rows, 1.0);
    }
  }
  const auto plain = spec::expectedOutputs(spec, c, unmarked);
  std::map<std::string, std::vector<bool>> reading;
  for (const auto& [name, e] : spec::expectedOutputs(spec, c, marked)) {
    const auto& other = plain.at(name).exact.values;
    auto& flags = reading[name];
    for (std::size_t i = 0; i < other.size(); ++i) flags.push_back(e.exact.values[i] != other[i]);
  }
  return reading;
}

// What the call with a poisoned key or value row must return: what IEEE arithmetic gives for the
// queries that see the row's key (the reference's values, which do not depend on how a mask
// hides keys). The other queries of the same batch entry and kv head are left open: a tiled
// kernel multiplies a hidden value by a probability of 0 (0 * NaN is NaN), and a mask that adds
// -inf to a NaN score gives NaN. Outputs of other entries and heads must not change.
std::map<std::string, spec::ExpectedOutput> expectedWithKvPoison(
    const spec::ApiSpec& spec, const Case& clean,
    const std::map<std::string, spec::ExpectedOutput>& before, const Case& poisoned,
    const Poison& poison) {
  const Problem problem = spec::bindProblem(spec, poisoned);
  auto expected = spec::expectedOutputs(spec, poisoned, reference::attention(problem));
  // A query sees the row's key if its outputs move when the row does.
  const auto moved = exactOutputs(
      spec, withRow(clean, poison.input, poison.row, [](double x) { return 2 * x + 1; }));
  const auto reading = outputsOfKvHeads(spec, poisoned, problem, nonFiniteKvHeads(problem));
  for (auto& [name, e] : expected) {
    const auto found = reading.find(name);
    if (found == reading.end()) continue;
    const auto& was = before.at(name).exact.values;
    const auto& now = moved.at(name).exact.values;
    for (std::size_t i = 0; i < e.exact.values.size(); ++i) {
      if (!found->second[i] || !sameValue(was[i], now[i])) continue;
      if (e.unspecified.values.empty()) e.unspecified = Tensor::zeros(DType::fp64, e.exact.shape);
      e.unspecified.values[i] = 1;
    }
  }
  return expected;
}

// A seen infinity may come out as NaN: its probability can round to 0 in the kernel's precision
// (0 * inf), and a rescale can meet inf - inf.
void acceptNanForInfinity(std::map<std::string, spec::ExpectedOutput>& expected,
                          const std::map<std::string, Tensor>& actual) {
  for (auto& [name, e] : expected) {
    const auto found = actual.find(name);
    if (found == actual.end() || found->second.shape != e.exact.shape) continue;
    for (std::size_t i = 0; i < e.exact.values.size(); ++i) {
      if (std::isinf(e.exact.values[i]) && std::isnan(found->second.values[i]))
        e.exact.values[i] = found->second.values[i];
    }
  }
}

using ExpectedWithPoison = std::map<std::string, spec::ExpectedOutput> (*)(
    const spec::ApiSpec&, const Case&, const std::map<std::string, spec::ExpectedOutput>&,
    const Case&, const Poison&);
using PoisonOf = std::optional<Poison> (*)(const spec::ApiSpec&, const Case&);

// A finite output the poison does not reach (its exact answer unchanged) must be what the clean
// call returned: the property judges where the poison goes, and Accuracy how close the rest is.
// A declared special (a fully masked row's NaN or LSE) stays as declared.
void anchorToCleanCall(std::map<std::string, spec::ExpectedOutput>& expected,
                       const std::map<std::string, spec::ExpectedOutput>& clean_exact,
                       const std::map<std::string, Tensor>& clean_actual) {
  for (auto& [name, e] : expected) {
    const auto found = clean_actual.find(name);
    if (found == clean_actual.end() || found->second.shape != e.exact.shape) continue;
    const auto& before = clean_exact.at(name).exact.values;
    for (std::size_t i = 0; i < e.exact.values.size(); ++i) {
      if (std::isfinite(before[i]) && e.exact.values[i] == before[i])
        e.exact.values[i] = found->second.values[i];
    }
  }
}

// The property `name`: each case's call with a row poisoned as `poisonOf` says, judged against
// `expectedWith`'s outputs, within the clean call's bounds (the poisoned call's baseline error
// is not a number).
Verdict checkPoisonedRow(const spec::ApiSpec& spec, adapters::Adapter& adapter,
                         const RunConfig& config, std::string_view name, PoisonOf poisonOf,
                         ExpectedWithPoison expectedWith) {
  return runCases(
      fmt::format("{}.{}_{}", spec.api, name, adapter.name()), gen::validCases(spec, config.limits),
      config.accuracy_cases, config,
      [&spec, poisonOf](const Case& c) {
        auto tags = gen::caseTags(spec, c);
        if (const auto poison = poisonOf(spec, c))
          tags.push_back(fmt::format("{} row {}", poison->input, num(poison->value)));
        return tags;
      },
      [&](const Case& c) {
        const auto poison = poisonOf(spec, c);
        if (!poison) return Judgement::pass();
        const Case poisoned =
            withRow(c, poison->input, poison->row, [&](double) { return poison->value; });
        const adapters::Outcome outcome = adapter.run(poisoned);
        const adapters::Outcome clean_outcome = adapter.run(c);
        // Accuracy reports a rejected valid call.
        if (outcome.rejected() || clean_outcome.rejected()) return Judgement::pass();
        const ReferenceOutputs clean = referenceOutputs(spec, c);
        auto expected = expectedWith(spec, c, clean.exact, poisoned, *poison);
        acceptNanForInfinity(expected, outcome.outputs());
        anchorToCleanCall(expected, clean.exact, clean_outcome.outputs());
        const AccuracyReport report = compareOutputs(expected, outcome.outputs(), clean.bounds);
        if (report.passed()) return Judgement::pass(report.max_ratio);
        return Judgement::fail(
            failureMessage(spec.api, "semantics",
                           fmt::format("{} with {} row {} (of its last axis) set to {}",
                                       describeMismatch(report), poison->input, poison->row,
                                       num(poison->value)),
                           c),
            report.max_ratio);
      });
}

}  // namespace

Verdict checkNonFiniteQueryRow(const spec::ApiSpec& spec, adapters::Adapter& adapter,
                               const RunConfig& config) {
  return checkPoisonedRow(spec, adapter, config, "NonFiniteQueryRow", queryPoisonOf,
                          expectedWithQueryPoison);
}

Verdict checkNonFiniteKeyValueRow(const spec::ApiSpec& spec, adapters::Adapter& adapter,
                                  const RunConfig& config) {
  return checkPoisonedRow(spec, adapter, config, "NonFiniteKeyValueRow", kvPoisonOf,
                          expectedWithKvPoison);
}

}  // namespace attnconf::props
