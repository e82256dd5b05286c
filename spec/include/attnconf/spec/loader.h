#pragma once

#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

#include "attnconf/spec/api_spec.h"

namespace attnconf::spec {

/// A spec file that cannot be used. what() reads `file:line:col: field: what was expected`.
class SpecError : public std::runtime_error {
 public:
  SpecError(const Location& where, const std::string& field, const std::string& expected);
  const Location& where() const { return where_; }
  const std::string& field() const { return field_; }
  const std::string& expected() const { return expected_; }

 private:
  Location where_;
  std::string field_;
  std::string expected_;
};

/// Loads and validates one spec file, one spec per variant (a file without `variants` is one
/// spec); throws SpecError on the first mistake.
std::vector<ApiSpec> loadSpecs(const std::filesystem::path& file);

/// Loads and validates one spec file without variants.
ApiSpec loadSpec(const std::filesystem::path& file);

/// Loads and validates spec text, one spec per variant; `file` names it in errors.
std::vector<ApiSpec> parseSpecs(const std::string& text, const std::string& file);

/// Loads and validates spec text without variants.
ApiSpec parseSpec(const std::string& text, const std::string& file);

/// Fallbacks an implementation declares for an API, in the spec's `paths.fallbacks` format (a
/// YAML list of {name, when, note}), checked against that spec's dims, tensors and params.
std::vector<PathDecl> parseDeclaredFallbacks(const ApiSpec& spec, const std::string& text,
                                             const std::string& origin);

/// Every `*.yaml` spec in a folder, sorted by API name.
std::vector<ApiSpec> loadSpecFolder(const std::filesystem::path& folder);

/// The spec folder: `chosen` if not empty, else $ATTNCONF_SPEC_DIR if set, else the one
/// compiled in.
std::filesystem::path specFolder(const std::string& chosen = {});

}  // namespace attnconf::spec
