#include "flash_attn/mha_checks.h"

#include <cmath>
#include <limits>

namespace attnconf::adapters::flash_attn {
namespace {

using front_end::check;
using front_end::paramOr;

std::vector<float> alibiSlopes(const Tensor& slopes, std::int64_t batch, std::int64_t heads) {
  check(slopes.dtype == DType::fp32, "ALiBi slopes must have dtype fp32");
  const bool per_head = slopes.shape == Shape{heads};
  check(per_head || slopes.shape == Shape{batch, heads},
        "ALiBi slopes tensor must have shape (num_heads) or (batch_size, num_heads)");
  std::vector<float> out;
  for (std::int64_t b = 0; b < batch; ++b) {
    for (std::int64_t h = 0; h < heads; ++h) {
      out.push_back(static_cast<float>(
          slopes.values[static_cast<std::size_t>(per_head ? h : b * heads + h)]));
    }
  }
  return out;
}

}  // namespace

void checkDTypes(const Tensor& q, const Tensor& k, const Tensor& v) {
  check(q.dtype == DType::fp16 || q.dtype == DType::bf16,
        "FlashAttention only support fp16 and bf16 data type");
  check(k.dtype == q.dtype, "query and key must have the same dtype");
  check(v.dtype == q.dtype, "query and value must have the same dtype");
}

void checkHeads(std::int64_t heads, std::int64_t heads_k, std::int64_t head_dim, PlantedFault fault,
                HeadDimPadding padding) {
  check(heads > 0, "number of heads must be positive");
  check(head_dim <= 256, fault == PlantedFault::wrong_error_message
                             ? "query must be contiguous"
                             : "FlashAttention forward only supports head dimension at most 256");
  check(padding == HeadDimPadding::padded || fault == PlantedFault::accept_any_head_dim ||
            head_dim % 8 == 0,
        "query, key, value, and out_ must have a head_size that is a multiple of 8");
  check(heads_k > 0 && (fault == PlantedFault::accept_gqa_mismatch || heads % heads_k == 0),
        "Number of heads in key/value must divide number of heads in query");
}

void decodeParams(const Case& c, PlantedFault fault, std::int64_t batch, AttentionArgs& args) {
  const double dropout_p = paramOr(c, "dropout_p", 0.0);
  const double softcap = paramOr(c, "softcap", 0.0);
  if (softcap > 0) check(dropout_p == 0, "Softcapping does not support dropout for now");
  const auto head_dim = static_cast<double>(args.head_dim);
  const double default_scale =
      fault == PlantedFault::default_scale_wrong ? 1.0 / head_dim : 1.0 / std::sqrt(head_dim);
  args.scale = static_cast<float>(paramOr(c, "softmax_scale", default_scale));
  args.softcap = static_cast<float>(softcap);
  args.causal = paramOr(c, "causal", false);
  const auto window = paramOr(c, "window_size", std::vector<std::int64_t>{-1, -1});
  check(window.size() == 2, "window_size must be a pair (left, right)");
  args.window_left = window[0];
  args.window_right = window[1];
  if (const Tensor* slopes = c.tensor("alibi_slopes"))
    args.alibi_slopes = alibiSlopes(*slopes, batch, args.heads);
  args.softcap_after_mask = fault == PlantedFault::softcap_after_mask;
  args.empty_row_value =
      fault == PlantedFault::fully_masked_row_nan ? std::numeric_limits<double>::quiet_NaN() : 0.0;
  args.fault = fault;
}

}  // namespace attnconf::adapters::flash_attn
