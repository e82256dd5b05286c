#include <fmt/format.h>

#include <fstream>
#include <memory>

#include "attnconf/report/render.h"
#include "attnconf/report/results.h"
#include "commands.h"

namespace attnconf::cli {
namespace {

struct ReportOptions {
  std::string results = "attnconf-results.json";
  std::string markdown = "attnconf-report.md";
  std::string html = "attnconf-report.html";
};

void writeFile(const std::string& path, const std::string& text) {
  std::ofstream out(path);
  out << text;
  if (!out) throw std::runtime_error(fmt::format("{}: cannot write", path));
}

}  // namespace

void addReportCommand(CLI::App& app) {
  auto options = std::make_shared<ReportOptions>();
  CLI::App* cmd = app.add_subcommand("report", "Render a results file as Markdown and HTML");
  cmd->add_option("results", options->results,
                  "Results file of `attnconf run`, or a folder of them (a ctest run)")
      ->capture_default_str()
      ->check(CLI::ExistingPath);
  cmd->add_option("--markdown", options->markdown, "Markdown report to write")
      ->capture_default_str();
  cmd->add_option("--html", options->html, "Self-contained HTML report to write")
      ->capture_default_str();
  cmd->callback([options] {
    const report::Results results = report::loadResults(options->results);
    writeFile(options->markdown, report::renderMarkdown(results));
    writeFile(options->html, report::renderHtml(results));
    fmt::print("wrote {} and {} ({} verdicts)\n", options->markdown, options->html,
               results.results.size());
  });
}

}  // namespace attnconf::cli
