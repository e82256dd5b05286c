#include "detail/partners.h"

#include <algorithm>

namespace attnconf::gen {
namespace detail {
namespace {

// A value that makes a parameter active (different from its default).
ParamValue activeValue(const spec::ParamDecl& p) {
  switch (p.type) {
    case spec::ParamType::boolean:
      return true;
    case spec::ParamType::integer:
      return static_cast<std::int64_t>(p.generate_hi > 0 ? p.generate_hi : 1);
    case spec::ParamType::floating:
      return p.generate_hi > p.generate_lo ? (p.generate_lo + p.generate_hi) / 2 : 0.25;
    case spec::ParamType::int_pair:
      return std::vector<std::int64_t>{1, 1};
    case spec::ParamType::string:
      return p.fixed.value_or(ParamValue(std::string()));
  }
  return true;
}

// Whether the recipe decides a name: not a param that a dim's extent or the variant sets.
bool setByRecipe(const spec::ApiSpec& spec, const std::string& name) {
  const spec::ParamDecl* p = spec.param(name);
  return !p || (p->extent_of.empty() && !p->fixed);
}

// The names rule `rule` asks `r` to give alongside what it gives; a `given` rule without
// conditions asks for its name in every call.
std::vector<std::string> partnersOf(const spec::ApiSpec& spec, const spec::Rule& rule,
                                    const Recipe& r) {
  if (const auto* together = std::get_if<spec::TogetherCheck>(&rule.check)) {
    if (std::ranges::any_of(together->names, [&](const auto& n) { return gives(r, n); }))
      return together->names;
  } else if (const auto* given = std::get_if<spec::ActiveCheck>(&rule.check)) {
    const auto gave = [&](const std::string& name) { return gives(r, name); };
    const bool always = rule.if_given.empty() && rule.if_dims.empty() && rule.unless.empty();
    const bool asked = always ? setByRecipe(spec, given->name)
                              : !rule.if_given.empty() && std::ranges::all_of(rule.if_given, gave);
    if (asked) return {given->name};
  }
  return {};
}

// The input the recipe's sparse mode reads while the mask is passed (torch_npu's prefix in
// modes 5 and 6), which the mode's calls give.
std::vector<std::string> modeInput(const spec::ApiSpec& spec, const Recipe& r) {
  const spec::Semantics& s = spec.semantics;
  const auto param = r.params.find(s.sparse_mode_param);
  const auto* value = param == r.params.end() ? nullptr : std::get_if<std::int64_t>(&param->second);
  if (!value || !r.shape_choice.contains(s.mask_tensor)) return {};
  const auto mode = std::ranges::find(s.sparse_modes, *value, &spec::SparseMode::value);
  if (mode == s.sparse_modes.end() || mode->prefix.empty()) return {};
  return {mode->prefix};
}

}  // namespace

bool gives(const Recipe& r, const std::string& name) {
  return r.shape_choice.contains(name) || r.params.contains(name);
}

Recipe withTensors(const spec::ApiSpec& spec, Recipe r, const std::vector<std::string>& names) {
  for (const auto& name : names) {
    if (r.shape_choice.contains(name)) continue;
    r.shape_choice[name] = 0;
    const spec::TensorDecl* decl = spec.input(name);
    r.dtypes.emplace(name, decl->dtype.value_or(DType::fp32));  // keep a drawn dtype
  }
  return r;
}

Recipe withGiven(const spec::ApiSpec& spec, Recipe r, const std::string& name) {
  if (const spec::ParamDecl* p = spec.param(name)) {
    r.params[name] = activeValue(*p);
    return r;
  }
  return withTensors(spec, std::move(r), {name});
}

}  // namespace detail

Recipe withPartners(const spec::ApiSpec& spec, Recipe r, std::string_view except) {
  const auto read_by_mode = detail::modeInput(spec, r);
  r = detail::withTensors(spec, std::move(r), read_by_mode);
  for (bool grew = true; grew;) {
    grew = false;
    for (const auto& rule : spec.rules) {
      if (rule.id == except) continue;
      for (const auto& name : detail::partnersOf(spec, rule, r)) {
        if (detail::gives(r, name)) continue;
        r = detail::withGiven(spec, std::move(r), name);
        grew = true;
      }
    }
  }
  return r;
}

}  // namespace attnconf::gen
