#include "attnconf/properties/gradients.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <functional>

#include "attnconf/generators/recipe.h"
#include "attnconf/properties/accuracy.h"
#include "attnconf/properties/report.h"
#include "attnconf/properties/runner.h"
#include "attnconf/reference/attention.h"
#include "attnconf/spec/binding.h"
#include "attnconf/spec/rules.h"

namespace attnconf::props {

Case withGradOutput(const spec::ApiSpec& spec, const Case& c) {
  Case call = c;
  const spec::TensorDecl& out = *spec.output(spec.semantics.out);
  Tensor dout;
  dout.dtype = out.outputDType(c);
  dout.shape = spec::expectedShapes(out, spec::observedDims(spec, c)).front();
  gen::fillValues(spec, spec.backward.grad_output, std::hash<std::string>{}(describeCase(c)), 1.0,
                  dout);
  call.tensors[spec.backward.grad_output] = std::move(dout);
  return call;
}

namespace {

double maxAbs(const Tensor& t) {
  double m = 0;
  for (const double x : t.values) m = std::max(m, std::abs(x));
  return m;
}

// The size of the products each gradient sums, which its rounding errors scale with (not the
// gradient itself, which cancellation in dS = P * (dP - D) can make arbitrarily small):
//   dQ = scale * dS K, dK = scale * dS^T Q with |dS| ~ |dO| |V|;  dV = P^T dO;
//   a score bias's gradient: dS, summed over the axes the bias broadcasts (times the scale
//   where the bias comes before it),
// each times 1 + the largest |row max| of the scores: a backward recomputes P = exp(S - lse),
// whose relative error is the absolute error of S, a few ulps of |S| (large with torch_npu's
// default scale of 1.0).
std::map<std::string, double> operandScales(const spec::ApiSpec& spec, const Case& c,
                                            const Problem& p, const Tensor& dout) {
  const double scores = 1 + maxAbs(reference::attention(p).row_max);
  const double ds = maxAbs(dout) * maxAbs(p.v) * scores;
  const auto& grads = spec.backward.grads;
  const auto& s = spec.semantics;
  std::map<std::string, double> scales{{grads.at(s.query), p.scale * ds * maxAbs(p.k)},
                                       {grads.at(s.key), p.scale * ds * maxAbs(p.q)},
                                       {grads.at(s.value), maxAbs(dout) * scores}};
  if (const Tensor* bias = s.bias_tensor.empty() ? nullptr : c.tensor(s.bias_tensor);
      bias && grads.contains(s.bias_tensor) && p.hasBias()) {
    const double summed = static_cast<double>(p.bias.size()) / static_cast<double>(bias->size());
    scales[grads.at(s.bias_tensor)] = (s.bias_before_scale ? p.scale : 1) * ds * summed;
  }
  return scales;
}

}  // namespace

std::optional<std::string> judgeGradients(const spec::ApiSpec& spec, const Case& call,
                                          const adapters::Outcome& outcome, double& ratio) {
  if (outcome.rejected()) {
    return fmt::format("the backward was rejected (\"{}\"), but should succeed",
                       outcome.rejection().message);
  }
  const Problem problem = spec::bindProblem(spec, call);
  const Tensor dout = spec::bindGradOutput(spec, call);
  const auto exact =
      spec::expectedGradients(spec, call, problem, reference::attentionBackward(problem, dout));
  const auto baseline = spec::expectedGradients(
      spec, call, problem, reference::attentionBackwardInInputDType(problem, dout));
  const auto scales = operandScales(spec, call, problem, dout);
  std::map<std::string, double> bounds;
  for (const auto& [name, e] : exact) {
    bounds[name] = toleranceBound(spec.backward.rule(problem.dtype), e, baseline.at(name),
                                  problem.dtype, scales.at(name));
  }
  const AccuracyReport report = compareOutputs(exact, outcome.outputs(), bounds);
  ratio = report.max_ratio;
  if (report.passed()) return std::nullopt;
  return describeMismatch(report);
}

Verdict checkGradients(const spec::ApiSpec& spec, adapters::Adapter& adapter,
                       const RunConfig& config) {
  Verdict verdict = runCases(
      fmt::format("{}.Gradients_{}", spec.api, adapter.name()),
      // The gradient is part of the case, so a saved failure replays the backward.
      rc::gen::map(gen::validCases(spec, config.limits),
                   [&spec](const Case& c) { return withGradOutput(spec, c); }),
      config.accuracy_cases, config, [&spec](const Case& c) { return gen::caseTags(spec, c); },
      [&](const Case& call) {
        const auto outcome = adapter.runBackward(call);
        if (!outcome) return Judgement::pass(0, "no backward");
        double ratio = 0;
        if (const auto problem = judgeGradients(spec, call, *outcome, ratio)) {
          return Judgement::fail(failureMessage(spec.api, "backward", *problem, call), ratio);
        }
        return Judgement::pass(ratio);
      });
  if (verdict.paths.contains("no backward")) {
    verdict.status = Verdict::Status::not_applicable;
    verdict.message = fmt::format("{} offers no backward pass", adapter.name());
  }
  return verdict;
}

}  // namespace attnconf::props
