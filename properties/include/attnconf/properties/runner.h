#pragma once

#include <rapidcheck.h>

#include <functional>
#include <optional>
#include <string>

#include "attnconf/properties/verdict.h"

namespace attnconf::props {

/// What a judge says of one case: nothing if it passed, else the failure message.
struct Judgement {
  std::optional<std::string> failure;
  double ratio = 0;  ///< error/bound, for properties that measure one
  std::string path;  ///< the path the case ran, for properties that observe one

  static Judgement pass(double ratio = 0, std::string path = {}) {
    return {std::nullopt, ratio, std::move(path)};
  }
  static Judgement fail(std::string message, double ratio = 0, std::string path = {}) {
    return {std::move(message), ratio, std::move(path)};
  }
};

/// Runs a judge over generated cases with RapidCheck, shrinks a failure, saves the shrunk case
/// and fills a Verdict. The RapidCheck id is "<api>/<Property>_<adapter>" so RC_PARAMS
/// reproduce strings match test names.
Verdict runCases(const std::string& test_id, const rc::Gen<Case>& cases, int count,
                 const RunConfig& config,
                 const std::function<std::vector<std::string>(const Case&)>& tags,
                 const std::function<Judgement(const Case&)>& judge);

}  // namespace attnconf::props
