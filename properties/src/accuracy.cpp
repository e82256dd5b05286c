#include "attnconf/properties/accuracy.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "attnconf/properties/report.h"
#include "attnconf/properties/runner.h"
#include "attnconf/reference/attention.h"
#include "attnconf/reference/decode_step.h"
#include "attnconf/spec/binding.h"

namespace attnconf::props {
namespace {

double maxAbs(const std::vector<double>& values) {
  double m = 0;
  for (const double v : values) {
    if (std::isfinite(v)) m = std::max(m, std::abs(v));
  }
  return m;
}

std::string indexText(const spec::ExpectedOutput& e, std::int64_t flat) {
  const Shape index = unflattenIndex(e.exact.shape, flat);
  std::string text;
  for (std::size_t a = 0; a < index.size(); ++a) {
    text += fmt::format("{}{}={}", a ? "," : "", e.axis_names[a], index[a]);
  }
  return text;
}

void judgeOutput(const spec::ExpectedOutput& exact, const Tensor& actual, double bound,
                 AccuracyReport& report) {
  if (actual.shape != exact.exact.shape) {
    report.problems.push_back(fmt::format("{}.shape=[{}], but should be [{}]", exact.name,
                                          fmt::join(actual.shape, ","),
                                          fmt::join(exact.exact.shape, ",")));
    return;
  }
  if (actual.dtype != exact.dtype) {
    report.problems.push_back(fmt::format("{}.dtype={}, but should be {}", exact.name,
                                          dtypeName(actual.dtype), dtypeName(exact.dtype)));
  }
  double worst_ratio = -1, signed_sum = 0;
  std::int64_t worst_at = 0, nonfinite_mismatches = 0;
  for (std::int64_t i = 0; i < actual.size(); ++i) {
    if (exact.isUnspecified(i)) continue;
    const double a = actual.values[i], e = exact.exact.values[i];
    if (!std::isfinite(e) || !std::isfinite(a)) {
      // Declared specials (the LSE of a fully masked row) must match exactly; a NaN only where
      // the spec declares NaN.
      const bool same = a == e || (std::isnan(a) && std::isnan(e));
      if (!same && nonfinite_mismatches++ < 2) {
        report.problems.push_back(fmt::format("{}[{}]={}, but should be {}", exact.name,
                                              indexText(exact, i), num(a), num(e)));
      }
      continue;
    }
    signed_sum += a - e;
    // A limit of 0 (a copied output) accepts only the exact value.
    const double error = std::abs(a - e), limit = bound + exact.allowanceAt(i);
    const double ratio = limit > 0   ? error / limit
                         : error > 0 ? std::numeric_limits<double>::infinity()
                                     : 0.0;
    if (ratio > worst_ratio) {
      worst_ratio = ratio;
      worst_at = i;
    }
  }
  if (nonfinite_mismatches > 2) {
    report.problems.push_back(fmt::format("and {} more", nonfinite_mismatches - 2));
  }
  if (worst_ratio < 0 || worst_ratio < report.max_ratio) return;
  report.max_ratio = worst_ratio;
  report.worst = WorstElement{exact.name,
                              indexText(exact, worst_at),
                              actual.values[worst_at],
                              exact.exact.values[worst_at],
                              bound + exact.allowanceAt(worst_at),
                              worst_ratio};
  report.bias =
      actual.size() > 0 && bound > 0 ? signed_sum / static_cast<double>(actual.size()) / bound : 0;
}

}  // namespace

// The spec's bound for one output: baseline_factor * max|baseline - exact| + ulp_factor *
// eps(dtype the baseline stores in) * scale.
double toleranceBound(const spec::ToleranceRule& rule, const spec::ExpectedOutput& exact,
                      const spec::ExpectedOutput& baseline, DType dtype, double scale) {
  double baseline_error = 0;
  for (std::size_t i = 0; i < exact.exact.values.size(); ++i) {
    const double e = exact.exact.values[i], b = baseline.exact.values[i];
    if (std::isfinite(e) && !exact.isUnspecified(static_cast<std::int64_t>(i)))
      baseline_error = std::max(baseline_error, std::abs(b - e));
  }
  return rule.baseline_factor * baseline_error + rule.ulp_factor * epsilon(dtype) * scale;
}

AccuracyReport judgeAccuracy(const spec::ApiSpec& spec, const Case& c,
                             const adapters::Outcome& outcome) {
  AccuracyReport report;
  if (outcome.rejected()) {
    report.problems.push_back(fmt::format("the call was rejected (\"{}\"), but should succeed",
                                          outcome.rejection().message));
    return report;
  }
  const ReferenceOutputs reference = referenceOutputs(spec, c);
  return compareOutputs(reference.exact, outcome.outputs(), reference.bounds);
}

ReferenceOutputs referenceOutputs(const spec::ApiSpec& spec, const Case& c) {
  if (spec.semantics.isDecodeStep()) {  // an exact update: every value is owed as computed
    ReferenceOutputs out{exactOutputs(spec, c), {}};
    for (const auto& [name, expected] : out.exact) out.bounds[name] = 0;
    return out;
  }
  const Problem problem = spec::bindProblem(spec, c);
  ReferenceOutputs out{spec::expectedOutputs(spec, c, reference::attention(problem)), {}};
  const Precision precision = spec.tolerance.baseline(problem.dtype);
  const auto baseline =
      spec::expectedOutputs(spec, c, reference::standardAttention(problem, precision));
  for (const auto& [name, expected] : out.exact) {
    if (expected.role == "copy") {
      out.bounds[name] = 0;
      continue;
    }
    const double scale = expected.role == "out" ? maxAbs(problem.v.values)
                                                : std::max(1.0, maxAbs(expected.exact.values));
    out.bounds[name] = toleranceBound(spec.tolerance.rule(expected.role, problem.dtype), expected,
                                      baseline.at(name), precision.dtype, scale);
  }
  return out;
}

std::map<std::string, spec::ExpectedOutput> exactOutputs(const spec::ApiSpec& spec, const Case& c) {
  if (spec.semantics.isDecodeStep())
    return spec::expectedDecodeState(spec, c,
                                     reference::advanceStep(spec::bindDecodeStep(spec, c)));
  return spec::expectedOutputs(spec, c, reference::attention(spec::bindProblem(spec, c)));
}

std::string describeMismatch(const AccuracyReport& report) {
  if (!report.problems.empty()) return report.problems.front();
  const WorstElement& w = *report.worst;
  return fmt::format("{}[{}]={}, but should be {} ± {} (err/bound {:.2f})", w.output, w.index,
                     num(w.actual), num(w.expected), num(w.bound), w.ratio);
}

AccuracyReport compareOutputs(const std::map<std::string, spec::ExpectedOutput>& expected,
                              const std::map<std::string, Tensor>& actual,
                              const std::map<std::string, double>& bounds) {
  AccuracyReport report;
  for (const auto& [name, e] : expected) {
    const auto found = actual.find(name);
    if (found == actual.end()) {
      report.problems.push_back(fmt::format("output {} is missing", name));
      continue;
    }
    judgeOutput(e, found->second, bounds.at(name), report);
  }
  return report;
}

Verdict checkAccuracy(const spec::ApiSpec& spec, adapters::Adapter& adapter,
                      const RunConfig& config) {
  const std::string test_id = fmt::format("{}.Accuracy_{}", spec.api, adapter.name());
  return runCases(
      test_id, gen::validCases(spec, config.limits), config.accuracy_cases, config,
      [&spec](const Case& c) { return gen::caseTags(spec, c); },
      [&](const Case& c) {
        const adapters::Outcome outcome = adapter.run(c);
        const AccuracyReport report = judgeAccuracy(spec, c, outcome);
        if (report.passed()) return Judgement::pass(report.max_ratio);
        std::string what, clause = "tolerance";
        if (!report.problems.empty()) {
          what = fmt::format("{}", fmt::join(report.problems, "; "));
        } else {
          const WorstElement& w = *report.worst;
          what = fmt::format("{}[{}]={}, but should be {} ± {} (err/bound {:.2f}, bias {:+.2f})",
                             w.output, w.index, num(w.actual), num(w.expected), num(w.bound),
                             w.ratio, report.bias);
          // A copy (a concatenation, a cache written in place) is owed exactly, not within
          // tolerance.
          const spec::TensorDecl* decl = spec.output(w.output);
          if (decl && (decl->in_place || !decl->concat.empty())) clause = "outputs." + w.output;
        }
        return Judgement::fail(failureMessage(spec.api, clause, what, c), report.max_ratio);
      });
}

}  // namespace attnconf::props
