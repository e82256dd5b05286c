#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <iostream>
#include <memory>

#include "attnconf/properties/fallback.h"
#include "attnconf/properties/registry.h"
#include "attnconf/properties/report.h"
#include "attnconf/spec/loader.h"
#include "commands.h"
#include "results_file.h"

namespace attnconf::cli {
namespace {

struct RunOptions {
  std::string spec_dir;
  std::vector<std::string> adapters;
  std::string results = "attnconf-results.json";
  std::string failure_dir = "attnconf-failures";
  std::string only;
  props::RunConfig config;
};

// Which path each case ran, per API and adapter, with the fallbacks each adapter declares.
struct FallbackMapRow {
  std::string api, adapter, declared;
  props::Verdict verdict;
};

void printFallbackMap(const std::vector<FallbackMapRow>& rows) {
  if (rows.empty()) return;
  fmt::print("\nfallback map (path that ran, over the NoUndeclaredFallback cases):\n");
  for (const auto& row : rows) {
    int total = 0;
    for (const auto& [path, count] : row.verdict.paths) total += count;
    std::vector<std::string> shares;
    for (const auto& [path, count] : row.verdict.paths) {
      shares.push_back(
          fmt::format("{} {} ({:.0f}%)", path, count, 100.0 * count / std::max(total, 1)));
    }
    fmt::print("  {} x {}: {}\n    declared fallbacks: {}\n", row.api, row.adapter,
               fmt::join(shares, ", "), row.declared);
    for (const auto& [path, example] : row.verdict.path_examples) {
      fmt::print("    {} e.g. {}\n", path, example);
    }
  }
}

void printEvidence(const std::vector<std::string>& evidence) {
  if (evidence.empty()) return;
  fmt::print("\nresource signatures (measured side by side with standard attention):\n");
  for (const auto& line : evidence) fmt::print("  {}\n", line);
}

int run(const RunOptions& options) {
  const auto specs = spec::loadSpecFolder(spec::specFolder(options.spec_dir));
  const auto adapter_names =
      options.adapters.empty() ? adapters::inTreeAdapterNames() : options.adapters;
  props::RunConfig config = options.config;
  config.failure_dir = options.failure_dir;
  ResultsFile results(options.results, specs, adapter_names, config);
  std::size_t width = 10;
  for (const auto& name : adapter_names) width = std::max(width, name.size());
  fmt::print("{:<18} {:<{}} {:<34} {:<7} {:>5} {:>9} {:>7}\n", "API", "ADAPTER", width, "PROPERTY",
             "VERDICT", "CASES", "ERR/BOUND", "TIME");
  int passed = 0, failed = 0;
  std::vector<std::string> failures;
  std::vector<FallbackMapRow> fallback_map;
  std::vector<std::string> evidence;
  for (const auto& name : adapter_names) {
    const auto adapter = adapters::makeInTreeAdapter(name);
    for (const auto& s : specs) {
      if (!adapter->supports(s.api)) continue;
      for (const auto& check : props::propertiesOf(s)) {
        if (!options.only.empty() && check.name.find(options.only) == std::string::npos) continue;
        const props::Verdict v = check.run(*adapter, config);
        const bool ok = v.status == props::Verdict::Status::pass;
        (ok ? passed : failed) += 1;
        fmt::print("{:<18} {:<{}} {:<34} {:<7} {:>5} {:>9} {:>6.1f}s\n", s.api, name, width,
                   check.name, props::statusName(v.status), v.cases,
                   check.kind == "accuracy" ? fmt::format("{:.3f}", v.max_ratio) : "-", v.seconds);
        std::fflush(stdout);
        if (!ok)
          failures.push_back(fmt::format("{}\n{}", v.message, props::reproduceLines(v, name)));
        if (!v.evidence.empty())
          evidence.push_back(fmt::format("{} x {}: {}", s.api, name, v.evidence));
        if (check.kind == "fallback") {
          const auto declared = props::PathContract::of(s, *adapter).describeFallbacks();
          fallback_map.push_back(FallbackMapRow{s.api, name, declared, v});
        }
        results.add(ResultRow{s.api, name, check.name, check.kind, v});
      }
    }
  }
  printFallbackMap(fallback_map);
  printEvidence(evidence);
  for (const auto& f : failures) fmt::print("\n{}\n", f);
  fmt::print("\nresults: {}\n{} passed, {} failed\n", options.results, passed, failed);
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
  cmd->add_option("--seed", options->config.seed, "Mixed into every property's seed")
      ->capture_default_str();
  cmd->callback([options] {
    if (const int code = run(*options); code != 0) throw CLI::RuntimeError(code);
  });
}

}  // namespace attnconf::cli
