#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <memory>
#include <nlohmann/json.hpp>

#include "attnconf/adapters/worker.h"
#include "attnconf/model/case_file.h"
#include "attnconf/properties/accuracy.h"
#include "attnconf/properties/error_contract.h"
#include "attnconf/properties/gradients.h"
#include "attnconf/properties/report.h"
#include "attnconf/spec/binding.h"
#include "attnconf/spec/loader.h"
#include "attnconf/spec/rules.h"
#include "commands.h"

namespace attnconf::cli {
namespace {

struct ReplayOptions {
  std::string case_file;
  std::string adapter = "reference";
  std::string spec_dir;
  bool values = false;
};

void printTensor(const std::string& name, const Tensor& t, bool all_values) {
  const auto [lo, hi] = std::minmax_element(t.values.begin(), t.values.end());
  fmt::print("{}: {}[{}]", name, dtypeName(t.dtype), fmt::join(t.shape, ", "));
  if (!t.values.empty()) fmt::print("  min {} max {}", props::num(*lo), props::num(*hi));
  fmt::print("\n");
  if (all_values) {
    fmt::print("  {}\n", nlohmann::json(t.values).dump());
  } else {
    std::vector<std::string> head;
    for (std::size_t i = 0; i < std::min<std::size_t>(8, t.values.size()); ++i)
      head.push_back(props::num(t.values[i]));
    fmt::print("  first values: {}{}\n", fmt::join(head, ", "), t.values.size() > 8 ? ", ..." : "");
  }
}

const spec::ApiSpec& findSpec(const std::vector<spec::ApiSpec>& specs, const std::string& api) {
  for (const auto& s : specs) {
    if (s.api == api) return s;
  }
  throw std::runtime_error(fmt::format("no spec for API \"{}\" in the spec folder", api));
}

// A case that carries an output gradient replays the backward pass.
int replayBackward(const spec::ApiSpec& s, const Case& c, adapters::Adapter& adapter, bool values) {
  const auto outcome = adapter.runBackward(c);
  if (!outcome) {
    fmt::print("{} has no backward pass\n", adapter.name());
    return 1;
  }
  if (outcome->rejected()) {
    fmt::print("rejected: {}\n", outcome->rejection().message);
  } else {
    for (const auto& [name, t] : outcome->outputs()) printTensor(name, t, values);
  }
  double ratio = 0;
  const auto problem = props::judgeGradients(s, c, *outcome, ratio);
  fmt::print("gradients: max err/bound {:.3f}\nverdict: {}\n", ratio,
             problem ? "FAIL: " + *problem : "pass");
  return problem ? 1 : 0;
}

int replay(const ReplayOptions& options) {
  const Case c = loadCase(options.case_file);
  const auto specs = spec::loadSpecFolder(spec::specFolder(options.spec_dir));
  const spec::ApiSpec& s = findSpec(specs, c.api);
  const auto broken = spec::brokenRules(s, c);
  fmt::print("case: {}\n", describeCase(c));
  fmt::print("rules broken: {}\n",
             broken.empty() ? "none (valid call)" : fmt::format("{}", fmt::join(broken, ", ")));
  if (options.adapter == "reference") {
    if (!broken.empty()) {
      fmt::print("the reference computes valid calls only\n");
      return 1;
    }
    for (const auto& [name, e] : props::exactOutputs(s, c))
      printTensor(name + " (exact)", e.exact, options.values);
    return 0;
  }
  const auto adapter = adapters::makeAdapter(options.adapter);
  if (broken.empty() && s.backward.declared() && c.tensor(s.backward.grad_output)) {
    return replayBackward(s, c, *adapter, options.values);
  }
  const adapters::Outcome outcome = adapter->run(c);
  fmt::print("path: {} ({})\n", outcome.path.kernel, outcome.path.detail);
  if (outcome.rejected()) {
    fmt::print("rejected: {}\n", outcome.rejection().message);
  } else {
    for (const auto& [name, t] : outcome.outputs()) printTensor(name, t, options.values);
  }
  if (broken.size() == 1) {
    const auto problem = props::judgeRejection(*s.rule(broken[0]), outcome);
    fmt::print("error contract ({}): {}\n", broken[0], problem ? "FAIL: " + *problem : "pass");
    return problem ? 1 : 0;
  }
  if (!broken.empty()) return 0;
  const auto report = props::judgeAccuracy(s, c, outcome);
  for (const auto& p : report.problems) fmt::print("problem: {}\n", p);
  if (report.worst) {
    const auto& w = *report.worst;
    fmt::print("accuracy: max err/bound {:.3f} at {}[{}] ({} vs exact {}, bound {})\n",
               report.max_ratio, w.output, w.index, props::num(w.actual), props::num(w.expected),
               props::num(w.bound));
  }
  fmt::print("verdict: {}\n", report.passed() ? "pass" : "FAIL");
  return report.passed() ? 0 : 1;
}

}  // namespace

void addReplayCommand(CLI::App& app) {
  auto options = std::make_shared<ReplayOptions>();
  CLI::App* cmd =
      app.add_subcommand("replay", "Evaluate a saved case file on an adapter or the reference");
  cmd->add_option("case", options->case_file, "Case file (JSON, see README)")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("--adapter", options->adapter, "Adapter name, or `reference`")
      ->capture_default_str();
  cmd->add_option("--spec-dir", options->spec_dir,
                  "Folder of spec YAML files (default: the built-in one)");
  cmd->add_flag("--values", options->values, "Print every output value (JSON list)");
  cmd->callback([options] {
    if (const int code = replay(*options); code != 0) throw CLI::RuntimeError(code);
  });
}

}  // namespace attnconf::cli
