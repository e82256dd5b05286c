#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "attnconf/model/case.h"

namespace attnconf::adapters {

/// What an adapter knows of the code path that ran (a kernel name, the backend a framework
/// chose, a log line).
struct PathEvidence {
  std::string path;    ///< the path in the spec's terms ("flash", "standard"); empty if unknown
  std::string kernel;  ///< e.g. "cpu_flash.tiled_fa2"
  std::string detail;  ///< how the adapter knows, e.g. "in-process dispatch"
};

/// The call was refused with an error, as the API's contract asks for invalid input.
struct Rejection {
  std::string message;
};

/// What an implementation measured of its own call, where the suite cannot (another process).
struct SelfMeasurement {
  std::optional<double> peak_bytes;  ///< memory above the resident set before the call
  std::optional<double> seconds;     ///< the call alone, without the transport
};

/// What one call produced: named outputs (vendor names) or a rejection, plus path evidence.
struct Outcome {
  std::variant<std::map<std::string, Tensor>, Rejection> result;
  PathEvidence path;
  SelfMeasurement measured;

  bool rejected() const { return std::holds_alternative<Rejection>(result); }
  const Rejection& rejection() const { return std::get<Rejection>(result); }
  const std::map<std::string, Tensor>& outputs() const {
    return std::get<std::map<std::string, Tensor>>(result);
  }
};

/// One implementation of one or more APIs, behind the suite's single interface.
class Adapter {
 public:
  Adapter() = default;
  Adapter(const Adapter&) = delete;
  Adapter& operator=(const Adapter&) = delete;
  Adapter(Adapter&&) = delete;
  Adapter& operator=(Adapter&&) = delete;
  virtual ~Adapter() = default;
  /// Stable name used in test names and labels, e.g. "cpu_flash".
  virtual std::string name() const = 0;
  /// One sentence for `attnconf list`.
  virtual std::string description() const = 0;
  /// Whether the adapter implements the API of that spec name.
  virtual bool supports(std::string_view api) const = 0;
  /// Why the adapter cannot run at all right now (a worker that does not start), or empty.
  virtual std::string unavailable() const { return {}; }
  /// Runs one call. Invalid input gives a Rejection; an exception means the adapter broke.
  virtual Outcome run(const Case& c) = 0;
  /// The query dtypes the implementation takes for `api`; calls in others are never generated
  /// (onnxruntime's CPU Attention has no bf16). Empty: every dtype the spec covers.
  virtual std::vector<DType> dtypes(std::string_view /*api*/) const { return {}; }
  /// Fallbacks this implementation takes for `api` beyond those its spec declares, as YAML in
  /// the spec's `paths.fallbacks` format (spec/README.md); empty if none. A declared fallback is
  /// reported in the fallback map, never a failure.
  virtual std::string declaredFallbacks(std::string_view /*api*/) const { return {}; }
  /// Runs the call with every fallback disabled, if the implementation can ("fast path only"):
  /// a rejection then means the default call falls back. Nothing if the adapter has no such mode.
  virtual std::optional<Outcome> runFastPathOnly(const Case& /*c*/) { return std::nullopt; }
  /// Runs the backward pass of a training API: the call carries the gradient of its output under
  /// the spec's `backward.grad_output` name, and the outputs are the input gradients by the
  /// spec's `backward.grads` names. Nothing if the adapter has no backward.
  virtual std::optional<Outcome> runBackward(const Case& /*c*/) { return std::nullopt; }
};

/// Names of the adapters built into the suite.
std::vector<std::string> inTreeAdapterNames();

/// A new in-tree adapter by name: one of `inTreeAdapterNames()`, or a kernel with a planted fault
/// such as "cpu_flash_mutant_causal_top_left" (to see what a failure looks like). Throws
/// std::invalid_argument naming the known ones.
std::unique_ptr<Adapter> makeInTreeAdapter(std::string_view name);

}  // namespace attnconf::adapters
