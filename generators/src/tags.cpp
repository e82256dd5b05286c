#include <algorithm>
#include <cmath>

#include "attnconf/generators/cases.h"
#include "attnconf/spec/binding.h"

namespace attnconf::gen {
namespace {

// Whether some query row sees no key, through the mask primitives or the explicit mask.
bool hasFullyMaskedRow(const Problem& p) {
  const std::int64_t sq = p.maxSeqlenQ(), sk = p.maxSeqlenK();
  for (std::int64_t bh = 0; bh < (p.hasBias() ? p.batch * p.heads_q : 1); ++bh) {
    for (std::int64_t i = 0; i < sq; ++i) {
      bool hidden = true;
      for (std::int64_t j = 0; j < sk && hidden; ++j) {
        const double bias =
            p.hasBias() ? p.bias.values[static_cast<std::size_t>((bh * sq + i) * sk + j)] : 0.0;
        hidden = !keeps(p.masks, i, j, sq, sk) || std::isinf(bias);
      }
      if (hidden) return true;
    }
  }
  return false;
}

}  // namespace

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
  if (std::ranges::any_of(p.seqlens_q, [&](std::int64_t n) { return n < sq; }))
    tags.emplace_back("padded_lengths");
  if (std::ranges::any_of(p.seqlens_q, [](std::int64_t n) { return n == 0; }))
    tags.emplace_back("empty_sequence");
  if (p.hasBias())
    tags.emplace_back(c.tensor(spec.semantics.mask_tensor)->dtype == DType::boolean ? "bool_mask"
                                                                                    : "float_mask");
  if (hasFullyMaskedRow(p)) tags.emplace_back("fully_masked_rows");
  if (!spec.semantics.past_key.empty() && c.tensor(spec.semantics.past_key))
    tags.emplace_back("past_kv");
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
