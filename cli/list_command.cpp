#include <fmt/format.h>

#include <memory>

#include "attnconf/adapters/planted_fault.h"
#include "attnconf/adapters/worker.h"
#include "attnconf/properties/registry.h"
#include "attnconf/spec/loader.h"
#include "commands.h"

namespace attnconf::cli {

void addListCommand(CLI::App& app) {
  auto spec_dir = std::make_shared<std::string>();
  CLI::App* cmd = app.add_subcommand("list", "List specs, their properties, and the adapters");
  cmd->add_option("--spec-dir", *spec_dir, "Folder of spec YAML files (default: the built-in one)");
  cmd->callback([spec_dir] {
    for (const auto& s : spec::loadSpecFolder(spec::specFolder(*spec_dir))) {
      fmt::print("{}  ({}; {})\n", s.api, s.version, s.file);
      for (const auto& check : props::propertiesOf(s)) {
        fmt::print("  {:<34} {}  [{}:{}]\n", check.name, check.summary, check.where.file,
                   check.where.line);
      }
    }
    fmt::print("\nadapters:\n");
    for (const auto& name : adapters::inTreeAdapterNames()) {
      fmt::print("  {:<12} {}\n", name, adapters::makeAdapter(name)->description());
    }
    // Workers are listed from their manifests, not started: a missing environment must not
    // stop the listing.
    fmt::print("\nworkers ({}):\n", adapters::workerFolder().string());
    for (const auto& name : adapters::workerNames(adapters::workerFolder())) {
      const auto manifest = adapters::loadWorkerManifest(adapters::workerFolder(), name);
      fmt::print("  {:<12} {}\n", name, manifest.description);
    }
    fmt::print("\nplanted faults (adapter cpu_flash_mutant_<fault>, to see a failure):\n");
    for (const auto fault : adapters::allPlantedFaults())
      fmt::print("  {}\n", adapters::faultName(fault));
  });
}

}  // namespace attnconf::cli
