#include "attnconf/properties/registry.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <ranges>

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

std::vector<PropertyCheck> propertiesOf(const spec::ApiSpec& spec) {
  std::vector<PropertyCheck> checks;
  checks.push_back(PropertyCheck{
      spec.api, "Accuracy", "accuracy",
      fmt::format("outputs within tolerance of the exact reference ({})", spec.semantics.out),
      spec.tolerance.where,
      [&spec](adapters::Adapter& a, const RunConfig& cfg) { return checkAccuracy(spec, a, cfg); }});
  checks.push_back(PropertyCheck{
      spec.api, "NoUndeclaredFallback", "fallback",
      fmt::format("the path that ran is {} (each over its region) or a declared fallback",
                  fmt::join(spec.paths.fast | std::views::transform(&spec::PathDecl::name), ", ")),
      spec.paths.fast.front().where, [&spec](adapters::Adapter& a, const RunConfig& cfg) {
        return checkNoUndeclaredFallback(spec, a, cfg);
      }});
  checks.push_back(PropertyCheck{
      spec.api, "ResourceSignature", "signature",
      "memory grows linearly and the call beats standard attention, unless a declared fallback ran",
      spec.paths.fast.front().where, [&spec](adapters::Adapter& a, const RunConfig& cfg) {
        return checkResourceSignature(spec, a, cfg);
      }});
  const auto add = [&](std::string name, std::string kind, std::string summary,
                       std::function<Verdict(adapters::Adapter&, const RunConfig&)> run) {
    checks.push_back(PropertyCheck{spec.api, std::move(name), std::move(kind), std::move(summary),
                                   spec.promises.where, std::move(run)});
  };
  for (const spec::Relation relation : spec.promises.relations) {
    add(relationPropertyName(relation), "metamorphic",
        fmt::format("relation {} holds between two calls", spec::relationName(relation)),
        [&spec, relation](adapters::Adapter& a, const RunConfig& cfg) {
          return checkRelation(spec, relation, a, cfg);
        });
  }
  if (spec.backward.declared()) {
    add("Gradients", "gradient", "dq, dk, dv within the backward tolerance of the exact reference",
        [&spec](adapters::Adapter& a, const RunConfig& cfg) {
          return checkGradients(spec, a, cfg);
        });
  }
  add("NonFiniteQueryRow", "special_values",
      "a NaN or infinite query row reaches its own outputs as IEEE arithmetic says, and no other",
      [&spec](adapters::Adapter& a, const RunConfig& cfg) {
        return checkNonFiniteQueryRow(spec, a, cfg);
      });
  add("NonFiniteKeyValueRow", "special_values",
      "a NaN or infinite key or value row reaches the queries that see it, and no other entry or "
      "head",
      [&spec](adapters::Adapter& a, const RunConfig& cfg) {
        return checkNonFiniteKeyValueRow(spec, a, cfg);
      });
  add("Determinism", "repeatability",
      spec.promises.deterministic_forward ? "the same call twice is bitwise identical"
                                          : "the spread between two identical calls is reported",
      [&spec](adapters::Adapter& a, const RunConfig& cfg) {
        return checkDeterminism(spec, a, cfg);
      });
  add("InputImmutability", "repeatability", "the call leaves its inputs unchanged",
      [&spec](adapters::Adapter& a, const RunConfig& cfg) {
        return checkInputImmutability(spec, a, cfg);
      });
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
