#include "attnconf/generators/recipe.h"

#include <algorithm>
#include <random>

#include "attnconf/spec/rules.h"

namespace attnconf::gen {

void fillValues(const spec::ApiSpec& spec, const std::string& name, std::uint64_t seed,
                double magnitude, Tensor& t) {
  const spec::TensorDecl* decl = spec.input(name);
  const bool scaled = name == spec.semantics.query || name == spec.semantics.key;
  const double lo =
      decl && decl->uniform_hi > decl->uniform_lo ? decl->uniform_lo : (scaled ? -magnitude : -1.0);
  const double hi =
      decl && decl->uniform_hi > decl->uniform_lo ? decl->uniform_hi : (scaled ? magnitude : 1.0);
  std::mt19937_64 rng(seed ^ std::hash<std::string>{}(name));
  std::uniform_real_distribution<double> uniform(lo, hi);
  t.values.resize(static_cast<std::size_t>(numel(t.shape)));
  if (t.dtype == DType::boolean) {
    // A boolean mask: mostly true, with one row (last axis) in eight all false, so that fully
    // masked rows occur whatever the length.
    std::bernoulli_distribution mostly(0.75), empty_row(0.125);
    const std::int64_t row = t.shape.empty() ? 1 : std::max<std::int64_t>(t.shape.back(), 1);
    bool empty = false;
    for (std::size_t i = 0; i < t.values.size(); ++i) {
      if (static_cast<std::int64_t>(i) % row == 0) empty = empty_row(rng);
      t.values[i] = !empty && mostly(rng) ? 1.0 : 0.0;
    }
    return;
  }
  for (double& v : t.values) v = roundTo(t.dtype, uniform(rng));
}

Case materialize(const spec::ApiSpec& spec, const Recipe& recipe) {
  Case c;
  c.api = spec.api;
  c.dims = recipe.dims;
  c.params = recipe.params;
  for (const auto& decl : spec.inputs) {
    const auto choice = recipe.shape_choice.find(decl.name);
    if (choice == recipe.shape_choice.end()) continue;
    Tensor t;
    t.dtype = recipe.dtypes.at(decl.name);
    t.shape = spec::expectedShapes(decl, recipe.dims).at(choice->second);
    fillValues(spec, decl.name, recipe.data_seed, recipe.magnitude, t);
    c.tensors[decl.name] = std::move(t);
  }
  return c;
}

}  // namespace attnconf::gen
