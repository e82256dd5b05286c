#include "attnconf/properties/registry.h"

#include <fmt/format.h>

#include "attnconf/properties/accuracy.h"
#include "attnconf/properties/error_contract.h"
#include "attnconf/properties/fallback.h"
#include "attnconf/properties/signature.h"
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
      fmt::format("the path that ran is {} or a declared fallback", spec.paths.fast.front().name),
      spec.paths.fast.front().where, [&spec](adapters::Adapter& a, const RunConfig& cfg) {
        return checkNoUndeclaredFallback(spec, a, cfg);
      }});
  checks.push_back(PropertyCheck{
      spec.api, "ResourceSignature", "signature",
      "memory grows linearly and the call beats standard attention, unless a declared fallback ran",
      spec.paths.fast.front().where, [&spec](adapters::Adapter& a, const RunConfig& cfg) {
        return checkResourceSignature(spec, a, cfg);
      }});
  for (const auto& rule : spec.rules) {
    checks.push_back(
        PropertyCheck{spec.api, "ErrorIf" + rule.id, "error_contract",
                      fmt::format("rejects calls breaking {}", spec::describeCheck(rule.check)),
                      rule.where, [&spec, &rule](adapters::Adapter& a, const RunConfig& cfg) {
                        return checkErrorIf(spec, rule, a, cfg);
                      }});
  }
  return checks;
}

}  // namespace attnconf::props
