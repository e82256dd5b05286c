#include "attnconf/properties/repeatability.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <bit>
#include <cmath>
#include <limits>

#include "attnconf/properties/accuracy.h"
#include "attnconf/properties/report.h"
#include "attnconf/properties/runner.h"
#include "attnconf/spec/rules.h"

namespace attnconf::props {
namespace {

bool sameBits(double a, double b) {
  return std::bit_cast<std::uint64_t>(a) == std::bit_cast<std::uint64_t>(b);
}

// The first element where two tensors differ in any bit: "name[flat]=a vs b", or nothing.
std::optional<std::string> firstDifference(const std::string& name, const Tensor& a,
                                           const Tensor& b) {
  if (a.shape != b.shape || a.dtype != b.dtype)
    return fmt::format("{} changed shape or dtype", name);
  for (std::size_t i = 0; i < a.values.size(); ++i) {
    if (!sameBits(a.values[i], b.values[i])) {
      return fmt::format("{}[{}]={} the first time and {} the second", name,
                         fmt::join(unflattenIndex(a.shape, static_cast<std::int64_t>(i)), ","),
                         num(a.values[i]), num(b.values[i]));
    }
  }
  return std::nullopt;
}

// How far the second call drifted from the first: the largest |first - second| of any output
// over that output's bound, so a spread reads like an accuracy ratio (1 = a whole bound).
double spread(const spec::ApiSpec& spec, const Case& c, const adapters::Outcome& first,
              const adapters::Outcome& second) {
  const auto bounds = referenceOutputs(spec, c).bounds;
  double worst = 0;
  for (const auto& [name, t] : first.outputs()) {
    const Tensor& other = second.outputs().at(name);
    if (other.shape != t.shape) return std::numeric_limits<double>::infinity();
    const auto bound = bounds.find(name);
    for (std::size_t i = 0; i < t.values.size(); ++i) {
      if (std::isnan(t.values[i]) && std::isnan(other.values[i])) continue;  // payloads may differ
      const double difference = std::abs(t.values[i] - other.values[i]);
      if (std::isnan(difference)) return std::numeric_limits<double>::infinity();
      if (bound != bounds.end() && bound->second > 0)
        worst = std::max(worst, difference / bound->second);
    }
  }
  return worst;
}

}  // namespace

Verdict checkDeterminism(const spec::ApiSpec& spec, adapters::Adapter& adapter,
                         const RunConfig& config) {
  const bool promised = spec.promises.deterministic_forward;
  Verdict verdict = runCases(
      fmt::format("{}.Determinism_{}", spec.api, adapter.name()),
      gen::validCases(spec, config.limits), config.accuracy_cases, config,
      [&spec](const Case& c) { return gen::caseTags(spec, c); },
      [&](const Case& c) {
        const adapters::Outcome first = adapter.run(c), second = adapter.run(c);
        if (first.rejected() || second.rejected()) return Judgement::pass();  // Accuracy's business
        for (const auto& [name, t] : first.outputs()) {
          const auto difference = firstDifference(name, t, second.outputs().at(name));
          if (difference && promised) {
            return Judgement::fail(
                failureMessage(spec.api, "promises.deterministic_forward",
                               fmt::format("{}, but should be bitwise identical", *difference), c));
          }
          if (difference)  // reported with its spread, not failed
            return Judgement::pass(spread(spec, c, first, second), "nondeterministic");
        }
        return Judgement::pass(0, "bitwise identical");
      });
  if (const auto differed = verdict.paths.find("nondeterministic"); differed != verdict.paths.end())
    verdict.evidence = fmt::format(
        "{} of {} cases differed between two identical calls, by up to {:.3g} of the output's "
        "bound (p99 {:.3g})",
        differed->second, verdict.cases, verdict.max_ratio, verdict.p99_ratio);
  return verdict;
}

Verdict checkInputImmutability(const spec::ApiSpec& spec, adapters::Adapter& adapter,
                               const RunConfig& config) {
  return runCases(
      fmt::format("{}.InputImmutability_{}", spec.api, adapter.name()),
      gen::validCases(spec, config.limits), config.accuracy_cases, config,
      [&spec](const Case& c) { return gen::caseTags(spec, c); },
      [&](const Case& c) {
        Case call = c;  // the adapter gets a copy it could (wrongly) write to
        (void)adapter.run(call);
        for (const auto& [name, t] : c.tensors) {
          const spec::TensorDecl* written = spec.output(name);  // declared in place: Accuracy's
          if (written && written->in_place) continue;
          if (const auto difference = firstDifference(name, t, call.tensors.at(name))) {
            return Judgement::fail(failureMessage(
                spec.api, "inputs",
                fmt::format("input {} after the call, but should be unchanged", *difference), c));
          }
        }
        return Judgement::pass();
      });
}

}  // namespace attnconf::props
