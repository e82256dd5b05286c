#pragma once

#include <filesystem>
#include <vector>

#include "attnconf/adapters/adapter.h"
#include "attnconf/properties/verdict.h"
#include "attnconf/spec/api_spec.h"

namespace attnconf::cli {

/// Version of the results file schema (documented in README.md, "Results file").
inline constexpr int kResultsVersion = 1;

/// One verdict with what it was of.
struct ResultRow {
  std::string api, adapter, property, kind;
  props::Verdict verdict;
};

/// A results file written again after every verdict (to a temporary file, then renamed), so a
/// killed run keeps every finished result.
class ResultsFile {
 public:
  ResultsFile(std::filesystem::path path, const std::vector<spec::ApiSpec>& specs,
              const std::vector<std::string>& adapters, const props::RunConfig& config);
  void add(ResultRow row);

 private:
  void write() const;
  std::filesystem::path path_;
  std::string header_json_;
  std::vector<ResultRow> rows_;
};

}  // namespace attnconf::cli
