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
  contract.fast = spec.paths.fast;
  contract.fallbacks = spec.paths.fallbacks;
  const auto declared = spec::parseDeclaredFallbacks(spec, adapter.declaredFallbacks(spec.api),
                                                     adapter.name() + " (declared fallbacks)");
  contract.fallbacks.insert(contract.fallbacks.end(), declared.begin(), declared.end());
  return contract;
}

bool PathContract::isFast(const std::string& path) const {
  return std::ranges::find(fast, path, &spec::PathDecl::name) != fast.end();
}

std::vector<std::string> PathContract::fastFor(const spec::ApiSpec& spec, const Case& c) const {
  std::vector<std::string> names;
  for (const auto& path : fast) {
    if (spec::inRegion(spec, c, path) && std::ranges::find(names, path.name) == names.end()) {
      names.push_back(path.name);
    }
  }
  return names;
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
  const std::vector<std::string> fast = contract.fastFor(spec, c);
  std::string path = outcome.path.path;
  if (path.empty() && probe_refused) path = "fallback";
  if (path.empty()) path = probe && !fast.empty() ? fast.front() : "unknown";
  const std::string should = fmt::format("should be {} (declared fallbacks: {})",
                                         fmt::join(fast, " or "), contract.describeFallbacks());
  if (contract.isFast(path) && probe_refused) {
    return {path, fmt::format("path={} as reported by {}, but the fast-path-only probe refused the "
                              "call (\"{}\"), so it fell back",
                              path, outcome.path.kernel, probe->rejection().message)};
  }
  if (contract.isFast(path) && std::ranges::find(fast, path) == fast.end()) {
    return {path, fmt::format("path={} (kernel {}), a fast path for other calls, but {}", path,
                              outcome.path.kernel, should)};
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
