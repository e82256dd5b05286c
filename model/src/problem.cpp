#include "attnconf/model/problem.h"

#include <algorithm>

namespace attnconf {

std::int64_t Problem::maxSeqlenQ() const {
  return seqlens_q.empty() ? 0 : *std::max_element(seqlens_q.begin(), seqlens_q.end());
}

std::int64_t Problem::maxSeqlenK() const {
  return seqlens_k.empty() ? 0 : *std::max_element(seqlens_k.begin(), seqlens_k.end());
}

}  // namespace attnconf
