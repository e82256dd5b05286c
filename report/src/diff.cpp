#include "attnconf/report/diff.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <set>

#include "attnconf/properties/report.h"

namespace attnconf::report {
namespace {

using Status = props::Verdict::Status;

std::map<std::string, std::string> pairAdapters(const Results& base, const Results& next) {
  std::set<std::string> base_names, next_names;
  for (const auto& a : base.adapters) base_names.insert(a.name);
  for (const auto& a : next.adapters) next_names.insert(a.name);
  std::map<std::string, std::string> pairs;
  std::vector<std::string> base_left, next_left;
  for (const auto& name : base_names) {
    if (next_names.contains(name))
      pairs[name] = name;
    else
      base_left.push_back(name);
  }
  for (const auto& name : next_names) {
    if (!base_names.contains(name)) next_left.push_back(name);
  }
  if (base_left.size() == 1 && next_left.size() == 1) pairs[base_left[0]] = next_left[0];
  return pairs;
}

const ResultRecord* find(const Results& results, const std::string& api,
                         const std::string& property, const std::string& adapter) {
  for (const auto& r : results.results) {
    if (r.api == api && r.property == property && r.adapter == adapter) return &r;
  }
  return nullptr;
}

std::string label(const ResultRecord& r) {
  return fmt::format("{}.{} on {}", r.api, r.property, r.adapter);
}

void compareSpecs(const Results& base, const Results& next, Diff& diff) {
  for (const auto& n : next.specs) {
    const auto b =
        std::ranges::find_if(base.specs, [&](const SpecRecord& s) { return s.api == n.api; });
    if (b == base.specs.end()) {
      diff.spec_changes.push_back(fmt::format("spec {} added ({} rules)", n.api, n.rules.size()));
      continue;
    }
    if (b->content_hash == n.content_hash) continue;
    diff.spec_changes.push_back(
        fmt::format("spec {} changed ({} -> {})", n.api, b->content_hash, n.content_hash));
    for (const auto& [id, text] : n.rules) {
      if (!b->rules.contains(id))
        diff.spec_changes.push_back(fmt::format("  rule {} added: {}", id, text));
      else if (b->rules.at(id) != text)
        diff.spec_changes.push_back(
            fmt::format("  rule {} changed: {} => {}", id, b->rules.at(id), text));
    }
    for (const auto& [id, text] : b->rules) {
      if (!n.rules.contains(id))
        diff.spec_changes.push_back(fmt::format("  rule {} removed: {}", id, text));
    }
  }
  for (const auto& b : base.specs) {
    if (std::ranges::none_of(next.specs, [&](const SpecRecord& s) { return s.api == b.api; })) {
      diff.spec_changes.push_back(fmt::format("spec {} removed", b.api));
    }
  }
}

void compareVerdicts(const ResultRecord& b, const ResultRecord& n, const DiffOptions& options,
                     Diff& diff) {
  const bool was_ok = b.verdict.ok(), is_ok = n.verdict.ok();
  if (was_ok && !is_ok) {
    diff.newly_failing.push_back(fmt::format("{} ({}): {}\n{}", label(n),
                                             props::statusName(n.verdict.status), n.verdict.message,
                                             props::reproduceLines(n.verdict, n.adapter)));
  } else if (!was_ok && is_ok) {
    diff.fixed.push_back(label(n));
  }
  for (const auto& [path, count] : n.verdict.paths) {
    if (b.verdict.paths.contains(path)) continue;
    diff.new_fallbacks.push_back(fmt::format(
        "{}: path `{}` ran in {} case(s), e.g. {}", label(n), path, count,
        n.verdict.path_examples.contains(path) ? n.verdict.path_examples.at(path) : "-"));
  }
  const double before = b.verdict.max_ratio, after = n.verdict.max_ratio;
  if (n.kind == "accuracy" && was_ok && is_ok && after > before * (1 + options.drift) &&
      after - before > options.drift_floor) {
    diff.drift.push_back(fmt::format("{}: max err/bound {:.3f} -> {:.3f} (p99 {:.3f} -> {:.3f})",
                                     label(n), before, after, b.verdict.p99_ratio,
                                     n.verdict.p99_ratio));
  }
}

std::string section(const std::string& title, const std::vector<std::string>& lines) {
  if (lines.empty()) return fmt::format("## {}\n\nnone\n\n", title);
  std::string out = fmt::format("## {} ({})\n\n", title, lines.size());
  for (const auto& line : lines) {
    const bool multi = line.find('\n') != std::string::npos;
    out += multi ? fmt::format("```\n{}\n```\n", line) : fmt::format("- {}\n", line);
  }
  return out + "\n";
}

}  // namespace

bool Diff::gates() const {
  return !newly_failing.empty() || !new_fallbacks.empty() || (fail_on_drift && !drift.empty());
}

Diff diffResults(const Results& base, const Results& next, const DiffOptions& options) {
  Diff diff;
  diff.fail_on_drift = options.fail_on_drift;
  const auto pairs = pairAdapters(base, next);
  for (const auto& [from, to] : pairs)
    diff.adapter_pairs.push_back(from == to ? from : from + " -> " + to);
  compareSpecs(base, next, diff);
  for (const auto& n : next.results) {
    const auto pair =
        std::ranges::find_if(pairs, [&](const auto& p) { return p.second == n.adapter; });
    const ResultRecord* b =
        pair == pairs.end() ? nullptr : find(base, n.api, n.property, pair->first);
    if (!b) {
      diff.coverage.push_back(
          fmt::format("new: {} ({})", label(n), props::statusName(n.verdict.status)));
      if (!n.verdict.ok()) {
        diff.newly_failing.push_back(fmt::format(
            "{} ({}, not run before): {}\n{}", label(n), props::statusName(n.verdict.status),
            n.verdict.message, props::reproduceLines(n.verdict, n.adapter)));
      }
      continue;
    }
    compareVerdicts(*b, n, options, diff);
  }
  for (const auto& b : base.results) {
    const auto to = pairs.find(b.adapter);
    if (to == pairs.end() || !find(next, b.api, b.property, to->second)) {
      diff.coverage.push_back(fmt::format("no longer run: {}", label(b)));
    }
  }
  return diff;
}

std::string formatDiff(const Diff& diff) {
  std::string out = "# attnconf diff\n\n";
  out +=
      fmt::format("adapters compared: {}\n\nverdict: {}\n\n", fmt::join(diff.adapter_pairs, ", "),
                  diff.gates() ? "REGRESSED" : "no regression");
  out += section("Newly failing", diff.newly_failing);
  out += section("New paths (possible fallbacks)", diff.new_fallbacks);
  out += section("Accuracy drift", diff.drift);
  out += section("Fixed", diff.fixed);
  out += section("Spec changes", diff.spec_changes);
  out += section("Coverage changes", diff.coverage);
  return out;
}

}  // namespace attnconf::report
