#pragma once

#include <optional>
#include <string>
#include <vector>

#include "attnconf/adapters/adapter.h"
#include "attnconf/properties/verdict.h"
#include "attnconf/spec/api_spec.h"

namespace attnconf::props {

/// The paths a call may take: the spec's fast paths, and the fallbacks (the spec's and those the
/// adapter declares) whose region holds the call.
struct PathContract {
  std::vector<spec::PathDecl> fast;       ///< the spec's fast paths, each over its region
  std::vector<spec::PathDecl> fallbacks;  ///< every declared fallback, spec's first

  /// Loads the adapter's declared fallbacks for the spec's API next to the spec's own.
  static PathContract of(const spec::ApiSpec& spec, const adapters::Adapter& adapter);
  bool isFast(const std::string& path) const;
  /// The fast paths whose region holds the call (a dispatching API's one branch).
  std::vector<std::string> fastFor(const spec::ApiSpec& spec, const Case& c) const;
  /// The declared fallback named `path` whose region holds the call, if any.
  const spec::PathDecl* covering(const spec::ApiSpec& spec, const Case& c,
                                 const std::string& path) const;
  /// "standard when headdim >= 129; ..." or "none".
  std::string describeFallbacks() const;
};

/// The path a call took, from the adapter's report and the fast-path-only probe; the failure
/// message if that path is not allowed for the call, else nothing.
struct PathObservation {
  std::string path;  ///< reported path, or "fallback" when only the probe tells
  std::optional<std::string> failure;
};

/// Observes one valid call's path and judges it against the contract.
PathObservation observePath(const spec::ApiSpec& spec, const PathContract& contract,
                            adapters::Adapter& adapter, const Case& c);

/// Property `NoUndeclaredFallback`: on valid cases the path that ran is a fast path or a
/// fallback declared for that input; the verdict carries the fallback map.
Verdict checkNoUndeclaredFallback(const spec::ApiSpec& spec, adapters::Adapter& adapter,
                                  const RunConfig& config);

}  // namespace attnconf::props
