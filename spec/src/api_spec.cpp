#include "attnconf/spec/api_spec.h"

#include <algorithm>

namespace attnconf::spec {
namespace {

template <class T>
const T* findByName(const std::vector<T>& items, const std::string& name) {
  const auto it =
      std::find_if(items.begin(), items.end(), [&](const T& item) { return item.name == name; });
  return it == items.end() ? nullptr : &*it;
}

}  // namespace

ToleranceRule Tolerance::rule(const std::string& role, DType dtype) const {
  // The softmax statistics are per-row results like the LSE, and take its rule.
  const std::string& key = role == "row_max" || role == "row_sum" ? "lse" : role;
  if (const auto d = per_dtype.find(dtype); d != per_dtype.end()) {
    if (const auto r = d->second.find(key); r != d->second.end()) return r->second;
  }
  return per_output.at(key);
}

Precision Tolerance::baseline(DType dtype) const {
  const auto it = baselines.find(dtype);
  return it == baselines.end() ? Precision::all(dtype) : it->second;
}

DType TensorDecl::outputDType(const Case& c) const {
  if (dtype) return *dtype;
  const DType input = c.tensor(dtype_same_as)->dtype;
  const auto it = dtype_except.find(input);
  return it == dtype_except.end() ? input : it->second;
}

const Dim* ApiSpec::dim(const std::string& name) const {
  return findByName(dims, name);
}
const TensorDecl* ApiSpec::input(const std::string& name) const {
  return findByName(inputs, name);
}
const TensorDecl* ApiSpec::output(const std::string& name) const {
  return findByName(outputs, name);
}
const ParamDecl* ApiSpec::param(const std::string& name) const {
  return findByName(params, name);
}

const Dim* ApiSpec::packedDimOf(const std::string& seqlen) const {
  const auto it = std::ranges::find_if(
      dims, [&](const Dim& d) { return d.packs.size() == 2 && d.packs[1] == seqlen; });
  return it == dims.end() ? nullptr : &*it;
}

const Rule* ApiSpec::rule(const std::string& id) const {
  const auto it =
      std::find_if(rules.begin(), rules.end(), [&](const Rule& r) { return r.id == id; });
  return it == rules.end() ? nullptr : &*it;
}

const Rule* ApiSpec::assumption(const std::string& id) const {
  const auto it = std::ranges::find(assumptions, id, &Rule::id);
  return it == assumptions.end() ? nullptr : &*it;
}

std::string_view relationName(Relation relation) {
  switch (relation) {
    case Relation::batch_independence:
      return "batch_independence";
    case Relation::head_independence:
      return "head_independence";
    case Relation::gqa_equals_repeated_kv:
      return "gqa_equals_repeated_kv";
    case Relation::kv_permutation:
      return "kv_permutation";
    case Relation::paged_equals_contiguous:
      return "paged_equals_contiguous";
    case Relation::decode_equals_prefill:
      return "decode_equals_prefill";
    case Relation::unused_cache_ignored:
      return "unused_cache_ignored";
    case Relation::split_invariance:
      return "split_invariance";
    case Relation::causal_equals_mask:
      return "causal_equals_mask";
    case Relation::layout_equivalence:
      return "layout_equivalence";
    case Relation::varlen_equals_per_sequence:
      return "varlen_equals_per_sequence";
    case Relation::masked_keys_appended:
      return "masked_keys_appended";
  }
  return "unknown";
}

const std::vector<Relation>& allRelations() {
  static const std::vector<Relation> all{
      Relation::batch_independence,         Relation::head_independence,
      Relation::gqa_equals_repeated_kv,     Relation::kv_permutation,
      Relation::paged_equals_contiguous,    Relation::decode_equals_prefill,
      Relation::unused_cache_ignored,       Relation::split_invariance,
      Relation::causal_equals_mask,         Relation::layout_equivalence,
      Relation::varlen_equals_per_sequence, Relation::masked_keys_appended};
  return all;
}

std::string_view dimKindName(DimKind kind) {
  switch (kind) {
    case DimKind::batch:
      return "batch";
    case DimKind::seqlen:
      return "seqlen";
    case DimKind::heads:
      return "heads";
    case DimKind::head_dim:
      return "head_dim";
  }
  return "unknown";
}

}  // namespace attnconf::spec
