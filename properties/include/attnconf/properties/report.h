#pragma once

#include <string>

#include "attnconf/model/case.h"
#include "attnconf/properties/verdict.h"

namespace attnconf::props {

/// The one failure template every property uses:
///   [<api> §<clause>] <what>=<actual>, but should be <expected> (<detail>)
///   case: <describeCase>
std::string failureMessage(const std::string& api, const std::string& clause,
                           const std::string& what, const Case& c);

/// The lines that replay a failed verdict: the ctest command with RC_PARAMS, and the replay
/// command on the saved case.
std::string reproduceLines(const Verdict& verdict, const std::string& adapter);

/// A number for messages: 4 significant digits.
std::string num(double x);

}  // namespace attnconf::props
