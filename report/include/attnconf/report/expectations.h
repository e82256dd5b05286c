#pragma once

#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

#include "attnconf/report/results.h"

namespace attnconf::report {

/// A known failure of one implementation: a finding recorded with its reason, so that it does
/// not fail every run, while the spec keeps saying what is right.
struct Expectation {
  /// "<api>.<Property>", e.g. "scaled_dot_product_attention.ErrorIfX"; `*` stands for any run of
  /// characters, for a finding several tests meet ("onnx_attention*.ErrorIf*Shape*").
  std::string test;
  std::string reason;     ///< what the implementation does, and why it is not the spec's fault
  std::string reproduce;  ///< the command that shows it
  /// Optional regex (ECMAScript, searched): the failure is expected only when its message
  /// matches, so that a finding in one dtype does not excuse a failure in another.
  std::string failure;
  int line = 0;  ///< where it is written

  /// Whether the entry names the test "<api>.<Property>".
  bool names(const std::string& test_name) const;
  /// Whether a failing verdict with this message is the known one.
  bool matches(const std::string& message) const;
};

/// An adapter's expectations file (README.md, "Expectations").
struct Expectations {
  std::string file;
  std::string adapter;
  std::vector<Expectation> entries;

  /// The first expectation a failure of (api, property) with this message matches, or null.
  const Expectation* find(const std::string& api, const std::string& property,
                          const std::string& message) const;
};

/// A file that cannot be read; the message names file, line and field.
class ExpectationsError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

Expectations loadExpectations(const std::filesystem::path& file);

/// Marks a failing verdict the expectations know with their reason
/// (`ResultRecord::expected_failure`).
void markExpected(const Expectations& expectations, ResultRecord& record);

/// Whether a run chose every test of its specs and adapters, or only some (`--api`, `--only`).
enum class RunScope { every_test, some_tests };

/// The entries that matched no failure of a run, each with a note of whether its test passed
/// ("expected failure passed") or did not run at all (said only of a run of `every_test`: a
/// filtered run leaves tests out on purpose).
std::vector<std::string> staleExpectations(const Expectations& expectations, const Results& results,
                                           RunScope scope);

}  // namespace attnconf::report
