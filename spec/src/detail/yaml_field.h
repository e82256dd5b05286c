#pragma once

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "attnconf/spec/loader.h"

namespace attnconf::spec::detail {

/// A YAML node with the dotted path that led to it, so every complaint names file, line,
/// column and field.
class Field {
 public:
  Field(const YAML::Node& node, std::string path, const std::string& file)
      : node_(node), path_(std::move(path)), file_(&file) {}

  const std::string& path() const { return path_; }
  Location where() const;

  /// Throws SpecError at this field.
  [[noreturn]] void fail(const std::string& expected) const;

  bool isMap() const { return node_.IsMap(); }
  bool isSequence() const { return node_.IsSequence(); }
  bool isNull() const { return node_.IsNull(); }
  bool isScalar() const { return node_.IsScalar(); }

  /// The member `key`, which must exist.
  Field at(std::string_view key) const;
  /// The member `key`, if present.
  std::optional<Field> find(std::string_view key) const;
  /// Fails on any member not in `allowed`.
  void allowOnly(std::initializer_list<std::string_view> allowed) const;
  /// Members of a map, in file order (key field, value field).
  std::vector<std::pair<std::string, Field>> members() const;
  /// Items of a sequence.
  std::vector<Field> items() const;
  /// Whether the field is a list (else a map or a scalar).
  bool isList() const;

  std::string text() const;
  std::int64_t integer() const;
  /// A number; `inf` and `-inf` are numbers, `nan` only where `nan_allowed`.
  double number(bool nan_allowed = false) const;
  bool boolean() const;
  std::vector<std::string> texts() const;
  std::vector<std::int64_t> integers() const;

  /// The value paired with this field's text; fails listing the accepted words.
  template <class T>
  T choice(std::initializer_list<std::pair<std::string_view, T>> options) const {
    const std::string word = text();
    std::string accepted;
    for (const auto& [name, value] : options) {
      if (name == word) return value;
      accepted += accepted.empty() ? std::string(name) : ", " + std::string(name);
    }
    fail("expected one of " + accepted + ", got \"" + word + "\"");
  }

 private:
  const std::string& scalar(const char* expected) const;

  YAML::Node node_;
  std::string path_;
  const std::string* file_;
};

}  // namespace attnconf::spec::detail
