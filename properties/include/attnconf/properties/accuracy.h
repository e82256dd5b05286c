#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "attnconf/adapters/adapter.h"
#include "attnconf/properties/verdict.h"
#include "attnconf/spec/api_spec.h"
#include "attnconf/spec/binding.h"

namespace attnconf::props {

/// The worst element of one output: where it is and how far off.
struct WorstElement {
  std::string output;
  std::string index;  ///< e.g. "batch=0,seqlen_q=17,nheads=3,headdim=5"
  double actual = 0, expected = 0, bound = 0, ratio = 0;
};

/// An adapter's outputs judged against the exact reference under the spec's tolerance.
struct AccuracyReport {
  double max_ratio = 0;               ///< max over outputs of max|actual - exact| / bound
  std::optional<WorstElement> worst;  ///< where max_ratio occurred
  std::vector<std::string> problems;  ///< missing outputs, wrong shapes/dtypes, wrong inf/NaN
  double bias = 0;                    ///< mean signed error / bound of the worst output
  bool passed() const { return problems.empty() && max_ratio <= 1.0; }
};

/// What a failed report found first: its first problem, else the worst element, e.g.
/// "out[0,1,0,0]=0.5, but should be 0.25 ± 0.01 (err/bound 25.00)".
std::string describeMismatch(const AccuracyReport& report);

/// The exact outputs of a valid call and the spec's bound for each (from the reference run
/// exactly and in the input dtype).
struct ReferenceOutputs {
  std::map<std::string, spec::ExpectedOutput> exact;
  std::map<std::string, double> bounds;
};

/// The spec's bound for one output: baseline_factor * max|baseline - exact| + ulp_factor *
/// eps(dtype) * scale, `dtype` being the one the baseline stores its tensors in.
double toleranceBound(const spec::ToleranceRule& rule, const spec::ExpectedOutput& exact,
                      const spec::ExpectedOutput& baseline, DType dtype, double scale);

/// Runs the reference on a valid call.
ReferenceOutputs referenceOutputs(const spec::ApiSpec& spec, const Case& c);

/// The exact outputs alone (no baseline, so no bounds): for calls judged with another's bounds.
std::map<std::string, spec::ExpectedOutput> exactOutputs(const spec::ApiSpec& spec, const Case& c);

/// Judges outputs against expected ones, each within its bound; non-finite expected values
/// must match exactly.
AccuracyReport compareOutputs(const std::map<std::string, spec::ExpectedOutput>& expected,
                              const std::map<std::string, Tensor>& actual,
                              const std::map<std::string, double>& bounds);

/// Runs the reference (exact and in the input dtype) on a valid call and judges the adapter's
/// outcome, output by output, with the spec's tolerance rule.
AccuracyReport judgeAccuracy(const spec::ApiSpec& spec, const Case& c,
                             const adapters::Outcome& outcome);

/// Property `Accuracy`: on valid cases the adapter returns every requested output within
/// tolerance of the exact reference.
Verdict checkAccuracy(const spec::ApiSpec& spec, adapters::Adapter& adapter,
                      const RunConfig& config);

}  // namespace attnconf::props
