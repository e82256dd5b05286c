#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "attnconf/adapters/planted_fault.h"
#include "attnconf/model/dtype.h"

namespace attnconf::adapters {

/// A read-only (batch, seq, head, dim) view with unit stride over dim.
struct SeqView {
  const double* data = nullptr;
  std::int64_t batch_stride = 0, seq_stride = 0, head_stride = 0;
  const double* row(std::int64_t b, std::int64_t s, std::int64_t h) const {
    return data + b * batch_stride + s * seq_stride + h * head_stride;
  }
};

/// A writable view of the same form, for the output.
struct OutView {
  double* data = nullptr;
  std::int64_t batch_stride = 0, seq_stride = 0, head_stride = 0;
  double* row(std::int64_t b, std::int64_t s, std::int64_t h) const {
    return data + b * batch_stride + s * seq_stride + h * head_stride;
  }
};

/// An additive score bias over (batch, head, query, key), stride 0 on axes it broadcasts; -inf
/// hides a key. Null data: no bias.
struct BiasView {
  const double* data = nullptr;
  std::int64_t batch_stride = 0, head_stride = 0, row_stride = 0, key_stride = 1;
  float at(std::int64_t b, std::int64_t h, std::int64_t i, std::int64_t j) const {
    return static_cast<float>(
        data[b * batch_stride + h * head_stride + i * row_stride + j * key_stride]);
  }
};

/// Arguments of an in-tree attention kernel after an API front end has checked and decoded a
/// call. Masks are in kernel terms: the diagonal of query i is key i + diagonal_offset.
struct AttentionArgs {
  DType dtype = DType::fp16;
  std::int64_t batch = 0, seqlen_q = 0, seqlen_k = 0, heads = 0, heads_k = 0;
  std::int64_t head_dim = 0, head_dim_v = 0;
  SeqView q{}, k{}, v{};
  OutView out{};
  double* lse = nullptr;  ///< (batch, heads, seqlen_q), written (also by APIs that drop it)
  /// (batch, heads, seqlen_q), written when given: each row's score max, and its sum of
  /// exp(score - max) (torch_npu's softmax_max and softmax_sum).
  double* row_max = nullptr;
  double* row_sum = nullptr;
  float scale = 1.0F;
  float softcap = 0.0F;
  bool causal = false;
  std::int64_t causal_offset = 0;  ///< causal keeps j <= i + causal_offset
  /// Empty, or per batch entry: causal also keeps j < causal_prefix[b] (Ascend's prefix modes).
  std::vector<std::int64_t> causal_prefix{};
  std::int64_t window_left = -1, window_right = -1, window_offset = 0;
  /// Ascend's band: keeps i + band_offset - band_pre <= j <= i + band_offset + band_next (either
  /// side may be negative).
  bool band = false;
  std::int64_t band_pre = 0, band_next = 0, band_offset = 0;
  std::vector<float> alibi_slopes{};  ///< empty, or batch * heads
  std::int64_t alibi_offset = 0;
  /// Empty, or one logit per head that joins every row's softmax with no value (an attention
  /// sink): exp(sink) adds to the row sum, so a row that sees no key outputs 0.
  std::vector<float> sink{};
  BiasView bias{};
  bool softcap_after_mask = false;  ///< ONNX's order: a hidden key scores -softcap, not -inf
  double empty_row_value = 0.0;     ///< the output of a row that sees no key
  bool partial_output = false;      ///< a split-KV piece: the output kept in fp32 until combined
  PlantedFault fault = PlantedFault::none;
  /// The fast path's name as the API reports it when the tiled kernel runs (the spec's
  /// `paths.fast`): torch_npu's fused inference API dispatches to two.
  std::string_view fast_path = "flash";
};

/// What a backward kernel reads and writes besides the forward arguments.
struct BackwardArgs {
  const AttentionArgs* fwd = nullptr;
  SeqView dout, out;            ///< dLoss/dout and the forward output, (batch, seq, head, dim)
  const double* lse = nullptr;  ///< the forward LSE, (batch, heads, seqlen_q)
  OutView dq, dk, dv;           ///< written, (batch, seq, head, dim) of q, k, v
  /// (batch, heads, seqlen_q, seqlen_k), written when given: dLoss/dS where the score bias is
  /// added (torch_npu's dpse before its scale and broadcast sums); keys a row cannot see stay.
  double* dbias = nullptr;
};

/// Runs attention with FlashAttention-2's tiled algorithm (online softmax, fp32 accumulation,
/// probabilities rounded to the input dtype before the PV product, never an Sq x Sk matrix).
void tiledFlashForward(const AttentionArgs& args, std::int64_t block_q, std::int64_t block_k);

/// Runs standard attention in the input dtype with the full score matrix materialised, the way a
/// framework's math path does.
void standardForward(const AttentionArgs& args);

/// FlashAttention-2's backward: recomputes the probabilities of each tile from the forward LSE
/// (no stored score matrix), rounds P and dS to the input dtype before their products.
void tiledFlashBackward(const BackwardArgs& args, std::int64_t block_q, std::int64_t block_k);

/// Standard attention's backward in the input dtype, with full Sq x Sk matrices.
void standardBackward(const BackwardArgs& args);

}  // namespace attnconf::adapters
