#include "flash_attn/rotary.h"

namespace attnconf::adapters::flash_attn {

using front_end::check;

std::optional<RotaryTables> rotaryTables(const Case& c, const Tensor& q,
                                         std::int64_t seqlen_cache) {
  const Tensor* cos = c.tensor("rotary_cos");
  const Tensor* sin = c.tensor("rotary_sin");
  check(cos || !sin,
        "attnconf: rotary_sin is given without rotary_cos; they must be passed in together");
  if (!cos) return std::nullopt;
  check(c.tensor("k") != nullptr,
        "If rotary cos/sin are provided, new key / value to be appended to KV cache must also be "
        "provided");
  check(cos->rank() == 2, "rotary_cos must have shape (seqlen_ro, rotary_dim / 2)");
  const std::int64_t rotary_dim = cos->shape[1] * 2;
  check(rotary_dim <= q.shape[3], "rotary_dim must be <= headdim");
  check(rotary_dim % 16 == 0, "Only rotary dimensions divisible by 16 are currently supported");
  check(cos->shape[0] >= seqlen_cache, "cos/sin seqlen must be at least the seqlen of KV cache");
  check(cos->dtype == q.dtype, "rotary_cos must have the same dtype as query");
  check(sin != nullptr, "If rotary cos is provided, rotary sin must also be provided");
  check(sin->shape == cos->shape, "rotary_sin must have shape (seqlen_ro, rotary_dim / 2)");
  check(sin->dtype == q.dtype, "rotary_cos must have the same dtype as query");
  return RotaryTables{cos, sin, front_end::paramOr(c, "rotary_interleaved", true)};
}

Tensor rotated(const Tensor& x, const RotaryTables& tables, const RotaryPosition& position) {
  Tensor out = x;
  const std::int64_t seqlen = x.shape[1], heads = x.shape[2], dim = x.shape[3];
  const std::int64_t half = tables.cos->shape[1];
  for (std::int64_t vector = 0; vector < x.shape[0] * seqlen * heads; ++vector) {
    const std::int64_t b = vector / (seqlen * heads), i = vector / heads % seqlen;
    // mha_fwd_kvcache reads such a row past the table; attnconf refuses.
    check(position(b, i) < tables.cos->shape[0],
          "attnconf: a rotary position lies past the rows of rotary_cos");
    const std::int64_t row = position(b, i) * half;
    double* v = out.values.data() + vector * dim;
    for (std::int64_t j = 0; j < half; ++j) {
      const std::int64_t first = tables.interleaved ? 2 * j : j;
      const std::int64_t second = tables.interleaved ? 2 * j + 1 : j + half;
      const auto cos = static_cast<float>(tables.cos->values[static_cast<std::size_t>(row + j)]);
      const auto sin = static_cast<float>(tables.sin->values[static_cast<std::size_t>(row + j)]);
      const auto x0 = static_cast<float>(v[first]), x1 = static_cast<float>(v[second]);
      v[first] = roundTo(x.dtype, x0 * cos - x1 * sin);
      v[second] = roundTo(x.dtype, x0 * sin + x1 * cos);
    }
  }
  return out;
}

}  // namespace attnconf::adapters::flash_attn
