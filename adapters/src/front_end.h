#pragma once

// What every in-tree API front end shares: the error type, argument checks, tensor views and the
// backward call. A front end checks and decodes a vendor call as the vendor does (same
// messages), runs a kernel, and returns the outputs by the spec's names.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <array>
#include <functional>
#include <map>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>

#include "attnconf/adapters/adapter.h"
#include "kernels/attention_args.h"

namespace attnconf::adapters {

/// The API refused the call; the message is the vendor's.
class ApiError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

using ForwardKernel = std::function<void(const AttentionArgs&)>;
using BackwardKernel = std::function<void(const BackwardArgs&)>;

/// An API's in-tree front end: runs the call's forward with `forward`; with `backward`, returns
/// the input gradients (from the call's output gradient) instead of the outputs. Throws ApiError
/// on a call the API rejects.
using FrontEnd = std::map<std::string, Tensor> (*)(const Case&, PlantedFault,
                                                   const ForwardKernel& forward,
                                                   const BackwardKernel* backward);

namespace front_end {

inline void check(bool condition, const std::string& message) {
  if (!condition) throw ApiError(message);
}

/// The cache page that holds block n of a paged entry whose table row is `row`. The planted fault
/// pages_assumed_consecutive takes it to be the row's first page + n (of `pages` in the cache).
inline std::int64_t pageOf(std::span<const std::int64_t> row, std::int64_t n, std::int64_t pages,
                           bool consecutive) {
  return consecutive ? (row.front() + n) % pages : row[static_cast<std::size_t>(n)];
}

/// The named input, which the call must pass.
const Tensor& required(const Case& c, const char* name);

/// A parameter's value, or `fallback` when the call leaves it out.
template <class T>
T paramOr(const Case& c, const char* name, T fallback) {
  const auto value = c.param(name);
  if (!value) return fallback;
  const T* typed = std::get_if<T>(&*value);
  check(typed != nullptr, fmt::format("{} has the wrong type", name));
  return *typed;
}

/// A vendor's names of the dtypes, as its messages print them.
struct DTypeNames {
  std::string_view fp64, fp32, fp16, bf16, fp8_e4m3, fp8_e5m2, int64, int32, boolean;
  std::string_view operator()(DType dtype) const;
};

/// The order of a 4-D (batch, ·, ·, dim) tensor's middle axes.
enum class Layout { bshd, bhsd };

SeqView view(const Tensor& t, Layout layout);
OutView writable(Tensor& t, Layout layout);

/// A view of batch entry `b` alone (as batch 0), for one kernel call per entry.
template <class View>
View batchEntry(View view, std::int64_t b) {
  view.data += b * view.batch_stride;
  return view;
}

/// Rows [start, ...) of a packed (total, heads, dim) tensor as batch entry 0 (one sequence of
/// varlen attention).
SeqView packedRows(const Tensor& t, std::int64_t start);
OutView packedRows(Tensor& t, std::int64_t start);

/// Whether a mask of `shape` broadcasts to `full` = (batch, heads, seqlen_q, seqlen_k): rank 2
/// (the last two axes) or 4, each axis the full extent or 1.
bool maskBroadcasts(const Shape& shape, const Shape& full);

/// A mask that broadcasts (maskBroadcasts) as a score bias: a boolean one becomes 0 / -inf in
/// `converted` (true keeps the key when `true_keeps`), a floating one is used as it is.
BiasView maskBias(const Tensor& mask, bool true_keeps, Tensor& converted);

/// Adds `factor` times a score bias view to `scores_bias`, a dense (batch, heads, seqlen_q,
/// seqlen_k) tensor: the terms of one score bias for the kernel.
void addScoreBias(Tensor& scores_bias, const BiasView& view, double factor = 1.0);

/// An input and the name of its gradient.
struct GradName {
  const char* input;
  const char* grad;
};

/// The gradients of query, key and value (`names`, in that order), all 0 and shaped as their
/// inputs, for the output gradient the call passes as `grad_output` (checked against `out`).
std::map<std::string, Tensor> zeroGradients(const Case& c, const std::array<GradName, 3>& names,
                                            const char* grad_output, const Tensor& out);

/// Runs the backward of the forward `args` just ran into `grads` (from zeroGradients): each
/// gradient at the elements its input's view in `args` reads, the output gradient read where
/// `args` wrote `out`. A call that runs its forward in pieces (packed sequences) runs this after
/// each piece, with the piece's (batch, heads, seqlen_q) LSE. `dbias`, when given, receives the
/// score gradient (BackwardArgs::dbias).
void addBackward(const Case& c, const std::array<GradName, 3>& names, const char* grad_output,
                 const AttentionArgs& args, const Tensor& out, const double* lse,
                 std::map<std::string, Tensor>& grads, const BackwardKernel& backward,
                 double* dbias = nullptr);

/// The gradients of a call whose forward `args` ran whole and left `out` and the
/// (batch, heads, seqlen_q) `lse`.
std::map<std::string, Tensor> gradients(const Case& c, const AttentionArgs& args,
                                        const std::array<GradName, 3>& names,
                                        const char* grad_output, const Tensor& out,
                                        const double* lse, const BackwardKernel& backward,
                                        double* dbias = nullptr);

}  // namespace front_end
}  // namespace attnconf::adapters
