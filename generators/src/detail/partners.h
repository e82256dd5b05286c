#pragma once

#include <string>
#include <vector>

#include "attnconf/generators/recipe.h"

namespace attnconf::gen::detail {

/// Whether the recipe passes the input or sets the parameter.
bool gives(const Recipe& r, const std::string& name);

/// `r` with the named inputs all passed (optional ones with their first shape).
Recipe withTensors(const spec::ApiSpec& spec, Recipe r, const std::vector<std::string>& names);

/// `r` giving `name`: a parameter set to something other than its default, or an input passed.
Recipe withGiven(const spec::ApiSpec& spec, Recipe r, const std::string& name);

}  // namespace attnconf::gen::detail
