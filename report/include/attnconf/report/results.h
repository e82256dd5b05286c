#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "attnconf/properties/verdict.h"
#include "attnconf/spec/api_spec.h"

namespace attnconf::report {

/// Version of the results schema (README.md, "Results file"); readers reject other versions.
inline constexpr int kResultsVersion = 2;

/// A results file that cannot be read; the message names the file and the field.
class ResultsError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// A spec as a run saw it: enough to tell, in a later diff, which rules changed.
struct SpecRecord {
  std::string api, file, content_hash;
  std::map<std::string, std::string> rules;  ///< rule id -> its condition and error pattern
};

/// An adapter as a run saw it.
struct AdapterRecord {
  std::string name, description;
};

/// One verdict of one (api, adapter, property).
struct ResultRecord {
  std::string api, adapter, property, kind;
  props::Verdict verdict;
  std::string expected_failure;  ///< a failure the adapter's expectations know: their reason
};

/// Everything one run found, with what it ran on.
struct Results {
  std::string suite_version, git_revision, host;
  std::uint64_t seed = 0;
  int accuracy_cases = 0, error_cases = 0;
  std::vector<SpecRecord> specs;
  std::vector<AdapterRecord> adapters;
  std::vector<ResultRecord> results;
};

/// What a run records of a loaded spec.
SpecRecord recordOf(const spec::ApiSpec& spec);

/// attnconf's version (CMake project version).
std::string suiteVersion();

/// The git revision of the checkout attnconf was configured from, or "unknown".
std::string gitRevision();

/// This machine in one line (CPU model, cores, OS).
std::string hostDescription();

/// The results as JSON text (the schema in README.md).
std::string toJson(const Results& results);

/// Parses and validates results JSON; `origin` names the source in errors.
Results resultsFromJson(const std::string& text, const std::string& origin);

/// Writes the file atomically (temporary file, then rename): a reader never sees half a file.
void saveResults(const std::filesystem::path& path, const Results& results);

/// Reads and validates a results file, or a folder of them (ctest writes one per test): their
/// verdicts, specs and adapters merged, the header taken from the first file by name.
Results loadResults(const std::filesystem::path& path);

}  // namespace attnconf::report
