#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "attnconf/model/tensor.h"

namespace attnconf {

/// A scalar, tuple or string argument of a vendor call, e.g. `causal=True`,
/// `window_size=(-1, 0)`, `input_layout="BNSD"`.
using ParamValue = std::variant<bool, std::int64_t, double, std::vector<std::int64_t>, std::string>;

/// One call of a vendor API, in the vendor's own names: what a generator produces, an adapter
/// runs and a case file stores. A parameter or tensor left out means the vendor's default
/// (None).
struct Case {
  std::string api;
  std::map<std::string, std::int64_t> dims;  ///< the spec dims the case was built from
  std::map<std::string, ParamValue> params;
  std::map<std::string, Tensor> tensors;
  std::string broken_rule;  ///< for an invalid case, the id of the one rule it breaks

  /// The tensor of that name, or nullptr if the call leaves it out.
  const Tensor* tensor(const std::string& name) const;

  /// The parameter of that name, or nothing if the call leaves it out.
  std::optional<ParamValue> param(const std::string& name) const;

  friend bool operator==(const Case&, const Case&) = default;
};

/// `value` as a double if it is a number or bool.
std::optional<double> asNumber(const ParamValue& value);

/// A parameter value as the vendor would write it, e.g. "True", "(-1, 0)", "0.125".
std::string formatParam(const ParamValue& value);

/// One line naming the API, dims, dtypes, params and optional tensors; never tensor values but
/// those of small integer tensors (sequence lengths and offsets, at most 8 entries).
std::string describeCase(const Case& c);

}  // namespace attnconf
