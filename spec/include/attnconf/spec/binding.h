#pragma once

#include <map>
#include <string>

#include "attnconf/model/case.h"
#include "attnconf/model/decode_step.h"
#include "attnconf/model/problem.h"
#include "attnconf/spec/api_spec.h"

namespace attnconf::spec {

/// The canonical problem a valid call poses, read through the spec's `semantics`.
Problem bindProblem(const ApiSpec& spec, const Case& c);

/// An output the call must return: its name, role ("out" or "lse") and exact expected values.
struct ExpectedOutput {
  std::string name;
  std::string role;
  DType dtype = DType::fp32;            ///< the dtype the API returns it in
  Tensor exact;                         ///< vendor layout, exact values (not rounded to dtype)
  std::vector<std::string> axis_names;  ///< the spec dim name of each axis, for messages
  /// 1 where the spec leaves the value open (never compared), else 0; empty when none is.
  Tensor unspecified;
  /// How far each value may lie from `exact` beyond the output's bound: one rounding of what
  /// the call computes before it stores it (a rotated key written into a cache); empty: none.
  Tensor allowance = {};
  bool isUnspecified(std::int64_t flat) const {
    return !unspecified.values.empty() && unspecified.values[static_cast<std::size_t>(flat)] != 0;
  }
  double allowanceAt(std::int64_t flat) const {
    return allowance.values.empty() ? 0.0 : allowance.values[static_cast<std::size_t>(flat)];
  }
};

/// The outputs the call asks for (an output with `when` only if that param is true), with the
/// reference result moved into the vendor's layout.
std::map<std::string, ExpectedOutput> expectedOutputs(const ApiSpec& spec, const Case& c,
                                                      const Result& result);

/// The decode step a valid call of a decode-step API (`semantics.decode_step`) poses.
DecodeStep bindDecodeStep(const ApiSpec& spec, const Case& c);

/// The state inputs as the step leaves them (`after`), by their vendor names, each owed exactly
/// (role "copy").
std::map<std::string, ExpectedOutput> expectedDecodeState(const ApiSpec& spec, const Case& c,
                                                          const DecodeState& after);

/// An input as a valid call leaves it: a KV cache with the call's new keys (or values) written
/// in (rotated keys rounded to the cache's dtype), any other input unchanged.
Tensor inputAfterCall(const ApiSpec& spec, const Case& c, const std::string& input);

/// Whether a call rotates each query at its own position (rotary embedding with a causal or
/// local mask) rather than all of them at the entry's cached length; false without rotary.
bool rotatesEachQuery(const ApiSpec& spec, const Case& c);

/// Which entries of a KV cache (the `key` or the `value` input) a valid call reads or writes:
/// 1 at each entry's positions [cache_leftpad[b], cache_seqlens[b] + new keys), 0 before and past
/// them and in rows or pages no entry owns. In the cache's layout.
Tensor cacheEntriesInUse(const ApiSpec& spec, const Case& c, const std::string& cache);

/// The gradient of the output that a backward call carries (`backward.grad_output`), in the
/// canonical [batch, heads_q, seqlen_q, head_dim_v] layout.
Tensor bindGradOutput(const ApiSpec& spec, const Case& c);

/// The input gradients a backward call must return, by the spec's gradient names, in the
/// layouts of their inputs, from the `gradients` of `problem` (the case bound).
std::map<std::string, ExpectedOutput> expectedGradients(const ApiSpec& spec, const Case& c,
                                                        const Problem& problem,
                                                        const Gradients& gradients);

}  // namespace attnconf::spec
