// The loader on broken spec files: every mistake is reported as file:line:col: field: expected.
#include "attnconf/spec/loader.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <sstream>
#include <tuple>

#include "attnconf/spec/rules.h"

namespace attnconf::spec {
namespace {

std::string goodText() {
  std::ifstream in(specFolder() / "flash_attn_func.yaml");
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// The spec text with the first `from` replaced by `to` (which must occur).
std::string edited(const std::string& from, const std::string& to) {
  std::string text = goodText();
  const auto at = text.find(from);
  if (at == std::string::npos) throw std::logic_error("test edit not found: " + from);
  return text.replace(at, from.size(), to);
}

int lineOf(const std::string& text, const std::string& needle) {
  const auto at = text.find(needle);
  return 1 + static_cast<int>(std::count(text.begin(), text.begin() + static_cast<long>(at), '\n'));
}

struct Mistake {
  std::string name;
  std::string from, to;
  std::string field;     ///< expected field in the message
  std::string expected;  ///< expected text in the message
  std::string at_line;   ///< the error's line is the one holding this text (after the edit)
};

void PrintTo(const Mistake& m, std::ostream* os) {
  *os << m.name;
}

class BrokenSpec : public testing::TestWithParam<Mistake> {};

TEST_P(BrokenSpec, IsReportedWithFileLineAndField) {
  const Mistake& m = GetParam();
  const std::string text = edited(m.from, m.to);
  try {
    parseSpec(text, "broken.yaml");
    FAIL() << "loaded a spec with mistake " << m.name;
  } catch (const SpecError& e) {
    EXPECT_EQ(e.field(), m.field) << e.what();
    EXPECT_NE(std::string(e.what()).find(m.expected), std::string::npos) << e.what();
    EXPECT_EQ(e.where().file, "broken.yaml");
    if (!m.at_line.empty()) {
      EXPECT_EQ(e.where().line, lineOf(text, m.at_line)) << e.what();
    }
    EXPECT_EQ(std::string(e.what()).rfind("broken.yaml:", 0), 0U) << e.what();
  }
}

INSTANTIATE_TEST_SUITE_P(
    Loader, BrokenSpec,
    testing::Values(
        Mistake{"BadYaml", "dims:\n  batch:    {kind: batch}", "dims:\n  batch:    {kind: [batch}",
                "(yaml)", "expected valid YAML", ""},
        Mistake{"UnknownTopLevelKey", "api: flash_attn_func", "api: flash_attn_func\ncolour: blue",
                "colour", "unknown key `colour`", "colour: blue"},
        Mistake{"UnknownRuleKey", "  - id: BatchEmpty\n    source: mha_fwd",
                "  - id: BatchEmpty\n    sourse: mha_fwd\n    source: mha_fwd", "rules[2].sourse",
                "unknown key `sourse`", "sourse: mha_fwd"},
        Mistake{"WrongTypeForInteger", "check: {dim: headdim, max: 256}",
                "check: {dim: headdim, max: lots}", "rules[6].check.max",
                "expected an integer or a dim, got \"lots\"", "max: lots"},
        Mistake{"MissingSection", "tolerance:\n", "tolerancy:\n", "tolerancy",
                "unknown key `tolerancy`", "tolerancy:"},
        Mistake{"UnknownDType", "one_of: [fp16, bf16]", "one_of: [fp16, fp17]",
                "rules[0].check.one_of[1]", "unknown dtype \"fp17\"", "fp17"},
        Mistake{"UnknownDimInShape", "q: {shape: [batch, seqlen_q, nheads, headdim]}",
                "q: {shape: [batch, seqlen_q, num_heads, headdim]}", "inputs.q.shape[2]",
                "unknown dim \"num_heads\"", "num_heads"},
        Mistake{"ContradictoryRange", "check: {dim: batch, min: 1}",
                "check: {dim: batch, min: 5, max: 2}", "rules[2].check",
                "contradictory limits: min 5 > max 2", "min: 5"},
        Mistake{"RangeWithoutMultiple", "check: {dim: headdim, max: 256}",
                "check: {dim: headdim, max: 4}", "rules", "no headdim in [1, 4] is a multiple of 8",
                "{dim: headdim, max: 4}"},
        Mistake{"DuplicateRuleId", "  - id: SeqlenKEmpty", "  - id: SeqlenQEmpty", "rules[4].id",
                "duplicate rule id \"SeqlenQEmpty\"",
                "  - id: SeqlenQEmpty\n    source: mha_fwd\n    note: as"},
        Mistake{"RuleIdNotCamelCase", "  - id: BatchEmpty", "  - id: batch_empty", "rules[2].id",
                "expected a CamelCase rule id", "batch_empty"},
        Mistake{"UnknownSource", "  - id: BatchEmpty\n    source: mha_fwd",
                "  - id: BatchEmpty\n    source: blog", "rules[2].source",
                "unknown source \"blog\"", "source: blog"},
        Mistake{"BadErrorRegex", "error: batch size must be positive", "error: \"batch (size\"",
                "rules[2].error", "expected a regular expression", "batch (size"},
        Mistake{"UnknownAlignment", "causal: {param: causal, alignment: bottom_right}",
                "causal: {param: causal, alignment: middle}", "semantics.causal.alignment",
                "expected one of top_left, bottom_right, got \"middle\"", "alignment: middle"},
        Mistake{"ParamOfWrongType", "window: {param: window_size", "window: {param: causal",
                "semantics.window.param", "is bool; this clause needs a param of type int_pair",
                "window: {param: causal"},
        Mistake{"DefaultOfWrongType", "causal: {type: bool, default: false}",
                "causal: {type: bool, default: 0.5}", "params.causal.default",
                "expected true or false", "default: 0.5"},
        Mistake{"NoConditionInDimCheck", "check: {dim: batch, min: 1}", "check: {dim: batch}",
                "rules[2].check", "expected exactly one condition", "check: {dim: batch}"},
        Mistake{"ZeroTolerance", "out: {baseline_factor: 2, ulp_factor: 2}",
                "out: {baseline_factor: 0, ulp_factor: 0}", "tolerance.out",
                "a bound of 0 accepts nothing", "baseline_factor: 0"},
        Mistake{"UnknownRelation", "    - kv_permutation", "    - kv_shuffle",
                "promises.relations[3]", "unknown relation \"kv_shuffle\"", "kv_shuffle"},
        Mistake{"PagedRelationWithoutPages", "    - kv_permutation",
                "    - paged_equals_contiguous", "promises.relations[3]",
                "applies only to a paged KV cache", "paged_equals_contiguous"},
        Mistake{"DecodeRelationWithoutCache", "    - kv_permutation", "    - decode_equals_prefill",
                "promises.relations[3]", "applies only to a KV cache that takes new keys",
                "decode_equals_prefill"},
        Mistake{"UnusedCacheRelationWithoutCache", "    - kv_permutation",
                "    - unused_cache_ignored", "promises.relations[3]",
                "applies only to a KV cache (kv_cache)", "unused_cache_ignored"},
        Mistake{"SplitRelationWithoutSplits", "    - kv_permutation", "    - split_invariance",
                "promises.relations[3]", "needs `semantics.splits`", "split_invariance"},
        Mistake{"CausalRelationWithoutMask", "    - kv_permutation", "    - causal_equals_mask",
                "promises.relations[3]", "needs `semantics.causal` and `semantics.mask`",
                "causal_equals_mask"},
        Mistake{"LayoutRelationWithoutVariants", "    - kv_permutation", "    - layout_equivalence",
                "promises.relations[3]", "needs `variants`", "layout_equivalence"},
        Mistake{"VarlenRelationWithoutPackedDim", "    - kv_permutation",
                "    - varlen_equals_per_sequence", "promises.relations[3]",
                "applies only to packed sequences", "varlen_equals_per_sequence"},
        Mistake{"AppendedMaskedKeysWithoutMask", "    - kv_permutation",
                "    - masked_keys_appended", "promises.relations[3]", "needs `semantics.mask`",
                "masked_keys_appended"},
        Mistake{"KeyPermutationUnderAlwaysCausal",
                "causal: {param: causal, alignment: bottom_right}",
                "causal: {alignment: bottom_right}", "promises.relations[3]",
                "this spec's is always on", "kv_permutation"},
        Mistake{"ExtentValuesOfUnknownDim", "values: {uniform: [0.0, 1.0]}",
                "values: {extent_of: seqlen}", "inputs.alibi_slopes.values.extent_of",
                "unknown dim \"seqlen\"", "extent_of: seqlen"},
        Mistake{"RuleConditionWithoutLimit", "check: {dim: batch, min: 1}",
                "check: {dim: batch, min: 1}\n    if: [{dim: seqlen_q}]", "rules[2].if[0]",
                "expected exactly one condition", "if: [{dim: seqlen_q}]"},
        Mistake{"SplitsNotAnInt", "  softcap: softcap\n", "  softcap: softcap\n  splits: causal\n",
                "semantics.splits", "is bool; this clause needs a param of type int",
                "splits: causal"},
        Mistake{"GradForUnknownInput", "grads: {q: dq, k: dk, v: dv}",
                "grads: {q: dq, key: dk, v: dv}", "backward.grads.key", "unknown key `key`",
                "key: dk"},
        Mistake{"ActiveInRule", "check: {dim: batch, min: 1}", "check: {active: causal}",
                "rules[2].check", "`active` describes path regions, not rules", "active: causal"},
        Mistake{"UnknownPathsKey", "  fast:\n    - name: flash", "  other:\n    - name: flash",
                "paths.other", "unknown key `other`", "other:"},
        Mistake{"PathRegionUnknownDim", "  fallbacks: []",
                "  fallbacks:\n    - {name: math, when: [{dim: hd, max: 3}]}",
                "paths.fallbacks[0].when[0].dim", "unknown dim \"hd\"", "hd, max"},
        Mistake{"UnlessUnknownName", "  - id: BatchEmpty\n    source: mha_fwd",
                "  - id: BatchEmpty\n    unless: enable_gqa\n    source: mha_fwd",
                "rules[2].unless", "unknown param or input \"enable_gqa\"", "unless: enable_gqa"},
        Mistake{"OrSameAsUnknownInput", "check: {dtype_of: [alibi_slopes], one_of: [fp32]}",
                "check: {dtype_of: [alibi_slopes], one_of: [fp32], or_same_as: query}",
                "rules[11].check.or_same_as", "unknown input tensor \"query\"", "or_same_as"},
        Mistake{"MaskPolarityUnknown", "  out: out\n  lse: softmax_lse",
                "  mask: {tensor: alibi_slopes, bool_true_means: yes}\n  out: out\n  lse: "
                "softmax_lse",
                "semantics.mask.bool_true_means", "expected one of keep, mask_out, got \"yes\"",
                "bool_true_means"},
        Mistake{"CoveredDTypeUnknown", "q: {shape: [batch, seqlen_q, nheads, headdim]}",
                "q: {shape: [batch, seqlen_q, nheads, headdim], dtypes: [fp8]}",
                "inputs.q.dtypes[0]", "unknown dtype \"fp8\"", "fp8"},
        Mistake{"SumOfLaterDim", "  headdim:  {kind: head_dim}",
                "  headdim:  {kind: head_dim}\n  total: {kind: seqlen, sum_of: [seqlen_k, past]}",
                "dims.total.sum_of[1]",
                "expected a plain dim declared above, a product of such dims, or an integer, got "
                "\"past\"",
                "sum_of"},
        Mistake{"PackedOffsetsUnknown", "  headdim:  {kind: head_dim}",
                "  headdim:  {kind: head_dim}\n  total: {kind: seqlen, packs: [batch, seqlen_q], "
                "offsets: cu}",
                "dims.total.offsets", "unknown input tensor \"cu\"", "offsets: cu"},
        Mistake{"PackedOffsetsNotBatchPlusOne", "  headdim:  {kind: head_dim}",
                "  headdim:  {kind: head_dim}\n  total: {kind: seqlen, packs: [batch, seqlen_q], "
                "offsets: alibi_slopes}",
                "dims.total.offsets",
                "expected a required input of integer dtype, without `values`, of shape [B] where "
                "B is a dim with `sum_of: [batch, 1]`",
                "offsets: alibi"},
        Mistake{"PackedEndsNotBatchLong", "  headdim:  {kind: head_dim}",
                "  headdim:  {kind: head_dim}\n  total: {kind: seqlen, packs: [batch, seqlen_q], "
                "ends: alibi_slopes}",
                "dims.total.ends",
                "expected a required input of integer dtype, without `values`, of shape [batch]",
                "ends: alibi"},
        Mistake{"KeysInNotPacked", "  headdim:  {kind: head_dim}",
                "  headdim:  {kind: head_dim}\n  total: {kind: seqlen, packs: [batch, seqlen_q], "
                "offsets: cu_seqlens_q, keys_in: seqlen_k}",
                "dims.total.keys_in", "expected a packed dim declared above", "keys_in"},
        Mistake{"VariantDropsUnknownInput", "api: flash_attn_func",
                "api: flash_attn_func\nvariants:\n  bshd:\n    drop: [query]",
                "variants.bshd.drop[0]", "unknown input \"query\"", "[query]"},
        Mistake{"PackedWrongKinds", "  headdim:  {kind: head_dim}",
                "  headdim:  {kind: head_dim}\n  total: {kind: seqlen, packs: [nheads, seqlen_q], "
                "offsets: q}",
                "dims.total.packs", "expected [a batch dim, a seqlen dim]", "packs:"},
        Mistake{"ProductOfOneDim", "  headdim:  {kind: head_dim}",
                "  headdim:  {kind: head_dim}\n  hidden: {kind: head_dim, product_of: [nheads]}",
                "dims.hidden.product_of", "expected at least two dims", "product_of"},
        Mistake{"GivenInPathRegion", "  fallbacks: []",
                "  fallbacks:\n    - {name: math, when: [{given: causal}]}",
                "paths.fallbacks[0].when[0]", "`given` is a rule; a path region says `active`",
                "given: causal"},
        Mistake{"NotMultipleOfInRule", "check: {dim: headdim, multiple_of: 8}",
                "check: {dim: headdim, not_multiple_of: 8}", "rules[7].check.not_multiple_of",
                "`not_multiple_of` is a condition (`if`, path regions), not a rule",
                "not_multiple_of: 8"},
        Mistake{"TimesWithoutDimBound", "check: {dim: headdim, multiple_of: 8}",
                "check: {dim: headdim, max: 8, times: 2}", "rules[7].check.times",
                "`times` multiplies a dim `max`; expected one", "times: 2"},
        Mistake{"NotOneOfInRule", "check: {dim: headdim, multiple_of: 8}",
                "check: {dim: headdim, not_one_of: [8]}", "rules[7].check.not_one_of",
                "`not_one_of` is a condition (`if`, path regions), not a rule", "not_one_of"},
        Mistake{"ExtentOfWithDefault", "  causal: {type: bool, default: false}",
                "  causal: {type: bool, default: false}\n  max_q: {type: int, extent_of: seqlen_q, "
                "default: 1}",
                "params.max_q", "a param with `extent_of` takes no default", "max_q"},
        Mistake{"ConcatWithoutDerivedAxis", "dtype: same_as q}\n  softmax_lse",
                "dtype: same_as q, concat: [q, k]}\n  softmax_lse", "outputs.out.concat",
                "expected an output with one shape and one derived (sum_of) axis", "concat"},
        Mistake{"WhenUnknownName", "when: return_attn_probs", "when: return_probs",
                "outputs.softmax_lse.when", "expected a bool param or an input", "return_probs"},
        Mistake{"TogetherOfOne", "check: {dim: batch, min: 1}", "check: {together: [causal]}",
                "rules[2].check.together", "expected at least two names", "together"},
        Mistake{"PastUnknownInput", "  out: out\n  lse: softmax_lse",
                "  past: {key: k_cache, value: v}\n  out: out\n  lse: softmax_lse",
                "semantics.past.key", "unknown input tensor \"k_cache\"", "k_cache"},
        Mistake{"LengthsBothForms", "  out: out\n  lse: softmax_lse",
                "  lengths: {tensor: q, query: q}\n  out: out\n  lse: softmax_lse",
                "semantics.lengths", "expected either `tensor`", "lengths"},
        Mistake{"LengthsUnknownInput", "  out: out\n  lse: softmax_lse",
                "  lengths: {key: kv_lens}\n  out: out\n  lse: softmax_lse",
                "semantics.lengths.key", "unknown input tensor \"kv_lens\"", "kv_lens"},
        Mistake{"FullyMaskedRowsWord", "fully_masked_rows: {out: 0.0, lse: inf}",
                "fully_masked_rows: {out: mean, lse: inf}", "semantics.fully_masked_rows.out",
                "expected a number, nan or mean_of_values, got \"mean\"", "out: mean,"},
        Mistake{"InPlaceNotAnInput", "dtype: same_as q}\n  softmax_lse",
                "dtype: same_as q}\n  out_cache: {shape: [batch], dtype: fp32, in_place: true}\n"
                "  softmax_lse",
                "outputs.out_cache.in_place", "expected an output named as the input it updates",
                "out_cache"},
        Mistake{"RuleIfUnknownName", "check: {dim: batch, min: 1}",
                "check: {dim: batch, min: 1}\n    if: block_table", "rules[2].if",
                "unknown param or input \"block_table\"", "if: block_table"},
        Mistake{"KvCacheWithoutSeqlens", "  out: out\n  lse: softmax_lse",
                "  kv_cache: {batch_index: alibi_slopes}\n  out: out\n  lse: softmax_lse",
                "semantics.kv_cache", "seqlens", "kv_cache"},
        Mistake{"BlockTableNotPaging", "  out: out\n  lse: softmax_lse",
                "  kv_cache: {seqlens: alibi_slopes, block_table: alibi_slopes}\n  out: out\n  "
                "lse: softmax_lse",
                "semantics.kv_cache.block_table", "`product_of: [PAGES, PAGE_SIZE]`",
                "block_table: alibi_slopes"},
        Mistake{"IndicesInUnknownInput", "check: {dim: batch, min: 1}",
                "check: {indices_in: table, below: batch}", "rules[2].check.indices_in",
                "unknown input tensor \"table\"", "indices_in"},
        Mistake{"IndicesBelowUnknownDim", "check: {dim: batch, min: 1}",
                "check: {indices_in: q, below: pages}", "rules[2].check.below",
                "unknown dim \"pages\"", "indices_in"},
        Mistake{"RoomForUnknownDim", "values: {uniform: [0.0, 1.0]}",
                "values: {lengths_of: seqlen_k, room_for: new_keys}",
                "inputs.alibi_slopes.values.room_for", "unknown dim \"new_keys\"", "room_for"},
        Mistake{"LengthsAtMostAnInputNotYetDeclared", "values: {uniform: [0.0, 1.0]}",
                "values: {lengths_of: seqlen_k, at_most: lengths}",
                "inputs.alibi_slopes.values.at_most", "expected an input declared before this one",
                "at_most"},
        Mistake{"RotaryWithoutAppend", "  out: out\n  lse: softmax_lse",
                "  kv_cache:\n    seqlens: alibi_slopes\n    rotary: {cos: q, sin: q, "
                "interleaved: causal}\n  out: out\n  lse: softmax_lse",
                "semantics.kv_cache.rotary", "rotates the new keys: expected `append`", "rotary:"},
        Mistake{"RangeMinUnknownDim", "check: {dim: batch, min: 1}",
                "check: {dim: batch, min: pages}", "rules[2].check.min",
                "expected an integer or a dim, got \"pages\"", "min: pages"},
        Mistake{"AssumptionWithError", "\npaths:",
                "\nassumes:\n  - id: Short\n    source: mha_fwd\n    check: {dim: batch, max: 4}\n"
                "    error: never\npaths:",
                "assumes[0].error", "unknown key `error`", "error: never"},
        Mistake{"ParamRangeUnknownParam", "check: {dim: nheads_k, divides: nheads}",
                "check: {param: sparse_mode, min: 0, max: 8}", "rules[8].check.param",
                "unknown param \"sparse_mode\"", "sparse_mode"},
        Mistake{"StringParamWithoutFixedValue", "  causal: {type: bool, default: false}",
                "  causal: {type: bool, default: false}\n  input_layout: {type: string}",
                "params.input_layout.type", "needs `fixed", "input_layout"},
        Mistake{"VariantSetsUnknownParam", "api: flash_attn_func",
                "api: flash_attn_func\nvariants:\n  bnsd:\n    set: {input_layout: BNSD}",
                "variants.bnsd.set.input_layout", "unknown param \"input_layout\"",
                "{input_layout: BNSD}"},
        Mistake{"VariantShapesUnknownTensor", "api: flash_attn_func",
                "api: flash_attn_func\nvariants:\n  bshd:\n    shapes: {query: [batch]}",
                "variants.bshd.shapes.query", "unknown tensor \"query\"", "{query: [batch]}"},
        Mistake{"SinkUnknownInput", "  out: out\n  lse: softmax_lse",
                "  sink: {tensor: sinks}\n  out: out\n  lse: softmax_lse", "semantics.sink.tensor",
                "unknown input tensor \"sinks\"", "sink:"},
        Mistake{"ZeroSinkParamNotBool", "  out: out\n  lse: softmax_lse",
                "  sink: {tensor: alibi_slopes, zero_param: softmax_scale}\n  out: out\n  lse: "
                "softmax_lse",
                "semantics.sink.zero_param",
                "param \"softmax_scale\" is float; this clause needs a param of type bool",
                "sink:"},
        Mistake{"DescaleNotPerBatchAndKvHead", "  out: out\n  lse: softmax_lse",
                "  descale: {query: alibi_slopes, dtypes: [fp8_e4m3]}\n  out: out\n  lse: "
                "softmax_lse",
                "semantics.descale.query", "expected an input of shape [batch, nheads_k]",
                "descale:"},
        Mistake{"OutputDTypeExceptUnknown", "dtype: same_as q}",
                "dtype: {same_as: q, except: {fp99: bf16}}}", "outputs.out.dtype.except.fp99",
                "unknown dtype \"fp99\"", "fp99"},
        Mistake{"BaselineUnknownKey", "  lse: {baseline_factor: 2, ulp_factor: 1}\n",
                "  lse: {baseline_factor: 2, ulp_factor: 1}\n  per_dtype:\n    fp16:\n"
                "      baseline: {dtype: bf16, probs: fp16}\n",
                "tolerance.per_dtype.fp16.baseline.probs", "unknown key `probs`", "probs: fp16"},
        Mistake{"BackwardPerDTypeUnknown", "tolerance: {baseline_factor: 3, ulp_factor: 4}",
                "tolerance: {baseline_factor: 3, ulp_factor: 4, per_dtype: {fp99: {}}}",
                "backward.tolerance.per_dtype.fp99", "unknown dtype \"fp99\"", "fp99"}),
    [](const testing::TestParamInfo<Mistake>& param_info) { return param_info.param.name; });

TEST(Loader, EmptyDocumentIsReported) {
  EXPECT_THROW(parseSpec("", "empty.yaml"), SpecError);
  EXPECT_THROW(parseSpec("- a list\n", "list.yaml"), SpecError);
}

TEST(Loader, ApiMustMatchFileName) {
  const auto path = std::filesystem::temp_directory_path() / "other_name.yaml";
  std::ofstream(path) << goodText();
  try {
    loadSpec(path);
    FAIL() << "accepted api flash_attn_func in other_name.yaml";
  } catch (const SpecError& e) {
    EXPECT_EQ(e.field(), "api");
  }
  std::filesystem::remove(path);
}

TEST(Loader, DeclaredFallbacksAreCheckedAgainstTheSpec) {
  const ApiSpec s = loadSpec(specFolder() / "flash_attn_func.yaml");
  const auto ok =
      parseDeclaredFallbacks(s, "- {name: standard, when: [{dim: headdim, min: 129}]}", "mine");
  ASSERT_EQ(ok.size(), 1U);
  EXPECT_EQ(ok[0].name, "standard");
  EXPECT_TRUE(parseDeclaredFallbacks(s, "", "mine").empty());
  try {
    parseDeclaredFallbacks(s, "- {name: standard, when: [{dim: head_size, min: 129}]}", "mine");
    FAIL() << "accepted an unknown dim";
  } catch (const SpecError& e) {
    EXPECT_EQ(e.where().file, "mine");
    EXPECT_EQ(e.field(), "fallbacks[0].when[0].dim");
  }
}

TEST(Loader, DeclaredFallbackRegionsMayNameUnalignedDims) {
  const ApiSpec s = loadSpec(specFolder() / "flash_attn_func.yaml");
  const auto unaligned = parseDeclaredFallbacks(
      s, "- {name: standard, when: [{dim: headdim, not_multiple_of: 8}]}", "mine");
  ASSERT_EQ(unaligned.size(), 1U);
  Case c;
  c.api = s.api;
  for (const std::int64_t headdim : {60, 64}) {
    c.tensors["q"] = Tensor::zeros(DType::fp16, {1, 2, 1, headdim});
    EXPECT_EQ(inRegion(s, c, unaligned[0]), headdim == 60) << headdim;
  }
  EXPECT_EQ(describeRegion(unaligned[0]), "headdim % 8 != 0");
}

// A file with variants is one spec per variant: named <api>_<variant>, its `set` params fixed
// (always passed), its `shapes` replacing the declared ones, its `relations` the promises'.
TEST(Loader, VariantsAreSpecsOfTheirOwn) {
  const auto specs = loadSpecs(specFolder() / "npu_fusion_attention.yaml");
  ASSERT_EQ(specs.size(), 5U);
  EXPECT_EQ(specs[0].api, "npu_fusion_attention_bnsd");
  const ApiSpec& sbh = specs[3];
  EXPECT_EQ(sbh.api, "npu_fusion_attention_sbh");
  EXPECT_EQ(sbh.param("input_layout")->fixed, ParamValue(std::string("SBH")));
  EXPECT_EQ(sbh.input("query")->shapes[0], (std::vector<std::string>{"s1", "b", "h1"}));
  EXPECT_EQ(sbh.input("query")->covered_dtypes.size(), 3U);  // kept from the shared declaration
  EXPECT_EQ(sbh.promises.relations,
            (std::vector<Relation>{Relation::batch_independence, Relation::layout_equivalence,
                                   Relation::masked_keys_appended}));
  EXPECT_EQ(specs[0].promises.relations.size(), 5U);
  // Each knows its siblings in file order, their fixed params and shapes (layout_equivalence).
  ASSERT_EQ(sbh.other_variants.size(), 4U);
  EXPECT_EQ(sbh.other_variants.front().api, "npu_fusion_attention_bnsd");
  EXPECT_EQ(specs[0].other_variants.front().api, "npu_fusion_attention_bsnd");
  EXPECT_EQ(sbh.other_variants.front().fixed.at("input_layout"), ParamValue(std::string("BNSD")));
  EXPECT_EQ(sbh.other_variants.front().shapes.at("attention_out"),
            (std::vector<std::string>{"b", "n1", "s1", "d"}));
  EXPECT_FALSE(sbh.other_variants.front().shapes.contains("atten_mask"));  // two forms
  EXPECT_TRUE(sbh.other_variants.front().inputs.contains("pse"));
  EXPECT_GT(sbh.input("query")->where.line, 0);
  EXPECT_THROW(loadSpec(specFolder() / "npu_fusion_attention.yaml"), SpecError);
}

// A variant may add dims, inputs and rules, and drop inputs with the rules, semantics and
// gradient that name them: torch_npu's TND packs the sequences by their ends and passes no pse.
TEST(Loader, VariantsAddAndDropInputs) {
  const auto specs = loadSpecs(specFolder() / "npu_fusion_attention.yaml");
  const ApiSpec& tnd = specs.back();
  ASSERT_EQ(tnd.api, "npu_fusion_attention_tnd");
  const Dim* t1 = tnd.dim("t1");
  ASSERT_NE(t1, nullptr);
  EXPECT_EQ(t1->packs, (std::vector<std::string>{"b", "s1"}));
  EXPECT_EQ(t1->offsets, "actual_seq_qlen");
  EXPECT_TRUE(t1->offsets_are_ends);
  EXPECT_EQ(t1->keys_in, "t2");
  EXPECT_EQ(tnd.input("actual_seq_qlen")->dtype, DType::int64);
  EXPECT_EQ(tnd.input("pse"), nullptr);
  EXPECT_TRUE(tnd.semantics.bias_tensor.empty());
  EXPECT_FALSE(tnd.backward.grads.contains("pse"));
  EXPECT_EQ(specs.front().backward.grads.at("pse"), "dpse");
  EXPECT_EQ(tnd.rule("PseShapeInvalid"), nullptr);
  EXPECT_NE(tnd.rule("ActualSeqLengthsMismatch"), nullptr);
  EXPECT_NE(tnd.rule("AttenMaskShapeInvalid"), nullptr);  // names no pse
  EXPECT_NE(specs.front().input("pse"), nullptr);         // the other variants keep it
  EXPECT_FALSE(specs.front().other_variants.back().inputs.contains("pse"));
}

// A variant's param, or rule of the same id, replaces the spec's: TND alone takes and draws the
// split modes 7 and 8.
TEST(Loader, VariantsReplaceParamsAndRulesOfTheSameName) {
  const auto specs = loadSpecs(specFolder() / "npu_fusion_attention.yaml");
  const ApiSpec& tnd = specs.back();
  const auto range = [](const ApiSpec& spec) {
    return std::get<ParamRangeCheck>(spec.rule("SparseModeOutOfRange")->check).max;
  };
  EXPECT_EQ(range(tnd), 8);
  EXPECT_EQ(range(specs.front()), 6);
  EXPECT_EQ(std::ranges::count_if(tnd.rules,
                                  [](const Rule& r) { return r.id == "SparseModeOutOfRange"; }),
            1);
  EXPECT_EQ(tnd.param("sparse_mode")->generate_choices,
            (std::vector<std::int64_t>{0, 1, 2, 3, 4, 7, 8}));
  EXPECT_TRUE(specs.front().param("sparse_mode")->generate_choices.empty());
  const SparseMode& mode7 = tnd.semantics.sparse_modes.at(7);
  EXPECT_EQ(mode7.value, 7);
  EXPECT_EQ(mode7.band_sequence, BandSequence::last_with_queries);
  EXPECT_TRUE(mode7.queries_within_keys);
}

// A mode that gives one sequence the band gives the others its causal mask: it needs both; a
// prefix widens a causal mask, and a mode's own marker shape is for a compressed mask. A list of
// modes to draw has at least one.
TEST(Loader, SparseModeMistakesNameTheirField) {
  std::ifstream in(specFolder() / "npu_fusion_attention.yaml");
  std::stringstream good;
  good << in.rdbuf();
  for (const auto& [from, to, field, message] :
       {std::tuple{"causal: top_left, band: bottom_right,", "band: bottom_right,",
                   "semantics.sparse_mode.modes[8].band_sequence",
                   "`band_sequence` needs `causal` and `band`"},
        std::tuple{"spelled_out, causal: bottom_right,", "spelled_out,",
                   "semantics.sparse_mode.modes[5].prefix", "`prefix` needs `causal`"},
        std::tuple{"prefix: prefix}", "prefix: prefixes}", "semantics.sparse_mode.modes[5].prefix",
                   "unknown input tensor \"prefixes\""},
        std::tuple{"mask: spelled_out,", "mask: spelled_out, compressed_mask: [8, 8],",
                   "semantics.sparse_mode.modes[5].compressed_mask",
                   "`compressed_mask` needs `mask: compressed`"},
        std::tuple{"one_of: [0, 1, 2, 3, 4, 7, 8]", "one_of: []",
                   "params.sparse_mode.generate.one_of", "expected at least one value"}}) {
    std::string text = good.str();
    text.replace(text.find(from), std::string(from).size(), to);
    try {
      parseSpecs(text, "npu.yaml");
      FAIL() << "accepted " << to;
    } catch (const SpecError& e) {
      EXPECT_NE(std::string(e.what()).find(message), std::string::npos) << e.what();
      EXPECT_EQ(e.field(), field);
    }
  }
}

// torch_npu's modes 2-4 read the mask as a marker of a fixed shape, which the spec must give.
TEST(Loader, CompressedModesNeedTheMarkerShape) {
  std::ifstream in(specFolder() / "npu_fusion_attention.yaml");
  std::stringstream good;
  good << in.rdbuf();
  const std::string line = "    compressed_mask: [2048, 2048]\n";
  for (const auto& [replacement, expected] :
       {std::pair{std::string(), "missing key `compressed_mask`"},
        std::pair{std::string("    compressed_mask: [2048]\n"), "expected two positive extents"}}) {
    std::string text = good.str();
    text.replace(text.find(line), line.size(), replacement);
    try {
      parseSpecs(text, "npu.yaml");
      FAIL() << "accepted compressed modes with " << replacement;
    } catch (const SpecError& e) {
      EXPECT_NE(std::string(e.what()).find(expected), std::string::npos) << e.what();
      EXPECT_EQ(e.field().rfind("semantics.sparse_mode", 0), 0U) << e.field();
    }
  }
}

// A decode-step spec binds state roles, each an input updated in place, and has no attention
// sections.
TEST(Loader, DecodeStepMistakesAreReported) {
  std::ifstream in(specFolder() / "npu_advance_step_flashattn.yaml");
  std::stringstream good;
  good << in.rdbuf();
  const ApiSpec loaded = parseSpec(good.str(), "step.yaml");
  ASSERT_TRUE(loaded.semantics.isDecodeStep());
  EXPECT_EQ(loaded.semantics.decode_step->sampled, "sampled_token_ids");
  struct Edit {
    std::string from, to, field, expected;
  };
  for (const auto& e : {
           Edit{"seq_lens: {shape: [num_seqs], dtype: int64, in_place: true}",
                "seq_lens: {shape: [num_seqs], dtype: int64}", "semantics.decode_step.seq_lens",
                "of `in_place: true`"},
           Edit{"    block_size: block_size\n", "    block_size: blocks\n",
                "semantics.decode_step.block_size", "unknown param \"blocks\""},
           Edit{"\nrules:\n", "\ntolerance: {why: exact}\n\nrules:\n", "tolerance",
                "no `tolerance`: a spec with `semantics.decode_step` is an exact state update"},
           Edit{"  deterministic_forward: true\n",
                "  deterministic_forward: true\n  relations: [batch_independence]\n",
                "promises.relations", "no relations"},
       }) {
    std::string text = good.str();
    const auto at = text.find(e.from);
    ASSERT_NE(at, std::string::npos) << e.from;
    text.replace(at, e.from.size(), e.to);
    try {
      parseSpec(text, "step.yaml");
      ADD_FAILURE() << "accepted " << e.to;
    } catch (const SpecError& error) {
      EXPECT_EQ(error.field(), e.field) << error.what();
      EXPECT_NE(std::string(error.what()).find(e.expected), std::string::npos) << error.what();
    }
  }
}

std::string fileText(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// A profile is its base spec under its own name, less what it refuses: an `absent` rule takes
// the base's rules that read its name away. Each field keeps the file and line it is written at.
TEST(Loader, ProfilesAreTheirBaseLessWhatTheyRefuse) {
  const auto file = specFolder() / "flash_attn_npu_with_kvcache.yaml";
  const ApiSpec npu = loadSpec(file);
  const ApiSpec base = loadSpec(specFolder() / "flash_attn_with_kvcache.yaml");
  EXPECT_EQ(npu.api, "flash_attn_npu_with_kvcache");
  EXPECT_NE(npu.version, base.version);
  EXPECT_EQ(npu.sources.size(), base.sources.size() + 2);
  EXPECT_EQ(npu.inputs.size(), base.inputs.size());
  ASSERT_NE(npu.rule("AlibiUnsupported"), nullptr);
  EXPECT_EQ(std::get<AbsentCheck>(npu.rule("AlibiUnsupported")->check).name, "alibi_slopes");
  for (const char* gone : {"AlibiDtypeInvalid", "CacheLeftpadShapeMismatch", "RotaryDimTooLarge",
                           "RotaryWithoutNewKeys"}) {
    EXPECT_NE(base.rule(gone), nullptr) << gone;
    EXPECT_EQ(npu.rule(gone), nullptr) << gone;
  }
  EXPECT_NE(npu.rule("QueryDtypeUnsupported"), nullptr);
  EXPECT_TRUE(refused(npu, "alibi_slopes"));
  EXPECT_FALSE(refused(npu, "k"));
  EXPECT_FALSE(refused(base, "alibi_slopes"));
  EXPECT_EQ(npu.param("num_splits")->generate_hi, 1);
  EXPECT_EQ(std::ranges::count(npu.promises.relations, Relation::split_invariance), 0);
  EXPECT_NE(npu.content_hash, base.content_hash);

  const Rule& own = *npu.rule("AlibiUnsupported");
  EXPECT_EQ(own.where.file, file.string());
  EXPECT_EQ(own.where.line, lineOf(fileText(file), "  - id: AlibiUnsupported"));
  const Rule& inherited = *npu.rule("QueryDtypeUnsupported");
  EXPECT_EQ(inherited.where.file, base.file);
  EXPECT_EQ(inherited.where.line, base.rule("QueryDtypeUnsupported")->where.line);
}

// The paged profile refuses what the contiguous one does; its `absent` rule on cache_leftpad
// takes the base's leftpad-with-table rule away, and the page rules stay the base's.
TEST(Loader, PagedProfileKeepsThePageRulesAndRefusesLeftpadOutright) {
  const ApiSpec npu = loadSpec(specFolder() / "flash_attn_npu_with_kvcache_paged.yaml");
  const ApiSpec base = loadSpec(specFolder() / "flash_attn_with_kvcache_paged.yaml");
  EXPECT_NE(base.rule("CacheLeftpadWithBlockTable"), nullptr);
  EXPECT_EQ(npu.rule("CacheLeftpadWithBlockTable"), nullptr);
  EXPECT_TRUE(refused(npu, "cache_leftpad"));
  for (const char* kept :
       {"PageSizeNotMultipleOf256", "BlockTableIndexOutOfRange", "CacheBatchIdxWithBlockTable"})
    EXPECT_NE(npu.rule(kept), nullptr) << kept;
  EXPECT_EQ(std::ranges::count(npu.promises.relations, Relation::paged_equals_contiguous), 1);
  EXPECT_EQ(std::ranges::count(npu.promises.relations, Relation::split_invariance), 0);
}

// A profile's mistakes name the file they are in: its own, or its base's where the profile
// makes a base field wrong.
TEST(Loader, ProfileMistakesNameTheFileTheyAreIn) {
  const auto folder = std::filesystem::temp_directory_path() / "attnconf_profile_test";
  std::filesystem::create_directories(folder);
  const std::string base_text = fileText(specFolder() / "flash_attn_with_kvcache.yaml");
  std::ofstream(folder / "flash_attn_with_kvcache.yaml") << base_text;
  const std::string head = "api: mine\nprofile_of: flash_attn_with_kvcache\ntitle: t\nversion: v\n";
  struct ProfileMistake {
    std::string text, field, expected, file, at_line;
  };
  const std::vector<ProfileMistake> mistakes = {
      {"api: mine\nprofile_of: no_such_api\ntitle: t\nversion: v\n", "profile_of", "cannot read",
       "mine.yaml", "profile_of"},
      {head + "rules:\n  - {id: Mine, source: docstring, check: {dim: nope, max: 3}, error: x}\n",
       "check.dim", "unknown dim \"nope\"", "mine.yaml", "{id: Mine"},
      {head + "colour: blue\n", "colour", "unknown key `colour`", "mine.yaml", "colour"},
      {head + "params:\n  causal: {type: int, default: 0, generate: [0, 1]}\n",
       "semantics.causal.param", "is int; this clause needs a param of type bool",
       "flash_attn_with_kvcache.yaml", "causal: {param: causal"},
  };
  for (const auto& m : mistakes) {
    std::ofstream(folder / "mine.yaml") << m.text;
    try {
      loadSpec(folder / "mine.yaml");
      ADD_FAILURE() << "loaded " << m.text;
    } catch (const SpecError& e) {
      EXPECT_TRUE(e.field().ends_with(m.field)) << e.what();  // a rule's index is the merged one
      EXPECT_NE(std::string(e.what()).find(m.expected), std::string::npos) << e.what();
      EXPECT_EQ(e.where().file, (folder / m.file).string()) << e.what();
      const std::string& text = m.file == "mine.yaml" ? m.text : base_text;
      EXPECT_EQ(e.where().line, lineOf(text, m.at_line)) << e.what();
    }
  }
  std::filesystem::remove_all(folder);
}

TEST(Loader, Fa3JudgesFp8AgainstABf16BaselineWithFp8Probabilities) {
  const ApiSpec fa3 = loadSpec(specFolder() / "flash_attn3_with_kvcache.yaml");
  const Precision fp8 = fa3.tolerance.baseline(DType::fp8_e4m3);
  EXPECT_EQ(fp8.dtype, DType::bf16);
  EXPECT_EQ(fp8.probabilities, DType::fp8_e4m3);
  EXPECT_EQ(fa3.tolerance.baseline(DType::fp16).probabilities, DType::fp16);
  EXPECT_EQ(fa3.output("out")->dtype_except.at(DType::fp8_e4m3), DType::bf16);
  EXPECT_EQ(fa3.semantics.v_descale, "v_descale");
}

TEST(Loader, MissingFileIsReported) {
  EXPECT_THROW(loadSpec("/nonexistent/x.yaml"), SpecError);
}

TEST(Loader, LoadsTheRealSpec) {
  const ApiSpec s = loadSpec(specFolder() / "flash_attn_func.yaml");
  EXPECT_EQ(s.api, "flash_attn_func");
  EXPECT_EQ(s.rules.size(), 14U);
  EXPECT_EQ(s.semantics.causal_alignment, Alignment::bottom_right);
  EXPECT_EQ(s.input("alibi_slopes")->shapes.size(), 2U);
  EXPECT_EQ(s.content_hash.size(), 16U);
  for (const auto& rule : s.rules) EXPECT_GT(rule.where.line, 0) << rule.id;
}

}  // namespace
}  // namespace attnconf::spec
