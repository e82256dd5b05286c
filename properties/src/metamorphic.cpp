#include "attnconf/properties/metamorphic.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>

#include "attnconf/properties/accuracy.h"
#include "attnconf/properties/report.h"
#include "attnconf/properties/runner.h"
#include "attnconf/spec/rules.h"

namespace attnconf::props {
namespace {

using spec::Relation;

// Applies `op` to every input that has `dim`, and sets the case's extent of `dim`. An axis an
// input broadcasts (extent 1 where the dim is longer) is left as it is.
template <class Op>
void onDim(const spec::ApiSpec& spec, Case& c, const std::string& dim, std::int64_t extent, Op op) {
  const std::int64_t before = spec::observedDims(spec, c).at(dim);
  for (auto& [name, t] : c.tensors) {
    const auto axis = spec::axisOf(spec, name, t.shape, dim);
    const spec::TensorDecl* decl = spec.input(name);
    const bool broadcast = axis && decl && decl->broadcast && t.shape[*axis] == 1 && before != 1;
    if (axis && !broadcast) t = op(t, *axis);
  }
  c.dims[dim] = extent;
}

// The base output with each of `dims` sliced at its index (an output without the dim is kept).
auto sliceOutput(const spec::ApiSpec& spec, std::map<std::string, std::int64_t> dims) {
  return [&spec, dims](const std::string& output, Tensor t) {
    for (const auto& [dim, index] : dims) {
      if (const auto axis = spec::axisOf(spec, output, t.shape, dim))
        t = sliceAxis(t, *axis, index);
    }
    return t;
  };
}

Tensor same(const std::string& /*output*/, const Tensor& t) {
  return t;
}

}  // namespace

std::string relationPropertyName(Relation relation) {
  std::string name;
  bool upper = true;
  for (const char ch : relationName(relation)) {
    if (ch == '_') {
      upper = true;
      continue;
    }
    name += upper ? static_cast<char>(std::toupper(static_cast<unsigned char>(ch))) : ch;
    upper = false;
  }
  return name;
}

std::optional<RelatedCalls> relate(const spec::ApiSpec& spec, Relation relation, const Case& c) {
  const auto& canonical = spec.semantics.canonical;
  const auto dims = spec::observedDims(spec, c);
  const std::int64_t heads_q = dims.at(canonical.at("heads_q")),
                     heads_kv = dims.at(canonical.at("heads_kv"));
  RelatedCalls r{c, c, same, ""};
  switch (relation) {
    case Relation::batch_independence: {
      const std::string& batch = canonical.at("batch");
      const std::int64_t b = dims.at(batch) - 1;  // the last entry: where stride bugs land
      onDim(spec, r.transformed, batch, 1,
            [&](const Tensor& t, std::size_t axis) { return sliceAxis(t, axis, b); });
      r.expected = sliceOutput(spec, {{batch, b}});
      r.describe = fmt::format("batch entry {} run alone", b);
      return r;
    }
    case Relation::head_independence: {
      // Head 1, not the last: the last query head reads the last kv head even under a
      // modulo mapping bug, and head 0 hides stride bugs.
      const std::int64_t h = std::min<std::int64_t>(1, heads_q - 1), kv = h / (heads_q / heads_kv);
      onDim(spec, r.transformed, canonical.at("heads_q"), 1,
            [&](const Tensor& t, std::size_t axis) { return sliceAxis(t, axis, h); });
      if (canonical.at("heads_kv") != canonical.at("heads_q")) {  // one heads dim: sliced once
        onDim(spec, r.transformed, canonical.at("heads_kv"), 1,
              [&](const Tensor& t, std::size_t axis) { return sliceAxis(t, axis, kv); });
      }
      r.expected =
          sliceOutput(spec, {{canonical.at("heads_q"), h}, {canonical.at("heads_kv"), kv}});
      r.describe = fmt::format("query head {} with kv head {} run alone", h, kv);
      return r;
    }
    case Relation::gqa_equals_repeated_kv: {
      const std::int64_t group = heads_q / heads_kv;
      onDim(spec, r.transformed, canonical.at("heads_kv"), heads_q,
            [&](const Tensor& t, std::size_t axis) { return repeatAxis(t, axis, group); });
      // Outputs over kv heads (ONNX's present_key) are repeated too.
      r.expected = [&spec, kv_dim = canonical.at("heads_kv"), group](const std::string& output,
                                                                     const Tensor& t) {
        const auto axis = spec::axisOf(spec, output, t.shape, kv_dim);
        return axis ? repeatAxis(t, *axis, group) : t;
      };
      r.describe = fmt::format("each kv head repeated {} times", group);
      return r;
    }
    case Relation::kv_permutation: {
      // Masks and position bias tie keys to positions: the relation holds without them.
      for (const auto& param : {spec.semantics.causal_param, spec.semantics.window_param})
        r.base.params.erase(param);
      // So do key lengths; and cached keys stay in front, unpermuted: all are left out.
      for (const auto& tensor :
           {spec.semantics.alibi_tensor, spec.semantics.mask_tensor, spec.semantics.bias_tensor,
            spec.semantics.key_lengths_tensor, spec.semantics.past_key, spec.semantics.past_value})
        r.base.tensors.erase(tensor);
      r.transformed = r.base;
      for (const auto& role : {spec.semantics.key, spec.semantics.value}) {
        Tensor& t = r.transformed.tensors.at(role);
        t = reverseAxis(t, *spec::axisOf(spec, role, t.shape, canonical.at("seqlen_k")));
      }
      r.describe = "keys and values in reverse order";
      return r;
    }
  }
  return std::nullopt;
}

Verdict checkRelation(const spec::ApiSpec& spec, Relation relation, adapters::Adapter& adapter,
                      const RunConfig& config) {
  const std::string property = relationPropertyName(relation);
  const std::string clause = fmt::format("promises.relations.{}", relationName(relation));
  return runCases(
      fmt::format("{}.{}_{}", spec.api, property, adapter.name()),
      gen::validCases(spec, config.limits), config.accuracy_cases, config,
      [&spec](const Case& c) { return gen::caseTags(spec, c); },
      [&](const Case& c) {
        const auto related = relate(spec, relation, c);
        if (!related) return Judgement::pass();
        const adapters::Outcome base = adapter.run(related->base);
        if (base.rejected()) return Judgement::pass();  // Accuracy reports a rejected valid call
        const adapters::Outcome other = adapter.run(related->transformed);
        if (other.rejected()) {
          return Judgement::fail(
              failureMessage(spec.api, clause,
                             fmt::format("the call with {} was rejected (\"{}\")",
                                         related->describe, other.rejection().message),
                             c));
        }
        ReferenceOutputs expected = referenceOutputs(spec, related->transformed);
        for (auto& [name, e] : expected.exact) {
          e.exact = related->expected(name, base.outputs().at(name));
          expected.bounds[name] *= 2;
        }
        const AccuracyReport report =
            compareOutputs(expected.exact, other.outputs(), expected.bounds);
        if (report.passed()) return Judgement::pass(report.max_ratio);
        const std::string what =
            !report.problems.empty()
                ? fmt::format("{} ({})", report.problems.front(), related->describe)
                : fmt::format(
                      "{}[{}]={} with {}, but should be {} as in the first call ± {} (err/bound "
                      "{:.2f})",
                      report.worst->output, report.worst->index, num(report.worst->actual),
                      related->describe, num(report.worst->expected), num(report.worst->bound),
                      report.worst->ratio);
        return Judgement::fail(failureMessage(spec.api, clause, what, c), report.max_ratio);
      });
}

}  // namespace attnconf::props
