#include "flash_attn/fa3.h"

#include <array>

#include "flash_attn/mha_checks.h"

namespace attnconf::adapters::flash_attn {
namespace {

using front_end::check;
using front_end::required;

// ATen's ScalarType names, as a typed read such as data_ptr<float>() prints them.
constexpr front_end::DTypeNames kScalarTypeNames{
    "Double", "Float", "Half", "BFloat16", "Float8_e4m3fn", "Float8_e5m2", "Long", "Int", "Bool"};

constexpr std::array kDescaleNames{"q_descale", "k_descale", "v_descale"};

// `view`'s (seqlen, heads, dim) rows, each head h times factors[b, h / group] (a query head takes
// its kv head's), as batch 0 of `copy`.
SeqView scaled(const SeqView& view, std::int64_t seqlen, std::int64_t heads, std::int64_t dim,
               const Tensor& factors, std::int64_t b, std::int64_t group, Tensor& copy) {
  copy = Tensor::zeros(DType::fp32, {1, seqlen, heads, dim});
  const std::int64_t kv_heads = factors.shape[1];
  for (std::int64_t i = 0; i < seqlen; ++i) {
    for (std::int64_t h = 0; h < heads; ++h) {
      const double factor = factors.values[static_cast<std::size_t>(b * kv_heads + h / group)];
      const double* from = view.row(0, i, h);
      double* to = copy.values.data() + (i * heads + h) * dim;
      for (std::int64_t d = 0; d < dim; ++d) to[d] = from[d] * factor;
    }
  }
  return front_end::view(copy, front_end::Layout::bshd);
}

}  // namespace

void checkV3KvcacheCall(const Case& c, const Tensor& q, const Tensor& k_cache, PlantedFault fault) {
  const bool fp8 = q.dtype == DType::fp8_e4m3;
  check(q.dtype == DType::fp16 || q.dtype == DType::bf16 || fp8,
        "FlashAttention only supports fp16, bf16, and fp8_e4m3 data type");
  check(k_cache.dtype == q.dtype, "query and key must have the same dtype");
  check(required(c, "v_cache").dtype == q.dtype, "query and value must have the same dtype");
  const std::int64_t batch = q.shape[0], heads = q.shape[2], head_dim = q.shape[3];
  const std::int64_t heads_k = k_cache.shape[2];
  check(c.tensor("cache_batch_idx") || k_cache.shape[0] == batch,
        "batch_size must be equal to batch_size_k");
  // 2.x's head checks, less its alignment rule: mha_fwd's follows, 16 for fp8.
  checkHeads(heads, heads_k, head_dim, fault, HeadDimPadding::padded);
  const std::int64_t alignment = fp8 ? 16 : 8;
  check(fault == PlantedFault::accept_any_head_dim || head_dim % alignment == 0,
        fmt::format("head_size should be a multiple of {}", alignment));
  check(front_end::paramOr(c, "num_splits", std::int64_t{0}) <= 256,
        "num_splits > 256 not supported");
  for (const char* name : kDescaleNames) {
    const Tensor* factors = c.tensor(name);
    if (!factors) continue;
    check(factors->dtype == DType::fp32,
          fmt::format("expected scalar type Float but found {}", kScalarTypeNames(factors->dtype)));
    check(factors->shape == Shape{batch, heads_k},
          fmt::format("{} must have shape (batch_size, num_heads_k)", name));
  }
}

DType outputDType(DType dtype) {
  return dtype == DType::fp8_e4m3 ? DType::bf16 : dtype;
}

Dequantized::Dequantized(const Case& c, std::int64_t b, AttentionArgs& args, PlantedFault fault) {
  if (c.tensor("q")->dtype != DType::fp8_e4m3) return;
  const std::int64_t group = args.heads / args.heads_k;
  if (const Tensor* f = c.tensor("q_descale"))
    args.q = scaled(args.q, args.seqlen_q, args.heads, args.head_dim, *f, b, group, q_);
  if (const Tensor* f = c.tensor("k_descale"))
    args.k = scaled(args.k, args.seqlen_k, args.heads_k, args.head_dim, *f, b, 1, k_);
  const Tensor* f = c.tensor("v_descale");
  if (f && fault != PlantedFault::v_descale_ignored)
    args.v = scaled(args.v, args.seqlen_k, args.heads_k, args.head_dim_v, *f, b, 1, v_);
}

}  // namespace attnconf::adapters::flash_attn
