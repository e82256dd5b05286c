#pragma once

#include <filesystem>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "attnconf/adapters/adapter.h"

namespace attnconf::adapters {

/// A worker manifest (`workers/<name>/worker.yaml`): how to start an out-of-process
/// implementation that speaks the worker protocol (docs/worker-protocol.md).
struct WorkerManifest {
  std::string name;
  std::string description;
  std::vector<std::string> command;  ///< argv; `{python}` and `{dir}` are substituted
  std::filesystem::path dir;         ///< the manifest's folder: the worker's working directory
  double timeout_s = 60;             ///< per call, and for the handshake
  std::map<std::string, std::string> env;
  std::filesystem::path expectations;  ///< known failures of this implementation, if any
};

/// A manifest or worker that cannot be used; the message names the file and field, or what the
/// worker did.
class WorkerError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// The folder of worker manifests: $ATTNCONF_WORKER_DIR, else the source tree's `workers/`.
std::filesystem::path workerFolder();

/// Reads `<folder>/<name>/worker.yaml`.
WorkerManifest loadWorkerManifest(const std::filesystem::path& folder, const std::string& name);

/// The names of the workers in a folder (sub-folders holding a worker.yaml).
std::vector<std::string> workerNames(const std::filesystem::path& folder);

/// An adapter that runs calls in the worker's process. The process starts on first use and is
/// kept across calls; a crash, a hang past the timeout, or a reply that breaks the protocol
/// throws WorkerError for that call, and the next call starts a fresh process.
std::unique_ptr<Adapter> makeWorkerAdapter(const WorkerManifest& manifest);

/// The expectations file a worker's manifest names, or empty (in-tree adapters, no file).
std::filesystem::path expectationsOf(std::string_view adapter);

/// An in-tree adapter by name, else a worker of `workerFolder()` by name; throws
/// std::invalid_argument naming what exists.
std::unique_ptr<Adapter> makeAdapter(std::string_view name);

}  // namespace attnconf::adapters
