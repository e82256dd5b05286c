#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <utility>

#include "kernels/attention_args.h"

namespace attnconf::adapters::kernels {

inline constexpr float kMinusInf = -std::numeric_limits<float>::infinity();

/// The keys [first, last) query i of batch entry b may see under the call's causal, window and
/// band masks (each leaves one contiguous run of keys per query, a causal prefix included;
/// first == last when none is left).
inline std::pair<std::int64_t, std::int64_t> visibleKeys(const AttentionArgs& a, std::int64_t b,
                                                         std::int64_t i) {
  std::int64_t first = 0, last = a.seqlen_k;
  if (a.causal) {
    const std::int64_t prefix =
        a.causal_prefix.empty() ? 0 : a.causal_prefix[static_cast<std::size_t>(b)];
    last = std::min(last, std::max(i + a.causal_offset + 1, prefix));
  }
  const std::int64_t diagonal = i + a.window_offset;
  const std::int64_t widen = a.fault == PlantedFault::window_left_off_by_one ? 1 : 0;
  if (a.window_left >= 0) first = std::max(first, diagonal - a.window_left - widen);
  if (a.window_right >= 0) last = std::min(last, diagonal + a.window_right + 1);
  if (a.band) {
    first = std::max(first, i + a.band_offset - a.band_pre);
    last = std::min(last, i + a.band_offset + a.band_next + 1);
  }
  last = std::max<std::int64_t>(last, 0);
  return {std::min(first, last), last};
}

/// The keys [first, last) that queries [i0, i0 + rows) of entry b read: the visible ones, or
/// every key when hidden keys still take part (softcap after the mask).
inline std::pair<std::int64_t, std::int64_t> keyRange(const AttentionArgs& a, std::int64_t b,
                                                      std::int64_t i0, std::int64_t rows) {
  if (a.softcap > 0 && a.softcap_after_mask) return {0, a.seqlen_k};
  return {visibleKeys(a, b, i0).first, visibleKeys(a, b, i0 + rows - 1).second};
}

/// Whether query i of entry b may see key j.
inline bool visible(const AttentionArgs& a, std::int64_t b, std::int64_t i, std::int64_t j) {
  const auto [first, last] = visibleKeys(a, b, i);
  return j >= first && j < last;
}

/// A score with the ALiBi bias of (i, j): -slope * |i + offset - j|.
inline float withAlibi(const AttentionArgs& a, std::int64_t b, std::int64_t h, std::int64_t i,
                       std::int64_t j, float s) {
  const float slope = a.alibi_slopes[static_cast<std::size_t>(b * a.heads + h)];
  const float bias = slope * static_cast<float>(std::llabs(i + a.alibi_offset - j));
  return a.fault == PlantedFault::alibi_wrong_sign ? s + bias : s - bias;
}

/// A score plus the explicit mask's bias of (i, j).
inline float withBias(const AttentionArgs& a, std::int64_t b, std::int64_t h, std::int64_t i,
                      std::int64_t j, float s) {
  return s + a.bias.at(b, h, i, j);
}

/// The final score of (i, j) from the scaled dot product: softcap, ALiBi, the explicit mask's
/// bias, then the mask (ONNX's order: the softcap last).
inline float finalScore(const AttentionArgs& a, std::int64_t b, std::int64_t h, std::int64_t i,
                        std::int64_t j, float scaled) {
  const auto softcap = [&](float x) { return a.softcap * std::tanh(x / a.softcap); };
  float s = a.softcap > 0 && !a.softcap_after_mask ? softcap(scaled) : scaled;
  if (!a.alibi_slopes.empty()) s = withAlibi(a, b, h, i, j, s);
  if (a.bias.data) s = withBias(a, b, h, i, j, s);
  if (!visible(a, b, i, j)) s = kMinusInf;
  return a.softcap > 0 && a.softcap_after_mask ? softcap(s) : s;
}

/// Head h's sink logit; -inf (no weight) without one.
inline float sinkOf(const AttentionArgs& a, std::int64_t h) {
  if (a.sink.empty()) return kMinusInf;
  const float sink = a.sink[static_cast<std::size_t>(h)];
  return a.fault == PlantedFault::sink_scaled ? sink * a.scale : sink;
}

/// The kv head query head h reads.
inline std::int64_t kvHead(const AttentionArgs& a, std::int64_t h) {
  return a.fault == PlantedFault::gqa_head_modulo ? h % a.heads_k : h / (a.heads / a.heads_k);
}

/// A value as the kernel stores it in the input dtype.
inline float toDType(const AttentionArgs& a, float x) {
  return static_cast<float>(roundTo(a.dtype, static_cast<double>(x)));
}

}  // namespace attnconf::adapters::kernels
