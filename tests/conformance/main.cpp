// One GoogleTest program per adapter: every property of every spec becomes a test named
// `<api>.<Property>_<adapter>`, registered at run time from the spec files.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>

#include "attnconf/properties/registry.h"
#include "attnconf/properties/report.h"
#include "attnconf/report/results.h"
#include "attnconf/spec/loader.h"

#ifndef ATTNCONF_ADAPTER
#error "ATTNCONF_ADAPTER must name the adapter under test"
#endif

namespace {

using attnconf::props::PropertyCheck;
using attnconf::props::RunConfig;
using attnconf::props::Verdict;

int envInt(const char* name, int fallback) {
  const char* value = std::getenv(name);
  return value && *value ? std::atoi(value) : fallback;
}

// Sizes can be raised for a long run (or lowered for a quick one) without rebuilding.
RunConfig configFromEnvironment() {
  RunConfig config;
  config.accuracy_cases = envInt("ATTNCONF_CASES", config.accuracy_cases);
  config.error_cases = envInt("ATTNCONF_ERROR_CASES", config.error_cases);
  config.limits.max_seqlen =
      envInt("ATTNCONF_MAX_SEQLEN", static_cast<int>(config.limits.max_seqlen));
  config.signature_seqlen =
      envInt("ATTNCONF_SIGNATURE_SEQLEN", static_cast<int>(config.signature_seqlen));
  if (const char* dir = std::getenv("ATTNCONF_FAILURE_DIR")) config.failure_dir = dir;
  return config;
}

// Each test leaves its verdict in $ATTNCONF_RESULTS_DIR (default attnconf-results.d beside the
// test), one file per test, so `attnconf report` and `attnconf diff` read a ctest run too.
std::filesystem::path resultsDir() {
  const char* dir = std::getenv("ATTNCONF_RESULTS_DIR");
  return dir && *dir ? dir : "attnconf-results.d";
}

class PropertyTest : public testing::Test {
 public:
  PropertyTest(const attnconf::spec::ApiSpec& spec, const PropertyCheck& check,
               attnconf::adapters::Adapter& adapter)
      : spec_(spec), check_(check), adapter_(adapter) {}

  void saveResult(const Verdict& v) const {
    const RunConfig config = configFromEnvironment();
    attnconf::report::Results results{
        .suite_version = attnconf::report::suiteVersion(),
        .git_revision = attnconf::report::gitRevision(),
        .host = attnconf::report::hostDescription(),
        .seed = config.seed,
        .accuracy_cases = config.accuracy_cases,
        .error_cases = config.error_cases,
        .specs = {attnconf::report::recordOf(spec_)},
        .adapters = {{adapter_.name(), adapter_.description()}},
        .results = {{check_.api, adapter_.name(), check_.name, check_.kind, v, {}}}};
    attnconf::report::saveResults(resultsDir() / (v.test_id + ".json"), results);
  }

  void TestBody() override {
    const Verdict v = check_.run(adapter_, configFromEnvironment());
    RecordProperty("seed", std::to_string(v.seed));
    RecordProperty("cases", v.cases);
    RecordProperty("max_err_ratio", std::to_string(v.max_ratio));
    std::string tags;
    for (const auto& [tag, count] : v.tags) tags += " " + tag + ":" + std::to_string(count);
    std::string paths;
    for (const auto& [path, count] : v.paths) paths += " " + path + ":" + std::to_string(count);
    std::cout << "cases " << v.cases << ", max err/bound " << v.max_ratio << ", seed " << v.seed
              << "\ntags:" << tags << "\npaths:" << paths << "\nevidence: " << v.evidence << '\n';
    if (!v.evidence.empty()) RecordProperty("evidence", v.evidence);
    saveResult(v);
    if (!v.ok()) {
      ADD_FAILURE_AT(check_.where.file.c_str(), check_.where.line)
          << attnconf::props::statusName(v.status) << ": " << v.message << '\n'
          << attnconf::props::reproduceLines(v, adapter_.name());
    }
  }

 private:
  const attnconf::spec::ApiSpec& spec_;
  const PropertyCheck& check_;
  attnconf::adapters::Adapter& adapter_;
};

std::string optionValue(int argc, char** argv, const std::string& prefix) {
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg.rfind(prefix, 0) == 0) return arg.substr(prefix.size());
  }
  return {};
}

void writeCtestFile(const std::string& path, const std::string& exe,
                    const std::vector<PropertyCheck>& checks, const std::string& adapter) {
  std::ofstream out(path);
  for (const auto& check : checks) {
    const std::string id = check.testId(adapter);
    out << "add_test([=[" << id << "]=] \"" << exe << "\" \"--gtest_filter=" << id << "\")\n"
        << "set_tests_properties([=[" << id
        << "]=] PROPERTIES LABELS \"conformance;api=" << check.api << ";property=" << check.name
        << ";kind=" << check.kind << ";adapter="
        << adapter
        // Timings are compared within one test; running it alone keeps them honest.
        << (check.kind == "signature" ? ";signatures\" RUN_SERIAL TRUE)\n" : "\")\n");
  }
}

}  // namespace

int main(int argc, char** argv) try {
  testing::InitGoogleTest(&argc, argv);
  static const auto specs = attnconf::spec::loadSpecFolder(attnconf::spec::specFolder());
  static const auto adapter = attnconf::adapters::makeInTreeAdapter(ATTNCONF_ADAPTER);
  static std::vector<PropertyCheck> checks;
  const auto specOf = [](const std::string& api) -> const attnconf::spec::ApiSpec& {
    return *std::find_if(specs.begin(), specs.end(), [&](const auto& s) { return s.api == api; });
  };
  for (const auto& spec : specs) {
    if (!adapter->supports(spec.api)) continue;
    for (auto& check : attnconf::props::propertiesOf(spec)) checks.push_back(std::move(check));
  }
  if (const auto path = optionValue(argc, argv, "--attnconf-ctest-file="); !path.empty()) {
    writeCtestFile(path, optionValue(argc, argv, "--attnconf-exe="), checks, adapter->name());
    return 0;
  }
  for (const auto& check : checks) {
    const std::string name = check.name + "_" + adapter->name();
    testing::RegisterTest(check.api.c_str(), name.c_str(), nullptr, check.summary.c_str(),
                          check.where.file.c_str(), check.where.line,
                          [&check, specOf]() -> testing::Test* {
                            return new PropertyTest(specOf(check.api), check, *adapter);
                          });
  }
  return RUN_ALL_TESTS();
} catch (const std::exception& e) {
  std::cerr << "attnconf: " << e.what() << '\n';
  return 2;
}
