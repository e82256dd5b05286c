#pragma once

#include <string>
#include <vector>

#include "attnconf/report/results.h"

namespace attnconf::report {

/// What counts as a change worth reporting.
struct DiffOptions {
  double drift = 0.25;         ///< report a max err/bound that grew by more than this fraction...
  double drift_floor = 0.05;   ///< ...and by more than this much in absolute terms
  bool fail_on_drift = false;  ///< whether drift alone makes the diff fail
};

/// What changed between two runs: of two versions of a kernel, or of a spec.
struct Diff {
  std::vector<std::string> newly_failing;  ///< each with its message and reproduction line
  std::vector<std::string> fixed;
  std::vector<std::string> new_fallbacks;  ///< paths that ran in the new run only
  std::vector<std::string> drift;          ///< accuracy that got worse, still passing
  std::vector<std::string> spec_changes;   ///< specs and rules added, removed or changed
  std::vector<std::string> coverage;       ///< properties run in only one of the runs
  std::vector<std::string> adapter_pairs;  ///< which adapters were compared with which
  bool fail_on_drift = false;

  /// Whether a CI should stop: something newly fails, a new path runs, or drift (if asked).
  bool gates() const;
};

/// Compares two runs. Adapters pair by name; if exactly one adapter of each run is left, those
/// two pair (a new build of a kernel under another name).
Diff diffResults(const Results& base, const Results& next, const DiffOptions& options = {});

/// The diff as Markdown, the "spec regression report" attached to a release.
std::string formatDiff(const Diff& diff);

}  // namespace attnconf::report
