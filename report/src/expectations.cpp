#include "attnconf/report/expectations.h"

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <regex>

namespace attnconf::report {
namespace {

std::string where(const std::filesystem::path& file, const YAML::Node& node) {
  return fmt::format("{}:{}:{}", file.string(), node.Mark().line + 1, node.Mark().column + 1);
}

std::string text(const std::filesystem::path& file, const YAML::Node& map, const char* key,
                 const std::string& field) {
  const YAML::Node value = map[key];
  if (!value || !value.IsScalar() || value.as<std::string>().empty()) {
    throw ExpectationsError(
        fmt::format("{}: {}.{}: expected a non-empty string", where(file, map), field, key));
  }
  return value.as<std::string>();
}

}  // namespace

bool Expectation::names(const std::string& test_name) const {
  std::string pattern;
  for (const char ch : test) {
    if (ch == '*') {
      pattern += ".*";
    } else {
      if (std::string_view("\\^$.|?+()[]{}").find(ch) != std::string_view::npos) pattern += '\\';
      pattern += ch;
    }
  }
  return std::regex_match(test_name, std::regex(pattern));
}

bool Expectation::matches(const std::string& message) const {
  return failure.empty() || std::regex_search(message, std::regex(failure));
}

const Expectation* Expectations::find(const std::string& api, const std::string& property,
                                      const std::string& message) const {
  const std::string test = api + "." + property;
  for (const auto& e : entries) {
    if (e.names(test) && e.matches(message)) return &e;
  }
  return nullptr;
}

Expectations loadExpectations(const std::filesystem::path& file) {
  YAML::Node root;
  try {
    root = YAML::LoadFile(file.string());
  } catch (const YAML::BadFile&) {
    throw ExpectationsError(
        fmt::format("{}: expected a readable expectations file", file.string()));
  } catch (const YAML::ParserException& e) {
    throw ExpectationsError(fmt::format("{}:{}:{}: expected valid YAML: {}", file.string(),
                                        e.mark.line + 1, e.mark.column + 1, e.msg));
  }
  if (!root.IsMap() || !root["expected_failures"] || !root["expected_failures"].IsSequence()) {
    throw ExpectationsError(fmt::format(
        "{}: expected a map with `adapter` and a list `expected_failures`", where(file, root)));
  }
  Expectations out{file.string(), text(file, root, "adapter", "(document)"), {}};
  int index = 0;
  for (const auto& item : root["expected_failures"]) {
    const std::string field = fmt::format("expected_failures[{}]", index++);
    if (!item.IsMap())
      throw ExpectationsError(fmt::format("{}: {}: expected a map", where(file, item), field));
    for (const auto& key : item) {
      const auto name = key.first.as<std::string>();
      if (name != "test" && name != "reason" && name != "reproduce" && name != "failure") {
        throw ExpectationsError(
            fmt::format("{}: {}: unknown key `{}`; expected test, reason, reproduce, failure",
                        where(file, key.first), field, name));
      }
    }
    const std::string test = text(file, item, "test", field);
    if (test.find('.') == std::string::npos) {
      throw ExpectationsError(fmt::format("{}: {}.test: expected <api>.<Property>, got \"{}\"",
                                          where(file, item), field, test));
    }
    Expectation entry{test, text(file, item, "reason", field), text(file, item, "reproduce", field),
                      "", item.Mark().line + 1};
    if (item["failure"]) {
      entry.failure = text(file, item, "failure", field);
      try {
        std::regex(entry.failure);
      } catch (const std::regex_error& e) {
        throw ExpectationsError(fmt::format("{}: {}.failure: expected a regular expression: {}",
                                            where(file, item["failure"]), field, e.what()));
      }
    }
    out.entries.push_back(std::move(entry));
  }
  return out;
}

void markExpected(const Expectations& expectations, ResultRecord& record) {
  const Expectation* known =
      record.adapter == expectations.adapter
          ? expectations.find(record.api, record.property, record.verdict.message)
          : nullptr;
  if (known && !record.verdict.ok()) record.expected_failure = known->reason;
}

std::vector<std::string> staleExpectations(const Expectations& expectations, const Results& results,
                                           RunScope scope) {
  std::vector<std::string> unmatched;
  for (const auto& e : expectations.entries) {
    bool ran = false, failed = false, known = false, other_known = false;
    for (const auto& r : results.results) {
      if (r.adapter != expectations.adapter || !e.names(r.api + "." + r.property)) continue;
      ran = true;
      failed = failed || !r.verdict.ok();
      known = known || r.expected_failure == e.reason;
      other_known = other_known || !r.expected_failure.empty();
    }
    if (known || (!ran && scope == RunScope::some_tests)) continue;
    // A property stops at its first failing case, so another known failure can hide this one.
    const char* what = !ran          ? "matched no test of this run"
                       : !failed     ? "expected failure passed (remove the entry?)"
                       : other_known ? "not reached: the test stopped at another known failure"
                                     : "failed otherwise than expected (the message does not "
                                       "match `failure`): counted as a failure";
    unmatched.push_back(fmt::format("{}:{}: {} on {}: {}", expectations.file, e.line, e.test,
                                    expectations.adapter, what));
  }
  return unmatched;
}

}  // namespace attnconf::report
