#include "attnconf/properties/registry.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "attnconf/properties/accuracy.h"
#include "attnconf/properties/error_contract.h"
#include "attnconf/properties/fallback.h"
#include "attnconf/properties/gradients.h"
#include "attnconf/properties/metamorphic.h"
#include "attnconf/properties/repeatability.h"
#include "attnconf/properties/signature.h"
#include "attnconf/properties/special_values.h"
#include "attnconf/spec/rules.h"

namespace attnconf::props {

std::string PropertyCheck::testId(const std::string& adapter) const {
  return fmt::format("{}.{}_{}", api, name, adapter);
}

namespace {

// A check of something the spec's `promises` section says (or that every API owes).
PropertyCheck promised(const spec::ApiSpec& spec, std::string name, std::string kind,
                       std::string summary,
                       std::function<Verdict(adapters::Adapter&, const RunConfig&)> run) {
  return PropertyCheck{spec.api,           std::move(name),     std::move(kind),
                       std::move(summary), spec.promises.where, std::move(run)};
}

// The checks of an attention API's paths and values: the fast path ran and behaved like one,
// the metamorphic relations hold, gradients, and non-finite inputs propagate as IEEE says.
void addAttentionChecks(const spec::ApiSpec& spec, std::vector<PropertyCheck>& checks) {
  std::vector<std::string> fast;
  for (const auto& path : spec.paths.fast) fast.push_back(path.name);
  checks.push_back(PropertyCheck{
      spec.api, "NoUndeclaredFallback", "fallback",
      fmt::format("the path that ran is {} (each over its region) or a declared fallback",
                  fmt::join(fast, ", ")),
      spec.paths.fast.front().where, [&spec](adapters::Adapter& a, const RunConfig& cfg) {
        return checkNoUndeclaredFallback(spec, a, cfg);
      }});
  checks.push_back(PropertyCheck{
      spec.api, "ResourceSignature", "signature",
      "memory grows linearly and the call beats standard attention, unless a declared fallback ran",
      spec.paths.fast.front().where, [&spec](adapters::Adapter& a, const RunConfig& cfg) {
        return checkResourceSignature(spec, a, cfg);
      }});
  for (const spec::Relation relation : spec.promises.relations) {
    checks.push_back(
        promised(spec, relationPropertyName(relation), "metamorphic",
                 fmt::format("relation {} holds between two calls", spec::relationName(relation)),
                 [&spec, relation](adapters::Adapter& a, const RunConfig& cfg) {
                   return checkRelation(spec, relation, a, cfg);
                 }));
  }
  if (spec.backward.declared()) {
    checks.push_back(promised(spec, "Gradients", "gradient",
                              "dq, dk, dv within the backward tolerance of the exact reference",
                              [&spec](adapters::Adapter& a, const RunConfig& cfg) {
                                return checkGradients(spec, a, cfg);
                              }));
  }
  checks.push_back(promised(
      spec, "NonFiniteQueryRow", "special_values",
      "a NaN or infinite query row reaches its own outputs as IEEE arithmetic says, and no other",
      [&spec](adapters::Adapter& a, const RunConfig& cfg) {
        return checkNonFiniteQueryRow(spec, a, cfg);
      }));
  checks.push_back(promised(
      spec, "NonFiniteKeyValueRow", "special_values",
      "a NaN or infinite key or value row reaches the queries that see it, and no other entry or "
      "head",
      [&spec](adapters::Adapter& a, const RunConfig& cfg) {
        return checkNonFiniteKeyValueRow(spec, a, cfg);
      }));
}

}  // namespace

std::vector<PropertyCheck> propertiesOf(const spec::ApiSpec& spec) {
  std::vector<PropertyCheck> checks;
  const bool decode_step = spec.semantics.isDecodeStep();
  checks.push_back(PropertyCheck{
      spec.api, "Accuracy", "accuracy",
      decode_step
          ? std::string("the state after the step equals the exact reference")
          : fmt::format("outputs within tolerance of the exact reference ({})", spec.semantics.out),
      decode_step ? spec.semantics.where : spec.tolerance.where,
      [&spec](adapters::Adapter& a, const RunConfig& cfg) { return checkAccuracy(spec, a, cfg); }});
  if (!decode_step) addAttentionChecks(spec, checks);
  checks.push_back(promised(spec, "Determinism", "repeatability",
                            spec.promises.deterministic_forward
                                ? "the same call twice is bitwise identical"
                                : "the spread between two identical calls is reported",
                            [&spec](adapters::Adapter& a, const RunConfig& cfg) {
                              return checkDeterminism(spec, a, cfg);
                            }));
  checks.push_back(promised(spec, "InputImmutability", "repeatability",
                            "the call leaves its inputs unchanged",
                            [&spec](adapters::Adapter& a, const RunConfig& cfg) {
                              return checkInputImmutability(spec, a, cfg);
                            }));
  for (const auto& rule : spec.rules) {
    checks.push_back(
        PropertyCheck{spec.api, "ErrorIf" + rule.id, "error_contract",
                      fmt::format("rejects calls breaking {}", spec::describeRule(rule)),
                      rule.where, [&spec, &rule](adapters::Adapter& a, const RunConfig& cfg) {
                        return checkErrorIf(spec, rule, a, cfg);
                      }});
  }
  // Every property generates only calls in the dtypes the adapter takes.
  for (auto& check : checks) {
    check.run = [run = std::move(check.run), api = spec.api](adapters::Adapter& a,
                                                             const RunConfig& cfg) {
      RunConfig narrowed = cfg;
      narrowed.limits.dtypes = a.dtypes(api);
      return run(a, narrowed);
    };
  }
  return checks;
}

}  // namespace attnconf::props
