#pragma once

#include <string_view>
#include <vector>

namespace attnconf::adapters {

/// A bug planted in the in-tree kernels for the suite's own tests ("mutants"): each is one that
/// real attention kernels have shipped. The in-tree adapters run with `none`.
enum class PlantedFault {
  none,
  causal_top_left,              ///< causal aligned top-left when Sq != Sk
  skip_rescale,                 ///< accumulator not rescaled when the running max grows
  gqa_head_modulo,              ///< query head h reads kv head h % Hkv instead of h / (Hq / Hkv)
  lse_base2,                    ///< LSE returned in base 2
  softcap_after_mask,           ///< tanh applied after masking: masked keys leak with -softcap
  window_left_off_by_one,       ///< left window edge one key too wide
  fully_masked_row_nan,         ///< 0/0 for a row that sees no key
  alibi_wrong_sign,             ///< bias added instead of subtracted
  default_scale_wrong,          ///< default scale 1/headdim instead of 1/sqrt(headdim)
  accept_any_head_dim,          ///< head_dim % 8 check skipped
  accept_gqa_mismatch,          ///< nheads % nheads_k check skipped (reads out of bounds heads)
  wrong_error_message,          ///< rejects head_dim > 256 with an unrelated message
  silent_fallback_ragged_keys,  ///< standard attention when Sk is off the tile; says so, undeclared
  hidden_fallback_ragged_keys,  ///< the same, but reports the fast path
  nondeterministic_reduction,   ///< every other call walks the key tiles in reverse order
  inplace_q_write,              ///< leaves q scaled by softmax_scale in place after the call
  batch_kv_stride_bug,          ///< every batch entry reads the keys and values of entry 0
  dk_wrong_scale,               ///< the backward leaves softmax_scale out of dK
  dpse_broadcast_not_summed,    ///< npu dpse keeps one term where pse broadcasts, not their sum
  next_tokens_default_all,      ///< npu_prompt_flash_attention's next_tokens defaults to INT_MAX
  incre_ignores_actual_seq_lengths,  ///< npu_incre_flash_attention attends past actual_seq_lengths
  fused_infer_misdispatch,  ///< npu_fused_infer_attention_score: one query per entry runs the
                            ///< prompt kernel, not the incremental one
  fused_incre_ignores_actual_seq_lengths_kv,  ///< npu_fused_infer_attention_score: the
                                              ///< incremental branch attends to the whole cache
  causal_bottom_right,      ///< SDPA: is_causal aligned bottom-right instead of top-left
  bool_mask_inverted,       ///< a boolean mask read the other way round (SDPA: true hides the key;
                            ///< torch_npu: true keeps it)
  seq_lens_off_by_one,      ///< DIY: a shortened sequence runs one token too long
  causal_ignores_past,      ///< ONNX: the causal diagonal is not moved past the cached keys
  fully_masked_row_zero,    ///< JAX: a row that sees no key is 0, not the mean of the values
  cu_seqlens_off_by_one,    ///< varlen: each sequence reads the first key of the next one
  varlen_causal_padded,     ///< varlen: diagonals aligned by max_seqlen_q/k, not each sequence's
  hidden_split_head_inner,  ///< ONNX 3-D: hidden split as (head_size, heads), heads innermost
  cache_seqlens_ignored,    ///< KV cache: attends over the whole cache row, past cache_seqlens
  append_to_batch_row,      ///< KV cache: new keys written to cache row b, not cache_batch_idx[b]
  pages_assumed_consecutive,      ///< paged KV cache: page n of an entry is its first page + n
  fused_paged_incre_block_rules,  ///< npu_fused_infer_attention_score: page attention takes the
                                  ///< incremental tiling's block sizes (multiples of 16 up to
                                  ///< 512) whatever the head dim and query length
  split_combine_unweighted,  ///< split-KV: the pieces' outputs averaged, not weighted by their LSEs
  decode_drops_new_keys,     ///< KV cache: a one-query call reads cache_seqlens as counting the new
                             ///< keys, so it attends over the cached keys alone
  rotary_query_at_cache_start,  ///< KV cache rotary: every query rotated at cache_seqlens, even
                                ///< when causal or local (where query i sits at cache_seqlens + i)
  cache_leftpad_ignored,        ///< KV cache: keys read from position 0, not cache_leftpad[b]
  v_descale_ignored,            ///< fp8: the values used without their v_descale factors
  rotary_from_leftpad,  ///< KV cache rotary: positions counted from cache_leftpad[b], not from the
                        ///< row's start (a new key turned at cache_seqlens - cache_leftpad + i)
  default_scale_rsqrt,  ///< torch_npu: scale left out means 1/sqrt(D), not 1.0
  softmax_sum_wrong_row,             ///< torch_npu: softmax_sum of row i read from row i + 1
  unidirectional_last_row_unmasked,  ///< ORT MultiHeadAttention: the last query row sees every
                                     ///< key (onnxruntime 1.23.2's own behaviour)
  sbh_output_in_bsh_order,  ///< torch_npu SBH: the output written with BSH strides (batch outer)
  nan_row_max_dropped,    ///< the running row max drops a NaN score (IEEE max), so a NaN query row
                          ///< looks empty and returns 0 (PyTorch's CPU SDPA does this)
  sparse_mode3_top_left,  ///< torch_npu: sparse_mode 3 (rightDownCausal) aligned top-left
  pse_after_scale,        ///< torch_npu: pse added after the scale, not to QK^T before it
  tnd_end_inclusive,      ///< torch_npu TND: a sequence's key end read as inclusive, so it sees the
                          ///< next sequence's first key
  split_band_at_wrong_end,  ///< torch_npu TND sparse_mode 7/8: the band given to the first
                            ///< sequence with queries in mode 7 and the last in mode 8
  varlen_tile_overread,     ///< flash_attn_varlen_func: each sequence loads whole 16-key tiles,
                            ///< the next sequence's keys in its last one hidden by an added -inf
                            ///< (harmless while they are finite)
  advance_step_position_is_new_length,     ///< npu_advance_step_flashattn: input_positions is the
                                           ///< new length, not the new token's 0-based position
  advance_step_slot_offset_of_new_length,  ///< npu_advance_step_flashattn: the slot's offset in
                                           ///< its block is the new length % block_size (the
                                           ///< docs' formula), not the position's
  advance_step_padding_untouched,  ///< npu_advance_step_flashattn: only the queries' entries are
                                   ///< written; padding keeps its stale token, position and slot
  unsupported_alibi_ignored,       ///< flash_attn_npu: a call with alibi_slopes runs without them
                                   ///< instead of raising
  prefix_ignored,  ///< torch_npu sparse_mode 5/6: each entry's prefix read as 0, plain
                   ///< bottom-right causal
  sink_scaled,     ///< the attention sink multiplied by the softmax scale like a QK^T product
};

/// The name of a fault, e.g. "causal_top_left".
std::string_view faultName(PlantedFault fault);

/// Every fault except `none`.
std::vector<PlantedFault> allPlantedFaults();

}  // namespace attnconf::adapters
