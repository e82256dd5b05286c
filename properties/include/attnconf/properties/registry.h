#pragma once

#include <functional>
#include <string>
#include <vector>

#include "attnconf/adapters/adapter.h"
#include "attnconf/properties/verdict.h"
#include "attnconf/spec/api_spec.h"

namespace attnconf::props {

/// One check of one spec, runnable against any adapter.
struct PropertyCheck {
  std::string api;
  std::string name;      ///< "Accuracy", "NoUndeclaredFallback" or "ErrorIf<Rule>"
  std::string kind;      ///< "accuracy", "fallback" or "error_contract" (ctest label)
  std::string summary;   ///< one line: the clause checked
  spec::Location where;  ///< the clause in the spec file
  std::function<Verdict(adapters::Adapter&, const RunConfig&)> run;

  /// "<api>.<name>_<adapter>", the GoogleTest and ctest name.
  std::string testId(const std::string& adapter) const;
};

/// Every property of a spec: Accuracy, NoUndeclaredFallback, then ErrorIf<Rule> for each rule
/// in file order. The spec must outlive the checks.
std::vector<PropertyCheck> propertiesOf(const spec::ApiSpec& spec);

}  // namespace attnconf::props
