#include "attnconf/properties/error_contract.h"

#include <fmt/format.h>

#include <regex>

#include "attnconf/properties/report.h"
#include "attnconf/properties/runner.h"
#include "attnconf/spec/rules.h"

namespace attnconf::props {

std::optional<std::string> judgeRejection(const spec::Rule& rule,
                                          const adapters::Outcome& outcome) {
  if (!outcome.rejected()) {
    return fmt::format("outcome=success with {} output(s), but should be an error matching /{}/",
                       outcome.outputs().size(), rule.error);
  }
  const std::regex pattern(rule.error, std::regex::ECMAScript | std::regex::icase);
  if (!std::regex_search(outcome.rejection().message, pattern)) {
    return fmt::format("error=\"{}\", but should match /{}/", outcome.rejection().message,
                       rule.error);
  }
  return std::nullopt;
}

Verdict checkErrorIf(const spec::ApiSpec& spec, const spec::Rule& rule, adapters::Adapter& adapter,
                     const RunConfig& config) {
  const std::string test_id = fmt::format("{}.ErrorIf{}_{}", spec.api, rule.id, adapter.name());
  return runCases(
      test_id, gen::invalidCases(spec, rule, config.limits), config.error_cases, config,
      [](const Case& c) { return std::vector<std::string>{"breaks " + c.broken_rule}; },
      [&](const Case& c) {
        const auto problem = judgeRejection(rule, adapter.run(c));
        if (!problem) return Judgement::pass();
        const std::string clause = fmt::format("rules.{} ({})", rule.id, spec::describeRule(rule));
        return Judgement::fail(failureMessage(spec.api, clause, *problem, c));
      });
}

}  // namespace attnconf::props
