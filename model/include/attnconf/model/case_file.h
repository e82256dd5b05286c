#pragma once

#include <filesystem>
#include <stdexcept>
#include <string>

#include "attnconf/model/case.h"

namespace attnconf {

/// A case file that cannot be read; the message names the file and the field.
class CaseFileError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Version of the case file format written by `saveCase` (documented in README.md, "Case files").
inline constexpr int kCaseFileVersion = 1;

/// Writes a case as a self-contained JSON file that `attnconf replay` reads back exactly.
void saveCase(const std::filesystem::path& path, const Case& c);

/// Reads a case file; throws CaseFileError naming the file and field on any mistake.
Case loadCase(const std::filesystem::path& path);

/// The JSON text of a case (what `saveCase` writes).
std::string caseToJson(const Case& c);

/// Parses the JSON text of a case; `origin` names the source in error messages.
Case caseFromJson(const std::string& text, const std::string& origin);

}  // namespace attnconf
