#pragma once

#include <CLI/CLI.hpp>

namespace attnconf::cli {

/// Adds `attnconf run`: every spec against the chosen adapters, a verdict table, results JSON.
void addRunCommand(CLI::App& app);

/// Adds `attnconf list`: specs with their rules and properties, and the adapters.
void addListCommand(CLI::App& app);

/// Adds `attnconf replay CASE --adapter NAME`: evaluates a saved case and prints the outputs.
void addReplayCommand(CLI::App& app);

/// Adds `attnconf report RESULTS`: the Markdown and the HTML report of a run.
void addReportCommand(CLI::App& app);

/// Adds `attnconf diff BASE NEW`: the regression report between two runs, as a CI gate.
void addDiffCommand(CLI::App& app);

}  // namespace attnconf::cli
