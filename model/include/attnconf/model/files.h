#pragma once

#include <filesystem>
#include <optional>
#include <string>

namespace attnconf {

/// The whole file as text, or nothing if it cannot be read.
std::optional<std::string> readTextFile(const std::filesystem::path& path);

/// Writes text to a temporary file beside `path`, then renames it over `path`, so that a reader
/// never sees half a file; creates missing folders. Throws std::runtime_error naming the file.
void writeFileAtomically(const std::filesystem::path& path, const std::string& text);

}  // namespace attnconf
