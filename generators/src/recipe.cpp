#include "attnconf/generators/recipe.h"

#include <algorithm>
#include <random>

#include "attnconf/spec/rules.h"

namespace attnconf::gen {

void fillValues(const spec::ApiSpec& spec, const std::string& name, std::uint64_t seed,
                double magnitude, Tensor& t) {
  const spec::TensorDecl* decl = spec.input(name);
  const spec::Semantics& roles = spec.semantics;
  const bool scaled = name == roles.query || name == roles.key || name == roles.past_key;
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

namespace {

// Sequence lengths in [0, longest]: the full length, one short, a single token, empty, or any.
void fillLengths(std::int64_t longest, std::uint64_t seed, Tensor& t) {
  std::mt19937_64 rng(seed ^ 0x1e57);
  std::uniform_int_distribution<std::int64_t> any(0, longest), pick(0, 5);
  for (double& v : t.values) {
    const std::int64_t edges[] = {longest, longest - 1, 1, 0};
    const std::int64_t choice = pick(rng);
    v = static_cast<double>(std::max<std::int64_t>(0, choice < 4 ? edges[choice] : any(rng)));
  }
}

// The recipe's dims with those that only absent inputs carry set to 0 (no past keys without
// past_key), and derived dims summed again.
std::map<std::string, std::int64_t> presentDims(const spec::ApiSpec& spec, const Recipe& recipe) {
  std::map<std::string, std::int64_t> dims = recipe.dims;
  for (const auto& dim : spec.dims) {
    bool carried = false, present = false;
    for (const auto& decl : spec.inputs) {
      for (const auto& shape : decl.shapes) {
        if (std::ranges::find(shape, dim.name) == shape.end()) continue;
        carried = true;
        present = present || recipe.shape_choice.contains(decl.name);
      }
    }
    if (carried && !present && dims.contains(dim.name)) dims[dim.name] = 0;
  }
  for (const auto& dim : spec.dims) {
    if (!dim.sum_of.empty() && dims.contains(dim.name))
      dims[dim.name] = spec::sumOfParts(dim, dims);
  }
  return dims;
}

}  // namespace

Case materialize(const spec::ApiSpec& spec, const Recipe& recipe) {
  Case c;
  c.api = spec.api;
  c.dims = presentDims(spec, recipe);
  c.params = recipe.params;
  for (const auto& decl : spec.inputs) {
    const auto choice = recipe.shape_choice.find(decl.name);
    if (choice == recipe.shape_choice.end()) continue;
    Tensor t;
    t.dtype = recipe.dtypes.at(decl.name);
    t.shape = spec::expectedShapes(decl, c.dims).at(choice->second);
    if (const auto bits = recipe.broadcast_axes.find(decl.name);
        bits != recipe.broadcast_axes.end()) {
      for (std::size_t a = 0; a < t.shape.size(); ++a) {
        if (bits->second & (1U << a)) t.shape[a] = 1;
      }
    }
    fillValues(spec, decl.name, recipe.data_seed, recipe.magnitude, t);
    if (!decl.lengths_of.empty()) fillLengths(c.dims.at(decl.lengths_of), recipe.data_seed, t);
    c.tensors[decl.name] = std::move(t);
  }
  return c;
}

}  // namespace attnconf::gen
