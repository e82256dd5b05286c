#include "onnx/multi_head_attention.h"

#include <limits>

#include "onnx/attention.h"

namespace attnconf::adapters {
namespace {

using front_end::check;
using front_end::paramOr;
using front_end::required;

void checkDim(const Tensor& a, const char* a_name, const Tensor& b, const char* b_name,
              std::size_t axis, const char* what) {
  check(a.shape[axis] == b.shape[axis],
        fmt::format("Input '{}' and '{}' shall have same dim {} ({})", a_name, b_name, axis, what));
}

// The scores' additive bias over (batch, heads, query, key): attention_bias, -inf on the keys past
// each entry's key_padding_mask length, and, for the planted fault, onnxruntime's unidirectional
// mask, which leaves the last query row unmasked.
Tensor scoreBias(const Case& c, const Tensor& q, Shape shape, std::int64_t past,
                 bool last_row_unmasked) {
  Tensor bias = Tensor::zeros(q.dtype, shape);
  const Tensor* given = c.tensor("attention_bias");
  const std::int64_t rows = shape[2], keys = shape[3];
  // attention_bias may have 1 for the batch and the heads.
  const auto givenAt = [&](std::int64_t b, std::int64_t h, std::int64_t i, std::int64_t j) {
    const std::int64_t gb = given->shape[0] == 1 ? 0 : b, gh = given->shape[1] == 1 ? 0 : h;
    return given
        ->values[static_cast<std::size_t>(((gb * given->shape[1] + gh) * rows + i) * keys + j)];
  };
  const auto lengths = c.tensor("key_padding_mask");
  const auto hidden = [&](std::int64_t b, std::int64_t i, std::int64_t j) {
    const bool padded = lengths && j >= static_cast<std::int64_t>(lengths->values[b]);
    return padded || (last_row_unmasked && i < rows - 1 && j > past + i);
  };
  std::size_t at = 0;
  for (std::int64_t b = 0; b < shape[0]; ++b) {
    for (std::int64_t h = 0; h < shape[1]; ++h) {
      for (std::int64_t i = 0; i < rows; ++i) {
        for (std::int64_t j = 0; j < keys; ++j, ++at) {
          if (given) bias.values[at] = givenAt(b, h, i, j);
          if (hidden(b, i, j)) bias.values[at] = -std::numeric_limits<double>::infinity();
        }
      }
    }
  }
  return bias;
}

}  // namespace

std::map<std::string, Tensor> ortMultiHeadAttention(const Case& c, PlantedFault fault,
                                                    const ForwardKernel& kernel,
                                                    const BackwardKernel* backward) {
  check(backward == nullptr, "MultiHeadAttention is an inference operator; it has no backward");
  const auto heads = paramOr<std::int64_t>(c, "num_heads", 0);
  check(heads > 0, "num_heads must be a positive attribute");
  const Tensor& q = required(c, "query");
  const Tensor& k = required(c, "key");
  const Tensor& v = required(c, "value");
  for (const auto& [t, name] : {std::pair{&q, "query"}, {&k, "key"}, {&v, "value"}})
    checkThreeDimensional(*t, name);
  checkDim(q, "query", k, "key", 0, "batch_size");
  checkDim(q, "query", k, "key", 2, "hidden_size");
  checkDim(k, "key", v, "value", 0, "batch_size");
  checkDim(k, "key", v, "value", 1, "kv_sequence_length");
  for (const auto& [t, name] : {std::pair{&q, "query"}, {&v, "value"}}) {
    check(t->shape[2] % heads == 0,
          fmt::format("Input '{}' hidden size {} is not a multiple of num_heads {}", name,
                      t->shape[2], heads));
  }
  const Tensor* past_key = c.tensor("past_key");
  check((past_key == nullptr) == (c.tensor("past_value") == nullptr),
        "past_key and past_value shall be both present or both absent");
  if (past_key) {
    const Tensor& past_value = required(c, "past_value");
    check(past_value.rank() != 4 || past_value.shape[3] == q.shape[2] / heads,
          fmt::format("Input 'past_value' dimension 3 should be same as head_size, got {}",
                      past_value.shape[3]));
  }
  const std::int64_t batch = q.shape[0], seqlen_q = q.shape[1];
  const std::int64_t total = k.shape[1] + (past_key ? past_key->shape[2] : 0);
  if (const Tensor* lengths = c.tensor("key_padding_mask")) {
    check(lengths->dtype == DType::int32, "key_padding_mask must be an int32 tensor");
    check(lengths->shape == Shape{batch},
          fmt::format("key_padding_mask of shape ({}) is not supported: expected (batch_size)",
                      fmt::join(lengths->shape, ", ")));
  }
  const Shape scores{batch, heads, seqlen_q, total};
  if (const Tensor* bias = c.tensor("attention_bias")) {
    check(bias->dtype == q.dtype,
          "Type Error: Type parameter (T) bound to different types "
          "(attention_bias and query)");
    const auto oneOr = [](std::int64_t got, std::int64_t want) { return got == want || got == 1; };
    check(bias->rank() == 4 && oneOr(bias->shape[0], batch) && oneOr(bias->shape[1], heads) &&
              bias->shape[2] == seqlen_q && bias->shape[3] == total,
          fmt::format("attention_bias of shape ({}) does not match ({}) (batch and heads may be 1)",
                      fmt::join(bias->shape, ", "), fmt::join(scores, ", ")));
  }
  // ONNX Attention with both head counts num_heads, unidirectional its is_causal, and the bias
  // and the key padding folded into its float mask.
  const bool last_row_unmasked = fault == PlantedFault::unidirectional_last_row_unmasked &&
                                 paramOr(c, "unidirectional", false);
  Case attention;
  attention.api = c.api;
  attention.params = {{"q_num_heads", heads},
                      {"kv_num_heads", heads},
                      {"is_causal", paramOr(c, "unidirectional", false) && !last_row_unmasked}};
  if (const auto scale = c.param("scale")) attention.params["scale"] = *scale;
  for (const auto& [from, to] : {std::pair{"query", "Q"},
                                 {"key", "K"},
                                 {"value", "V"},
                                 {"past_key", "past_key"},
                                 {"past_value", "past_value"}}) {
    if (const Tensor* t = c.tensor(from)) attention.tensors[to] = *t;
  }
  if (c.tensor("attention_bias") || c.tensor("key_padding_mask") || last_row_unmasked) {
    const std::int64_t past = total - k.shape[1];
    attention.tensors["attn_mask"] = scoreBias(c, q, scores, past, last_row_unmasked);
  }
  auto outputs = onnxAttention(attention, fault, kernel, nullptr);
  outputs["output"] = std::move(outputs.at("Y"));
  outputs.erase("Y");
  return outputs;
}

}  // namespace attnconf::adapters
