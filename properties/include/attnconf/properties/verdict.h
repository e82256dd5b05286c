#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "attnconf/generators/cases.h"

namespace attnconf::props {

/// How much checking a property does.
struct RunConfig {
  int accuracy_cases = 60;  ///< valid cases per accuracy property
  int error_cases = 12;     ///< invalid cases per error-contract rule
  gen::Limits limits;       ///< size caps for generated cases
  std::uint64_t seed = 0;   ///< mixed into every property's seed; RC_PARAMS=seed=N overrides
  std::filesystem::path failure_dir = "attnconf-failures";  ///< shrunk failing cases go here
  std::int64_t signature_seqlen = 1001;  ///< signatures measure at L, 2L, 4L (off every tile)
};

/// The outcome of one property for one (API, adapter).
struct Verdict {
  /// not_applicable: the adapter lacks what the property needs (a backward pass), and says so.
  enum class Status { pass, fail, gave_up, not_applicable };
  Status status = Status::pass;
  /// Whether the verdict counts as conforming (a pass, or a property that does not apply).
  bool ok() const { return status == Status::pass || status == Status::not_applicable; }
  std::string test_id;  ///< "<api>.<Property>_<adapter>"
  int cases = 0;        ///< cases that passed before the verdict
  std::uint64_t seed = 0;
  double max_ratio = 0;              ///< accuracy: the largest error/bound seen over passing cases
  double median_ratio = 0;           ///< accuracy: median error/bound over passing cases
  double p99_ratio = 0;              ///< accuracy: 99th percentile of error/bound
  std::vector<int> ratio_histogram;  ///< accuracy: cases per tenth of the bound, then >= 1
  std::string message;               ///< failure: the shrunk case's message
  std::string reproduce;             ///< failure: the RC_PARAMS value that replays it
  std::string case_file;             ///< failure: the saved shrunk case
  std::map<std::string, int> tags;   ///< how many cases had each feature
  std::map<std::string, int> paths;  ///< how many cases ran each path (the fallback map)
  std::map<std::string, std::string> path_examples;  ///< one case per path
  std::string evidence;  ///< measurements behind the verdict, one line (signatures)
  double seconds = 0;
};

/// "pass", "FAIL" or "GAVE UP".
std::string_view statusName(Verdict::Status status);

}  // namespace attnconf::props
