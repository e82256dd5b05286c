#include "attnconf/properties/fallback.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>

#include "attnconf/properties/report.h"
#include "attnconf/properties/runner.h"
#include "attnconf/spec/loader.h"
#include "attnconf/spec/rules.h"

namespace attnconf::props {

PathContract PathContract::of(const spec::ApiSpec& spec, const adapters::Adapter& adapter) {
  PathContract contract;
  for (const auto& path : spec.paths.fast) contract.fast.push_back(path.name);
  contract.fallbacks = spec.paths.fallbacks;
  const auto declared = spec::parseDeclaredFallbacks(spec, adapter.declaredFallbacks(spec.api),
                                                     adapter.name() + " (declared fallbacks)");
  contract.fallbacks.insert(contract.fallbacks.end(), declared.begin(), declared.end());
  return contract;
}

bool PathContract::isFast(const std::string& path) const {
  return std::ranges::find(fast, path) != fast.end();
}

const spec::PathDecl* PathContract::covering(const spec::ApiSpec& spec, const Case& c,
                                             const std::string& path) const {
  for (const auto& fallback : fallbacks) {
    if (fallback.name == path && spec::inRegion(spec, c, fallback)) return &fallback;
  }
  return nullptr;
}

std::string PathContract::describeFallbacks() const {
  if (fallbacks.empty()) return "none";
  std::vector<std::string> parts;
  for (const auto& f : fallbacks) {
    parts.push_back(f.when.empty() ? f.name + " everywhere"
                                   : f.name + " when " + spec::describeRegion(f));
  }
  return fmt::format("{}", fmt::join(parts, "; "));
}

PathObservation observePath(const spec::ApiSpec& spec, const PathContract& contract,
                            adapters::Adapter& adapter, const Case& c) {
  const adapters::Outcome outcome = adapter.run(c);
  if (outcome.rejected()) return {"rejected", std::nullopt};  // Accuracy judges that
  const auto probe = adapter.runFastPathOnly(c);
  const bool probe_refused = probe && probe->rejected();
  std::string path = outcome.path.path;
  if (path.empty()) path = probe_refused ? "fallback" : (probe ? contract.fast.front() : "unknown");
  const std::string should =
      fmt::format("should be {} (declared fallbacks: {})", fmt::join(contract.fast, " or "),
                  contract.describeFallbacks());
  if (contract.isFast(path) && probe_refused) {
    return {path, fmt::format("path={} as reported by {}, but the fast-path-only probe refused the "
                              "call (\"{}\"), so it fell back",
                              path, outcome.path.kernel, probe->rejection().message)};
  }
  if (!contract.isFast(path) && path != "unknown" && !contract.covering(spec, c, path)) {
    return {path, fmt::format("path={} (kernel {}, {}), but {}", path, outcome.path.kernel,
                              outcome.path.detail, should)};
  }
  return {path, std::nullopt};
}

Verdict checkNoUndeclaredFallback(const spec::ApiSpec& spec, adapters::Adapter& adapter,
                                  const RunConfig& config) {
  const std::string test_id = fmt::format("{}.NoUndeclaredFallback_{}", spec.api, adapter.name());
  const PathContract contract = PathContract::of(spec, adapter);
  return runCases(
      test_id, gen::validCases(spec, config.limits), config.accuracy_cases, config,
      [&spec](const Case& c) { return gen::caseTags(spec, c); },
      [&](const Case& c) {
        const PathObservation seen = observePath(spec, contract, adapter, c);
        if (!seen.failure) return Judgement::pass(0, seen.path);
        return Judgement::fail(failureMessage(spec.api, "paths", *seen.failure, c), 0, seen.path);
      });
}

}  // namespace attnconf::props
