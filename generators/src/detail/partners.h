#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "attnconf/generators/recipe.h"

namespace attnconf::gen::detail {

/// Whether the recipe passes the input or sets the parameter.
bool gives(const Recipe& r, const std::string& name);

/// `r` with the named inputs all passed (optional ones with their first shape).
Recipe withTensors(const spec::ApiSpec& spec, Recipe r, const std::vector<std::string>& names);

/// `r` giving `name`: a parameter set to something other than its default, or an input passed.
Recipe withGiven(const spec::ApiSpec& spec, Recipe r, const std::string& name);

/// `r` with what the rules ask to be given alongside what it gives (every partner of a
/// `together` rule, the name a rule with `if` asks for); rule `except` (the one an invalid case
/// breaks) is not asked.
Recipe withPartners(const spec::ApiSpec& spec, Recipe r, std::string_view except = {});

}  // namespace attnconf::gen::detail
