#include "attnconf/model/problem.h"

#include <algorithm>

namespace attnconf {

std::int64_t Problem::maxSeqlenQ() const {
  if (q.rank() == 4) return q.shape[2];  // padded: per-batch lengths may all be shorter
  return seqlens_q.empty() ? 0 : *std::max_element(seqlens_q.begin(), seqlens_q.end());
}

std::vector<MaskPrimitive> Problem::masksOf(std::int64_t b) const {
  if (entry_masks.empty()) return masks;
  std::vector<MaskPrimitive> all = masks;
  const auto& own = entry_masks.at(static_cast<std::size_t>(b));
  all.insert(all.end(), own.begin(), own.end());
  return all;
}

std::int64_t Problem::maxSeqlenK() const {
  if (k.rank() == 4) return k.shape[2];
  return seqlens_k.empty() ? 0 : *std::max_element(seqlens_k.begin(), seqlens_k.end());
}

}  // namespace attnconf
