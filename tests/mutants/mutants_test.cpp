// Planted faults: each bug in the table must make its property fail, while the faithful kernel
// passes the same property with the same seeds. A property that no mutant kills is untested.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <iostream>
#include <map>
#include <set>

#include "attnconf/adapters/in_tree.h"
#include "attnconf/properties/registry.h"
#include "attnconf/properties/report.h"
#include "attnconf/spec/loader.h"

namespace attnconf::props {
namespace {

using adapters::InTreeAdapter;
using adapters::InTreeKernel;
using adapters::PlantedFault;

struct Mutant {
  PlantedFault fault;
  std::string property;  ///< the property that must catch it
  std::string api = "flash_attn_func";
};

const std::vector<Mutant>& mutants() {
  static const std::vector<Mutant> table{
      {PlantedFault::causal_top_left, "Accuracy"},
      {PlantedFault::skip_rescale, "Accuracy"},
      {PlantedFault::gqa_head_modulo, "Accuracy"},
      {PlantedFault::lse_base2, "Accuracy"},
      {PlantedFault::softcap_after_mask, "Accuracy"},
      {PlantedFault::window_left_off_by_one, "Accuracy"},
      {PlantedFault::fully_masked_row_nan, "Accuracy"},
      {PlantedFault::alibi_wrong_sign, "Accuracy"},
      {PlantedFault::default_scale_wrong, "Accuracy"},
      {PlantedFault::accept_any_head_dim, "ErrorIfHeadDimNotMultipleOf8"},
      {PlantedFault::accept_gqa_mismatch, "ErrorIfKvHeadsNotDivisor"},
      {PlantedFault::wrong_error_message, "ErrorIfHeadDimTooLarge"},
      {PlantedFault::silent_fallback_ragged_keys, "NoUndeclaredFallback"},
      {PlantedFault::hidden_fallback_ragged_keys, "NoUndeclaredFallback"},
      {PlantedFault::silent_fallback_ragged_keys, "ResourceSignature"},
      {PlantedFault::hidden_fallback_ragged_keys, "ResourceSignature"},
      {PlantedFault::nondeterministic_reduction, "Determinism"},
      {PlantedFault::inplace_q_write, "InputImmutability"},
      {PlantedFault::batch_kv_stride_bug, "BatchIndependence"},
      {PlantedFault::batch_kv_stride_bug, "Accuracy"},
      {PlantedFault::gqa_head_modulo, "GqaEqualsRepeatedKv"},
      {PlantedFault::gqa_head_modulo, "HeadIndependence"},
      {PlantedFault::skip_rescale, "KvPermutation"},
      {PlantedFault::dk_wrong_scale, "Gradients"},
      {PlantedFault::causal_bottom_right, "Accuracy", "scaled_dot_product_attention"},
      {PlantedFault::bool_mask_inverted, "Accuracy", "scaled_dot_product_attention"},
      {PlantedFault::seq_lens_off_by_one, "Accuracy", "diy_flash_attention"},
      {PlantedFault::causal_ignores_past, "Accuracy", "onnx_attention"},
      {PlantedFault::fully_masked_row_zero, "Accuracy", "jax_dot_product_attention"},
      {PlantedFault::seq_lens_off_by_one, "Accuracy", "jax_dot_product_attention"},
      {PlantedFault::cu_seqlens_off_by_one, "Accuracy", "flash_attn_varlen_func"},
      {PlantedFault::varlen_causal_padded, "Accuracy", "flash_attn_varlen_func"},
      {PlantedFault::gqa_head_modulo, "GqaEqualsRepeatedKv", "flash_attn_varlen_func"},
      {PlantedFault::hidden_split_head_inner, "Accuracy", "onnx_attention_3d"},
      {PlantedFault::cache_seqlens_ignored, "Accuracy", "flash_attn_with_kvcache"},
      {PlantedFault::append_to_batch_row, "Accuracy", "flash_attn_with_kvcache"},
      {PlantedFault::causal_top_left, "Accuracy", "flash_attn_with_kvcache"},
      {PlantedFault::pages_assumed_consecutive, "Accuracy", "flash_attn_with_kvcache_paged"},
      {PlantedFault::pages_assumed_consecutive, "PagedEqualsContiguous",
       "flash_attn_with_kvcache_paged"},
      {PlantedFault::decode_drops_new_keys, "DecodeEqualsPrefill", "flash_attn_with_kvcache"},
      {PlantedFault::decode_drops_new_keys, "DecodeEqualsPrefill", "flash_attn_with_kvcache_paged"},
      {PlantedFault::causal_top_left, "DecodeEqualsPrefill", "flash_attn_with_kvcache"},
      {PlantedFault::cache_seqlens_ignored, "UnusedCacheIgnored", "flash_attn_with_kvcache"},
      {PlantedFault::split_combine_unweighted, "SplitInvariance", "flash_attn_with_kvcache"},
      {PlantedFault::split_combine_unweighted, "Accuracy", "flash_attn_with_kvcache_paged"},
      {PlantedFault::pages_assumed_consecutive, "UnusedCacheIgnored",
       "flash_attn_with_kvcache_paged"},
      {PlantedFault::rotary_query_at_cache_start, "Accuracy", "flash_attn_with_kvcache"},
      {PlantedFault::rotary_query_at_cache_start, "Accuracy", "flash_attn_with_kvcache_paged"},
      {PlantedFault::rotary_query_at_cache_start, "DecodeEqualsPrefill", "flash_attn_with_kvcache"},
      {PlantedFault::cache_leftpad_ignored, "Accuracy", "flash_attn_with_kvcache"},
      {PlantedFault::cache_leftpad_ignored, "UnusedCacheIgnored", "flash_attn_with_kvcache"},
      {PlantedFault::rotary_from_leftpad, "Accuracy", "flash_attn_with_kvcache"},
      {PlantedFault::v_descale_ignored, "Accuracy", "flash_attn3_with_kvcache"},
      {PlantedFault::bool_mask_inverted, "Accuracy", "npu_fusion_attention_bnsd"},
      {PlantedFault::default_scale_rsqrt, "Accuracy", "npu_fusion_attention_bsh"},
      {PlantedFault::softmax_sum_wrong_row, "Accuracy", "npu_fusion_attention_sbh"},
      {PlantedFault::unidirectional_last_row_unmasked, "Accuracy", "ort_multi_head_attention"},
      {PlantedFault::causal_ignores_past, "Accuracy", "ort_group_query_attention"},
      {PlantedFault::unidirectional_last_row_unmasked, "CausalEqualsMask",
       "ort_multi_head_attention"},
      {PlantedFault::causal_bottom_right, "CausalEqualsMask", "scaled_dot_product_attention"},
      {PlantedFault::causal_ignores_past, "CausalEqualsMask", "onnx_attention"},
      {PlantedFault::sbh_output_in_bsh_order, "Accuracy", "npu_fusion_attention_sbh"},
      {PlantedFault::sbh_output_in_bsh_order, "LayoutEquivalence", "npu_fusion_attention_sbh"},
      {PlantedFault::cu_seqlens_off_by_one, "VarlenEqualsPerSequence", "flash_attn_varlen_func"},
      {PlantedFault::varlen_causal_padded, "VarlenEqualsPerSequence", "flash_attn_varlen_func"},
      {PlantedFault::bool_mask_inverted, "MaskedKeysAppended", "scaled_dot_product_attention"},
      {PlantedFault::bool_mask_inverted, "MaskedKeysAppended", "npu_fusion_attention_bsnd"},
      {PlantedFault::nan_row_max_dropped, "NonFiniteQueryRow"},
      {PlantedFault::sparse_mode3_top_left, "Accuracy", "npu_fusion_attention_bnsd"},
      {PlantedFault::prefix_ignored, "Accuracy", "npu_fusion_attention_bsnd"},
      {PlantedFault::pse_after_scale, "Accuracy", "npu_fusion_attention_bsh"},
      {PlantedFault::tnd_end_inclusive, "Accuracy", "npu_fusion_attention_tnd"},
      {PlantedFault::tnd_end_inclusive, "VarlenEqualsPerSequence", "npu_fusion_attention_tnd"},
      {PlantedFault::tnd_end_inclusive, "LayoutEquivalence", "npu_fusion_attention_tnd"},
      {PlantedFault::split_band_at_wrong_end, "Accuracy", "npu_fusion_attention_tnd"},
      {PlantedFault::varlen_tile_overread, "NonFiniteKeyValueRow", "flash_attn_varlen_func"},
      {PlantedFault::dk_wrong_scale, "Gradients", "flash_attn_varlen_func"},
      {PlantedFault::dk_wrong_scale, "Gradients", "npu_fusion_attention_bsh"},
      {PlantedFault::dk_wrong_scale, "Gradients", "npu_fusion_attention_tnd"},
      {PlantedFault::dpse_broadcast_not_summed, "Gradients", "npu_fusion_attention_bsh"},
      {PlantedFault::next_tokens_default_all, "Accuracy", "npu_prompt_flash_attention_bnsd"},
      {PlantedFault::incre_ignores_actual_seq_lengths, "Accuracy", "npu_incre_flash_attention_bsh"},
      {PlantedFault::pages_assumed_consecutive, "Accuracy", "npu_incre_flash_attention_paged_bnsd"},
      {PlantedFault::pages_assumed_consecutive, "PagedEqualsContiguous",
       "npu_incre_flash_attention_paged_bsh"},
      {PlantedFault::fused_infer_misdispatch, "NoUndeclaredFallback",
       "npu_fused_infer_attention_score_bsnd"},
      {PlantedFault::fused_incre_ignores_actual_seq_lengths_kv, "Accuracy",
       "npu_fused_infer_attention_score_bnsd"},
      {PlantedFault::fused_incre_ignores_actual_seq_lengths_kv, "Accuracy",
       "npu_fused_infer_attention_score_paged_bnsd"},
      {PlantedFault::pages_assumed_consecutive, "PagedEqualsContiguous",
       "npu_fused_infer_attention_score_paged_bsnd"},
      {PlantedFault::fused_paged_incre_block_rules, "ErrorIfPromptBlockSizeNotAligned",
       "npu_fused_infer_attention_score_paged_bsh"},
      {PlantedFault::advance_step_position_is_new_length, "Accuracy", "npu_advance_step_flashattn"},
      {PlantedFault::advance_step_slot_offset_of_new_length, "Accuracy",
       "npu_advance_step_flashattn"},
      {PlantedFault::advance_step_padding_untouched, "Accuracy", "npu_advance_step_flashattn"},
      {PlantedFault::unsupported_alibi_ignored, "ErrorIfAlibiUnsupported",
       "flash_attn_npu_with_kvcache"},
      {PlantedFault::unsupported_alibi_ignored, "ErrorIfAlibiUnsupported",
       "flash_attn_npu_with_kvcache_paged"},
      {PlantedFault::sink_scaled, "Accuracy", "ort_group_query_attention"},
      {PlantedFault::sink_scaled, "Gradients", "npu_fusion_attention_bnsd"},
  };
  return table;
}

const spec::ApiSpec& specOf(const std::string& api) {
  static const std::vector<spec::ApiSpec> loaded = spec::loadSpecFolder(spec::specFolder());
  const auto it = std::ranges::find(loaded, api, &spec::ApiSpec::api);
  if (it == loaded.end()) throw std::logic_error("no spec " + api);
  return *it;
}

RunConfig config() {
  RunConfig c;
  c.accuracy_cases = 150;
  c.error_cases = 20;
  c.failure_dir = std::filesystem::temp_directory_path() / "attnconf-mutants";
  return c;
}

Verdict runProperty(const std::string& name, adapters::Adapter& adapter,
                    const std::string& api = "flash_attn_func") {
  for (const auto& check : propertiesOf(specOf(api))) {
    if (check.name == name) return check.run(adapter, config());
  }
  throw std::logic_error("no property " + name);
}

void PrintTo(const Mutant& m, std::ostream* os) {
  *os << adapters::faultName(m.fault) << " -> " << m.property;
}

class Mutants : public testing::TestWithParam<Mutant> {};

TEST_P(Mutants, AreCaughtByTheirProperty) {
  const Mutant& m = GetParam();
  InTreeAdapter mutant(InTreeKernel::tiled_flash, m.fault);
  const Verdict v = runProperty(m.property, mutant, m.api);
  EXPECT_EQ(v.status, Verdict::Status::fail)
      << m.property << " did not catch " << adapters::faultName(m.fault);
  if (m.property != "ResourceSignature") {  // measured, not generated: nothing to shrink
    EXPECT_FALSE(v.reproduce.empty());
    EXPECT_TRUE(std::filesystem::exists(v.case_file)) << "the shrunk case was not saved";
  }
  EXPECT_NE(v.message.find("[" + m.api + " §"), std::string::npos) << v.message;
  std::cout << v.message << '\n' << reproduceLines(v, mutant.name()) << '\n';
}

TEST_P(Mutants, FaithfulKernelPassesTheSameProperty) {
  InTreeAdapter faithful(InTreeKernel::tiled_flash);
  const Verdict v = runProperty(GetParam().property, faithful, GetParam().api);
  EXPECT_EQ(v.status, Verdict::Status::pass) << v.message;
}

INSTANTIATE_TEST_SUITE_P(CpuFlash, Mutants, testing::ValuesIn(mutants()),
                         [](const auto& param_info) {
                           const Mutant& m = param_info.param;
                           // One fault may be planted in the front ends of several APIs.
                           const std::string api = m.api == "flash_attn_func" ? "" : "_" + m.api;
                           return std::string(adapters::faultName(m.fault)) + "_" + m.property +
                                  api;
                         });

// Faults that only a property beyond accuracy kills: Accuracy passes on them.
struct Escape {
  PlantedFault fault;
  std::string api = "flash_attn_func";
};

class AccuracyAlone : public testing::TestWithParam<Escape> {};

TEST_P(AccuracyAlone, MissesIt) {
  InTreeAdapter mutant(InTreeKernel::tiled_flash, GetParam().fault);
  const Verdict v = runProperty("Accuracy", mutant, GetParam().api);
  EXPECT_EQ(v.status, Verdict::Status::pass) << v.message;
}

INSTANTIATE_TEST_SUITE_P(
    CpuFlash, AccuracyAlone,
    testing::Values(Escape{PlantedFault::nondeterministic_reduction},
                    Escape{PlantedFault::nan_row_max_dropped}, Escape{PlantedFault::dk_wrong_scale},
                    Escape{PlantedFault::silent_fallback_ragged_keys},
                    Escape{PlantedFault::hidden_fallback_ragged_keys},
                    Escape{PlantedFault::varlen_tile_overread, "flash_attn_varlen_func"},
                    Escape{PlantedFault::dpse_broadcast_not_summed, "npu_fusion_attention_bsh"},
                    Escape{PlantedFault::fused_infer_misdispatch,
                           "npu_fused_infer_attention_score_bsnd"}),
    [](const auto& param_info) {
      return std::string(adapters::faultName(param_info.param.fault));
    });

// Where the spec does not promise determinism, two calls that differ pass, and the verdict says
// how often and by how much (in bounds of the output's tolerance).
TEST(Determinism, ReportsTheSpreadWhereNotPromised) {
  const std::string api = "npu_fusion_attention_bnsd";
  ASSERT_FALSE(specOf(api).promises.deterministic_forward);
  InTreeAdapter mutant(InTreeKernel::tiled_flash, PlantedFault::nondeterministic_reduction);
  const Verdict v = runProperty("Determinism", mutant, api);
  EXPECT_EQ(v.status, Verdict::Status::pass) << v.message;
  EXPECT_GT(v.paths.at("nondeterministic"), 0);
  EXPECT_GT(v.max_ratio, 0);
  EXPECT_LT(v.max_ratio, 1);  // reversing the key tiles only reorders roundings
  EXPECT_NE(v.evidence.find("differed between two identical calls"), std::string::npos);

  InTreeAdapter faithful(InTreeKernel::tiled_flash);
  const Verdict same = runProperty("Determinism", faithful, api);
  EXPECT_FALSE(same.paths.contains("nondeterministic"));
  EXPECT_EQ(same.evidence, "");
}

TEST(Mutants, EveryPlantedFaultIsInTheTable) {
  std::set<PlantedFault> tested;
  for (const auto& m : mutants()) tested.insert(m.fault);
  for (const auto fault : adapters::allPlantedFaults()) {
    EXPECT_TRUE(tested.contains(fault)) << adapters::faultName(fault) << " has no mutant test";
  }
}

TEST(Mutants, EveryPropertyKindKillsSomeMutant) {
  std::set<std::string> kinds;
  for (const auto& m : mutants()) {
    for (const auto& check : propertiesOf(specOf(m.api))) {
      if (check.name == m.property) kinds.insert(check.kind);
    }
  }
  EXPECT_EQ(kinds,
            (std::set<std::string>{"accuracy", "error_contract", "fallback", "signature",
                                   "metamorphic", "repeatability", "gradient", "special_values"}));
}

}  // namespace
}  // namespace attnconf::props
