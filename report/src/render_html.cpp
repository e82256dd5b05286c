#include <fmt/format.h>

#include <algorithm>

#include "attnconf/properties/report.h"
#include "attnconf/report/render.h"
#include "detail/matrix.h"

namespace attnconf::report {
namespace {

std::string escape(const std::string& text) {
  std::string out;
  for (const char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

// Cases per tenth of the bound; the last bar (>= 1, failures) is red.
std::string ratioHistogram(const props::Verdict& v) {
  const auto& bins = v.ratio_histogram;
  if (bins.empty()) return "";
  const int top = std::max(1, *std::max_element(bins.begin(), bins.end()));
  std::string bars;
  for (std::size_t i = 0; i < bins.size(); ++i) {
    const double h = 50.0 * bins[i] / top;
    bars += fmt::format(
        R"(<rect x="{}" y="{:.1f}" width="18" height="{:.1f}" fill="{}"><title>{}: {} cases</title></rect>)",
        i * 20, 52 - h, h, i + 1 == bins.size() ? "#c0392b" : "#2e86c1",
        i + 1 == bins.size() ? std::string(">= 1")
                             : fmt::format("{:.1f}-{:.1f}", static_cast<double>(i) / 10,
                                           static_cast<double>(i + 1) / 10),
        bins[i]);
  }
  return fmt::format(
      R"(<svg class="plot" width="222" height="66" role="img" aria-label="error/bound distribution">{}<text x="0" y="64" font-size="9">0</text><text x="196" y="64" font-size="9">1+</text></svg>)",
      bars);
}

// The share of cases per path as one stacked bar; fast paths green, anything else orange.
std::string pathBar(const props::Verdict& v) {
  int total = 0;
  for (const auto& [path, count] : v.paths) total += count;
  if (total == 0) return "";
  std::string parts;
  double x = 0;
  for (const auto& [path, count] : v.paths) {
    const double w = 300.0 * count / total;
    parts += fmt::format(
        R"(<rect x="{:.1f}" y="0" width="{:.1f}" height="16" fill="{}"><title>{}: {} cases</title></rect><text x="{:.1f}" y="12" font-size="10" fill="#fff">{}</text>)",
        x, w, path == "flash" ? "#27ae60" : "#e67e22", escape(path), count, x + 3, escape(path));
    x += w;
  }
  return fmt::format(
      R"(<svg class="plot" width="300" height="16" role="img" aria-label="fallback map">{}</svg>)",
      parts);
}

std::string matrixTable(const Results& results) {
  const detail::Matrix m = detail::matrixOf(results);
  std::string html = R"(<table id="matrix"><thead><tr><th>API</th><th>adapter</th>)";
  for (const auto& c : m.columns) html += fmt::format("<th>{}</th>", escape(c));
  html += "</tr></thead><tbody>";
  for (const auto& row : m.rows) {
    html += fmt::format("<tr><td>{}</td><td>{}</td>", escape(row.first), escape(row.second));
    for (const auto& c : m.columns) {
      const auto& cells = m.cells.at(row);
      if (!cells.contains(c)) {
        html += "<td>-</td>";
        continue;
      }
      html += fmt::format(R"(<td class="{}">{}</td>)", cells.at(c).ok ? "pass" : "fail",
                          escape(cells.at(c).text));
    }
    html += "</tr>";
  }
  return html + "</tbody></table>";
}

std::string detailSection(const Results& results) {
  std::string html =
      "<h2>Detail</h2><table><thead><tr><th>API</th><th>adapter</th><th>property</th><th>measured</"
      "th><th>plot</th></tr></thead><tbody>";
  for (const auto& r : results.results) {
    const auto& v = r.verdict;
    std::string measured, plot;
    if (r.kind == "accuracy" || r.kind == "gradient") {
      measured = fmt::format("{} cases; err/bound max {:.3f}, p99 {:.3f}, median {:.3f}", v.cases,
                             v.max_ratio, v.p99_ratio, v.median_ratio);
      plot = ratioHistogram(v);
    } else if (r.kind == "fallback") {
      measured = describePaths(v);
      plot = pathBar(v);
    } else if (!v.evidence.empty()) {  // signatures, determinism spreads
      measured = v.evidence;
    } else {
      continue;
    }
    html +=
        fmt::format("<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                    escape(r.api), escape(r.adapter), escape(r.property), escape(measured), plot);
  }
  return html + "</tbody></table>";
}

std::string failureSection(const Results& results) {
  std::string html = "<h2>Failures</h2>";
  bool any = false;
  for (const auto& r : results.results) {
    if (r.verdict.ok() || !r.expected_failure.empty()) continue;
    any = true;
    html += fmt::format("<pre class=\"failure\">{}\n{}</pre>", escape(r.verdict.message),
                        escape(props::reproduceLines(r.verdict, r.adapter)));
  }
  return any ? html : html + "<p>none</p>";
}

std::string expectationSection(const Results& results) {
  std::string items;
  for (const auto& r : results.results) {
    if (r.expected_failure.empty()) continue;
    items += fmt::format("<li>{} x {} {}: {}</li>", escape(r.api), escape(r.adapter),
                         escape(r.property), escape(r.expected_failure));
  }
  return items.empty() ? "<p>none in force (every verdict above counts)</p>"
                       : "<p>known failures, not counted:</p><ul>" + items + "</ul>";
}

constexpr const char* kStyle = R"(body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:middle}
th{background:#f4f4f4}td.pass{background:#e8f6ec}td.fail{background:#fbe4e1;font-weight:bold}
pre.failure{background:#fbe4e1;padding:8px;white-space:pre-wrap}.meta{color:#666}
#matrix{font-size:12px}#matrix th{max-width:7em;overflow-wrap:anywhere})";

}  // namespace

std::string renderHtml(const Results& results) {
  return fmt::format(
      R"(<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>attnconf results</title><style>{}</style></head><body>
<h1>attnconf results</h1><p class="meta">suite {} (git {}), host: {}, seed {}, {} cases per accuracy property, {} per error rule</p>
<h2>Conformance matrix</h2>{}{}{}<h2>Expectations and waivers</h2>{}</body></html>
)",
      kStyle, escape(results.suite_version), escape(results.git_revision), escape(results.host),
      results.seed, results.accuracy_cases, results.error_cases, matrixTable(results),
      detailSection(results), failureSection(results), expectationSection(results));
}

}  // namespace attnconf::report
