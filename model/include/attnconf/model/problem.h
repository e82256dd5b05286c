#pragma once

#include <cstdint>
#include <limits>
#include <optional>
#include <vector>

#include "attnconf/model/mask.h"
#include "attnconf/model/tensor.h"

namespace attnconf {

/// What an API declares for a query row that sees no key.
struct FullyMaskedRows {
  double out = 0.0;
  /// Nothing: left open by the spec (also for rows past a query length), never compared.
  std::optional<double> lse = std::numeric_limits<double>::infinity();
  /// Instead of `out`: the mean of every value the call passed, masked or not (JAX replaces
  /// hidden scores by a large finite negative number, so such a row is uniform over all keys).
  bool out_mean_of_values = false;
};

/// Attention in API-neutral form: the one problem the reference solves, whatever the vendor's
/// layout or parameter names. For batch b and query head h:
///   S = scale * Q K^T; S = softcap * tanh(S / softcap) if softcap > 0; S -= alibi; S += bias;
///   masked S = -inf; P = softmax(S); O = P V; lse = logsumexp(S).
/// With a sink, each row's softmax has one more logit, sink[h], with no value: P = exp(S - lse)
/// and lse = log(sum exp(S) + exp(sink[h])), so a row that sees no key outputs 0.
struct Problem {
  DType dtype = DType::fp16;  ///< dtype of q, k, v as the kernel received them
  std::int64_t batch = 1;
  std::int64_t heads_q = 1;
  std::int64_t heads_kv = 1;
  std::int64_t head_dim = 1;
  std::int64_t head_dim_v = 1;
  std::vector<std::int64_t> seqlens_q;  ///< per batch entry
  std::vector<std::int64_t> seqlens_k;  ///< per batch entry
  double scale = 1.0;
  double softcap = 0.0;  ///< 0 = off
  /// ONNX's order: the softcap comes after the mask bias and the masks, so a hidden key scores
  /// -softcap instead of -inf (and still takes part).
  bool softcap_after_mask = false;
  std::vector<MaskPrimitive> masks;  ///< every entry's, intersected
  /// Empty, or one list per batch entry, intersected with `masks` in that entry alone (Ascend's
  /// sparse modes 7 and 8 give one sequence a band and the others a causal mask).
  std::vector<std::vector<MaskPrimitive>> entry_masks;
  std::vector<double> alibi_slopes;  ///< empty, or one per (batch, query head)
  Alignment alibi_alignment = Alignment::bottom_right;
  /// Empty, or one logit per query head that joins every row's softmax (a learnable attention
  /// sink: ORT's head_sink, torch_npu's sink); neither scaled nor softcapped.
  std::vector<double> sink;
  FullyMaskedRows fully_masked_rows;
  Tensor q;  ///< [batch, heads_q, max seqlen_q, head_dim]
  Tensor k;  ///< [batch, heads_kv, max seqlen_k, head_dim]
  Tensor v;  ///< [batch, heads_kv, max seqlen_k, head_dim_v]
  /// An explicit mask as an additive score bias (-inf hides a key): empty for none, else
  /// [batch, heads_q, max seqlen_q, max seqlen_k]. A boolean mask binds to 0 / -inf.
  Tensor bias;

  bool hasBias() const { return !bias.values.empty(); }

  /// Longest query sequence (the padded extent of q).
  std::int64_t maxSeqlenQ() const;
  /// Longest key sequence (the padded extent of k and v).
  std::int64_t maxSeqlenK() const;
  /// The mask primitives of batch entry b: `masks` and its own `entry_masks`.
  std::vector<MaskPrimitive> masksOf(std::int64_t b) const;
  /// The key/value head that query head h reads: h / (heads_q / heads_kv).
  std::int64_t kvHead(std::int64_t h) const { return h / (heads_q / heads_kv); }
};

/// Where standard attention rounds the tensors it materialises: the scores and the output to
/// `dtype`, the probabilities to `probabilities` (the same, but for an fp8 kernel's P).
struct Precision {
  DType dtype = DType::fp16;
  DType probabilities = DType::fp16;

  static Precision all(DType d) { return {d, d}; }
};

/// The attention result in API-neutral form.
struct Result {
  Tensor out;  ///< [batch, heads_q, max seqlen_q, head_dim_v]
  Tensor lse;  ///< [batch, heads_q, max seqlen_q], natural log
  /// 1 where the spec leaves the LSE open (FullyMaskedRows::lse is nothing), else 0; the
  /// shape of `lse`, or empty when every LSE is specified.
  Tensor lse_unspecified;
  /// [batch, heads_q, max seqlen_q]: each row's largest score (after the softcap, the bias and
  /// the masks) or its sink if larger, the softmax's shift; 0 on rows that see neither.
  Tensor row_max;
};

/// Gradients of a scalar loss with respect to q, k, v and the score bias, in the problem's
/// canonical layouts; a kv head's gradient sums over the query heads that read it.
struct Gradients {
  Tensor dq;  ///< [batch, heads_q, max seqlen_q, head_dim]
  Tensor dk;  ///< [batch, heads_kv, max seqlen_k, head_dim]
  Tensor dv;  ///< [batch, heads_kv, max seqlen_k, head_dim_v]
  /// The shape of Problem::bias (empty without one): the score gradient dS where the bias is
  /// added, 0 where it hides a key.
  Tensor dbias;
};

}  // namespace attnconf
