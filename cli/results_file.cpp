#include "results_file.h"

#include <fstream>
#include <nlohmann/json.hpp>

namespace attnconf::cli {

using nlohmann::json;

ResultsFile::ResultsFile(std::filesystem::path path, const std::vector<spec::ApiSpec>& specs,
                         const std::vector<std::string>& adapters, const props::RunConfig& config)
    : path_(std::move(path)) {
  json header{{"schema", "attnconf-results"},
              {"version", kResultsVersion},
              {"suite_version", ATTNCONF_VERSION},
              {"seed", config.seed},
              {"accuracy_cases", config.accuracy_cases},
              {"error_cases", config.error_cases},
              {"specs", json::array()},
              {"adapters", adapters}};
  for (const auto& s : specs) {
    header["specs"].push_back({{"api", s.api},
                               {"file", s.file},
                               {"content_hash", s.content_hash},
                               {"rules", s.rules.size()}});
  }
  header_json_ = header.dump();
  write();
}

void ResultsFile::add(ResultRow row) {
  rows_.push_back(std::move(row));
  write();
}

void ResultsFile::write() const {
  json doc = json::parse(header_json_);
  doc["results"] = json::array();
  for (const auto& r : rows_) {
    const auto& v = r.verdict;
    doc["results"].push_back({{"test_id", v.test_id},
                              {"api", r.api},
                              {"adapter", r.adapter},
                              {"property", r.property},
                              {"kind", r.kind},
                              {"status", props::statusName(v.status)},
                              {"cases", v.cases},
                              {"seed", v.seed},
                              {"max_err_ratio", v.max_ratio},
                              {"seconds", v.seconds},
                              {"tags", v.tags},
                              {"paths", v.paths},
                              {"path_examples", v.path_examples},
                              {"evidence", v.evidence},
                              {"message", v.message},
                              {"reproduce", v.reproduce},
                              {"case_file", v.case_file}});
  }
  if (path_.has_parent_path()) std::filesystem::create_directories(path_.parent_path());
  const auto tmp = std::filesystem::path(path_).concat(".tmp");
  std::ofstream(tmp) << doc.dump(1) << '\n';
  std::filesystem::rename(tmp, path_);
}

}  // namespace attnconf::cli
