#include "attnconf/adapters/planted_fault.h"

#include <array>
#include <utility>

namespace attnconf::adapters {
namespace {

constexpr std::array kFaults = {
    std::pair{PlantedFault::none, "none"},
    std::pair{PlantedFault::causal_top_left, "causal_top_left"},
    std::pair{PlantedFault::skip_rescale, "skip_rescale"},
    std::pair{PlantedFault::gqa_head_modulo, "gqa_head_modulo"},
    std::pair{PlantedFault::lse_base2, "lse_base2"},
    std::pair{PlantedFault::softcap_after_mask, "softcap_after_mask"},
    std::pair{PlantedFault::window_left_off_by_one, "window_left_off_by_one"},
    std::pair{PlantedFault::fully_masked_row_nan, "fully_masked_row_nan"},
    std::pair{PlantedFault::alibi_wrong_sign, "alibi_wrong_sign"},
    std::pair{PlantedFault::default_scale_wrong, "default_scale_wrong"},
    std::pair{PlantedFault::accept_any_head_dim, "accept_any_head_dim"},
    std::pair{PlantedFault::accept_gqa_mismatch, "accept_gqa_mismatch"},
    std::pair{PlantedFault::wrong_error_message, "wrong_error_message"},
    std::pair{PlantedFault::silent_fallback_ragged_keys, "silent_fallback_ragged_keys"},
    std::pair{PlantedFault::hidden_fallback_ragged_keys, "hidden_fallback_ragged_keys"},
    std::pair{PlantedFault::nondeterministic_reduction, "nondeterministic_reduction"},
    std::pair{PlantedFault::inplace_q_write, "inplace_q_write"},
    std::pair{PlantedFault::batch_kv_stride_bug, "batch_kv_stride_bug"},
    std::pair{PlantedFault::dk_wrong_scale, "dk_wrong_scale"},
    std::pair{PlantedFault::dpse_broadcast_not_summed, "dpse_broadcast_not_summed"},
    std::pair{PlantedFault::next_tokens_default_all, "next_tokens_default_all"},
    std::pair{PlantedFault::incre_ignores_actual_seq_lengths, "incre_ignores_actual_seq_lengths"},
    std::pair{PlantedFault::fused_infer_misdispatch, "fused_infer_misdispatch"},
    std::pair{PlantedFault::fused_incre_ignores_actual_seq_lengths_kv,
              "fused_incre_ignores_actual_seq_lengths_kv"},
    std::pair{PlantedFault::causal_bottom_right, "causal_bottom_right"},
    std::pair{PlantedFault::bool_mask_inverted, "bool_mask_inverted"},
    std::pair{PlantedFault::seq_lens_off_by_one, "seq_lens_off_by_one"},
    std::pair{PlantedFault::causal_ignores_past, "causal_ignores_past"},
    std::pair{PlantedFault::fully_masked_row_zero, "fully_masked_row_zero"},
    std::pair{PlantedFault::cu_seqlens_off_by_one, "cu_seqlens_off_by_one"},
    std::pair{PlantedFault::varlen_causal_padded, "varlen_causal_padded"},
    std::pair{PlantedFault::hidden_split_head_inner, "hidden_split_head_inner"},
    std::pair{PlantedFault::cache_seqlens_ignored, "cache_seqlens_ignored"},
    std::pair{PlantedFault::append_to_batch_row, "append_to_batch_row"},
    std::pair{PlantedFault::pages_assumed_consecutive, "pages_assumed_consecutive"},
    std::pair{PlantedFault::fused_paged_incre_block_rules, "fused_paged_incre_block_rules"},
    std::pair{PlantedFault::decode_drops_new_keys, "decode_drops_new_keys"},
    std::pair{PlantedFault::split_combine_unweighted, "split_combine_unweighted"},
    std::pair{PlantedFault::rotary_query_at_cache_start, "rotary_query_at_cache_start"},
    std::pair{PlantedFault::cache_leftpad_ignored, "cache_leftpad_ignored"},
    std::pair{PlantedFault::v_descale_ignored, "v_descale_ignored"},
    std::pair{PlantedFault::rotary_from_leftpad, "rotary_from_leftpad"},
    std::pair{PlantedFault::default_scale_rsqrt, "default_scale_rsqrt"},
    std::pair{PlantedFault::softmax_sum_wrong_row, "softmax_sum_wrong_row"},
    std::pair{PlantedFault::unidirectional_last_row_unmasked, "unidirectional_last_row_unmasked"},
    std::pair{PlantedFault::sbh_output_in_bsh_order, "sbh_output_in_bsh_order"},
    std::pair{PlantedFault::nan_row_max_dropped, "nan_row_max_dropped"},
    std::pair{PlantedFault::sparse_mode3_top_left, "sparse_mode3_top_left"},
    std::pair{PlantedFault::pse_after_scale, "pse_after_scale"},
    std::pair{PlantedFault::tnd_end_inclusive, "tnd_end_inclusive"},
    std::pair{PlantedFault::split_band_at_wrong_end, "split_band_at_wrong_end"},
    std::pair{PlantedFault::varlen_tile_overread, "varlen_tile_overread"},
    std::pair{PlantedFault::advance_step_position_is_new_length,
              "advance_step_position_is_new_length"},
    std::pair{PlantedFault::advance_step_slot_offset_of_new_length,
              "advance_step_slot_offset_of_new_length"},
    std::pair{PlantedFault::advance_step_padding_untouched, "advance_step_padding_untouched"},
    std::pair{PlantedFault::unsupported_alibi_ignored, "unsupported_alibi_ignored"},
    std::pair{PlantedFault::prefix_ignored, "prefix_ignored"},
    std::pair{PlantedFault::sink_scaled, "sink_scaled"},
};

}  // namespace

std::string_view faultName(PlantedFault fault) {
  for (const auto& [f, name] : kFaults) {
    if (f == fault) return name;
  }
  return "unknown";
}

std::vector<PlantedFault> allPlantedFaults() {
  std::vector<PlantedFault> out;
  for (const auto& [f, name] : kFaults) {
    if (f != PlantedFault::none) out.push_back(f);
  }
  return out;
}

}  // namespace attnconf::adapters
