#include "attnconf/model/case_file.h"

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "attnconf/model/files.h"

namespace attnconf {
namespace {

using nlohmann::json;

json paramToJson(const ParamValue& value) {
  return std::visit([](const auto& v) { return json(v); }, value);
}

json tensorToJson(const Tensor& t) {
  return json{{"dtype", dtypeName(t.dtype)}, {"shape", t.shape}, {"values", t.values}};
}

[[noreturn]] void fail(const std::string& origin, const std::string& field,
                       const std::string& expected) {
  throw CaseFileError(fmt::format("{}: {}: {}", origin, field, expected));
}

const json& member(const json& object, const char* key, const std::string& origin,
                   const std::string& field) {
  if (!object.is_object() || !object.contains(key)) {
    fail(origin, field.empty() ? key : field + "." + key, "missing, expected a value here");
  }
  return object.at(key);
}

ParamValue paramFromJson(const json& j, const std::string& origin, const std::string& field) {
  if (j.is_boolean()) return j.get<bool>();
  if (j.is_number_integer()) return j.get<std::int64_t>();
  if (j.is_number_float()) return j.get<double>();
  if (j.is_string()) return j.get<std::string>();
  if (j.is_array() &&
      std::all_of(j.begin(), j.end(), [](const json& e) { return e.is_number_integer(); })) {
    return j.get<std::vector<std::int64_t>>();
  }
  fail(origin, field, "expected a bool, a number, a string or a list of integers");
}

Tensor tensorFromJson(const json& j, const std::string& origin, const std::string& field) {
  const auto& dtype_name = member(j, "dtype", origin, field);
  const auto dtype =
      dtype_name.is_string() ? parseDType(dtype_name.get<std::string>()) : std::nullopt;
  if (!dtype) fail(origin, field + ".dtype", "expected a dtype name such as fp16");
  const auto& shape = member(j, "shape", origin, field);
  const auto& values = member(j, "values", origin, field);
  if (!shape.is_array() || !std::all_of(shape.begin(), shape.end(), [](const json& e) {
        return e.is_number_integer() && e.get<std::int64_t>() >= 0;
      })) {
    fail(origin, field + ".shape", "expected a list of non-negative integers");
  }
  Tensor t{*dtype, shape.get<Shape>(), {}};
  if (!values.is_array() || static_cast<std::int64_t>(values.size()) != numel(t.shape)) {
    fail(origin, field + ".values",
         fmt::format("expected a list of {} numbers (the product of the shape)", numel(t.shape)));
  }
  t.values.reserve(values.size());
  for (std::size_t i = 0; i < values.size(); ++i) {
    const auto& v = values[i];
    if (!v.is_number()) fail(origin, fmt::format("{}.values[{}]", field, i), "expected a number");
    const double x = v.get<double>();
    if (roundTo(*dtype, x) != x) {
      fail(origin, fmt::format("{}.values[{}]", field, i),
           fmt::format("{} is not a {} value", x, dtypeName(*dtype)));
    }
    t.values.push_back(x);
  }
  return t;
}

}  // namespace

std::string caseToJson(const Case& c) {
  json params = json::object();
  for (const auto& [name, value] : c.params) params[name] = paramToJson(value);
  json tensors = json::object();
  for (const auto& [name, t] : c.tensors) tensors[name] = tensorToJson(t);
  const json doc{{"format", "attnconf-case"},
                 {"version", kCaseFileVersion},
                 {"api", c.api},
                 {"dims", c.dims},
                 {"params", params},
                 {"tensors", tensors},
                 {"broken_rule", c.broken_rule}};
  return doc.dump(1);
}

Case caseFromJson(const std::string& text, const std::string& origin) {
  json doc;
  try {
    doc = json::parse(text);
  } catch (const json::parse_error& e) {
    fail(origin, "(document)", fmt::format("expected JSON: {}", e.what()));
  }
  if (member(doc, "format", origin, "") != "attnconf-case") {
    fail(origin, "format", "expected \"attnconf-case\"");
  }
  if (member(doc, "version", origin, "") != kCaseFileVersion) {
    fail(origin, "version", fmt::format("expected {}", kCaseFileVersion));
  }
  Case c;
  const auto& api = member(doc, "api", origin, "");
  if (!api.is_string()) fail(origin, "api", "expected an API name");
  c.api = api.get<std::string>();
  const json dims = doc.value("dims", json::object());
  const json params = doc.value("params", json::object());
  for (const auto& [name, extent] : dims.items()) {
    if (!extent.is_number_integer()) fail(origin, "dims." + name, "expected an integer");
    c.dims[name] = extent.get<std::int64_t>();
  }
  for (const auto& [name, value] : params.items()) {
    c.params[name] = paramFromJson(value, origin, "params." + name);
  }
  for (const auto& [name, t] : member(doc, "tensors", origin, "").items()) {
    c.tensors[name] = tensorFromJson(t, origin, "tensors." + name);
  }
  c.broken_rule = doc.value("broken_rule", "");
  return c;
}

void saveCase(const std::filesystem::path& path, const Case& c) {
  writeFileAtomically(path, caseToJson(c) + '\n');
}

Case loadCase(const std::filesystem::path& path) {
  const auto text = readTextFile(path);
  if (!text) throw CaseFileError(fmt::format("{}: cannot open case file", path.string()));
  return caseFromJson(*text, path.string());
}

}  // namespace attnconf
