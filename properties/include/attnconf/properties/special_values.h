#pragma once

#include "attnconf/adapters/adapter.h"
#include "attnconf/properties/verdict.h"
#include "attnconf/spec/api_spec.h"

namespace attnconf::props {

/// Property `NonFiniteQueryRow`: one query row set to NaN, +inf or -inf gives what IEEE
/// arithmetic gives exactly (the reference run on those inputs): that row's outputs non-finite
/// as the reference's are (NaN, or the declared value where the row sees no key or its scores
/// all come out -inf), every other output within tolerance of the clean call's. A kernel that
/// drops the NaN, or lets it leak into other rows, fails.
Verdict checkNonFiniteQueryRow(const spec::ApiSpec& spec, adapters::Adapter& adapter,
                               const RunConfig& config);

/// Property `NonFiniteKeyValueRow`: one key or value row set to NaN, +inf or -inf reaches the
/// outputs of the queries that see its key as IEEE arithmetic says (a seen infinity may come out
/// NaN), and no output of another batch entry, sequence or kv head moves. The other queries of
/// its own entry and kv head are left open (a hidden key's 0 * NaN). A kernel that drops the
/// value, or reads a neighbour's keys behind a mask, fails.
Verdict checkNonFiniteKeyValueRow(const spec::ApiSpec& spec, adapters::Adapter& adapter,
                                  const RunConfig& config);

}  // namespace attnconf::props
