#pragma once

#include <optional>
#include <string>

#include "attnconf/adapters/adapter.h"
#include "attnconf/properties/verdict.h"
#include "attnconf/spec/api_spec.h"

namespace attnconf::props {

/// A valid call with a gradient of its output (`backward.grad_output`, values in [-1, 1] drawn
/// from the call's own description, so a case file replays it exactly).
Case withGradOutput(const spec::ApiSpec& spec, const Case& c);

/// Why a backward outcome is off (a rejection, a missing gradient, or the worst element beyond
/// the bound), or nothing; `ratio` gets the largest error/bound.
std::optional<std::string> judgeGradients(const spec::ApiSpec& spec, const Case& call,
                                          const adapters::Outcome& outcome, double& ratio);

/// Property `Gradients`: on valid cases the adapter's dQ, dK, dV are within the spec's backward
/// tolerance of the exact reference gradients. GAVE UP if the adapter has no backward.
Verdict checkGradients(const spec::ApiSpec& spec, adapters::Adapter& adapter,
                       const RunConfig& config);

}  // namespace attnconf::props
