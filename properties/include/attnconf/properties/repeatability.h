#pragma once

#include "attnconf/adapters/adapter.h"
#include "attnconf/properties/verdict.h"
#include "attnconf/spec/api_spec.h"

namespace attnconf::props {

/// Property `Determinism`: the same valid call twice gives bitwise-identical outputs, where the
/// spec promises a deterministic forward pass; elsewhere the largest difference is only reported.
Verdict checkDeterminism(const spec::ApiSpec& spec, adapters::Adapter& adapter,
                         const RunConfig& config);

/// Property `InputImmutability`: a valid call leaves every input tensor exactly as it was.
Verdict checkInputImmutability(const spec::ApiSpec& spec, adapters::Adapter& adapter,
                               const RunConfig& config);

}  // namespace attnconf::props
