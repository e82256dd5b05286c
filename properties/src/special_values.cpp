#include "attnconf/properties/special_values.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>

#include "attnconf/properties/accuracy.h"
#include "attnconf/properties/report.h"
#include "attnconf/properties/runner.h"
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

// The query row a case poisons, the middle one: a row is the query's last axis (one head's
// query vector, or a whole token's in a hidden layout), so no layout knowledge is needed.
// Nothing if the query has no rows.
std::optional<std::int64_t> poisonedRow(const Tensor& query) {
  if (query.shape.empty() || query.shape.back() == 0 || query.size() == 0) return std::nullopt;
  return (query.size() / query.shape.back()) / 2;
}

// The call with query row `row` transformed by `op`.
template <class Op>
Case withQueryRow(const spec::ApiSpec& spec, const Case& c, std::int64_t row, Op op) {
  Case changed = c;
  Tensor& q = changed.tensors.at(spec.semantics.query);
  const std::int64_t width = q.shape.back();
  std::for_each_n(q.values.begin() + row * width, width, [&](double& x) { x = op(x); });
  return changed;
}

// What the poisoned call must return. A row that sees no key has its declared value, but
// whether a non-finite query reaches it depends on how the mask hides keys (added -inf: NaN;
// replaced scores, JAX's `where`: the declared value): such outputs are left open. They are the
// non-finite outputs that do not move when the clean row is doubled (a row that sees a single
// key does not move either, and is left open too: the check only weakens there). `before` holds
// the clean call's exact outputs.
std::map<std::string, spec::ExpectedOutput> expectedWithPoison(
    const spec::ApiSpec& spec, const Case& clean,
    const std::map<std::string, spec::ExpectedOutput>& before, const Case& poisoned,
    std::int64_t row) {
  auto expected = exactOutputs(spec, poisoned);
  const auto doubled =
      exactOutputs(spec, withQueryRow(spec, clean, row, [](double x) { return 2 * x; }));
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

}  // namespace

Verdict checkNonFiniteQueryRow(const spec::ApiSpec& spec, adapters::Adapter& adapter,
                               const RunConfig& config) {
  return runCases(
      fmt::format("{}.NonFiniteQueryRow_{}", spec.api, adapter.name()),
      gen::validCases(spec, config.limits), config.accuracy_cases, config,
      [&spec](const Case& c) {
        auto tags = gen::caseTags(spec, c);
        tags.push_back(fmt::format("query row {}", num(poisonOf(c))));
        return tags;
      },
      [&](const Case& c) {
        const double poison = poisonOf(c);
        const auto row = poisonedRow(*c.tensor(spec.semantics.query));
        if (!row) return Judgement::pass();
        const Case poisoned = withQueryRow(spec, c, *row, [poison](double) { return poison; });
        const adapters::Outcome outcome = adapter.run(poisoned);
        if (outcome.rejected()) return Judgement::pass();  // Accuracy reports a rejected valid call
        // The bounds are the clean call's: the poisoned one's baseline error is not a number.
        const ReferenceOutputs clean = referenceOutputs(spec, c);
        const AccuracyReport report =
            compareOutputs(expectedWithPoison(spec, c, clean.exact, poisoned, *row),
                           outcome.outputs(), clean.bounds);
        if (report.passed()) return Judgement::pass(report.max_ratio);
        return Judgement::fail(
            failureMessage(spec.api, "semantics",
                           fmt::format("{} with query row {} (of its last axis) set to {}",
                                       describeMismatch(report), *row, num(poison)),
                           c),
            report.max_ratio);
      });
}

}  // namespace attnconf::props
