#pragma once

#include <string>

#include "attnconf/report/results.h"

namespace attnconf::report {

/// How many cases ran each path: "flash 41 (68%), standard 19 (32%)".
std::string describePaths(const props::Verdict& verdict);

/// The run as Markdown: conformance matrix, per-API detail, failures with reproduction lines.
std::string renderMarkdown(const Results& results);

/// The same as one self-contained HTML page (inline CSS and SVG plots, no scripts, no network).
std::string renderHtml(const Results& results);

}  // namespace attnconf::report
