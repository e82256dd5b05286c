#include "attnconf/properties/runner.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <functional>

#include "attnconf/model/case_file.h"
#include "attnconf/properties/report.h"
#include "rapidcheck/detail/Configuration.h"
#include "rapidcheck/detail/Property.h"
#include "rapidcheck/detail/TestListener.h"
#include "rapidcheck/detail/TestMetadata.h"

namespace attnconf::props {
namespace {

bool rcParamsSet(const char* key) {
  const char* env = std::getenv("RC_PARAMS");
  return env != nullptr && std::string(env).find(key) != std::string::npos;
}

// Stable per test, so a run is reproducible without flags; RC_PARAMS=seed=N explores others.
std::uint64_t seedFor(const std::string& test_id, const RunConfig& config) {
  if (rcParamsSet("seed")) return rc::detail::configuration().testParams.seed;
  return std::hash<std::string>{}(test_id) ^ config.seed;
}

std::string rapidcheckId(const std::string& test_id) {
  std::string id = test_id;
  if (const auto dot = id.find('.'); dot != std::string::npos) id[dot] = '/';
  return id;
}

std::string reproduceParams(const std::string& rc_id, const rc::detail::Reproduce& reproduce) {
  rc::detail::Configuration config;
  config.reproduce[rc_id] = reproduce;
  return rc::detail::configToMinimalString(config);
}

// The verdict carries what matters; RapidCheck's own progress and exit summary would only
// repeat it on stderr.
class SilentListener final : public rc::detail::TestListener {
 public:
  void onTestCaseFinished(const rc::detail::CaseDescription&) override {}
  void onShrinkTried(const rc::detail::CaseDescription&, bool) override {}
  void onTestFinished(const rc::detail::TestMetadata&, const rc::detail::TestResult&) override {}
};

// Order statistics and a histogram (tenths of the bound, then >= 1) of the error/bound ratios.
void summarizeRatios(std::vector<double> ratios, Verdict& verdict) {
  verdict.ratio_histogram.assign(11, 0);
  if (ratios.empty()) return;
  std::sort(ratios.begin(), ratios.end());
  const auto at = [&](double q) {
    return ratios[static_cast<std::size_t>(q * static_cast<double>(ratios.size() - 1))];
  };
  verdict.max_ratio = ratios.back();
  verdict.median_ratio = at(0.5);
  verdict.p99_ratio = at(0.99);
  for (const double r : ratios) {
    ++verdict.ratio_histogram[static_cast<std::size_t>(std::clamp(r * 10, 0.0, 10.0))];
  }
}

// An implementation that breaks (a worker that crashes, hangs or answers garbage) fails the case
// it broke on, which is then shrunk and saved like any other failure.
Judgement judgeOrReport(const std::function<Judgement(const Case&)>& judge, const Case& c) {
  try {
    return judge(c);
  } catch (const std::exception& e) {
    return Judgement::fail(
        failureMessage(c.api, "implementation",
                       fmt::format("the call broke the implementation: {}", e.what()), c));
  }
}

}  // namespace

std::string_view statusName(Verdict::Status status) {
  switch (status) {
    case Verdict::Status::pass:
      return "pass";
    case Verdict::Status::fail:
      return "FAIL";
    case Verdict::Status::gave_up:
      return "GAVE UP";
    case Verdict::Status::not_applicable:
      return "n/a";
  }
  return "?";
}

Verdict runCases(const std::string& test_id, const rc::Gen<Case>& cases, int count,
                 const RunConfig& config,
                 const std::function<std::vector<std::string>(const Case&)>& tags,
                 const std::function<Judgement(const Case&)>& judge) {
  const auto start = std::chrono::steady_clock::now();
  Verdict verdict;
  verdict.test_id = test_id;
  verdict.seed = seedFor(test_id, config);
  // RapidCheck shrinks by re-running the property; the last failing run is the shrunk case.
  std::optional<Case> last_failing;
  std::string last_message;
  std::vector<double> ratios;
  std::map<std::string, int> tag_counts;
  const auto property = [&] {
    // Not const: an adapter that writes to its inputs (a bug InputImmutability reports) must not
    // write to a const object.
    Case c = *cases;
    const Judgement judgement = judgeOrReport(judge, c);
    if (judgement.failure) {
      last_failing = c;
      last_message = *judgement.failure;
      RC_FAIL(*judgement.failure);
    }
    ratios.push_back(judgement.ratio);
    for (const auto& tag : tags(c)) ++tag_counts[tag];
    if (!judgement.path.empty() && verdict.paths[judgement.path]++ == 0) {
      verdict.path_examples[judgement.path] = describeCase(c);
    }
  };
  rc::detail::TestParams params = rc::detail::configuration().testParams;
  params.seed = verdict.seed;
  if (!rcParamsSet("max_success")) params.maxSuccess = count;
  const rc::detail::TestMetadata metadata{rapidcheckId(test_id), test_id};
  SilentListener listener;
  const auto result = rc::detail::checkProperty(rc::detail::toProperty(property), metadata, params,
                                                listener, rc::detail::configuration().reproduce);

  summarizeRatios(ratios, verdict);
  verdict.tags = std::move(tag_counts);
  if (result.is<rc::detail::FailureResult>()) {
    const auto& failure = result.get<rc::detail::FailureResult>();
    verdict.status = Verdict::Status::fail;
    verdict.cases = failure.numSuccess;
    verdict.message = last_message.empty() ? failure.description : last_message;
    verdict.reproduce = reproduceParams(metadata.id, failure.reproduce);
    if (last_failing) {
      const auto file = config.failure_dir / (test_id + ".case.json");
      saveCase(file, *last_failing);
      verdict.case_file = file.string();
    }
  } else if (result.is<rc::detail::GaveUpResult>()) {
    verdict.status = Verdict::Status::gave_up;
    verdict.cases = result.get<rc::detail::GaveUpResult>().numSuccess;
    verdict.message = result.get<rc::detail::GaveUpResult>().description;
  } else if (result.is<rc::detail::Error>()) {
    verdict.status = Verdict::Status::fail;
    verdict.message = result.get<rc::detail::Error>().description;
  } else {
    verdict.cases = result.get<rc::detail::SuccessResult>().numSuccess;
  }
  verdict.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return verdict;
}

}  // namespace attnconf::props
