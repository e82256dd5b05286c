#include "detail/yaml_field.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>

namespace attnconf::spec::detail {
namespace {

std::string describeNode(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Map:
      return "a map";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Null:
      return "nothing";
    case YAML::NodeType::Scalar:
      return fmt::format("\"{}\"", node.Scalar());
    default:
      return "an undefined node";
  }
}

}  // namespace

Location Field::where() const {
  const YAML::Mark mark = node_.Mark();
  return Location{*file_, mark.line + 1, mark.column + 1};
}

void Field::fail(const std::string& expected) const {
  throw SpecError(where(), path_.empty() ? "(document)" : path_, expected);
}

Field Field::at(std::string_view key) const {
  auto found = find(key);
  if (!found) fail(fmt::format("missing key `{}`", key));
  return *found;
}

std::optional<Field> Field::find(std::string_view key) const {
  if (!node_.IsMap())
    fail(fmt::format("expected a map with key `{}`, got {}", key, describeNode(node_)));
  for (const auto& member : node_) {
    if (member.first.Scalar() == key) {
      return Field(member.second,
                   path_.empty() ? std::string(key) : fmt::format("{}.{}", path_, key), *file_);
    }
  }
  return std::nullopt;
}

void Field::allowOnly(std::initializer_list<std::string_view> allowed) const {
  if (!node_.IsMap()) fail(fmt::format("expected a map, got {}", describeNode(node_)));
  for (const auto& member : node_) {
    const std::string& key = member.first.Scalar();
    if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
      const Field unknown(member.first, path_.empty() ? key : fmt::format("{}.{}", path_, key),
                          *file_);
      unknown.fail(
          fmt::format("unknown key `{}`; expected one of: {}", key, fmt::join(allowed, ", ")));
    }
  }
}

std::vector<std::pair<std::string, Field>> Field::members() const {
  if (!node_.IsMap()) fail(fmt::format("expected a map, got {}", describeNode(node_)));
  std::vector<std::pair<std::string, Field>> out;
  for (const auto& member : node_) {
    const std::string& key = member.first.Scalar();
    out.emplace_back(key, Field(member.second, path_.empty() ? key : path_ + "." + key, *file_));
  }
  return out;
}

bool Field::isList() const {
  return node_.IsSequence();
}

std::vector<Field> Field::items() const {
  if (!node_.IsSequence()) fail(fmt::format("expected a list, got {}", describeNode(node_)));
  std::vector<Field> out;
  for (std::size_t i = 0; i < node_.size(); ++i) {
    out.emplace_back(node_[i], fmt::format("{}[{}]", path_, i), *file_);
  }
  return out;
}

const std::string& Field::scalar(const char* expected) const {
  if (!node_.IsScalar()) fail(fmt::format("expected {}, got {}", expected, describeNode(node_)));
  return node_.Scalar();
}

std::string Field::text() const {
  return scalar("a string");
}

std::int64_t Field::integer() const {
  const std::string& s = scalar("an integer");
  std::int64_t value = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (ec != std::errc() || end != s.data() + s.size()) {
    fail(fmt::format("expected an integer, got \"{}\"", s));
  }
  return value;
}

double Field::number(bool nan_allowed) const {
  const std::string& s = scalar("a number");
  if (nan_allowed && (s == "nan" || s == ".nan")) return std::numeric_limits<double>::quiet_NaN();
  if (s == "inf" || s == ".inf" || s == "+inf") return std::numeric_limits<double>::infinity();
  if (s == "-inf" || s == "-.inf") return -std::numeric_limits<double>::infinity();
  double value = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (ec != std::errc() || end != s.data() + s.size() || std::isnan(value)) {
    fail(fmt::format("expected a number, got \"{}\"", s));
  }
  return value;
}

bool Field::boolean() const {
  const std::string& s = scalar("true or false");
  if (s == "true") return true;
  if (s == "false") return false;
  fail(fmt::format("expected true or false, got \"{}\"", s));
}

std::vector<std::string> Field::texts() const {
  std::vector<std::string> out;
  for (const auto& item : items()) out.push_back(item.text());
  return out;
}

std::vector<std::int64_t> Field::integers() const {
  std::vector<std::int64_t> out;
  for (const auto& item : items()) out.push_back(item.integer());
  return out;
}

}  // namespace attnconf::spec::detail
