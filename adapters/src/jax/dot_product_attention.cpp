#include "jax/dot_product_attention.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace attnconf::adapters {
namespace {

using front_end::batchEntry;
using front_end::check;
using front_end::Layout;
using front_end::paramOr;
using front_end::required;

// numpy's names, as JAX prints dtypes.
constexpr front_end::DTypeNames kNumpyNames{"float64",  "float32",       "float16",
                                            "bfloat16", "float8_e4m3fn", "float8_e5m2",
                                            "int64",    "int32",         "bool"};

// JAX's _check_shape_and_dtype: rank, then dtype, then each axis (-1: any extent).
void checkShapeAndDType(const Tensor* t, const Shape& shape, std::optional<DType> dtype,
                        const char* name) {
  if (!t) return;
  check(t->rank() == std::ssize(shape),
        fmt::format("{} ndim should be {}, but got {}", name, shape.size(), t->rank()));
  check(!dtype || t->dtype == *dtype, fmt::format("{} dtype should be {}, but got {}", name,
                                                  kNumpyNames(*dtype), kNumpyNames(t->dtype)));
  for (std::size_t a = 0; a < shape.size(); ++a) {
    check(shape[a] == -1 || t->shape[a] == shape[a],
          fmt::format("{} shape should be ({}): but got ({})", name, fmt::join(shape, ", "),
                      fmt::join(t->shape, ", ")));
  }
}

// Per batch entry, a length in [0, extent]: JAX compares positions with it, so a longer one
// covers everything and a negative one nothing.
std::vector<std::int64_t> lengths(const Tensor* t, std::int64_t batch, std::int64_t extent) {
  std::vector<std::int64_t> out(static_cast<std::size_t>(batch), extent);
  for (std::size_t b = 0; t && b < out.size(); ++b)
    out[b] = std::clamp<std::int64_t>(static_cast<std::int64_t>(t->values[b]), 0, extent);
  return out;
}

// The mask (false: -inf) plus the bias, over (B, N, T, S): one score bias for the kernel.
Tensor combinedBias(const Tensor* mask, const Tensor* bias, const Shape& full) {
  Tensor combined = Tensor::zeros(DType::fp64, full);
  for (const Tensor* t : {mask, bias}) {
    if (!t) continue;
    check(front_end::maskBroadcasts(t->shape, full),  // both are 4-D (checked before)
          fmt::format("Incompatible shapes for broadcasting: ({}) and ({})",
                      fmt::join(t->shape, ", "), fmt::join(full, ", ")));
    Tensor converted;
    front_end::addScoreBias(combined, front_end::maskBias(*t, /*true_keeps=*/true, converted));
  }
  return combined;
}

// JAX's large negative number: -0.7 * the float32 maximum (the logits are float32).
constexpr double kLargeNegative = -0.7 * std::numeric_limits<float>::max();

// What xla's masking leaves after the kernel: a query that sees no key scored every key the same
// large negative number, so it is the mean of all values; rows past a query length are 0. Both
// kinds get JAX's residual for an all-masked row. Returns the residual, (B, T, N).
Tensor finishRows(const Tensor& v, const std::vector<std::int64_t>& q_len, const Tensor& lse,
                  Tensor& out, PlantedFault fault) {
  const std::int64_t batch = out.shape[0], seqlen_q = out.shape[1], heads = out.shape[2];
  const std::int64_t seqlen_k = v.shape[1], heads_k = v.shape[2], dim = v.shape[3];
  const double all_masked_lse = kLargeNegative + std::log(static_cast<double>(seqlen_k));
  Tensor residual = Tensor::zeros(out.dtype, {batch, seqlen_q, heads});
  for (std::int64_t b = 0; b < batch; ++b) {
    for (std::int64_t i = 0; i < seqlen_q; ++i) {
      for (std::int64_t h = 0; h < heads; ++h) {
        const std::int64_t row = (b * seqlen_q + i) * heads + h;
        const double row_lse = lse.values[static_cast<std::size_t>((b * heads + h) * seqlen_q + i)];
        const bool past_length = i >= q_len[static_cast<std::size_t>(b)];
        const bool sees_none = std::isinf(row_lse) || past_length;
        residual.values[static_cast<std::size_t>(row)] =
            roundTo(out.dtype, sees_none ? all_masked_lse : row_lse);
        double* out_row = out.values.data() + row * dim;
        if (past_length || (sees_none && fault == PlantedFault::fully_masked_row_zero)) {
          std::fill_n(out_row, dim, 0.0);
        } else if (sees_none) {
          const std::int64_t kv_head = h / (heads / heads_k);
          for (std::int64_t d = 0; d < dim; ++d) {
            double sum = 0;
            for (std::int64_t j = 0; j < seqlen_k; ++j)
              sum += v.values[static_cast<std::size_t>(
                  ((b * seqlen_k + j) * heads_k + kv_head) * dim + d)];
            out_row[d] = roundTo(out.dtype, sum / static_cast<double>(seqlen_k));
          }
        }
      }
    }
  }
  return residual;
}

}  // namespace

std::map<std::string, Tensor> jaxDotProductAttention(const Case& c, PlantedFault fault,
                                                     const ForwardKernel& kernel,
                                                     const BackwardKernel* backward) {
  check(backward == nullptr, "attnconf's jax_dot_product_attention has no backward");
  const Tensor& q = required(c, "query");
  const Tensor& k = required(c, "key");
  const Tensor& v = required(c, "value");
  const Tensor* mask = c.tensor("mask");
  const Tensor* bias = c.tensor("bias");
  const Tensor* q_lengths = c.tensor("query_seq_lengths");
  const Tensor* kv_lengths = c.tensor("key_value_seq_lengths");
  check(k.rank() == 4, fmt::format("key ndim should be 4, but got {}", k.rank()));
  const std::int64_t batch = k.shape[0], seqlen_k = k.shape[1], heads_k = k.shape[2];
  const std::int64_t head_dim = k.shape[3];
  checkShapeAndDType(&v, {batch, seqlen_k, heads_k, head_dim}, k.dtype, "value");
  checkShapeAndDType(&q, {batch, -1, -1, head_dim}, k.dtype, "query");
  checkShapeAndDType(mask, {-1, -1, -1, -1}, DType::boolean, "mask");
  checkShapeAndDType(bias, {-1, -1, -1, -1}, std::nullopt, "bias");
  checkShapeAndDType(q_lengths, {batch}, DType::int32, "query_seq_lengths");
  checkShapeAndDType(kv_lengths, {batch}, DType::int32, "key_value_seq_lengths");
  const std::int64_t seqlen_q = q.shape[1], heads = q.shape[2];
  check(heads_k > 0 && heads % heads_k == 0,
        fmt::format("The number of query heads must be a multiple of key/value heads, but got "
                    "{} vs {}",
                    heads, heads_k));
  const Tensor scores_bias =
      mask || bias ? combinedBias(mask, bias, {batch, heads, seqlen_q, seqlen_k}) : Tensor{};
  const auto q_len = lengths(q_lengths, batch, seqlen_q);
  auto kv_len = lengths(kv_lengths, batch, seqlen_k);
  // The planted fault reads one key past a shortened sequence.
  for (auto& n : kv_len) n += fault == PlantedFault::seq_lens_off_by_one && n < seqlen_k ? 1 : 0;

  std::map<std::string, Tensor> outputs;
  Tensor& out = outputs["output"] = Tensor::zeros(q.dtype, q.shape);
  Tensor lse = Tensor::zeros(DType::fp32, {batch, heads, seqlen_q});
  AttentionArgs args{.dtype = q.dtype,
                     .batch = 1,
                     .seqlen_q = seqlen_q,
                     .heads = heads,
                     .heads_k = heads_k,
                     .head_dim = head_dim,
                     .head_dim_v = head_dim,
                     .scale = static_cast<float>(
                         paramOr(c, "scale", 1.0 / std::sqrt(static_cast<double>(head_dim)))),
                     // tril(ones(T, S)): aligned top-left, whatever the lengths.
                     .causal = paramOr(c, "is_causal", false),
                     .fault = fault};
  if (const auto window = c.param("local_window_size")) {
    const auto& lr = std::get<std::vector<std::int64_t>>(*window);
    check(lr.size() == 2 && lr[0] >= 0 && lr[1] >= 0,
          "attnconf's jax_dot_product_attention takes local_window_size as a pair of "
          "non-negative sizes");
    args.window_left = lr[0];
    args.window_right = lr[1];
  }
  // One kernel call per batch entry, over the keys within its length.
  for (std::int64_t b = 0; b < batch; ++b) {
    args.seqlen_k = kv_len[static_cast<std::size_t>(b)];
    args.q = batchEntry(front_end::view(q, Layout::bshd), b);
    args.k = batchEntry(front_end::view(k, Layout::bshd), b);
    args.v = batchEntry(front_end::view(v, Layout::bshd), b);
    args.out = batchEntry(front_end::writable(out, Layout::bshd), b);
    args.lse = lse.values.data() + b * heads * seqlen_q;
    if (!scores_bias.values.empty()) {
      args.bias = BiasView{scores_bias.values.data() + b * heads * seqlen_q * seqlen_k, 0,
                           seqlen_q * seqlen_k, seqlen_k, 1};
    }
    if (args.seqlen_k > 0) {
      kernel(args);
    } else {
      std::fill_n(args.lse, heads * seqlen_q, std::numeric_limits<double>::infinity());
    }
  }
  Tensor residual = finishRows(v, q_len, lse, out, fault);
  if (paramOr(c, "return_residual", false)) outputs["residual"] = std::move(residual);
  return outputs;
}

}  // namespace attnconf::adapters
