#include <fmt/format.h>
#include <fmt/ranges.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <map>
#include <memory>

#include "attnconf/adapters/worker.h"
#include "attnconf/properties/fallback.h"
#include "attnconf/properties/registry.h"
#include "attnconf/properties/report.h"
#include "attnconf/report/expectations.h"
#include "attnconf/report/render.h"
#include "attnconf/report/results.h"
#include "attnconf/spec/loader.h"
#include "commands.h"

namespace attnconf::cli {
namespace {

struct RunOptions {
  std::string spec_dir;
  std::vector<std::string> adapters;
  std::vector<std::string> apis;
  std::vector<std::string> expectations;
  std::string results = "attnconf-results.json";
  std::string failure_dir = "attnconf-failures";
  std::string only;
  props::RunConfig config;
};

// One property of one spec against one adapter.
struct Job {
  std::shared_ptr<adapters::Adapter> adapter;
  const spec::ApiSpec* spec;
  props::PropertyCheck check;
};

using Adapters = std::vector<std::shared_ptr<adapters::Adapter>>;

std::vector<Job> plan(const std::vector<spec::ApiSpec>& specs, const Adapters& chosen,
                      const std::string& only) {
  std::vector<Job> jobs;
  for (const auto& adapter : chosen) {
    for (const auto& s : specs) {
      if (!adapter->supports(s.api)) continue;
      for (auto& check : props::propertiesOf(s)) {
        if (only.empty() || check.name.find(only) != std::string::npos)
          jobs.push_back(Job{adapter, &s, check});
      }
    }
  }
  return jobs;
}

// A one-line progress report on a terminal; silent in CI logs and pipes.
class Progress {
 public:
  explicit Progress(std::size_t total) : total_(total) {}

  void starting(std::size_t done, const std::string& label) const {
    if (!enabled_) return;
    const double elapsed =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    const std::string eta = done == 0
                                ? "?"
                                : fmt::format("{:.0f}s", elapsed / static_cast<double>(done) *
                                                             static_cast<double>(total_ - done));
    fmt::print(stderr, "\r\033[K[{}/{}] {} (elapsed {:.0f}s, ETA {})", done + 1, total_, label,
               elapsed, eta);
  }

  void clear() const {
    if (enabled_) fmt::print(stderr, "\r\033[K");
  }

 private:
  std::size_t total_;
  bool enabled_ = isatty(STDERR_FILENO) != 0 && std::getenv("CI") == nullptr;
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
};

bool measuresRatio(const std::string& kind) {
  return kind == "accuracy" || kind == "gradient";
}

void printSections(const report::Results& results,
                   const std::map<std::string, std::string>& declared) {
  const auto any = [&](const auto& pred) {
    return std::any_of(results.results.begin(), results.results.end(), pred);
  };
  if (any([](const auto& r) { return r.kind == "fallback"; })) {
    fmt::print("\nfallback map (path that ran, over the NoUndeclaredFallback cases):\n");
  }
  for (const auto& r : results.results) {
    if (r.kind != "fallback") continue;
    fmt::print("  {} x {}: {}\n    declared fallbacks: {}\n", r.api, r.adapter,
               report::describePaths(r.verdict), declared.at(r.api + "/" + r.adapter));
    for (const auto& [path, example] : r.verdict.path_examples)
      fmt::print("    {} e.g. {}\n", path, example);
  }
  for (const auto& [kind, heading] :
       {std::pair{"signature",
                  "resource signatures (measured side by side with standard attention)"},
        std::pair{"repeatability",
                  "spread between two identical calls (where the spec does not "
                  "promise determinism)"}}) {
    const auto has_evidence = [kind](const auto& r) {
      return r.kind == kind && !r.verdict.evidence.empty();
    };
    if (any(has_evidence)) fmt::print("\n{}:\n", heading);
    for (const auto& r : results.results) {
      if (has_evidence(r)) fmt::print("  {} x {}: {}\n", r.api, r.adapter, r.verdict.evidence);
    }
  }
  for (const auto& r : results.results) {
    if (!r.verdict.ok() && r.expected_failure.empty()) {
      fmt::print("\n{}\n{}\n", r.verdict.message, props::reproduceLines(r.verdict, r.adapter));
    }
  }
}

// The adapters' expectations files: --expectations FILE, and each worker's own.
std::vector<report::Expectations> expectationsFor(const std::vector<std::string>& files,
                                                  const Adapters& chosen) {
  std::vector<report::Expectations> out;
  for (const auto& file : files) out.push_back(report::loadExpectations(file));
  for (const auto& adapter : chosen) {
    const auto file = adapters::expectationsOf(adapter->name());
    if (!file.empty()) out.push_back(report::loadExpectations(file));
  }
  return out;
}

// Known failures (with their reasons), and expectations that matched nothing (a warning).
void printExpectations(const report::Results& results, const std::vector<std::string>& unmatched) {
  bool any = false;
  for (const auto& r : results.results) {
    if (r.expected_failure.empty()) continue;
    if (!any) fmt::print("\nexpected failures (known findings, not counted):\n");
    any = true;
    fmt::print("  {} x {} {}: {}\n", r.api, r.adapter, r.property, r.expected_failure);
  }
  for (const auto& warning : unmatched) fmt::print(stderr, "warning: {}\n", warning);
}

// The specs of the folder, or only the named ones; an unknown name is an error.
std::vector<spec::ApiSpec> chosenSpecs(const RunOptions& options) {
  auto specs = spec::loadSpecFolder(spec::specFolder(options.spec_dir));
  if (options.apis.empty()) return specs;
  std::vector<spec::ApiSpec> chosen;
  for (const auto& api : options.apis) {
    const auto it = std::ranges::find(specs, api, &spec::ApiSpec::api);
    if (it == specs.end()) {
      std::vector<std::string> known;
      for (const auto& s : specs) known.push_back(s.api);
      throw std::invalid_argument(
          fmt::format("--api {}: no such spec; expected one of {}", api, fmt::join(known, ", ")));
    }
    chosen.push_back(*it);
  }
  return chosen;
}

int run(const RunOptions& options) {
  const auto specs = chosenSpecs(options);
  const auto adapter_names =
      options.adapters.empty() ? adapters::inTreeAdapterNames() : options.adapters;
  Adapters chosen;
  for (const auto& name : adapter_names) {
    chosen.push_back(adapters::makeAdapter(name));
    if (const auto why = chosen.back()->unavailable(); !why.empty())
      throw std::runtime_error(fmt::format("adapter {} cannot run: {}", name, why));
    if (std::ranges::none_of(specs, [&](const auto& s) { return chosen.back()->supports(s.api); }))
      throw std::runtime_error(
          fmt::format("adapter {} implements none of the specs checked", name));
  }
  props::RunConfig config = options.config;
  config.failure_dir = options.failure_dir;
  report::Results results{.suite_version = report::suiteVersion(),
                          .git_revision = report::gitRevision(),
                          .host = report::hostDescription(),
                          .seed = config.seed,
                          .accuracy_cases = config.accuracy_cases,
                          .error_cases = config.error_cases,
                          .specs = {},
                          .adapters = {},
                          .results = {}};
  for (const auto& s : specs) results.specs.push_back(report::recordOf(s));
  for (const auto& adapter : chosen)
    results.adapters.push_back({adapter->name(), adapter->description()});
  const auto expectations = expectationsFor(options.expectations, chosen);
  report::saveResults(options.results, results);

  const std::vector<Job> jobs = plan(specs, chosen, options.only);
  std::size_t width = 10;
  for (const auto& name : adapter_names) width = std::max(width, name.size());
  fmt::print("{:<18} {:<{}} {:<34} {:<7} {:>5} {:>9} {:>7}\n", "API", "ADAPTER", width, "PROPERTY",
             "VERDICT", "CASES", "ERR/BOUND", "TIME");
  const Progress progress(jobs.size());
  std::map<std::string, std::string> declared;  // "api/adapter" -> its declared fallbacks
  int failed = 0;
  for (std::size_t i = 0; i < jobs.size(); ++i) {
    const Job& job = jobs[i];
    const std::string name = job.adapter->name();
    progress.starting(i, fmt::format("{} x {}: {}", job.spec->api, name, job.check.name));
    const props::Verdict v = job.check.run(*job.adapter, config);
    progress.clear();
    report::ResultRecord record{job.spec->api, name, job.check.name, job.check.kind, v, {}};
    for (const auto& e : expectations) report::markExpected(e, record);
    const bool counted = !v.ok() && record.expected_failure.empty();
    failed += counted ? 1 : 0;
    fmt::print("{:<18} {:<{}} {:<34} {:<7} {:>5} {:>9} {:>6.1f}s\n", job.spec->api, name, width,
               job.check.name,
               record.expected_failure.empty() ? props::statusName(v.status) : "xfail", v.cases,
               measuresRatio(job.check.kind) ? fmt::format("{:.3f}", v.max_ratio) : "-", v.seconds);
    std::fflush(stdout);
    if (job.check.kind == "fallback") {  // the fallback map shows what each adapter declares
      declared[job.spec->api + "/" + name] =
          props::PathContract::of(*job.spec, *job.adapter).describeFallbacks();
    }
    // Rewritten after every verdict: a killed run keeps what finished.
    results.results.push_back(std::move(record));
    report::saveResults(options.results, results);
  }
  const auto scope = options.apis.empty() && options.only.empty() ? report::RunScope::every_test
                                                                  : report::RunScope::some_tests;
  std::vector<std::string> unmatched;
  for (const auto& e : expectations) {
    for (auto& warning : report::staleExpectations(e, results, scope))
      unmatched.push_back(std::move(warning));
  }
  printSections(results, declared);
  printExpectations(results, unmatched);
  const auto expected = std::ranges::count_if(
      results.results, [](const auto& r) { return !r.expected_failure.empty(); });
  fmt::print("\nresults: {}\n{} passed, {} expected failures, {} failed\n", options.results,
             std::ssize(jobs) - failed - expected, expected, failed);
  return failed == 0 ? 0 : 1;
}

}  // namespace

void addRunCommand(CLI::App& app) {
  auto options = std::make_shared<RunOptions>();
  CLI::App* cmd =
      app.add_subcommand("run", "Check every spec against the adapters; print a verdict table");
  cmd->add_option("--spec-dir", options->spec_dir,
                  "Folder of spec YAML files (default: the built-in one)");
  cmd->add_option("--adapter", options->adapters,
                  "Adapter to check (repeatable; default: every in-tree adapter)");
  cmd->add_option("--results", options->results, "Results JSON to write")->capture_default_str();
  cmd->add_option("--failure-dir", options->failure_dir, "Where shrunk failing cases are saved")
      ->capture_default_str();
  cmd->add_option("--api", options->apis, "API to check (repeatable; default: every spec)");
  cmd->add_option("--expectations", options->expectations,
                  "Known failures of an adapter, not counted (repeatable; a worker's own file is "
                  "read without it)");
  cmd->add_option("--only", options->only, "Run only properties whose name contains this text");
  cmd->add_option("--cases", options->config.accuracy_cases, "Valid cases per accuracy property")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_option("--error-cases", options->config.error_cases,
                  "Invalid cases per error-contract rule")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_option("--max-seqlen", options->config.limits.max_seqlen, "Longest generated sequence")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_option("--signature-seqlen", options->config.signature_seqlen,
                  "Base length of the resource signature (measured at L, 2L, 4L)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_option("--seed", options->config.seed, "Mixed into every property's seed")
      ->capture_default_str();
  cmd->callback([options] {
    if (const int code = run(*options); code != 0) throw CLI::RuntimeError(code);
  });
}

}  // namespace attnconf::cli
