#include <algorithm>

#include "attnconf/generators/cases.h"
#include "attnconf/spec/binding.h"

namespace attnconf::gen {

std::vector<std::string> caseTags(const spec::ApiSpec& spec, const Case& c) {
  const Problem p = spec::bindProblem(spec, c);
  const std::int64_t sq = p.maxSeqlenQ(), sk = p.maxSeqlenK();
  std::vector<std::string> tags{std::string(dtypeName(p.dtype))};
  if (sq != sk) tags.emplace_back(sq > sk ? "Sq>Sk" : "Sq<Sk");
  if (sq == 1 || sk == 1) tags.emplace_back("len1");
  if (p.batch > 1) tags.emplace_back("batch>1");
  const auto offTile = [](std::int64_t n) { return n > 16 && n % 16 != 0; };
  if (offTile(sq) || offTile(sk)) tags.emplace_back("off_tile_len");
  for (const auto& mask : p.masks)
    tags.emplace_back(std::holds_alternative<CausalMask>(mask) ? "causal" : "window");
  if (p.softcap > 0) tags.emplace_back("softcap");
  if (!p.alibi_slopes.empty()) tags.emplace_back("alibi");
  if (p.heads_kv == 1 && p.heads_q > 1)
    tags.emplace_back("mqa");
  else if (p.heads_kv != p.heads_q)
    tags.emplace_back("gqa");
  for (std::int64_t i = 0; i < sq; ++i) {
    if (rowFullyMasked(p.masks, i, sq, sk)) {
      tags.emplace_back("fully_masked_rows");
      break;
    }
  }
  const auto big = std::ranges::any_of(p.q.values, [](double x) { return std::abs(x) > 2; });
  if (big) tags.emplace_back("large_magnitude");
  return tags;
}

}  // namespace attnconf::gen

namespace attnconf {

void showValue(const Case& c, std::ostream& os) {
  os << describeCase(c);
}

}  // namespace attnconf
