#include <fmt/format.h>
#include <fmt/ranges.h>
#include <yaml-cpp/yaml.h>

#include <cstdlib>
#include <optional>
#include <stdexcept>

#include "attnconf/adapters/in_tree.h"
#include "attnconf/adapters/worker.h"
#include "worker/protocol.h"
#include "worker/subprocess.h"

namespace attnconf::adapters {
namespace {

using worker::Clock;
using worker::ProtocolError;

class WorkerAdapter final : public Adapter {
 public:
  explicit WorkerAdapter(WorkerManifest manifest) : manifest_(std::move(manifest)) {}

  std::string name() const override { return manifest_.name; }

  std::string description() const override {
    std::string versions;
    if (unavailable().empty() && hello_.contains("versions")) {
      for (const auto& [library, version] : hello_["versions"].items())
        versions += fmt::format("{}{} {}", versions.empty() ? "" : ", ", library,
                                version.is_string() ? version.get<std::string>() : version.dump());
    }
    return versions.empty() ? manifest_.description
                            : fmt::format("{} ({})", manifest_.description, versions);
  }

  bool supports(std::string_view api) const override { return apiEntry(api) != nullptr; }

  std::string unavailable() const override {
    try {
      ensureStarted();
      return {};
    } catch (const WorkerError& e) {
      return e.what();
    }
  }

  std::string declaredFallbacks(std::string_view api) const override {
    const auto* entry = apiEntry(api);
    return entry && entry->contains("declared_fallbacks") &&
                   (*entry)["declared_fallbacks"].is_string()
               ? (*entry)["declared_fallbacks"].get<std::string>()
               : std::string();
  }

  Outcome run(const Case& c) override {
    auto outcome = call(c, "forward");
    if (!outcome)
      throw WorkerError(fmt::format("worker {} answered `unsupported` to a forward call of {}",
                                    manifest_.name, c.api));
    return *std::move(outcome);
  }

  std::vector<DType> dtypes(std::string_view api) const override {
    std::vector<DType> out;
    const auto* entry = apiEntry(api);
    if (!entry || !entry->contains("dtypes") || !(*entry)["dtypes"].is_array()) return out;
    for (const auto& name : (*entry)["dtypes"]) {
      const auto dtype = name.is_string() ? parseDType(name.get<std::string>()) : std::nullopt;
      if (!dtype)
        throw ProtocolError(
            fmt::format("hello: apis.{}.dtypes: unknown dtype {}", api, name.dump()));
      out.push_back(*dtype);
    }
    return out;
  }
  std::optional<Outcome> runFastPathOnly(const Case& c) override {
    return call(c, "fast_path_only");
  }
  std::optional<Outcome> runBackward(const Case& c) override { return call(c, "backward"); }

 private:
  Clock::time_point deadline() const {
    return Clock::now() +
           std::chrono::milliseconds(static_cast<std::int64_t>(manifest_.timeout_s * 1000));
  }

  // The handshake's entry for an API, starting the worker if it is not running; null for an
  // API it does not implement, or when it cannot start.
  const nlohmann::json* apiEntry(std::string_view api) const {
    if (!unavailable().empty()) return nullptr;
    const auto& apis = hello_["apis"];
    const auto it = apis.find(std::string(api));
    return it == apis.end() ? nullptr : &*it;
  }

  void ensureStarted() const {
    if (process_) return;
    try {
      process_ =
          std::make_unique<worker::Subprocess>(manifest_.command, manifest_.dir, manifest_.env);
      hello_ = worker::parseHeader(process_->readLine(limits_.max_header_bytes, deadline()));
      checkHello();
    } catch (const std::exception& e) {
      process_.reset();
      throw WorkerError(fmt::format("worker {} ({}): {}", manifest_.name,
                                    fmt::join(manifest_.command, " "), e.what()));
    }
  }

  void checkHello() const {
    if (hello_["type"] != "hello")
      throw ProtocolError(
          fmt::format("expected a `hello` header first, got type {}", hello_["type"].dump()));
    if (!hello_.contains("protocol") || hello_["protocol"] != worker::kProtocolVersion)
      throw ProtocolError(fmt::format("expected protocol {}, the worker speaks {}",
                                      worker::kProtocolVersion,
                                      hello_.value("protocol", nlohmann::json()).dump()));
    if (!hello_.contains("apis") || !hello_["apis"].is_object())
      throw ProtocolError("hello: expected an object `apis`");
  }

  std::optional<Outcome> call(const Case& c, const std::string& mode) {
    ensureStarted();
    const std::int64_t id = ++next_id_;
    try {
      process_->write(worker::encodeCall(id, c.api, mode, c), deadline());
      return reply(id);
    } catch (const std::exception& e) {
      process_.reset();  // the next call starts a fresh worker
      throw WorkerError(fmt::format("worker {} failed on a {} call of {}: {} (restarted)",
                                    manifest_.name, mode, c.api, e.what()));
    }
  }

  std::optional<Outcome> reply(std::int64_t id) {
    const auto header =
        worker::parseHeader(process_->readLine(limits_.max_header_bytes, deadline()));
    if (!header.contains("id") || header["id"] != id)
      throw ProtocolError(fmt::format("expected a reply to call {}, got id {}", id,
                                      header.value("id", nlohmann::json()).dump()));
    std::map<std::string, Tensor> outputs;
    for (const auto& desc : worker::tensorDescs(header, limits_)) {
      outputs[desc.name] = worker::decodeTensor(
          desc, process_->readExact(static_cast<std::size_t>(desc.bytes()), deadline()));
    }
    const std::string type = header["type"].get<std::string>();
    if (type == "unsupported") return std::nullopt;
    Outcome outcome{Rejection{}, pathOf(header), {}};
    if (header.contains("measured") && header["measured"].is_object()) {
      const auto& m = header["measured"];
      if (m.contains("peak_bytes") && m["peak_bytes"].is_number())
        outcome.measured.peak_bytes = m["peak_bytes"].get<double>();
      if (m.contains("seconds") && m["seconds"].is_number())
        outcome.measured.seconds = m["seconds"].get<double>();
    }
    if (type == "outputs") {
      outcome.result = std::move(outputs);
    } else if (type == "rejected") {
      outcome.result = Rejection{errorOf(header)};
    } else if (type == "fault") {
      throw std::runtime_error("the call left the worker unusable: " + errorOf(header));
    } else {
      throw ProtocolError(fmt::format(
          "expected a reply of type outputs, rejected, unsupported or fault, got {}", type));
    }
    return outcome;
  }

  // "Type: message" of a reply's error, as the spec's error patterns see it.
  static std::string errorOf(const nlohmann::json& header) {
    const auto& error = header.value("error", nlohmann::json::object());
    return fmt::format("{}: {}", error.value("type", "Error"), error.value("message", ""));
  }

  static PathEvidence pathOf(const nlohmann::json& header) {
    if (!header.contains("path") || !header["path"].is_object()) return {};
    const auto& p = header["path"];
    const auto text = [&](const char* key) {
      return p.contains(key) && p[key].is_string() ? p[key].get<std::string>() : std::string();
    };
    return PathEvidence{text("path"), text("kernel"), text("detail")};
  }

  WorkerManifest manifest_;
  worker::Limits limits_;
  mutable std::unique_ptr<worker::Subprocess> process_;
  mutable nlohmann::json hello_;
  std::int64_t next_id_ = 0;
};

// The interpreter for {python}: $ATTNCONF_PYTHON (a relative path is taken from the current
// folder, since the worker starts in its own), else python3 from PATH.
std::string pythonCommand() {
  const char* python = std::getenv("ATTNCONF_PYTHON");
  if (!python || !*python) return "python3";
  const std::filesystem::path path(python);
  return path.has_parent_path() ? std::filesystem::absolute(path).string() : path.string();
}

std::string substitute(std::string arg, const WorkerManifest& m) {
  for (const auto& [key, value] : {std::pair<std::string, std::string>{"{python}", pythonCommand()},
                                   std::pair<std::string, std::string>{"{dir}", m.dir.string()}}) {
    for (auto at = arg.find(key); at != std::string::npos; at = arg.find(key))
      arg.replace(at, key.size(), value);
  }
  return arg;
}

}  // namespace

std::filesystem::path workerFolder() {
  if (const char* env = std::getenv("ATTNCONF_WORKER_DIR"); env && *env) return env;
  return ATTNCONF_WORKER_DIR;
}

WorkerManifest loadWorkerManifest(const std::filesystem::path& folder, const std::string& name) {
  const auto file = folder / name / "worker.yaml";
  const auto fail = [&](const YAML::Mark& mark, const std::string& what) -> WorkerError {
    return WorkerError(
        fmt::format("{}:{}:{}: {}", file.string(), mark.line + 1, mark.column + 1, what));
  };
  YAML::Node root;
  try {
    root = YAML::LoadFile(file.string());
  } catch (const YAML::BadFile&) {
    throw WorkerError(fmt::format("{}: expected a readable worker manifest", file.string()));
  } catch (const YAML::ParserException& e) {
    throw fail(e.mark, "expected valid YAML: " + e.msg);
  }
  if (!root.IsMap())
    throw fail(root.Mark(),
               "expected a map with command, description, timeout_s, env, expectations");
  WorkerManifest m;
  m.name = name;
  m.dir = std::filesystem::absolute(folder / name);
  for (const auto& entry : root) {
    const auto key = entry.first.as<std::string>();
    const YAML::Node& value = entry.second;
    try {
      if (key == "description") {
        m.description = value.as<std::string>();
      } else if (key == "command") {
        m.command = value.as<std::vector<std::string>>();
      } else if (key == "timeout_s") {
        m.timeout_s = value.as<double>();
        if (m.timeout_s <= 0)
          throw fail(value.Mark(), "timeout_s: expected a positive number of seconds");
      } else if (key == "env") {
        m.env = value.as<std::map<std::string, std::string>>();
      } else if (key == "expectations") {
        m.expectations = m.dir / value.as<std::string>();
      } else {
        throw fail(
            entry.first.Mark(),
            fmt::format(
                "unknown key `{}`; expected command, description, timeout_s, env or expectations",
                key));
      }
    } catch (const YAML::BadConversion&) {
      throw fail(value.Mark(), fmt::format("{}: wrong type", key));
    }
  }
  if (m.command.empty())
    throw fail(root.Mark(), "command: expected a non-empty list (the worker's argv)");
  for (auto& arg : m.command) arg = substitute(arg, m);
  return m;
}

std::vector<std::string> workerNames(const std::filesystem::path& folder) {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(folder, ec)) {
    if (std::filesystem::exists(entry.path() / "worker.yaml"))
      names.push_back(entry.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

std::unique_ptr<Adapter> makeWorkerAdapter(const WorkerManifest& manifest) {
  return std::make_unique<WorkerAdapter>(manifest);
}

namespace {

// The manifest of the worker of that name in workerFolder(), if there is one.
std::optional<WorkerManifest> findWorker(std::string_view name) {
  const auto folder = workerFolder();
  const auto workers = workerNames(folder);
  if (std::find(workers.begin(), workers.end(), name) == workers.end()) return std::nullopt;
  return loadWorkerManifest(folder, std::string(name));
}

}  // namespace

std::filesystem::path expectationsOf(std::string_view adapter) {
  const auto manifest = findWorker(adapter);
  return manifest ? manifest->expectations : std::filesystem::path();
}

std::unique_ptr<Adapter> makeAdapter(std::string_view name) {
  try {
    return makeInTreeAdapter(name);
  } catch (const std::invalid_argument& in_tree) {
    if (const auto manifest = findWorker(name)) return makeWorkerAdapter(*manifest);
    const auto folder = workerFolder();
    const auto workers = workerNames(folder);
    throw std::invalid_argument(
        fmt::format("{}; or a worker of {} ({})", in_tree.what(), folder.string(),
                    workers.empty() ? "none" : fmt::format("{}", fmt::join(workers, ", "))));
  }
}

}  // namespace attnconf::adapters
