#include "attnconf/properties/report.h"

#include <fmt/format.h>

#include <cmath>

namespace attnconf::props {

std::string num(double x) {
  // Whole numbers print in full (a cache slot, a token id), anything else in 4 digits.
  constexpr double kWhole = 1e12;
  if (std::abs(x) < kWhole && x == std::trunc(x)) return fmt::format("{:.0f}", x);
  return fmt::format("{:.4g}", x);
}

std::string failureMessage(const std::string& api, const std::string& clause,
                           const std::string& what, const Case& c) {
  return fmt::format("[{} §{}] {}\ncase: {}", api, clause, what, describeCase(c));
}

std::string reproduceLines(const Verdict& verdict, const std::string& adapter) {
  const auto dot = verdict.test_id.find('.');
  const auto underscore = verdict.test_id.find('_', dot);
  // Measured properties have no RapidCheck case to reproduce; they rerun as they are.
  const std::string params =
      verdict.reproduce.empty() ? "" : fmt::format("RC_PARAMS=\"{}\" ", verdict.reproduce);
  std::string lines;
  if (adapter.find("_mutant_") == std::string::npos) {
    std::string regex = verdict.test_id;
    regex.replace(dot, 1, "\\.");
    lines = fmt::format("repro: {}ctest -R '^{}$' --output-on-failure", params, regex);
  } else {  // planted faults have no ctest test; the CLI runs them
    lines = fmt::format("repro: {}attnconf run --api {} --adapter {} --only {}", params,
                        verdict.test_id.substr(0, dot), adapter,
                        verdict.test_id.substr(dot + 1, underscore - dot - 1));
  }
  if (!verdict.case_file.empty()) {
    lines += fmt::format("\n       attnconf replay {} --adapter {}", verdict.case_file, adapter);
  }
  return lines;
}

}  // namespace attnconf::props
