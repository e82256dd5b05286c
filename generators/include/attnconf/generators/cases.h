#pragma once

#include <rapidcheck.h>

#include <array>
#include <cstdint>
#include <map>
#include <ostream>
#include <string>
#include <vector>

#include "attnconf/generators/recipe.h"
#include "attnconf/model/case.h"
#include "attnconf/spec/api_spec.h"

namespace attnconf::gen {

/// Caps on generated sizes (the spec's limits are often far larger than a CPU check can afford).
/// Sizes grow with RapidCheck's size up to these caps.
struct Limits {
  std::int64_t max_batch = 2;
  std::int64_t max_seqlen = 130;
  std::int64_t max_heads = 8;
  std::int64_t max_head_dim = 256;
  /// The query dtypes the implementation under test takes (empty: all the spec covers).
  std::vector<DType> dtypes;
};

/// Tile sizes that kernels commonly use; lengths just below, at and above their multiples are
/// where ragged-tile bugs live.
inline constexpr std::array<std::int64_t, 4> kTileEdges = {16, 32, 64, 128};

/// The dtypes an input may take under every dtype rule that names it, in declaration order.
std::vector<DType> allowedDTypes(const spec::ApiSpec& spec, const spec::TensorDecl& decl);

/// Values of one dim that satisfy every dim rule given the dims already chosen, ascending.
std::vector<std::int64_t> dimCandidates(const spec::ApiSpec& spec, const spec::Dim& dim,
                                        const std::map<std::string, std::int64_t>& chosen,
                                        std::int64_t cap);

/// Extents of one dim biased to edges (the smallest and largest candidate, tile multiples +-1
/// for lengths, multiples of 4 for heads, and the values `siblings` of the same kind already
/// took, so Sq == Sk is common); shrinks toward the smallest candidate.
rc::Gen<std::int64_t> dimValues(std::vector<std::int64_t> candidates, spec::DimKind kind,
                                const std::vector<std::int64_t>& siblings = {});

/// Recipes of valid calls: every spec rule holds. Shrinks toward small dims, the first allowed
/// dtype, default parameters, no optional tensors and unit magnitudes.
rc::Gen<Recipe> validRecipes(const spec::ApiSpec& spec, const Limits& limits = {});

/// Valid calls of the spec's API (materialised `validRecipes`).
rc::Gen<Case> validCases(const spec::ApiSpec& spec, const Limits& limits = {});

/// Calls that break `rule` and no other rule of the spec; `broken_rule` names it. Built from a
/// valid recipe by one mutation of the rule's kind; shrinks like the valid recipe.
rc::Gen<Case> invalidCases(const spec::ApiSpec& spec, const spec::Rule& rule,
                           const Limits& limits = {});

/// Every single-rule mutation of a valid recipe that breaks exactly `rule` (may be empty).
std::vector<Case> mutationsBreaking(const spec::ApiSpec& spec, const spec::Rule& rule,
                                    const Recipe& valid);

/// Features of a valid call worth counting (dtype, Sq!=Sk, masks, GQA, fully masked rows,
/// off-tile lengths, ...), for RC_TAG and the case statistics.
std::vector<std::string> caseTags(const spec::ApiSpec& spec, const Case& c);

}  // namespace attnconf::gen

namespace attnconf {
/// How RapidCheck prints a case in a counterexample: shapes and flags, never tensor values.
void showValue(const Case& c, std::ostream& os);
}  // namespace attnconf
