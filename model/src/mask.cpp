#include "attnconf/model/mask.h"

#include <fmt/format.h>

namespace attnconf {

std::string_view alignmentName(Alignment alignment) {
  return alignment == Alignment::top_left ? "top_left" : "bottom_right";
}

std::int64_t diagonalOffset(Alignment alignment, std::int64_t seqlen_q, std::int64_t seqlen_k) {
  return alignment == Alignment::bottom_right ? seqlen_k - seqlen_q : 0;
}

bool keeps(const MaskPrimitive& mask, std::int64_t i, std::int64_t j, std::int64_t seqlen_q,
           std::int64_t seqlen_k) {
  if (const auto* causal = std::get_if<CausalMask>(&mask)) {
    return j < causal->prefix ||
           j <= i + diagonalOffset(causal->alignment, seqlen_q, seqlen_k) + causal->shift;
  }
  if (const auto* band = std::get_if<BandMask>(&mask)) {
    const std::int64_t from_diagonal = j - i - diagonalOffset(band->alignment, seqlen_q, seqlen_k);
    return -band->pre <= from_diagonal && from_diagonal <= band->next;
  }
  const auto& window = std::get<WindowMask>(mask);
  const std::int64_t diagonal = i + diagonalOffset(window.alignment, seqlen_q, seqlen_k);
  const bool left_ok = window.left < 0 || j >= diagonal - window.left;
  const bool right_ok = window.right < 0 || j <= diagonal + window.right;
  return left_ok && right_ok;
}

bool keeps(std::span<const MaskPrimitive> masks, std::int64_t i, std::int64_t j,
           std::int64_t seqlen_q, std::int64_t seqlen_k) {
  for (const auto& mask : masks) {
    if (!keeps(mask, i, j, seqlen_q, seqlen_k)) return false;
  }
  return true;
}

bool rowFullyMasked(std::span<const MaskPrimitive> masks, std::int64_t i, std::int64_t seqlen_q,
                    std::int64_t seqlen_k) {
  for (std::int64_t j = 0; j < seqlen_k; ++j) {
    if (keeps(masks, i, j, seqlen_q, seqlen_k)) return false;
  }
  return true;
}

std::string describe(const MaskPrimitive& mask) {
  if (const auto* causal = std::get_if<CausalMask>(&mask)) {
    std::string extras;
    if (causal->shift != 0) extras += fmt::format(", shift {}", causal->shift);
    if (causal->prefix != 0) extras += fmt::format(", prefix {}", causal->prefix);
    return fmt::format("causal({}{})", alignmentName(causal->alignment), extras);
  }
  if (const auto* b = std::get_if<BandMask>(&mask))
    return fmt::format("band({},{},{})", b->pre, b->next, alignmentName(b->alignment));
  const auto& w = std::get<WindowMask>(mask);
  return fmt::format("window({},{},{})", w.left, w.right, alignmentName(w.alignment));
}

}  // namespace attnconf
