#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <variant>

namespace attnconf {

/// Where the diagonal of a causal or window mask starts when Sq != Sk.
/// top_left: query i is aligned with key i. bottom_right: the last query is aligned with the
/// last key, so query i is aligned with key i + Sk - Sq.
enum class Alignment { top_left, bottom_right };

/// The spec name of an alignment.
std::string_view alignmentName(Alignment alignment);

/// The key a query row is aligned with, minus the row: 0 for top_left, Sk - Sq for bottom_right.
std::int64_t diagonalOffset(Alignment alignment, std::int64_t seqlen_q, std::int64_t seqlen_k);

/// Query i sees key j iff j <= i + offset + shift, or j < prefix.
struct CausalMask {
  Alignment alignment = Alignment::bottom_right;
  /// Keys the diagonal moves right by: ONNX aligns top-left after the past (cached) keys.
  std::int64_t shift = 0;
  /// Keys every query sees, whatever the diagonal: Ascend's prefix modes (5 and 6) add the
  /// entry's first `prefix` keys to the bottom-right causal mask.
  std::int64_t prefix = 0;
  friend bool operator==(const CausalMask&, const CausalMask&) = default;
};

/// Query i sees keys [i + offset - left, i + offset + right]; a negative bound is unbounded.
struct WindowMask {
  std::int64_t left = -1;
  std::int64_t right = -1;
  Alignment alignment = Alignment::bottom_right;
  friend bool operator==(const WindowMask&, const WindowMask&) = default;
};

/// Ascend's band: query i sees keys j with -pre <= j - (i + offset) <= next. Both bounds are
/// always bounded and either may be negative (a band that leaves out the diagonal); the default
/// 2147483647 reaches every key.
struct BandMask {
  std::int64_t pre = 0;
  std::int64_t next = 0;
  Alignment alignment = Alignment::top_left;
  friend bool operator==(const BandMask&, const BandMask&) = default;
};

/// One mask primitive of the fixed vocabulary; a problem's mask is the intersection of its
/// primitives.
using MaskPrimitive = std::variant<CausalMask, WindowMask, BandMask>;

/// Whether one primitive lets query i see key j.
bool keeps(const MaskPrimitive& mask, std::int64_t i, std::int64_t j, std::int64_t seqlen_q,
           std::int64_t seqlen_k);

/// Whether every primitive lets query i see key j.
bool keeps(std::span<const MaskPrimitive> masks, std::int64_t i, std::int64_t j,
           std::int64_t seqlen_q, std::int64_t seqlen_k);

/// Whether query i sees no key at all.
bool rowFullyMasked(std::span<const MaskPrimitive> masks, std::int64_t i, std::int64_t seqlen_q,
                    std::int64_t seqlen_k);

/// A short description, e.g. "causal(bottom_right)" or "window(3,0,bottom_right)".
std::string describe(const MaskPrimitive& mask);

}  // namespace attnconf
