#include "onnx/group_query_attention.h"

#include <array>
#include <cmath>

#include "onnx/attention.h"

namespace attnconf::adapters {
namespace {

using front_end::check;
using front_end::Layout;
using front_end::paramOr;
using front_end::required;

// A (batch, sequence, heads * head_size) tensor as (batch, heads, sequence, head_size).
Tensor headsFirst(const Tensor& t, std::int64_t heads) {
  Tensor split = t;
  split.shape = {t.shape[0], t.shape[1], heads, t.shape[2] / heads};
  return permuteAxes(split, std::array<std::size_t, 4>{0, 2, 1, 3});
}

// group_query_attention_helper.h's checks of the cache: both or neither, of the query's type,
// (batch, kv_num_heads, any length, head_size) as `expected` gives them (its axis 2 is unread).
void checkPast(const Tensor* past_key, const Tensor* past_value, const Shape& expected,
               DType dtype) {
  check((past_key == nullptr) == (past_value == nullptr),
        "Input 'past_key' and 'past_value' shall be both present or both absent.");
  if (!past_key) return;
  for (const auto& [past, name] : {std::pair{past_key, "past_key"}, {past_value, "past_value"}}) {
    check(past->dtype == dtype,
          fmt::format("Type Error: Type parameter (T) bound to different types ({} and query)",
                      name));
    check(past->rank() == 4 && past->shape[0] == expected[0] && past->shape[1] == expected[1] &&
              past->shape[3] == expected[3],
          fmt::format("Input '{}' of shape ({}) does not match (batch_size, kv_num_heads, "
                      "past_sequence_length, head_size) = ({}, {}, *, {})",
                      name, fmt::join(past->shape, ", "), expected[0], expected[1], expected[3]));
  }
  check(past_key->shape[2] == past_value->shape[2],
        "Input 'past_key' and 'past_value' shall have the same past_sequence_length");
}

// The lengths: int32, seqlens_k (batch_size), a scalar total, and every entry using its whole past.
void checkLengths(const Case& c, std::int64_t batch, std::int64_t total) {
  const Tensor& seqlens = required(c, "seqlens_k");
  const Tensor& total_tensor = required(c, "total_sequence_length");
  check(seqlens.dtype == DType::int32, "seqlens_k must be an int32 tensor (Type Error)");
  check(total_tensor.dtype == DType::int32,
        "total_sequence_length must be an int32 tensor (Type Error)");
  check(seqlens.shape == Shape{batch}, fmt::format("seqlens_k must be shape (batch_size), got ({})",
                                                   fmt::join(seqlens.shape, ", ")));
  check(total_tensor.rank() == 0,
        fmt::format("total_sequence_length must be a scalar tensor, got shape ({})",
                    fmt::join(total_tensor.shape, ", ")));
  // Per-entry lengths (a longer buffer than the past, or padding) are outside what this front
  // end implements: refused, where onnxruntime would read them.
  check(static_cast<std::int64_t>(total_tensor.values[0]) == total,
        fmt::format("total_sequence_length {} is not past + sequence_length = {} (attnconf's "
                    "front end takes only entries that use their whole past)",
                    total_tensor.values[0], total));
  for (const double length : seqlens.values) {
    check(static_cast<std::int64_t>(length) == total - 1,
          fmt::format("seqlens_k {} is not total_sequence_length - 1 = {} (attnconf's front end "
                      "takes only entries that use their whole past)",
                      length, total - 1));
  }
}

// One logit per query head: head_sink's, else 0 for each with smooth_softmax, else none.
std::vector<float> headSink(const Case& c, std::int64_t heads, DType dtype) {
  if (const Tensor* sink = c.tensor("head_sink")) {
    check(sink->dtype == dtype, "Type Error: Type parameter (T) bound to different types");
    check(sink->rank() == 1, "head_sink must be a 1D tensor");
    check(sink->shape[0] == heads,
          fmt::format("head_sink dimension 0 must be equal to the num heads, got {}",
                      sink->shape[0]));
    return {sink->values.begin(), sink->values.end()};
  }
  std::vector<float> none_or_zeros;
  if (paramOr(c, "smooth_softmax", false))
    none_or_zeros.assign(static_cast<std::size_t>(heads), 0.0F);
  return none_or_zeros;
}

}  // namespace

std::map<std::string, Tensor> ortGroupQueryAttention(const Case& c, PlantedFault fault,
                                                     const ForwardKernel& kernel,
                                                     const BackwardKernel* backward) {
  check(backward == nullptr, "GroupQueryAttention is an inference operator; it has no backward");
  const auto heads = paramOr<std::int64_t>(c, "num_heads", 0);
  const auto heads_k = paramOr<std::int64_t>(c, "kv_num_heads", 0);
  check(heads > 0 && heads_k > 0, "num_heads and kv_num_heads must be positive attributes");
  check(heads % heads_k == 0, "num_heads must be a multiple of kv_num_heads");
  const Tensor& q = required(c, "query");
  const Tensor& k = required(c, "key");
  const Tensor& v = required(c, "value");
  for (const auto& [t, name] : {std::pair{&q, "query"}, {&k, "key"}, {&v, "value"}}) {
    checkThreeDimensional(*t, name);
    check(t->dtype == q.dtype, "Type Error: Type parameter (T) bound to different types");
  }
  const std::int64_t batch = q.shape[0], seqlen = q.shape[1];
  check(q.shape[2] % heads == 0, "query hidden_size must be a multiple of num_heads");
  const std::int64_t head_size = q.shape[2] / heads;
  const Shape new_keys{batch, seqlen, heads_k * head_size};
  check(k.shape == new_keys,
        fmt::format("Input 'key' of shape ({}) does not match (batch_size, sequence_length, "
                    "kv_num_heads * head_size) = ({}), head_size from the query",
                    fmt::join(k.shape, ", "), fmt::join(new_keys, ", ")));
  check(head_size % 8 == 0,
        fmt::format("head_size must be a multiple of 8. Got head_size % 8 == {}", head_size % 8));
  check(v.shape == k.shape, fmt::format("Input 'value' of shape ({}) does not match the key's ({})",
                                        fmt::join(v.shape, ", "), fmt::join(k.shape, ", ")));
  const Tensor* past_key = c.tensor("past_key");
  const Tensor* past_value = c.tensor("past_value");
  checkPast(past_key, past_value, {batch, heads_k, 0, head_size}, q.dtype);
  const std::int64_t past = past_key ? past_key->shape[2] : 0;
  check(!past_key || seqlen == 1 || batch == 1,
        "batch_size must be 1 when sequence_length > 1 and past context is given.");
  checkLengths(c, batch, past + seqlen);

  const Tensor keys = withPast(past_key, headsFirst(k, heads_k));
  const Tensor values = withPast(past_value, headsFirst(v, heads_k));
  Tensor query = q;
  query.shape = {batch, seqlen, heads, head_size};
  AttentionArgs args{.dtype = q.dtype,
                     .batch = batch,
                     .seqlen_q = seqlen,
                     .seqlen_k = past + seqlen,
                     .heads = heads,
                     .heads_k = heads_k,
                     .head_dim = head_size,
                     .head_dim_v = head_size,
                     .q = front_end::view(query, Layout::bshd),
                     .k = front_end::view(keys, Layout::bhsd),
                     .v = front_end::view(values, Layout::bhsd)};
  const double default_scale = 1.0 / std::sqrt(static_cast<double>(head_size));
  args.scale = static_cast<float>(paramOr(c, "scale", default_scale));
  args.softcap = static_cast<float>(paramOr(c, "softcap", 0.0));
  args.sink = headSink(c, heads, q.dtype);
  // Query i sits at position past + i: the causal mask is bottom-right over the keys.
  args.causal = true;
  args.causal_offset = fault == PlantedFault::causal_ignores_past ? 0 : past;
  args.fault = fault;

  std::map<std::string, Tensor> outputs;
  Tensor& out = outputs["output"] = Tensor::zeros(q.dtype, {batch, seqlen, heads, head_size});
  args.out = front_end::writable(out, Layout::bshd);
  Tensor lse = Tensor::zeros(DType::fp32, {batch, heads, seqlen});  // not an output of ORT
  args.lse = lse.values.data();
  kernel(args);
  out.shape = {batch, seqlen, heads * head_size};
  if (past_key) {
    outputs["present_key"] = keys;
    outputs["present_value"] = values;
  }
  return outputs;
}

}  // namespace attnconf::adapters
