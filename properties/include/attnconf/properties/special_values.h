#pragma once

#include "attnconf/adapters/adapter.h"
#include "attnconf/properties/verdict.h"
#include "attnconf/spec/api_spec.h"

namespace attnconf::props {

/// Property `NonFiniteQueryRow`: one query row set to NaN, +inf or -inf gives what IEEE
/// arithmetic gives exactly (the reference run on those inputs): that row's outputs non-finite
/// as the reference's are (NaN, or the declared value where the row sees no key or its scores
/// all come out -inf), every other output within tolerance of the exact answer. A kernel that
/// drops the NaN, or lets it leak into other rows, fails.
Verdict checkNonFiniteQueryRow(const spec::ApiSpec& spec, adapters::Adapter& adapter,
                               const RunConfig& config);

}  // namespace attnconf::props
