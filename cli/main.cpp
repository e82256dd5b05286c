#include <CLI/CLI.hpp>
#include <exception>
#include <iostream>

#include "commands.h"

int main(int argc, char** argv) {
  CLI::App app{"attnconf: property-based conformance tests for attention kernels"};
  app.require_subcommand(1);
  attnconf::cli::addRunCommand(app);
  attnconf::cli::addListCommand(app);
  attnconf::cli::addReplayCommand(app);
  attnconf::cli::addReportCommand(app);
  attnconf::cli::addDiffCommand(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const std::exception& e) {
    std::cerr << "attnconf: " << e.what() << '\n';
    return 2;
  }
  return 0;
}
