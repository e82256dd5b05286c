#pragma once

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <limits>

#include "kernels/attention_args.h"

namespace attnconf::adapters::kernels {

inline constexpr float kMinusInf = -std::numeric_limits<float>::infinity();

/// Whether query i may see key j under the call's causal and window masks.
inline bool visible(const AttentionArgs& a, std::int64_t i, std::int64_t j) {
  if (a.causal && j > i + a.causal_offset) return false;
  const std::int64_t diagonal = i + a.window_offset;
  const std::int64_t widen = a.fault == PlantedFault::window_left_off_by_one ? 1 : 0;
  if (a.window_left >= 0 && j < diagonal - a.window_left - widen) return false;
  if (a.window_right >= 0 && j > diagonal + a.window_right) return false;
  return true;
}

/// The final score of (i, j) from the scaled dot product: softcap, ALiBi, then the mask.
inline float finalScore(const AttentionArgs& a, std::int64_t b, std::int64_t h, std::int64_t i,
                        std::int64_t j, float scaled) {
  const bool keep = visible(a, i, j);
  float s = scaled;
  if (a.fault == PlantedFault::softcap_after_mask && !keep) s = kMinusInf;
  if (a.softcap > 0) s = a.softcap * std::tanh(s / a.softcap);
  if (!a.alibi_slopes.empty()) {
    const float slope = a.alibi_slopes[static_cast<std::size_t>(b * a.heads + h)];
    const auto distance = static_cast<float>(std::llabs(i + a.alibi_offset - j));
    const float bias = slope * distance;
    s = a.fault == PlantedFault::alibi_wrong_sign ? s + bias : s - bias;
  }
  if (a.fault == PlantedFault::softcap_after_mask) return s;
  return keep ? s : kMinusInf;
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
