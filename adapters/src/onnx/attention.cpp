#include "onnx/attention.h"

#include <array>
#include <limits>

namespace attnconf::adapters {

Tensor withPast(const Tensor* past, const Tensor& fresh) {
  if (!past) return fresh;
  return concatAxis(std::array{past, &fresh}, 2);
}

void checkThreeDimensional(const Tensor& t, const char* name) {
  front_end::check(t.rank() == 3, fmt::format("Input '{}' is expected to have 3 dimensions, got {}",
                                              name, t.rank()));
}

namespace {

using front_end::check;
using front_end::Layout;
using front_end::paramOr;
using front_end::required;

// ONNX's element type names, as onnxruntime prints them in type errors.
constexpr front_end::DTypeNames kOnnxTypes{
    "tensor(double)",   "tensor(float)",        "tensor(float16)",
    "tensor(bfloat16)", "tensor(float8e4m3fn)", "tensor(float8e5m2)",
    "tensor(int64)",    "tensor(int32)",        "tensor(bool)"};

// The function body multiplies and adds these operands; their types must agree.
void checkSameType(const Tensor& a, const Tensor& b, const char* op) {
  check(a.dtype == b.dtype,
        fmt::format("Type Error: Type parameter (T) of Optype ({}) bound to different types ({} "
                    "and {})",
                    op, kOnnxTypes(a.dtype), kOnnxTypes(b.dtype)));
}

void checkShape(const Tensor& t, const Shape& expected, const char* name, const char* what) {
  check(t.shape == expected,
        fmt::format("inconsistent {}: {} has shape ({}), expected ({})", what, name,
                    fmt::join(t.shape, ", "), fmt::join(expected, ", ")));
}

std::map<std::string, Tensor> attention4d(const Case& c, PlantedFault fault,
                                          const ForwardKernel& kernel) {
  const Tensor& q = required(c, "Q");
  const Tensor& k = required(c, "K");
  const Tensor& v = required(c, "V");
  const Tensor* mask = c.tensor("attn_mask");
  const Tensor* past_key = c.tensor("past_key");
  const Tensor* past_value = c.tensor("past_value");
  checkSameType(q, k, "MatMul");
  checkSameType(q, v, "MatMul");
  for (const Tensor* past : {past_key, past_value}) {
    if (past) checkSameType(q, *past, "Concat");
  }
  check(q.rank() == 4 && k.rank() == 4 && v.rank() == 4, "Q and K must have the same rank.");
  check((past_key == nullptr) == (past_value == nullptr),
        "past_key and past_value must be given together");
  const std::int64_t batch = q.shape[0], heads = q.shape[1], seqlen_q = q.shape[2];
  const std::int64_t head_dim = q.shape[3], heads_k = k.shape[1], seqlen_new = k.shape[2];
  const std::int64_t head_dim_v = v.shape[3];
  check(k.shape[0] == batch, "inconsistent batch_size (between Q and K)");
  check(k.shape[3] == head_dim, "inconsistent head_size");
  check(heads_k > 0 && heads % heads_k == 0, "q_num_heads % kv_num_heads == 0 is not verified");
  checkShape(v, {batch, heads_k, seqlen_new, head_dim_v}, "V", "kv_sequence_length");
  const std::int64_t past = past_key ? past_key->shape[2] : 0;
  if (past_key) {
    checkShape(*past_key, {batch, heads_k, past, head_dim}, "past_key", "past_key shape");
    checkShape(*past_value, {batch, heads_k, past, head_dim_v}, "past_value", "past_value shape");
  }
  const std::int64_t seqlen_k = past + seqlen_new;
  const Tensor keys = withPast(past_key, k), values = withPast(past_value, v);

  AttentionArgs args{.dtype = q.dtype,
                     .batch = batch,
                     .seqlen_q = seqlen_q,
                     .seqlen_k = seqlen_k,
                     .heads = heads,
                     .heads_k = heads_k,
                     .head_dim = head_dim,
                     .head_dim_v = head_dim_v,
                     .q = front_end::view(q, Layout::bhsd),
                     .k = front_end::view(keys, Layout::bhsd),
                     .v = front_end::view(values, Layout::bhsd)};
  args.scale =
      static_cast<float>(paramOr(c, "scale", 1.0 / std::sqrt(static_cast<double>(head_dim))));
  args.softcap = static_cast<float>(paramOr(c, "softcap", 0.0));
  // Top-left after the cache: query i sees the past keys and the new keys j <= i.
  args.causal = paramOr(c, "is_causal", false);
  args.causal_offset = fault == PlantedFault::causal_ignores_past ? 0 : past;
  Tensor converted_mask;
  if (mask) {
    check(mask->dtype == DType::boolean || mask->dtype == q.dtype,
          fmt::format("Type Error: Type parameter (T) of Optype (Add) bound to different types "
                      "({} and {})",
                      kOnnxTypes(mask->dtype), kOnnxTypes(q.dtype)));
    const Shape full{batch, heads, seqlen_q, seqlen_k};
    check(front_end::maskBroadcasts(mask->shape, full),
          fmt::format("inconsistent total_sequence_length (between attn_mask and past_key and "
                      "past_value): attn_mask of shape ({}) does not broadcast to ({})",
                      fmt::join(mask->shape, ", "), fmt::join(full, ", ")));
    args.bias = front_end::maskBias(*mask, /*true_keeps=*/true, converted_mask);
  }
  // The function body adds the mask bias, then applies the softcap; softmax of -inf everywhere
  // is 0/0.
  args.softcap_after_mask = true;
  args.empty_row_value = std::numeric_limits<double>::quiet_NaN();
  args.fault = fault;

  std::map<std::string, Tensor> outputs;
  Tensor& out = outputs["Y"] = Tensor::zeros(q.dtype, {batch, heads, seqlen_q, head_dim_v});
  args.out = front_end::writable(out, Layout::bhsd);
  Tensor lse = Tensor::zeros(DType::fp32, {batch, heads, seqlen_q});  // not an output of ONNX
  args.lse = lse.values.data();
  kernel(args);
  if (past_key) {
    outputs["present_key"] = keys;
    outputs["present_value"] = values;
  }
  return outputs;
}

// A 3-D (batch, sequence, heads * head_size) tensor as the 4-D (batch, heads, sequence,
// head_size): heads are the outer factor of the hidden size (the planted fault takes them as the
// inner one). `what` names the hidden size in the message when it does not split.
Tensor splitHeads(const Tensor& t, std::int64_t heads, const char* what, const char* heads_name,
                  PlantedFault fault) {
  check(t.shape[2] % heads == 0,
        fmt::format("inconsistent {}, it should be a multiple of {}", what, heads_name));
  Tensor split = t;
  if (fault == PlantedFault::hidden_split_head_inner) {
    split.shape = {t.shape[0], t.shape[1], t.shape[2] / heads, heads};
    return permuteAxes(split, std::array<std::size_t, 4>{0, 3, 1, 2});
  }
  split.shape = {t.shape[0], t.shape[1], heads, t.shape[2] / heads};
  return permuteAxes(split, std::array<std::size_t, 4>{0, 2, 1, 3});
}

Tensor mergeHeads(const Tensor& t) {
  Tensor merged = permuteAxes(t, std::array<std::size_t, 4>{0, 2, 1, 3});
  merged.shape = {t.shape[0], t.shape[2], t.shape[1] * t.shape[3]};
  return merged;
}

}  // namespace

std::map<std::string, Tensor> onnxAttention(const Case& c, PlantedFault fault,
                                            const ForwardKernel& kernel,
                                            const BackwardKernel* backward) {
  check(backward == nullptr, "Attention is an inference operator; it has no backward");
  const Tensor& q = required(c, "Q");
  if (q.rank() != 3) return attention4d(c, fault, kernel);
  // The 3-D form: the head counts come from the attributes (onnxruntime 1.23.2 divides by zero
  // without them; attnconf refuses the call).
  const auto heads = paramOr<std::int64_t>(c, "q_num_heads", 0);
  const auto heads_k = paramOr<std::int64_t>(c, "kv_num_heads", 0);
  check(heads > 0 && heads_k > 0,
        "the 3-D form needs positive q_num_heads and kv_num_heads attributes");
  const Tensor& k = required(c, "K");
  const Tensor& v = required(c, "V");
  check(k.rank() == 3 && v.rank() == 3, "Q and K must have the same rank.");
  Case split = c;
  split.tensors["Q"] = splitHeads(q, heads, "q_hidden_size", "q_num_heads", fault);
  split.tensors["K"] = splitHeads(k, heads_k, "k_hidden_size", "kv_num_heads", fault);
  split.tensors["V"] = splitHeads(v, heads_k, "v_hidden_size", "kv_num_heads", fault);
  auto outputs = attention4d(split, fault, kernel);
  outputs["Y"] = mergeHeads(outputs["Y"]);
  return outputs;
}

}  // namespace attnconf::adapters
