#include <fmt/format.h>

#include <fstream>
#include <memory>

#include "attnconf/report/diff.h"
#include "commands.h"

namespace attnconf::cli {
namespace {

struct DiffCommandOptions {
  std::string base, next, output;
  report::DiffOptions diff;
};

}  // namespace

void addDiffCommand(CLI::App& app) {
  auto options = std::make_shared<DiffCommandOptions>();
  CLI::App* cmd = app.add_subcommand(
      "diff", "What changed between two results files; exit 1 on a regression (CI gate)");
  cmd->add_option("base", options->base, "Results of the baseline run (file or folder)")
      ->required()
      ->check(CLI::ExistingPath);
  cmd->add_option("new", options->next, "Results of the new run (file or folder)")
      ->required()
      ->check(CLI::ExistingPath);
  cmd->add_option("--drift", options->diff.drift,
                  "Report accuracy whose max err/bound grew by more than this fraction")
      ->capture_default_str();
  cmd->add_flag("--fail-on-drift", options->diff.fail_on_drift,
                "Accuracy drift alone fails the diff");
  cmd->add_option("--output", options->output, "Also write the diff (Markdown) to this file");
  cmd->callback([options] {
    const auto diff = report::diffResults(report::loadResults(options->base),
                                          report::loadResults(options->next), options->diff);
    const std::string text = report::formatDiff(diff);
    fmt::print("{}", text);
    if (!options->output.empty()) std::ofstream(options->output) << text;
    if (diff.gates()) throw CLI::RuntimeError(1);
  });
}

}  // namespace attnconf::cli
