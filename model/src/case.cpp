#include "attnconf/model/case.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace attnconf {

const Tensor* Case::tensor(const std::string& name) const {
  const auto it = tensors.find(name);
  return it == tensors.end() ? nullptr : &it->second;
}

std::optional<ParamValue> Case::param(const std::string& name) const {
  const auto it = params.find(name);
  if (it == params.end()) return std::nullopt;
  return it->second;
}

std::optional<double> asNumber(const ParamValue& value) {
  if (const auto* b = std::get_if<bool>(&value)) return *b ? 1.0 : 0.0;
  if (const auto* i = std::get_if<std::int64_t>(&value)) return static_cast<double>(*i);
  if (const auto* d = std::get_if<double>(&value)) return *d;
  return std::nullopt;
}

std::string formatParam(const ParamValue& value) {
  if (const auto* b = std::get_if<bool>(&value)) return *b ? "True" : "False";
  if (const auto* i = std::get_if<std::int64_t>(&value)) return std::to_string(*i);
  if (const auto* d = std::get_if<double>(&value)) return fmt::format("{:.6g}", *d);
  if (const auto* s = std::get_if<std::string>(&value)) return fmt::format("\"{}\"", *s);
  return fmt::format("({})", fmt::join(std::get<std::vector<std::int64_t>>(value), ", "));
}

std::string describeCase(const Case& c) {
  std::string line = c.api;
  for (const auto& [name, extent] : c.dims) line += fmt::format(" {}={}", name, extent);
  constexpr std::int64_t kShownEntries = 8;  // lengths and offsets: the structure of the call
  for (const auto& [name, t] : c.tensors) {
    line += fmt::format(" {}:{}[{}]", name, dtypeName(t.dtype), fmt::join(t.shape, ","));
    const bool integral = t.dtype == DType::int32 || t.dtype == DType::int64;
    if (integral && t.size() <= kShownEntries) line += fmt::format("={}", fmt::join(t.values, ","));
  }
  for (const auto& [name, value] : c.params)
    line += fmt::format(" {}={}", name, formatParam(value));
  if (!c.broken_rule.empty()) line += " breaks=" + c.broken_rule;
  return line;
}

}  // namespace attnconf
