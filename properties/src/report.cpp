#include "attnconf/properties/report.h"

#include <fmt/format.h>

namespace attnconf::props {

std::string num(double x) {
  return fmt::format("{:.4g}", x);
}

std::string failureMessage(const std::string& api, const std::string& clause,
                           const std::string& what, const Case& c) {
  return fmt::format("[{} §{}] {}\ncase: {}", api, clause, what, describeCase(c));
}

std::string reproduceLines(const Verdict& verdict, const std::string& adapter) {
  std::string regex = verdict.test_id;
  if (const auto dot = regex.find('.'); dot != std::string::npos) regex.replace(dot, 1, "\\.");
  std::string lines = fmt::format("repro: RC_PARAMS=\"{}\" ctest -R '^{}$' --output-on-failure",
                                  verdict.reproduce, regex);
  if (!verdict.case_file.empty()) {
    lines += fmt::format("\n       attnconf replay {} --adapter {}", verdict.case_file, adapter);
  }
  return lines;
}

}  // namespace attnconf::props
