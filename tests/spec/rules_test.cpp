#include "attnconf/spec/rules.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "attnconf/reference/attention.h"
#include "attnconf/spec/binding.h"
#include "attnconf/spec/loader.h"

namespace attnconf::spec {
namespace {

class Rules : public testing::Test {
 protected:
  ApiSpec spec = loadSpec(specFolder() / "flash_attn_func.yaml");

  Case call(std::int64_t heads, std::int64_t heads_k, std::int64_t head_dim,
            DType dtype = DType::fp16) {
    Case c;
    c.api = spec.api;
    c.tensors["q"] = Tensor::zeros(dtype, {2, 3, heads, head_dim});
    c.tensors["k"] = Tensor::zeros(dtype, {2, 5, heads_k, head_dim});
    c.tensors["v"] = Tensor::zeros(dtype, {2, 5, heads_k, head_dim});
    return c;
  }
};

TEST_F(Rules, ValidCallBreaksNothing) {
  EXPECT_TRUE(brokenRules(spec, call(4, 2, 64)).empty());
}

TEST_F(Rules, EachMistakeBreaksItsRule) {
  using V = std::vector<std::string>;
  EXPECT_EQ(brokenRules(spec, call(4, 3, 64)), V{"KvHeadsNotDivisor"});
  EXPECT_EQ(brokenRules(spec, call(4, 2, 264)), V{"HeadDimTooLarge"});
  EXPECT_EQ(brokenRules(spec, call(4, 2, 60)), V{"HeadDimNotMultipleOf8"});
  EXPECT_EQ(brokenRules(spec, call(4, 2, 64, DType::fp32)), V{"QkvDtypeUnsupported"});
  Case c = call(4, 2, 64);
  c.tensors["v"].shape[3] = 32;
  EXPECT_EQ(brokenRules(spec, c), V{"ValueShapeMismatch"});
  c = call(4, 2, 64);
  c.params["softcap"] = 1.0;
  c.params["dropout_p"] = 0.1;
  EXPECT_EQ(brokenRules(spec, c), V{"SoftcapWithDropout"});
  c = call(4, 2, 64);
  c.tensors["alibi_slopes"] = Tensor::zeros(DType::fp32, {3});
  EXPECT_EQ(brokenRules(spec, c), V{"AlibiShapeInvalid"});
}

TEST_F(Rules, BindingReadsTheSemantics) {
  Case c = call(4, 2, 64);
  c.params["causal"] = true;
  c.params["window_size"] = std::vector<std::int64_t>{3, -1};
  c.tensors["alibi_slopes"] = Tensor{DType::fp32, {2, 4}, {1, 2, 3, 4, 5, 6, 7, 8}};
  const Problem p = bindProblem(spec, c);
  EXPECT_EQ(p.seqlens_q, (std::vector<std::int64_t>{3, 3}));
  EXPECT_EQ(p.seqlens_k, (std::vector<std::int64_t>{5, 5}));
  EXPECT_EQ(p.heads_kv, 2);
  EXPECT_DOUBLE_EQ(p.scale, 0.125);
  ASSERT_EQ(p.masks.size(), 2U);
  EXPECT_EQ(p.masks[0], MaskPrimitive(CausalMask{Alignment::bottom_right}));
  EXPECT_EQ(p.masks[1], MaskPrimitive(WindowMask{3, -1, Alignment::bottom_right}));
  EXPECT_EQ(p.alibi_slopes[5], 6.0);
  EXPECT_EQ(p.q.shape, (Shape{2, 4, 3, 64}));
}

// SDPA: (N, H, L, E) layout, an explicit mask, and enable_gqa as the condition of a rule.
class SdpaRules : public testing::Test {
 protected:
  ApiSpec spec = loadSpec(specFolder() / "scaled_dot_product_attention.yaml");

  Case call(std::int64_t heads, std::int64_t heads_k) {
    Case c;
    c.api = spec.api;
    c.tensors["query"] = Tensor::zeros(DType::fp16, {2, heads, 3, 8});
    c.tensors["key"] = Tensor::zeros(DType::fp16, {2, heads_k, 2, 8});
    c.tensors["value"] = Tensor::zeros(DType::fp16, {2, heads_k, 2, 4});
    return c;
  }
};

TEST_F(SdpaRules, GqaNeedsEnableGqa) {
  using V = std::vector<std::string>;
  Case c = call(4, 2);
  EXPECT_EQ(brokenRules(spec, c), V{"KvHeadsMismatch"});
  c.params["enable_gqa"] = true;
  EXPECT_TRUE(brokenRules(spec, c).empty());
  EXPECT_EQ(brokenRules(spec, call(4, 3)), (V{"KvHeadsMismatch", "KvHeadsNotDivisor"}));
}

TEST_F(SdpaRules, MaskDtypeIsBoolFloatOrTheQueryDtype) {
  using V = std::vector<std::string>;
  Case c = call(2, 2);
  for (const DType ok : {DType::boolean, DType::fp32, DType::fp16}) {
    c.tensors["attn_mask"] = Tensor::zeros(ok, {3, 2});
    EXPECT_TRUE(brokenRules(spec, c).empty()) << dtypeName(ok);
  }
  c.tensors["attn_mask"] = Tensor::zeros(DType::bf16, {3, 2});
  EXPECT_EQ(brokenRules(spec, c), V{"AttnMaskDtypeInvalid"});
  c.tensors["attn_mask"] = Tensor::zeros(DType::boolean, {3, 2});
  c.params["is_causal"] = true;
  EXPECT_EQ(brokenRules(spec, c), V{"AttnMaskWithCausal"});
}

TEST_F(SdpaRules, MaskShapesAreThoseThatBroadcastToTheScores) {
  Case c = call(2, 2);  // scores (N 2, Hq 2, L 3, S 2)
  for (const Shape& ok : std::vector<Shape>{{3, 2}, {1, 2}, {2}, {1}, {2, 1, 3, 2}, {2, 3, 1}}) {
    c.tensors["attn_mask"] = Tensor::zeros(DType::boolean, ok);
    EXPECT_TRUE(brokenRules(spec, c).empty()) << testing::PrintToString(ok);
  }
  for (const Shape& bad : std::vector<Shape>{{3}, {3, 3}, {4, 3, 2}, {1, 2, 2, 3, 2}}) {
    c.tensors["attn_mask"] = Tensor::zeros(DType::boolean, bad);
    EXPECT_EQ(brokenRules(spec, c), std::vector<std::string>{"AttnMaskShapeInvalid"})
        << testing::PrintToString(bad);
  }
}

TEST_F(SdpaRules, BoolMaskBindsToZeroOrMinusInfBroadcastOverBatchAndHeads) {
  Case c = call(2, 2);
  c.tensors["attn_mask"] = Tensor{DType::boolean, {3, 2}, {1, 0, 0, 1, 1, 1}};
  const Problem p = bindProblem(spec, c);
  ASSERT_EQ(p.bias.shape, (Shape{2, 2, 3, 2}));
  const double inf = std::numeric_limits<double>::infinity();
  const std::vector<double> expected{0, -inf, -inf, 0, 0, 0};
  for (std::int64_t bh = 0; bh < 4; ++bh) {  // every (batch, head) sees the same (L, S) mask
    EXPECT_EQ(
        std::vector<double>(p.bias.values.begin() + bh * 6, p.bias.values.begin() + (bh + 1) * 6),
        expected);
  }
  EXPECT_EQ(p.head_dim_v, 4);
  EXPECT_TRUE(p.masks.empty());
}

TEST_F(SdpaRules, FloatMaskPerHeadIsAddedAsItIsAndCausalIsTopLeft) {
  Case c = call(2, 2);
  Tensor mask = Tensor::zeros(DType::fp32, {2, 2, 3, 2});
  for (std::size_t i = 0; i < mask.values.size(); ++i)
    mask.values[i] = 0.5 * static_cast<double>(i);
  c.tensors["attn_mask"] = mask;
  EXPECT_EQ(bindProblem(spec, c).bias.values, mask.values);
  c.tensors.erase("attn_mask");
  c.params["is_causal"] = true;
  EXPECT_EQ(bindProblem(spec, c).masks,
            (std::vector<MaskPrimitive>{CausalMask{Alignment::top_left}}));
}

// ONNX Attention: a past cache before the new keys, a derived total length, present outputs.
class OnnxRules : public testing::Test {
 protected:
  ApiSpec spec = loadSpec(specFolder() / "onnx_attention.yaml");

  // One batch entry and head; 2 queries, 1 cached key, 2 new keys; key j holds the value j.
  Case call(bool with_past = true) {
    Case c;
    c.api = spec.api;
    c.tensors["Q"] = Tensor::zeros(DType::fp32, {1, 1, 2, 1});
    c.tensors["K"] = Tensor{DType::fp32, {1, 1, 2, 1}, {1, 2}};
    c.tensors["V"] = Tensor{DType::fp32, {1, 1, 2, 1}, {1, 2}};
    if (with_past) {
      c.tensors["past_key"] = Tensor{DType::fp32, {1, 1, 1, 1}, {0}};
      c.tensors["past_value"] = Tensor{DType::fp32, {1, 1, 1, 1}, {0}};
    }
    return c;
  }
};

TEST_F(OnnxRules, ThePastComesFirstAndShiftsTheCausalDiagonal) {
  Case c = call();
  c.params["is_causal"] = true;
  const Problem p = bindProblem(spec, c);
  EXPECT_EQ(p.seqlens_k, (std::vector<std::int64_t>{3}));
  EXPECT_EQ(p.k.values, (std::vector<double>{0, 1, 2}));
  EXPECT_EQ(p.v.values, (std::vector<double>{0, 1, 2}));
  ASSERT_EQ(p.masks.size(), 1U);
  // Query 0 sees the cached key and new key 0; query 1 sees all three.
  EXPECT_TRUE(keeps(p.masks, 0, 1, 2, 3));
  EXPECT_FALSE(keeps(p.masks, 0, 2, 2, 3));
  EXPECT_TRUE(keeps(p.masks, 1, 2, 2, 3));
  EXPECT_EQ(describe(p.masks[0]), "causal(top_left, shift 1)");
}

TEST_F(OnnxRules, PresentOutputsAreTheCacheAndTheNewKeysExactly) {
  const Case c = call();
  const auto expected = expectedOutputs(spec, c, reference::attention(bindProblem(spec, c)));
  ASSERT_TRUE(expected.contains("present_key"));
  EXPECT_EQ(expected.at("present_key").role, "copy");
  EXPECT_EQ(expected.at("present_key").exact.shape, (Shape{1, 1, 3, 1}));
  EXPECT_EQ(expected.at("present_value").exact.values, (std::vector<double>{0, 1, 2}));
  const Case no_past = call(false);
  EXPECT_FALSE(expectedOutputs(spec, no_past, reference::attention(bindProblem(spec, no_past)))
                   .contains("present_key"))
      << "asked for only when past_key is given";
}

TEST_F(OnnxRules, TotalLengthIsPastPlusNewAndTheCachesComeTogether) {
  using V = std::vector<std::string>;
  Case c = call();
  c.tensors["attn_mask"] = Tensor::zeros(DType::boolean, {2, 3});
  EXPECT_TRUE(brokenRules(spec, c).empty());
  c.tensors["attn_mask"].shape = {2, 2};  // the new keys only
  EXPECT_EQ(brokenRules(spec, c), V{"AttnMaskShapeInvalid"});
  c.tensors["attn_mask"].shape = {1, 1, 1, 3};  // broadcast over queries
  EXPECT_TRUE(brokenRules(spec, c).empty());
  c = call();
  c.tensors.erase("past_value");
  EXPECT_EQ(brokenRules(spec, c), V{"PastKeyWithoutPastValue"});
}

TEST_F(OnnxRules, BroadcastMaskAxesRepeat) {
  Case c = call(false);
  c.tensors["attn_mask"] = Tensor{DType::fp32, {1, 2}, {0.5, -1}};  // one row for every query
  const Problem p = bindProblem(spec, c);
  EXPECT_EQ(p.bias.values, (std::vector<double>{0.5, -1, 0.5, -1}));
}

class OrtMultiHeadAttentionRules : public testing::Test {
 protected:
  ApiSpec spec = loadSpec(specFolder() / "ort_multi_head_attention.yaml");

  // Batch 2, 2 heads of size 1, one query, 2 new keys after 1 cached one.
  Case call() {
    Case c;
    c.api = spec.api;
    c.params["num_heads"] = std::int64_t{2};
    c.tensors["query"] = Tensor::zeros(DType::fp32, {2, 1, 2});
    c.tensors["key"] = Tensor::zeros(DType::fp32, {2, 2, 2});
    c.tensors["value"] = Tensor::zeros(DType::fp32, {2, 2, 2});
    c.tensors["past_key"] = Tensor::zeros(DType::fp32, {2, 2, 1, 1});
    c.tensors["past_value"] = Tensor::zeros(DType::fp32, {2, 2, 1, 1});
    return c;
  }
};

TEST_F(OrtMultiHeadAttentionRules, AttentionBiasBroadcastsOverBatchAndHeadsOnly) {
  using V = std::vector<std::string>;
  Case c = call();
  c.tensors["attention_bias"] = Tensor::zeros(DType::fp32, {1, 1, 1, 3});
  EXPECT_TRUE(brokenRules(spec, c).empty());
  c.tensors["attention_bias"].shape = {2, 2, 1, 1};  // one key for all: not in the schema
  EXPECT_EQ(brokenRules(spec, c), V{"AttentionBiasShapeInvalid"});
  c.tensors["attention_bias"].shape = {1, 3};  // leading axes left out
  EXPECT_EQ(brokenRules(spec, c), V{"AttentionBiasShapeInvalid"});
}

TEST_F(OrtMultiHeadAttentionRules, KeyPaddingLengthsCountThePastKeys) {
  Case c = call();
  c.tensors["key_padding_mask"] = Tensor{DType::int32, {2}, {3, 1}};
  EXPECT_EQ(bindProblem(spec, c).seqlens_k, (std::vector<std::int64_t>{3, 1}));
  c.tensors.erase("key_padding_mask");
  EXPECT_EQ(bindProblem(spec, c).seqlens_k, (std::vector<std::int64_t>{3, 3}));
}

class OrtGroupQueryAttentionRules : public testing::Test {
 protected:
  ApiSpec spec = loadSpec(specFolder() / "ort_group_query_attention.yaml");

  // Batch 2, 2 query heads of size 8 over one kv head, `queries` new tokens after 1 cached one.
  Case call(std::int64_t queries) {
    Case c;
    c.api = spec.api;
    c.params = {{"num_heads", std::int64_t{2}}, {"kv_num_heads", std::int64_t{1}}};
    c.tensors["query"] = Tensor::zeros(DType::fp32, {2, queries, 16});
    c.tensors["key"] = Tensor::zeros(DType::fp32, {2, queries, 8});
    c.tensors["value"] = Tensor::zeros(DType::fp32, {2, queries, 8});
    c.tensors["past_key"] = Tensor::zeros(DType::fp32, {2, 1, 1, 8});
    c.tensors["past_value"] = Tensor::zeros(DType::fp32, {2, 1, 1, 8});
    const auto total = static_cast<double>(queries + 1);
    c.tensors["seqlens_k"] = Tensor{DType::int32, {2}, {total - 1, total - 1}};
    c.tensors["total_sequence_length"] = Tensor{DType::int32, {}, {total}};
    return c;
  }
};

TEST_F(OrtGroupQueryAttentionRules, APromptAfterAPastNeedsABatchOfOne) {
  EXPECT_TRUE(brokenRules(spec, call(1)).empty());  // decoding takes any batch
  EXPECT_EQ(brokenRules(spec, call(2)), std::vector<std::string>{"PromptAfterPastBatchNotOne"});
  Case first_prompt = call(2);
  first_prompt.tensors.erase("past_key");
  first_prompt.tensors.erase("past_value");
  EXPECT_TRUE(brokenRules(spec, first_prompt).empty());
}

TEST_F(OrtGroupQueryAttentionRules, EveryCallIsCausalAfterThePast) {
  const Problem p = bindProblem(spec, call(2));  // 2 queries over 1 cached and 2 new keys
  EXPECT_TRUE(keeps(p.masks, 0, 1, 2, 3));
  EXPECT_FALSE(keeps(p.masks, 0, 2, 2, 3));
  EXPECT_TRUE(keeps(p.masks, 1, 2, 2, 3));
}

class JaxRules : public testing::Test {
 protected:
  ApiSpec spec = loadSpec(specFolder() / "jax_dot_product_attention.yaml");

  // Batch 2, one head, 2 queries, 3 keys; every score is 0, so attention averages; key j holds
  // the value j + 1 (entry 0) or 10 * (j + 1) (entry 1).
  Case call() {
    Case c;
    c.api = spec.api;
    c.tensors["query"] = Tensor::zeros(DType::fp32, {2, 2, 1, 1});
    c.tensors["key"] = Tensor::zeros(DType::fp32, {2, 3, 1, 1});
    c.tensors["value"] = Tensor{DType::fp32, {2, 3, 1, 1}, {1, 2, 3, 10, 20, 30}};
    return c;
  }
  std::map<std::string, ExpectedOutput> expected(const Case& c) {
    return expectedOutputs(spec, c, reference::attention(bindProblem(spec, c)));
  }
};

TEST_F(JaxRules, KeyLengthsHideKeysAndQueryLengthsZeroRows) {
  Case c = call();
  c.tensors["key_value_seq_lengths"] = Tensor{DType::int32, {2}, {2, 3}};
  c.tensors["query_seq_lengths"] = Tensor{DType::int32, {2}, {2, 1}};
  c.params["return_residual"] = true;
  const auto out = expected(c);
  // Entry 0 averages keys 0 and 1; entry 1 all three keys, and its query 1 is past its length.
  EXPECT_EQ(out.at("output").exact.values, (std::vector<double>{1.5, 1.5, 20, 0}));
  const ExpectedOutput& residual = out.at("residual");
  EXPECT_NEAR(residual.exact.values[0], std::log(2.0), 1e-12);
  EXPECT_FALSE(residual.isUnspecified(0));
  EXPECT_TRUE(residual.isUnspecified(3)) << "a row past its query length has no defined LSE";
}

TEST_F(JaxRules, ARowThatSeesNoKeyIsTheMeanOfEveryValue) {
  Case c = call();
  c.tensors["key_value_seq_lengths"] = Tensor{DType::int32, {2}, {0, 3}};
  c.tensors["mask"] = Tensor{DType::boolean, {2, 1, 2, 3}, {1, 1, 1, 1, 1, 1, 0, 0, 0, 1, 0, 0}};
  c.params["return_residual"] = true;
  const auto out = expected(c);
  // Entry 0 has no key within its length; entry 1's query 0 has its whole mask row false: both
  // average all three values, masked or not (xla's large finite negative score).
  EXPECT_EQ(out.at("output").exact.values, (std::vector<double>{2, 2, 20, 10}));
  EXPECT_TRUE(out.at("residual").isUnspecified(0));
  EXPECT_TRUE(out.at("residual").isUnspecified(2));
  EXPECT_FALSE(out.at("residual").isUnspecified(3));
}

TEST_F(JaxRules, TheBiasAddsToTheMaskAndTheWindowIsTopLeft) {
  Case c = call();
  c.tensors["bias"] = Tensor{DType::fp32, {1, 1, 1, 3}, {0, std::log(3.0), 0}};
  c.tensors["mask"] = Tensor{DType::boolean, {1, 1, 1, 3}, {1, 1, 0}};
  const Problem p = bindProblem(spec, c);
  EXPECT_EQ(p.bias.values[1], std::log(3.0));
  EXPECT_TRUE(std::isinf(p.bias.values[2]));
  // Weights 1/4 and 3/4 on keys 0 and 1.
  EXPECT_NEAR(expected(c).at("output").exact.values[0], 0.25 * 1 + 0.75 * 2, 1e-12);
  c = call();
  c.params["local_window_size"] = std::vector<std::int64_t>{0, 1};
  // Query 1 sees keys 1 and 2 (i - 0 <= j <= i + 1), aligned top-left although Sq < Sk.
  EXPECT_NEAR(expected(c).at("output").exact.values[1], 2.5, 1e-12);
}

class VarlenRules : public testing::Test {
 protected:
  ApiSpec spec = loadSpec(specFolder() / "flash_attn_varlen_func.yaml");

  // Three sequences of 2, 0 and 1 queries over 1, 2 and 3 keys; one head, head size 1; every
  // score is 0, so attention averages the values, which number the keys 1..6 end to end.
  Case call() {
    Case c;
    c.api = spec.api;
    c.dims = {{"batch", 3}, {"seqlen_q", 2}, {"seqlen_k", 3}};
    c.params = {{"max_seqlen_q", std::int64_t{2}}, {"max_seqlen_k", std::int64_t{3}}};
    c.tensors["cu_seqlens_q"] = Tensor{DType::int32, {4}, {0, 2, 2, 3}};
    c.tensors["cu_seqlens_k"] = Tensor{DType::int32, {4}, {0, 1, 3, 6}};
    c.tensors["q"] = Tensor::zeros(DType::fp16, {3, 1, 1});
    c.tensors["k"] = Tensor::zeros(DType::fp16, {6, 1, 1});
    c.tensors["v"] = Tensor{DType::fp16, {6, 1, 1}, {1, 2, 3, 4, 5, 6}};
    c.params["return_attn_probs"] = true;
    return c;
  }
  std::map<std::string, ExpectedOutput> expected(const Case& c) {
    return expectedOutputs(spec, c, reference::attention(bindProblem(spec, c)));
  }
};

TEST_F(VarlenRules, EachSequenceSeesOnlyItsOwnKeys) {
  const Case c = call();
  const Problem p = bindProblem(spec, c);
  EXPECT_EQ(p.seqlens_q, (std::vector<std::int64_t>{2, 0, 1}));
  EXPECT_EQ(p.seqlens_k, (std::vector<std::int64_t>{1, 2, 3}));
  const auto out = expected(c);
  // Sequence 0 averages key 1 alone; sequence 2 keys 4..6; sequence 1 has no query row.
  EXPECT_EQ(out.at("out").exact.values, (std::vector<double>{1, 1, 5}));
  EXPECT_EQ(out.at("softmax_lse").exact.shape, (Shape{1, 3}));
  EXPECT_NEAR(out.at("softmax_lse").exact.values[2], std::log(3.0), 1e-12);
}

TEST_F(VarlenRules, CausalIsBottomRightPerSequence) {
  Case c = call();
  c.params["causal"] = true;
  const auto out = expected(c);
  // Sequence 0 (2 queries, 1 key): query 0 sits before its key (offset 1 - 2 = -1) and sees
  // none, so it is 0 with LSE +inf; query 1 sees the key. Aligned by the longest lengths
  // (3 - 2 = 1) query 0 would see it.
  EXPECT_EQ(out.at("out").exact.values, (std::vector<double>{0, 1, 5}));
  EXPECT_TRUE(std::isinf(out.at("softmax_lse").exact.values[0]));
}

TEST(Onnx3dRules, HiddenSizesSplitIntoHeadsAndTheCacheJoinsTheKeys) {
  const ApiSpec spec = loadSpec(specFolder() / "onnx_attention_3d.yaml");
  Case c;
  c.api = spec.api;
  c.params = {{"q_num_heads", std::int64_t{2}}, {"kv_num_heads", std::int64_t{1}}};
  // Two query heads of size 2: hidden (h0d0, h0d1, h1d0, h1d1); one kv head; one cached key.
  c.tensors["Q"] = Tensor{DType::fp32, {1, 1, 4}, {1, 2, 3, 4}};
  c.tensors["K"] = Tensor{DType::fp32, {1, 1, 2}, {5, 6}};
  c.tensors["V"] = Tensor{DType::fp32, {1, 1, 3}, {7, 8, 9}};
  c.tensors["past_key"] = Tensor{DType::fp32, {1, 1, 1, 2}, {0, 0}};
  c.tensors["past_value"] = Tensor{DType::fp32, {1, 1, 1, 3}, {1, 1, 1}};
  EXPECT_TRUE(brokenRules(spec, c).empty());
  const Problem p = bindProblem(spec, c);
  EXPECT_EQ(p.q.shape, (Shape{1, 2, 1, 2}));
  EXPECT_EQ(p.q.values, (std::vector<double>{1, 2, 3, 4}));  // heads are the outer factor
  EXPECT_EQ(p.k.values, (std::vector<double>{0, 0, 5, 6}));  // the cached key comes first
  EXPECT_EQ(p.head_dim_v, 3);                                // read off V: 3 / kv_num_heads
  const auto out = expectedOutputs(spec, c, reference::attention(p));
  EXPECT_EQ(out.at("Y").exact.shape, (Shape{1, 1, 6}));  // q_num_heads * v_head_size
  EXPECT_EQ(out.at("present_key").exact.values, (std::vector<double>{0, 0, 5, 6}));
  EXPECT_EQ(out.at("present_value").exact.shape, (Shape{1, 1, 2, 3}));
  c.tensors["K"] = Tensor{DType::fp32, {1, 1, 3}, {5, 6, 7}};  // a head size Q does not have
  EXPECT_EQ(brokenRules(spec, c), std::vector<std::string>{"KeyShapeMismatch"});
  c.params.erase("q_num_heads");
  c.tensors["K"] = Tensor{DType::fp32, {1, 1, 2}, {5, 6}};
  c.dims["q_num_heads"] = 2;  // as a generated case records it
  EXPECT_EQ(brokenRules(spec, c), std::vector<std::string>{"QNumHeadsMissing"});
}

class KvCacheRules : public testing::Test {
 protected:
  ApiSpec spec = loadSpec(specFolder() / "flash_attn_with_kvcache.yaml");

  // A cache of 3 rows of 4 positions (one head, head size 1) whose values number row r,
  // position p as 10 r + p + 1; two batch entries of one query read rows 2 and 0, with 1 and 2
  // keys in use, and append one key each. Every score is 0: attention averages the values.
  Case call() {
    Case c;
    c.api = spec.api;
    c.tensors["q"] = Tensor::zeros(DType::fp16, {2, 1, 1, 1});
    c.tensors["k_cache"] = Tensor::zeros(DType::fp16, {3, 4, 1, 1});
    c.tensors["v_cache"] =
        Tensor{DType::fp16, {3, 4, 1, 1}, {1, 2, 3, 4, 11, 12, 13, 14, 21, 22, 23, 24}};
    c.tensors["k"] = Tensor::zeros(DType::fp16, {2, 1, 1, 1});
    c.tensors["v"] = Tensor{DType::fp16, {2, 1, 1, 1}, {100, 200}};
    c.tensors["cache_seqlens"] = Tensor{DType::int32, {2}, {1, 2}};
    c.tensors["cache_batch_idx"] = Tensor{DType::int32, {2}, {2, 0}};
    return c;
  }
};

TEST_F(KvCacheRules, EachEntryAttendsOverItsRowWithTheNewKeysAppendedInPlace) {
  const Case c = call();
  EXPECT_TRUE(brokenRules(spec, c).empty());
  const Problem p = bindProblem(spec, c);
  EXPECT_EQ(p.seqlens_k, (std::vector<std::int64_t>{2, 3}));  // cached + appended
  const auto out = expectedOutputs(spec, c, reference::attention(p));
  EXPECT_DOUBLE_EQ(out.at("out").exact.values[0], (21 + 100) / 2.0);
  EXPECT_DOUBLE_EQ(out.at("out").exact.values[1], (1 + 2 + 200) / 3.0);
  // Row 2 takes the new value at position 1, row 0 at position 2; row 1 is read by no entry.
  EXPECT_EQ(out.at("v_cache").exact.values,
            (std::vector<double>{1, 2, 200, 4, 11, 12, 13, 14, 21, 100, 23, 24}));
  EXPECT_EQ(out.at("k_cache").exact.values, c.tensors.at("k_cache").values);
}

TEST_F(KvCacheRules, WithoutSeqlensTheWholeRowTakesPartAndNothingIsWritten) {
  Case c = call();
  for (const char* name : {"k", "v", "cache_seqlens"}) c.tensors.erase(name);
  c.params["causal"] = true;  // one query at the end of four keys: sees them all
  const auto out = expectedOutputs(spec, c, reference::attention(bindProblem(spec, c)));
  EXPECT_EQ(out.at("out").exact.values, (std::vector<double>{22.5, 2.5}));
  EXPECT_EQ(out.at("v_cache").exact.values, c.tensors.at("v_cache").values);
}

TEST_F(KvCacheRules, LeftPaddedEntriesAttendFromTheirFirstPosition) {
  Case c = call();
  c.tensors["cache_leftpad"] = Tensor{DType::int32, {2}, {1, 1}};
  EXPECT_TRUE(brokenRules(spec, c).empty());
  const Problem p = bindProblem(spec, c);
  EXPECT_EQ(p.seqlens_k, (std::vector<std::int64_t>{1, 2}));  // row positions [1, end)
  const auto out = expectedOutputs(spec, c, reference::attention(p));
  EXPECT_DOUBLE_EQ(out.at("out").exact.values[0], 100);  // no cached key left, the new one
  EXPECT_DOUBLE_EQ(out.at("out").exact.values[1], (2 + 200) / 2.0);
  // The new values are written where they are without padding: the padding only hides keys.
  EXPECT_EQ(out.at("v_cache").exact.values,
            (std::vector<double>{1, 2, 200, 4, 11, 12, 13, 14, 21, 100, 23, 24}));
  EXPECT_EQ(cacheEntriesInUse(spec, c, "v_cache").values,
            (std::vector<double>{0, 1, 1, 0, 0, 0, 0, 0, 0, 1, 0, 0}));
  c.params["causal"] = true;  // bottom-right over the keys left: one query sees them all
  EXPECT_EQ(
      expectedOutputs(spec, c, reference::attention(bindProblem(spec, c))).at("out").exact.values,
      out.at("out").exact.values);
}

TEST_F(KvCacheRules, LeftPaddingWithoutSeqlensCutsTheFrontOfTheWholeRow) {
  Case c = call();
  for (const char* name : {"k", "v", "cache_seqlens"}) c.tensors.erase(name);
  c.tensors["cache_leftpad"] = Tensor{DType::int32, {2}, {3, 0}};
  const Problem p = bindProblem(spec, c);
  EXPECT_EQ(p.seqlens_k, (std::vector<std::int64_t>{1, 4}));
  const auto out = expectedOutputs(spec, c, reference::attention(p));
  EXPECT_EQ(out.at("out").exact.values, (std::vector<double>{24, 2.5}));
  c.tensors["cache_leftpad"].dtype = DType::int64;
  EXPECT_EQ(brokenRules(spec, c), std::vector<std::string>{"CacheLeftpadDtypeInvalid"});
  c.tensors["cache_leftpad"] = Tensor{DType::int32, {1}, {0}};
  EXPECT_EQ(brokenRules(spec, c), std::vector<std::string>{"CacheLeftpadShapeMismatch"});
}

TEST_F(KvCacheRules, NewKeysNeedCacheSeqlensAndAQueryNoLongerThanTheCache) {
  Case c = call();
  c.tensors.erase("cache_seqlens");
  EXPECT_EQ(brokenRules(spec, c), std::vector<std::string>{"NewKeysWithoutCacheSeqlens"});
  c = call();
  c.tensors["q"] = Tensor::zeros(DType::fp16, {2, 5, 1, 1});
  EXPECT_EQ(brokenRules(spec, c), std::vector<std::string>{"QueryLongerThanCache"});
  c.tensors.erase("k");
  c.tensors.erase("v");
  EXPECT_TRUE(brokenRules(spec, c).empty());  // the limit holds only for calls that append
}

class PagedKvCacheRules : public testing::Test {
 protected:
  ApiSpec spec = loadSpec(specFolder() / "flash_attn_with_kvcache_paged.yaml");
  static constexpr std::int64_t page_size = 256;

  // Five pages of 256 positions (one head, head size 1); every value of page n is n + 1. Entry 0
  // owns pages 3 then 1 and holds 300 keys, entry 1 owns pages 0 then 4 and holds 10; page 2 is
  // spare. Each appends one key. Every score is 0: attention averages the values.
  Case call() {
    Case c;
    c.api = spec.api;
    c.tensors["q"] = Tensor::zeros(DType::fp16, {2, 1, 1, 1});
    c.tensors["k_cache"] = Tensor::zeros(DType::fp16, {5, page_size, 1, 1});
    Tensor v_cache = Tensor::zeros(DType::fp16, {5, page_size, 1, 1});
    for (std::size_t i = 0; i < v_cache.values.size(); ++i)
      v_cache.values[i] = static_cast<double>(i / page_size) + 1;
    c.tensors["v_cache"] = v_cache;
    c.tensors["k"] = Tensor::zeros(DType::fp16, {2, 1, 1, 1});
    c.tensors["v"] = Tensor{DType::fp16, {2, 1, 1, 1}, {100, 200}};
    c.tensors["cache_seqlens"] = Tensor{DType::int32, {2}, {300, 10}};
    c.tensors["block_table"] = Tensor{DType::int32, {2, 2}, {3, 1, 0, 4}};
    return c;
  }
};

TEST_F(PagedKvCacheRules, EachEntryReadsAndWritesThePagesItsTableNames) {
  const Case c = call();
  EXPECT_TRUE(brokenRules(spec, c).empty());
  const Problem p = bindProblem(spec, c);
  EXPECT_EQ(p.seqlens_k, (std::vector<std::int64_t>{301, 11}));
  const auto out = expectedOutputs(spec, c, reference::attention(p));
  // Entry 0: 256 keys of page 3 (value 4), 44 of page 1 (value 2), then the new one.
  EXPECT_NEAR(out.at("out").exact.values[0], (256 * 4 + 44 * 2 + 100) / 301.0, 1e-12);
  EXPECT_DOUBLE_EQ(out.at("out").exact.values[1], (10 * 1 + 200) / 11.0);
  std::vector<double> written = c.tensors.at("v_cache").values;
  written[1 * page_size + 44] = 100;                   // entry 0's position 300: page 1, slot 44
  written[0 * page_size + 10] = 200;                   // entry 1's position 10: page 0, slot 10
  EXPECT_EQ(out.at("v_cache").exact.values, written);  // the spare page 2 included
}

TEST_F(PagedKvCacheRules, TheCacheInUseIsEachEntrysKeysThroughItsTable) {
  const Tensor used = cacheEntriesInUse(spec, call(), "v_cache");
  std::vector<double> expected(5 * page_size, 0.0);
  std::fill_n(expected.begin() + 3 * page_size, page_size, 1.0);  // entry 0: page 3 whole,
  std::fill_n(expected.begin() + 1 * page_size, 45, 1.0);         // then 45 keys of page 1
  std::fill_n(expected.begin() + 0 * page_size, 11, 1.0);         // entry 1: 11 keys of page 0
  EXPECT_EQ(used.values, expected);  // pages 2 (spare) and 4 (owned, not reached) unused
}

TEST_F(PagedKvCacheRules, APagedCallEqualsTheContiguousCallOverTheGatheredRows) {
  const Case paged = call();
  const ApiSpec contiguous_spec = loadSpec(specFolder() / "flash_attn_with_kvcache.yaml");
  Case contiguous = paged;
  contiguous.api = contiguous_spec.api;
  contiguous.tensors.erase("block_table");
  Tensor rows = Tensor::zeros(DType::fp16, {2, 2 * page_size, 1, 1});
  const std::vector<int> table{3, 1, 0, 4};
  for (std::size_t slot = 0; slot < table.size(); ++slot)
    for (std::int64_t i = 0; i < page_size; ++i)
      rows.values[slot * page_size + i] = static_cast<double>(table[slot] + 1);
  contiguous.tensors["v_cache"] = rows;
  contiguous.tensors["k_cache"] = Tensor::zeros(DType::fp16, {2, 2 * page_size, 1, 1});
  const Problem p = bindProblem(spec, paged);
  const Problem q = bindProblem(contiguous_spec, contiguous);
  EXPECT_EQ(p.k.values, q.k.values);
  EXPECT_EQ(p.v.values, q.v.values);
  EXPECT_EQ(p.seqlens_k, q.seqlens_k);
}

TEST_F(PagedKvCacheRules, TablesNamingMissingPagesOrAlongsideCacheBatchIdxAreRejected) {
  for (const double bad : {5.0, -1.0}) {
    Case c = call();
    c.tensors["block_table"].values[3] = bad;
    EXPECT_EQ(brokenRules(spec, c), std::vector<std::string>{"BlockTableIndexOutOfRange"}) << bad;
  }
  Case c = call();
  c.tensors["cache_batch_idx"] = Tensor{DType::int32, {2}, {1, 0}};
  EXPECT_EQ(brokenRules(spec, c), std::vector<std::string>{"CacheBatchIdxWithBlockTable"});
  c = call();
  c.tensors["k_cache"] = Tensor::zeros(DType::fp16, {5, 128, 1, 1});
  c.tensors["v_cache"] = Tensor::zeros(DType::fp16, {5, 128, 1, 1});
  EXPECT_EQ(brokenRules(spec, c), std::vector<std::string>{"PageSizeNotMultipleOf256"});
}

class RotaryKvCacheRules : public testing::Test {
 protected:
  ApiSpec spec = loadSpec(specFolder() / "flash_attn_with_kvcache.yaml");

  // One entry, one head of 16 channels, a cache of 4 positions with 1 in use, and `fresh` new
  // keys and queries. The tables' rotary_dim is 16 (all channels); row 1 turns each pair by 90
  // degrees (cos 0, sin 1), row 2 by 180 (cos -1, sin 0), rows 0 and 3 not at all.
  Case call(std::int64_t fresh = 1) {
    Case c;
    c.api = spec.api;
    Tensor ones = Tensor::zeros(DType::fp16, {1, fresh, 1, 16});
    std::ranges::fill(ones.values, 1.0);
    c.tensors["q"] = ones;
    c.tensors["k_cache"] = Tensor::zeros(DType::fp16, {1, 4, 1, 16});
    c.tensors["v_cache"] = Tensor::zeros(DType::fp16, {1, 4, 1, 16});
    Tensor k = Tensor::zeros(DType::fp16, {1, fresh, 1, 16});
    for (std::size_t i = 0; i < k.values.size(); ++i) k.values[i] = static_cast<double>(i % 16 + 1);
    c.tensors["k"] = k;
    c.tensors["v"] = Tensor::zeros(DType::fp16, {1, fresh, 1, 16});
    c.tensors["cache_seqlens"] = Tensor{DType::int32, {1}, {1}};
    Tensor cos = Tensor::zeros(DType::fp16, {4, 8}), sin = cos;
    for (std::size_t j = 0; j < 8; ++j) {
      cos.values[j] = cos.values[24 + j] = 1;  // rows 0 and 3
      sin.values[8 + j] = 1;                   // row 1
      cos.values[16 + j] = -1;                 // row 2
    }
    c.tensors["rotary_cos"] = cos;
    c.tensors["rotary_sin"] = sin;
    return c;
  }

  std::vector<double> keyWrittenAt(const Case& c, std::int64_t position) {
    const auto out = expectedOutputs(spec, c, reference::attention(bindProblem(spec, c)));
    const auto& cache = out.at("k_cache").exact.values;
    return {cache.begin() + position * 16, cache.begin() + (position + 1) * 16};
  }
};

TEST_F(RotaryKvCacheRules, TheNewKeyIsWrittenRotatedAtItsCachePosition) {
  Case c = call();
  EXPECT_TRUE(brokenRules(spec, c).empty());
  // Interleaved (the default): pairs (0, 1), (2, 3), ... turned by 90 degrees at position 1.
  EXPECT_EQ(keyWrittenAt(c, 1),
            (std::vector<double>{-2, 1, -4, 3, -6, 5, -8, 7, -10, 9, -12, 11, -14, 13, -16, 15}));
  c.params["rotary_interleaved"] = false;  // GPT-NeoX: pairs (0, 8), (1, 9), ...
  EXPECT_EQ(keyWrittenAt(c, 1),
            (std::vector<double>{-9, -10, -11, -12, -13, -14, -15, -16, 1, 2, 3, 4, 5, 6, 7, 8}));
  c.tensors["cache_seqlens"].values[0] = 2;  // now 180 degrees
  EXPECT_EQ(keyWrittenAt(c, 2), (std::vector<double>{-1, -2, -3, -4, -5, -6, -7, -8, -9, -10, -11,
                                                     -12, -13, -14, -15, -16}));
}

TEST_F(RotaryKvCacheRules, QueriesSitAtTheirOwnPositionsOnlyWhenCausalOrLocal) {
  const auto rows = [&](const Case& c) {  // channel 1 of each query, and its pair channel 0
    const Problem p = bindProblem(spec, c);
    return std::vector<double>{p.q.values[0], p.q.values[1], p.q.values[16], p.q.values[17]};
  };
  Case c = call(2);
  EXPECT_TRUE(brokenRules(spec, c).empty());
  // Not causal, not local: both queries at position 1 (cache_seqlens), turned by 90 degrees.
  EXPECT_EQ(rows(c), (std::vector<double>{-1, 1, -1, 1}));
  c.params["causal"] = true;  // query 1 at position 2: 180 degrees
  EXPECT_EQ(rows(c), (std::vector<double>{-1, 1, -1, -1}));
  c.params["causal"] = false;
  c.params["window_size"] = std::vector<std::int64_t>{1, -1};  // local
  EXPECT_EQ(rows(c), (std::vector<double>{-1, 1, -1, -1}));
  // A side as long as the cache is no side: mha_fwd_kvcache makes it -1, so not local.
  c.params["window_size"] = std::vector<std::int64_t>{4, -1};
  EXPECT_EQ(rows(c), (std::vector<double>{-1, 1, -1, 1}));
}

TEST_F(RotaryKvCacheRules, LeftPaddingLeavesRotaryPositionsThoseOfTheRow) {
  Case c = call(2);
  c.tensors["cache_leftpad"] = Tensor{DType::int32, {1}, {1}};
  c.params["causal"] = true;
  const Problem p = bindProblem(spec, c);
  // Queries at row positions 1 and 2 (90 and 180 degrees), not 0 and 1 past the padding.
  EXPECT_EQ((std::vector<double>{p.q.values[0], p.q.values[1], p.q.values[16], p.q.values[17]}),
            (std::vector<double>{-1, 1, -1, -1}));
  // The first new key is written and turned at row position 1; the entry reads it first.
  EXPECT_EQ(keyWrittenAt(c, 1),
            (std::vector<double>{-2, 1, -4, 3, -6, 5, -8, 7, -10, 9, -12, 11, -14, 13, -16, 15}));
  EXPECT_EQ(p.seqlens_k, std::vector<std::int64_t>{2});
  EXPECT_EQ((std::vector<double>{p.k.values[0], p.k.values[1]}), (std::vector<double>{-2, 1}));
}

TEST_F(RotaryKvCacheRules, RotatedKeysMayDifferByOneRoundingOfWhatTheySum) {
  Case c = call();
  std::ranges::fill(c.tensors["rotary_cos"].values, 0.5);
  std::ranges::fill(c.tensors["rotary_sin"].values, 0.25);
  const auto out = expectedOutputs(spec, c, reference::attention(bindProblem(spec, c)));
  const ExpectedOutput& keys = out.at("k_cache");
  // Position 1 holds the rotated key: channel 0 sums |1 * 0.5| + |2 * 0.25| = 1.
  EXPECT_DOUBLE_EQ(keys.allowanceAt(16), epsilon(DType::fp16) + smallestSubnormal(DType::fp16));
  for (const std::int64_t untouched : {0, 15, 32, 63}) EXPECT_EQ(keys.allowanceAt(untouched), 0);
  EXPECT_TRUE(out.at("v_cache").allowance.values.empty());  // values are copied exactly
}

TEST_F(RotaryKvCacheRules, TablesAreCheckedAndTheQueriesMustBeNewTokens) {
  Case c = call();
  c.tensors.erase("k");
  c.tensors.erase("v");
  EXPECT_EQ(brokenRules(spec, c), std::vector<std::string>{"RotaryWithoutNewKeys"});
  c = call();
  c.tensors["rotary_cos"] = Tensor::zeros(DType::fp16, {3, 8});
  c.tensors["rotary_sin"] = Tensor::zeros(DType::fp16, {3, 8});
  EXPECT_EQ(brokenRules(spec, c), std::vector<std::string>{"RotaryTableTooShort"});
  c = call();
  c.tensors["rotary_cos"] = Tensor::zeros(DType::fp16, {4, 4});
  c.tensors["rotary_sin"] = Tensor::zeros(DType::fp16, {4, 4});
  EXPECT_EQ(brokenRules(spec, c), std::vector<std::string>{"RotaryDimNotMultipleOf16"});
  c = call();
  c.tensors.erase("rotary_cos");
  EXPECT_EQ(brokenRules(spec, c), std::vector<std::string>{"RotaryCosWithoutSin"});
  // Two queries and one new key: no rule broken, but outside the spec (a table row may be
  // missing); bindProblem refuses a query past the table rather than read past it.
  c = call();
  c.tensors["q"] = Tensor::zeros(DType::fp16, {1, 2, 1, 16});
  EXPECT_TRUE(brokenRules(spec, c).empty());
  EXPECT_FALSE(keepsAssumptions(spec, c));
  c.tensors["cache_seqlens"].values[0] = 3;
  c.params["causal"] = true;
  EXPECT_THROW(bindProblem(spec, c), std::invalid_argument);
}

}  // namespace
}  // namespace attnconf::spec

namespace attnconf::spec {
namespace {

// torch_npu: the BSH layout split by head_num, scale 1.0 when left out, a mask whose true hides
// the key, and sparse_mode picking what else masks.
class NpuFusionAttention : public testing::Test {
 protected:
  std::vector<ApiSpec> variants = loadSpecs(specFolder() / "npu_fusion_attention.yaml");
  const ApiSpec& bsh = variants[2];

  Case call(std::int64_t sparse_mode, bool with_mask) const {
    Case c;
    c.api = bsh.api;
    c.params = {{"head_num", std::int64_t{4}},
                {"input_layout", std::string("BSH")},
                {"sparse_mode", sparse_mode},
                {"pre_tockens", std::int64_t{2}},
                {"next_tockens", std::int64_t{-1}}};
    c.tensors["query"] = Tensor::zeros(DType::fp16, {2, 3, 4 * 16});
    c.tensors["key"] = Tensor::zeros(DType::fp16, {2, 5, 2 * 16});
    c.tensors["value"] = Tensor::zeros(DType::fp16, {2, 5, 2 * 16});
    if (with_mask)
      c.tensors["atten_mask"] = Tensor{DType::boolean, {3, 5}, std::vector<double>(15)};
    return c;
  }
};

TEST_F(NpuFusionAttention, BindsTheHiddenLayoutAndTheDefaultScale) {
  ASSERT_EQ(bsh.api, "npu_fusion_attention_bsh");
  const Problem p = bindProblem(bsh, call(0, false));
  EXPECT_EQ(p.heads_q, 4);
  EXPECT_EQ(p.heads_kv, 2);
  EXPECT_EQ(p.head_dim, 16);
  EXPECT_DOUBLE_EQ(p.scale, 1.0);  // not 1/sqrt(16)
  EXPECT_TRUE(p.masks.empty());    // without atten_mask no mode masks anything
  EXPECT_FALSE(p.hasBias());
}

TEST_F(NpuFusionAttention, SparseModesPickTheirMasks) {
  Problem p = bindProblem(bsh, call(0, true));  // the mask and the band, top-left
  ASSERT_EQ(p.masks.size(), 1U);
  EXPECT_EQ(p.masks[0], MaskPrimitive(BandMask{2, -1, Alignment::top_left}));
  EXPECT_TRUE(p.hasBias());
  p = bindProblem(bsh, call(1, true));  // the mask alone
  EXPECT_TRUE(p.masks.empty());
  EXPECT_TRUE(p.hasBias());
  EXPECT_TRUE(brokenRules(bsh, call(1, true)).empty());
  EXPECT_EQ(brokenRules(bsh, call(9, true)), std::vector<std::string>{"SparseModeOutOfRange"});
}

TEST_F(NpuFusionAttention, CompressedModesTakeTheTriangleMarkerAlone) {
  EXPECT_EQ(brokenRules(bsh, call(3, true)), std::vector<std::string>{"AttenMaskShapeInvalid"});
  Case c = call(3, true);
  c.tensors["atten_mask"] = Tensor::zeros(DType::boolean, {2048, 2048});
  EXPECT_TRUE(brokenRules(bsh, c).empty());
  const Problem p = bindProblem(bsh, c);  // the marker is no mask of its own
  EXPECT_EQ(p.masks, std::vector<MaskPrimitive>{CausalMask{Alignment::bottom_right}});
  EXPECT_FALSE(p.hasBias());
  c.params["sparse_mode"] = std::int64_t{1};  // modes that take the mask as given reject it
  EXPECT_EQ(brokenRules(bsh, c), std::vector<std::string>{"AttenMaskShapeInvalid"});
}

TEST_F(NpuFusionAttention, PseIsAddedBeforeTheScale) {
  Case c = call(1, false);
  c.params["scale"] = 0.5;
  c.tensors["pse"] = Tensor{DType::fp16, {1, 4, 1, 5}, std::vector<double>(20, 0.0)};
  c.tensors["pse"].values[6] = 3.0;  // head 1, key 1; broadcast over batch and queries
  EXPECT_TRUE(brokenRules(bsh, c).empty());
  const Problem p = bindProblem(bsh, c);
  ASSERT_TRUE(p.hasBias());
  EXPECT_DOUBLE_EQ(p.bias.values[(1 * 3 + 2) * 5 + 1], 1.5);  // 0.5 * (3 + QK^T)
  EXPECT_DOUBLE_EQ(p.bias.values[(1 * 3 + 2) * 5 + 0], 0.0);
  c.tensors["pse"].shape = {1, 1, 1, 5};  // no head axis of 1: not a documented form
  EXPECT_EQ(brokenRules(bsh, c), std::vector<std::string>{"PseShapeInvalid"});
}

TEST_F(NpuFusionAttention, MaskTrueHidesTheKey) {
  Case c = call(1, true);
  c.tensors["atten_mask"].values[1] = 1;  // query 0, key 1
  const Problem p = bindProblem(bsh, c);
  EXPECT_EQ(p.bias.values[1], -std::numeric_limits<double>::infinity());
  EXPECT_EQ(p.bias.values[0], 0.0);
}

TEST_F(NpuFusionAttention, SoftmaxStatisticsAreTheRowMaxAndSumEightTimes) {
  Case c = call(1, false);
  c.tensors["query"].values.assign(c.tensors["query"].values.size(), 0.25);
  c.tensors["key"].values[0] = 1.0;  // batch 0, key 0, kv head 0: query heads 0 and 1
  const auto expected = expectedOutputs(bsh, c, reference::attention(bindProblem(bsh, c)));
  const ExpectedOutput& row_max = expected.at("softmax_max");
  const ExpectedOutput& row_sum = expected.at("softmax_sum");
  EXPECT_EQ(row_max.exact.shape, (Shape{2, 4, 3, 8}));
  EXPECT_DOUBLE_EQ(row_max.exact.values[0], 0.25);
  EXPECT_DOUBLE_EQ(row_max.exact.values[7], 0.25);
  EXPECT_NEAR(row_sum.exact.values[0], 1.0 + 4 * std::exp(-0.25), 1e-12);  // one key at 0.25
  EXPECT_EQ(row_sum.role, "row_sum");
}

// TND: two sequences end to end, their ends without the leading 0. Query lengths 2 and 1, key
// lengths 1 and 3; mode 3 aligns each diagonal at the sequence's own bottom-right corner.
TEST_F(NpuFusionAttention, TndSequencesEndWhereTheirEndsSayAndAlignOnTheirOwn) {
  const ApiSpec& tnd = variants.back();
  ASSERT_EQ(tnd.api, "npu_fusion_attention_tnd");
  Case c;
  c.api = tnd.api;
  c.params = {{"head_num", std::int64_t{1}},
              {"input_layout", std::string("TND")},
              {"sparse_mode", std::int64_t{3}}};
  c.tensors["query"] = Tensor::zeros(DType::fp32, {3, 1, 1});
  c.tensors["key"] = Tensor::zeros(DType::fp32, {4, 1, 1});  // every score 0: a mean of values
  c.tensors["value"] = Tensor{DType::fp32, {4, 1, 1}, {10, 20, 30, 40}};
  c.tensors["actual_seq_qlen"] = Tensor{DType::int64, {2}, {2, 3}};
  c.tensors["actual_seq_kvlen"] = Tensor{DType::int64, {2}, {1, 4}};
  c.tensors["atten_mask"] = Tensor::zeros(DType::boolean, {2048, 2048});
  EXPECT_TRUE(brokenRules(tnd, c).empty());
  const Problem p = bindProblem(tnd, c);
  EXPECT_EQ(p.seqlens_q, (std::vector<std::int64_t>{2, 1}));
  EXPECT_EQ(p.seqlens_k, (std::vector<std::int64_t>{1, 3}));
  const auto expected = expectedOutputs(tnd, c, reference::attention(p));
  const Tensor& out = expected.at("attention_out").exact;
  ASSERT_EQ(out.shape, (Shape{3, 1, 1}));
  // Sequence 0: query 0 sits before its one key (a fully masked row: 0), query 1 on it.
  EXPECT_EQ(out.values[0], 0.0);
  EXPECT_DOUBLE_EQ(out.values[1], 10.0);
  // Sequence 1: its one query sits on its last key and sees keys 1-3, not sequence 0's.
  EXPECT_DOUBLE_EQ(out.values[2], 30.0);
  EXPECT_EQ(expected.at("softmax_max").exact.shape, (Shape{3, 1, 8}));  // (T, N, 8)
  c.tensors["actual_seq_kvlen"] = Tensor{DType::int64, {3}, {1, 4, 4}};
  EXPECT_EQ(brokenRules(tnd, c), std::vector<std::string>{"ActualSeqLengthsMismatch"});
}

// Modes 7 and 8 pinned on three TND sequences of (queries, keys) (1, 3), (2, 4) and (0, 2): one
// row per query, '1' where the key is seen.
class NpuSplitModes : public NpuFusionAttention {
 protected:
  const ApiSpec& tnd = variants.back();

  Case split(std::int64_t sparse_mode, std::int64_t pre, std::int64_t next) const {
    Case c;
    c.api = tnd.api;
    c.params = {{"head_num", std::int64_t{1}},
                {"input_layout", std::string("TND")},
                {"sparse_mode", sparse_mode},
                {"pre_tockens", pre},
                {"next_tockens", next}};
    c.tensors["query"] = Tensor::zeros(DType::fp32, {3, 1, 1});
    c.tensors["key"] = Tensor::zeros(DType::fp32, {9, 1, 1});
    c.tensors["value"] = Tensor::zeros(DType::fp32, {9, 1, 1});
    c.tensors["actual_seq_qlen"] = Tensor{DType::int64, {3}, {1, 3, 3}};
    c.tensors["actual_seq_kvlen"] = Tensor{DType::int64, {3}, {3, 7, 9}};
    c.tensors["atten_mask"] = Tensor::zeros(DType::boolean, {2048, 2048});
    return c;
  }

  static std::string seen(const Problem& p, std::int64_t b) {
    const std::int64_t sq = p.seqlens_q[b], sk = p.seqlens_k[b];
    std::string rows;
    for (std::int64_t i = 0; i < sq; ++i) {
      for (std::int64_t j = 0; j < sk; ++j) rows += keeps(p.masksOf(b), i, j, sq, sk) ? '1' : '0';
      rows += '\n';
    }
    return rows;
  }
};

TEST_F(NpuSplitModes, Mode7GivesTheLastSequenceWithQueriesTheBottomRightBand) {
  const Case c = split(7, 4, -1);  // sequence 1's band: keys [i + 2 - 4, i + 2 - 1]
  EXPECT_TRUE(brokenRules(tnd, c).empty());
  EXPECT_TRUE(keepsAssumptions(tnd, c));
  const Problem p = bindProblem(tnd, c);
  EXPECT_TRUE(p.masks.empty());
  EXPECT_EQ(seen(p, 0), "111\n");         // rightDownCausal
  EXPECT_EQ(seen(p, 1), "1100\n1110\n");  // the band
  EXPECT_EQ(p.masksOf(2), std::vector<MaskPrimitive>{CausalMask{Alignment::bottom_right}});
}

TEST_F(NpuSplitModes, Mode8GivesTheFirstSequenceWithQueriesTheBottomRightBand) {
  const Case c = split(8, 3, -1);  // sequence 0's band: keys [0 + 2 - 3, 0 + 2 - 1]
  EXPECT_TRUE(keepsAssumptions(tnd, c));
  const Problem p = bindProblem(tnd, c);
  EXPECT_EQ(seen(p, 0), "110\n");         // the band
  EXPECT_EQ(seen(p, 1), "1000\n1100\n");  // leftUpCausal
}

// The band must be what splitting a causal sequence by queries leaves (sparse_mode_docs).
TEST_F(NpuSplitModes, BandsThatNoSplitLeavesAreOutsideTheSpec) {
  EXPECT_FALSE(keepsAssumptions(tnd, split(7, 3, -1)));  // pre below the sequence's 4 keys
  EXPECT_FALSE(keepsAssumptions(tnd, split(7, 4, 1)));   // mode 7: next above 0
  EXPECT_FALSE(keepsAssumptions(tnd, split(7, 4, -3)));  // next below Sq - Skv = -2
  EXPECT_TRUE(keepsAssumptions(tnd, split(8, 3, 5)));    // mode 8: next has no upper bound
  Case c = split(7, 4, -1);
  c.tensors["actual_seq_kvlen"] = Tensor{DType::int64, {3}, {0, 4, 6}};  // 1 query, 0 keys
  EXPECT_FALSE(keepsAssumptions(tnd, c));
  c.tensors.erase("atten_mask");  // without the mask no mode applies
  EXPECT_TRUE(keepsAssumptions(tnd, c));
}

TEST_F(NpuSplitModes, OnlyTndTakesModes7And8) {
  EXPECT_EQ(brokenRules(bsh, call(7, false)), std::vector<std::string>{"SparseModeOutOfRange"});
  Case c = split(9, 4, -1);
  c.tensors.erase("atten_mask");  // no mode 9 reads a compressed mask
  EXPECT_EQ(brokenRules(tnd, c), std::vector<std::string>{"SparseModeOutOfRange"});
}

// Modes 5 and 6 pinned on two BNSD entries of 5 queries and 3 keys, prefixes 0 and 2: the
// bottom-right causal mask plus each entry's first prefix[b] keys (sparse_mode_docs).
class NpuPrefixModes : public NpuSplitModes {
 protected:
  const ApiSpec& bnsd = variants.front();

  Case prefixed(std::int64_t sparse_mode, const Shape& mask_shape) const {
    Case c;
    c.api = bnsd.api;
    c.params = {{"head_num", std::int64_t{1}},
                {"input_layout", std::string("BNSD")},
                {"sparse_mode", sparse_mode}};
    c.tensors["query"] = Tensor::zeros(DType::fp32, {2, 1, 5, 1});
    c.tensors["key"] = Tensor::zeros(DType::fp32, {2, 1, 3, 1});
    c.tensors["value"] = Tensor::zeros(DType::fp32, {2, 1, 3, 1});
    c.tensors["prefix"] = Tensor{DType::int64, {2}, {0, 2}};
    c.tensors["atten_mask"] = Tensor::zeros(DType::boolean, mask_shape);
    return c;
  }
};

TEST_F(NpuPrefixModes, Mode5ShowsEachEntryItsPrefixBesidesTheBottomRightDiagonal) {
  const Case c = prefixed(5, {2, 1, 5, 3});
  EXPECT_TRUE(brokenRules(bnsd, c).empty());
  const Problem p = bindProblem(bnsd, c);
  EXPECT_TRUE(p.hasBias());  // the mask written out takes part as passed
  EXPECT_EQ(seen(p, 0), "000\n000\n100\n110\n111\n");
  EXPECT_EQ(seen(p, 1), "110\n110\n110\n110\n111\n");
  EXPECT_EQ(describe(p.masksOf(1).front()), "causal(bottom_right, prefix 2)");
}

TEST_F(NpuPrefixModes, Mode6TakesTheTallerCompressedMarkerAlone) {
  EXPECT_EQ(brokenRules(bnsd, prefixed(6, {2048, 2048})),
            std::vector<std::string>{"AttenMaskShapeInvalid"});
  const Case c = prefixed(6, {3072, 2048});
  EXPECT_TRUE(brokenRules(bnsd, c).empty());
  const Problem p = bindProblem(bnsd, c);
  EXPECT_FALSE(p.hasBias());
  EXPECT_EQ(seen(p, 1), "110\n110\n110\n110\n111\n");
  Case other_mode = c;  // the prefix is read in modes 5 and 6 alone
  other_mode.params["sparse_mode"] = std::int64_t{3};
  other_mode.tensors["atten_mask"] = Tensor::zeros(DType::boolean, {2048, 2048});
  EXPECT_EQ(bindProblem(bnsd, other_mode).masks,
            std::vector<MaskPrimitive>{CausalMask{Alignment::bottom_right}});
}

// The fused API's paged block sizes: a rule under a negated condition applies to every head dim
// but the listed ones.
TEST(NpuFusedPagedRules, BlockRulesApplyByQueryLengthAndUnlistedHeadDims) {
  const ApiSpec spec = loadSpecs(specFolder() / "npu_fused_infer_attention_score_paged.yaml")[0];
  const Rule* prompt = spec.rule("PromptBlockSizeNotAligned");
  ASSERT_NE(prompt, nullptr);
  EXPECT_EQ(describeRule(*prompt), "block_size % 128 == 0 when s1 >= 2 when d not in {64, 128}");
  const auto applies = [&](std::int64_t s1, std::int64_t d) {
    const std::map<std::string, std::int64_t> dims{{"s1", s1}, {"d", d}};
    return std::ranges::all_of(prompt->if_dims,
                               [&](const Check& c) { return holdsForDims(c, dims); });
  };
  EXPECT_TRUE(applies(4, 80));
  EXPECT_FALSE(applies(4, 64));
  EXPECT_FALSE(applies(4, 128));
  EXPECT_FALSE(applies(1, 80));
}

// The prompt kernel's group limit: a dim bound times a factor.
TEST(NpuPromptRules, AtMost64QueryHeadsPerKeyHead) {
  const ApiSpec spec = loadSpecs(specFolder() / "npu_prompt_flash_attention.yaml")[0];
  const Rule* group = spec.rule("GroupTooLarge");
  ASSERT_NE(group, nullptr);
  EXPECT_EQ(describeRule(*group), "n1 <= 64 * n2 when d not in {64, 128}");
  EXPECT_TRUE(holdsForDims(group->check, {{"n1", 128}, {"n2", 2}}));
  EXPECT_FALSE(holdsForDims(group->check, {{"n1", 130}, {"n2", 2}}));
}

// FlashAttention-3: an fp8 call's q, k and v times their (batch, kv head) descale factors, a
// query head taking its kv head's; an fp16 call ignores them; fp8 comes back as bf16.
class Fa3Descale : public testing::Test {
 protected:
  ApiSpec spec = loadSpec(specFolder() / "flash_attn3_with_kvcache.yaml");

  // Two batch entries, two query heads over one kv head, every input 1.
  Case call(DType dtype) {
    Case c;
    c.api = spec.api;
    const auto ones = [](DType d, Shape shape) {
      Tensor t = Tensor::zeros(d, std::move(shape));
      std::ranges::fill(t.values, 1.0);
      return t;
    };
    c.tensors["q"] = ones(dtype, {2, 1, 2, 16});
    c.tensors["k_cache"] = ones(dtype, {2, 3, 1, 16});
    c.tensors["v_cache"] = ones(dtype, {2, 3, 1, 16});
    for (const char* name : {"q_descale", "k_descale", "v_descale"})
      c.tensors[name] = Tensor{DType::fp32, {2, 1}, {0.5, 2.0}};
    return c;
  }
};

TEST_F(Fa3Descale, Fp8InputsAreScaledPerBatchEntryAndKvHead) {
  const Case c = call(DType::fp8_e4m3);
  const Problem p = bindProblem(spec, c);
  EXPECT_EQ(p.q.values.front(), 0.5);  // entry 0, both query heads
  EXPECT_EQ(p.q.values[16], 0.5);
  EXPECT_EQ(p.q.values.back(), 2.0);  // entry 1
  EXPECT_EQ(p.k.values.front(), 0.5);
  EXPECT_EQ(p.v.values.back(), 2.0);
  const auto out = expectedOutputs(spec, c, reference::attention(p)).at("out");
  EXPECT_EQ(out.dtype, DType::bf16);
  EXPECT_EQ(out.exact.values.back(), 2.0);  // every value is 1 * v_descale
}

TEST_F(Fa3Descale, OtherDtypesIgnoreTheFactors) {
  const Case c = call(DType::bf16);
  const Problem p = bindProblem(spec, c);
  EXPECT_TRUE(std::ranges::all_of(p.v.values, [](double x) { return x == 1.0; }));
  EXPECT_EQ(expectedOutputs(spec, c, reference::attention(p)).at("out").dtype, DType::bf16);
  EXPECT_EQ(expectedOutputs(spec, call(DType::fp16), reference::attention(p)).at("out").dtype,
            DType::fp16);
}

}  // namespace
}  // namespace attnconf::spec
