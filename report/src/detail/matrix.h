#pragma once

#include <fmt/format.h>

#include <map>
#include <string>
#include <vector>

#include "attnconf/report/results.h"

namespace attnconf::report::detail {

/// One cell of the conformance matrix.
struct Cell {
  std::string text;
  bool ok = true;
};

/// The conformance matrix: a row per (API, adapter), a column per property, with every
/// ErrorIf<Rule> folded into one "error contract" column (passed/total).
struct Matrix {
  std::vector<std::string> columns;
  std::vector<std::pair<std::string, std::string>> rows;  ///< (api, adapter)
  std::map<std::pair<std::string, std::string>, std::map<std::string, Cell>> cells;
};

inline Matrix matrixOf(const Results& results) {
  Matrix m;
  std::map<std::pair<std::string, std::string>, std::pair<int, int>> contract;  // passed, total
  const auto addColumn = [&](const std::string& c) {
    if (std::find(m.columns.begin(), m.columns.end(), c) == m.columns.end()) m.columns.push_back(c);
  };
  for (const auto& r : results.results) {
    const auto row = std::pair{r.api, r.adapter};
    if (std::find(m.rows.begin(), m.rows.end(), row) == m.rows.end()) m.rows.push_back(row);
    const bool ok = r.verdict.ok();
    if (r.kind == "error_contract") {
      auto& [passed, total] = contract[row];
      passed += ok ? 1 : 0;
      ++total;
      continue;
    }
    addColumn(r.property);
    std::string text(props::statusName(r.verdict.status));
    if ((r.kind == "accuracy" || r.kind == "gradient") && ok)
      text += fmt::format(" ({:.2f})", r.verdict.max_ratio);
    m.cells[row][r.property] = Cell{text, ok};
  }
  if (!contract.empty()) m.columns.emplace_back("error contract");
  for (const auto& [row, counts] : contract) {
    m.cells[row]["error contract"] =
        Cell{fmt::format("{}/{}", counts.first, counts.second), counts.first == counts.second};
  }
  return m;
}

}  // namespace attnconf::report::detail
