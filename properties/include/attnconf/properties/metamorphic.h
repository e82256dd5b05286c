#pragma once

#include <functional>
#include <optional>
#include <string>

#include "attnconf/adapters/adapter.h"
#include "attnconf/properties/verdict.h"
#include "attnconf/spec/api_spec.h"

namespace attnconf::props {

/// A relation applied to one call: the call to run first, the transformed call, and how the
/// first call's outputs map to what the transformed call must return.
struct RelatedCalls {
  Case base;
  Case transformed;
  std::function<Tensor(const std::string& output, const Tensor& base_output)> expected;
  std::string describe;  ///< e.g. "batch entry 1 run alone"
  /// The transformed call holds values no output may see (unused cache slots): its bounds are
  /// the first call's, not scaled by those values.
  bool bounds_of_base = false;
  /// Set where the transformed call lays its outputs out otherwise (another layout variant):
  /// moves them into the first call's layout, where both are judged.
  std::function<Tensor(const std::string& output, const Tensor& t)> outputs_in_base_layout = {};
};

/// The related calls of a relation for a valid call, or nothing where it does not apply.
std::optional<RelatedCalls> relate(const spec::ApiSpec& spec, spec::Relation relation,
                                   const Case& c);

/// Property `<Relation>` (e.g. BatchIndependence): on valid cases the transformed call returns
/// what the relation says, within twice the spec's tolerance (both sides are approximations).
Verdict checkRelation(const spec::ApiSpec& spec, spec::Relation relation,
                      adapters::Adapter& adapter, const RunConfig& config);

/// The property name of a relation: "BatchIndependence", "GqaEqualsRepeatedKv", ...
std::string relationPropertyName(spec::Relation relation);

}  // namespace attnconf::props
