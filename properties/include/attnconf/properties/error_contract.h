#pragma once

#include <optional>
#include <string>

#include "attnconf/adapters/adapter.h"
#include "attnconf/properties/verdict.h"
#include "attnconf/spec/api_spec.h"

namespace attnconf::props {

/// Why an outcome does not honour the rule's error contract, or nothing if it does: the call
/// must be rejected, with a message matching the rule's `error` pattern, and return no output.
std::optional<std::string> judgeRejection(const spec::Rule& rule, const adapters::Outcome& outcome);

/// Property `ErrorIf<Rule>`: calls that break exactly this rule are rejected as it says.
Verdict checkErrorIf(const spec::ApiSpec& spec, const spec::Rule& rule, adapters::Adapter& adapter,
                     const RunConfig& config);

}  // namespace attnconf::props
