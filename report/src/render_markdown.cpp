#include <fmt/format.h>

#include <algorithm>

#include "attnconf/properties/report.h"
#include "attnconf/report/render.h"
#include "detail/matrix.h"

namespace attnconf::report {

std::string describePaths(const props::Verdict& v) {
  int total = 0;
  for (const auto& [path, count] : v.paths) total += count;
  std::string out;
  for (const auto& [path, count] : v.paths) {
    out += fmt::format("{}{} {} ({:.0f}%)", out.empty() ? "" : ", ", path, count,
                       100.0 * count / std::max(total, 1));
  }
  return out;
}

std::string renderMarkdown(const Results& results) {
  std::string out = fmt::format(
      "# attnconf results\n\nsuite {} (git {}), host: {}, seed {}, {} cases per accuracy property, "
      "{} per "
      "error rule\n\n",
      results.suite_version, results.git_revision, results.host, results.seed,
      results.accuracy_cases, results.error_cases);
  const detail::Matrix m = detail::matrixOf(results);
  out += "## Conformance matrix\n\n| API | adapter |";
  for (const auto& c : m.columns) out += fmt::format(" {} |", c);
  out += "\n|---|---|";
  for (std::size_t i = 0; i < m.columns.size(); ++i) out += "---|";
  out += "\n";
  for (const auto& row : m.rows) {
    out += fmt::format("| {} | {} |", row.first, row.second);
    for (const auto& c : m.columns) {
      const auto& cells = m.cells.at(row);
      out += cells.contains(c) ? fmt::format(" {} |", cells.at(c).text) : " - |";
    }
    out += "\n";
  }
  out += "\n## Detail\n\n";
  for (const auto& r : results.results) {
    const auto& v = r.verdict;
    if (r.kind == "accuracy" || r.kind == "gradient") {
      out += fmt::format(
          "- {} x {} Accuracy: {} cases, err/bound max {:.3f}, p99 {:.3f}, median {:.3f}\n", r.api,
          r.adapter, v.cases, v.max_ratio, v.p99_ratio, v.median_ratio);
    } else if (r.kind == "fallback") {
      out += fmt::format("- {} x {} fallback map: {}\n", r.api, r.adapter, describePaths(v));
    } else if (!v.evidence.empty()) {  // signatures, determinism spreads
      out += fmt::format("- {} x {} {}: {}\n", r.api, r.adapter, r.property, v.evidence);
    }
  }
  out += "\n## Failures\n\n";
  bool any = false;
  for (const auto& r : results.results) {
    if (r.verdict.ok() || !r.expected_failure.empty()) continue;
    any = true;
    out += fmt::format("```\n{}\n{}\n```\n", r.verdict.message,
                       props::reproduceLines(r.verdict, r.adapter));
  }
  if (!any) out += "none\n";
  out += "\n## Expectations and waivers\n\n";
  any = false;
  for (const auto& r : results.results) {
    if (r.expected_failure.empty()) continue;
    any = true;
    out += fmt::format("- {} x {} {} (expected failure): {}\n", r.api, r.adapter, r.property,
                       r.expected_failure);
  }
  if (!any) out += "none in force (every verdict above counts)\n";
  return out;
}

}  // namespace attnconf::report
