// The reference against cases small enough to compute by hand.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <tuple>

#include "attnconf/reference/attention.h"

namespace attnconf::reference {
namespace {

const double kInf = std::numeric_limits<double>::infinity();

// One batch, one head, head_dim 1 unless values say otherwise; scale 1.
Problem problem(std::int64_t sq, std::int64_t sk, std::vector<double> q, std::vector<double> k,
                std::vector<double> v) {
  Problem p;
  p.dtype = DType::fp32;
  p.seqlens_q = {sq};
  p.seqlens_k = {sk};
  p.head_dim = static_cast<std::int64_t>(q.size()) / sq;
  p.head_dim_v = static_cast<std::int64_t>(v.size()) / sk;
  p.q = Tensor{DType::fp32, {1, 1, sq, p.head_dim}, std::move(q)};
  p.k = Tensor{DType::fp32, {1, 1, sk, p.head_dim}, std::move(k)};
  p.v = Tensor{DType::fp32, {1, 1, sk, p.head_dim_v}, std::move(v)};
  return p;
}

// All scores equal (q = 0): each row averages the values it sees.
Problem uniformScores(std::int64_t sq, std::int64_t sk) {
  std::vector<double> v;
  for (std::int64_t j = 0; j < sk; ++j) v.push_back(static_cast<double>(j + 1));
  return problem(sq, sk, std::vector<double>(sq, 0.0), std::vector<double>(sk, 1.0), v);
}

TEST(Reference, SoftmaxOfTwoKeys) {
  // s = [0, ln 2] -> p = [1/3, 2/3]; out = 3/3 + 12/3 = 5; lse = ln 3.
  const Result r = attention(problem(1, 2, {1.0}, {0.0, std::log(2.0)}, {3.0, 6.0}));
  EXPECT_NEAR(r.out.values[0], 5.0, 1e-12);
  EXPECT_NEAR(r.lse.values[0], std::log(3.0), 1e-12);
}

TEST(Reference, ExplicitMaskBiasIsAddedAndMinusInfHidesAKey) {
  // scores 0 + bias [0, -inf, ln 2] -> p = [1/3, 0, 2/3]; out = (1 + 2 * 3) / 3; lse = ln 3.
  Problem p = uniformScores(1, 3);
  p.bias = Tensor{DType::fp64, {1, 1, 1, 3}, {0.0, -kInf, std::log(2.0)}};
  const Result r = attention(p);
  EXPECT_NEAR(r.out.values[0], 7.0 / 3.0, 1e-12);
  EXPECT_NEAR(r.lse.values[0], std::log(3.0), 1e-12);
}

TEST(Reference, AHiddenKeysValueTakesNoPartEvenAHugeOne) {
  // Its probability is exactly 0 (Eigen's vectorised exp(-inf) is 5.6e-309, not 0, which would
  // add 5.6e-9 here and let an infinite value through as inf).
  Problem p = problem(1, 2, {0.0}, {0.0, 0.0}, {3.0, 1e300});
  p.bias = Tensor{DType::fp64, {1, 1, 1, 2}, {0.0, -kInf}};
  EXPECT_EQ(attention(p).out.values[0], 3.0);
}

TEST(Reference, ExplicitMaskHidingEveryKeyGivesTheDeclaredRow) {
  Problem p = uniformScores(2, 2);
  p.bias = Tensor{DType::fp64, {1, 1, 2, 2}, {-kInf, -kInf, 0.0, 0.0}};
  p.fully_masked_rows = {0.0, kInf};
  const Result r = attention(p);
  EXPECT_EQ(r.out.values[0], 0.0);
  EXPECT_EQ(r.lse.values[0], kInf);
  EXPECT_NEAR(r.out.values[1], 1.5, 1e-12);
}

TEST(Reference, PerBatchLengthsHideTheTailAndZeroItsRows) {
  // Two entries padded to length 2: entry 0 has length 1, entry 1 the full 2. Values j + 1.
  Problem p = uniformScores(2, 2);
  p.batch = 2;
  p.seqlens_q = p.seqlens_k = {1, 2};
  p.q = Tensor{DType::fp32, {2, 1, 2, 1}, {0, 0, 0, 0}};
  p.k = Tensor{DType::fp32, {2, 1, 2, 1}, {1, 1, 1, 1}};
  p.v = Tensor{DType::fp32, {2, 1, 2, 1}, {1, 2, 1, 2}};
  const Result r = attention(p);
  EXPECT_EQ(r.out.shape, (Shape{2, 1, 2, 1}));
  EXPECT_NEAR(r.out.values[0], 1.0, 1e-12);  // entry 0, row 0: key 1 is padding
  EXPECT_EQ(r.out.values[1], 0.0);           // entry 0, row 1: past the length
  EXPECT_NEAR(r.out.values[2], 1.5, 1e-12);  // entry 1 sees both keys
  EXPECT_NEAR(r.out.values[3], 1.5, 1e-12);
}

TEST(Reference, SoftcapAfterTheMaskLetsHiddenKeysTakePartAtMinusSoftcap) {
  // ONNX's order: scores 0 and a hidden key -inf, then softcap 2: [0, -2];
  // p = [1, e^-2] / (1 + e^-2); out = (1 * 1 + e^-2 * 2) / (1 + e^-2).
  Problem p = uniformScores(1, 2);
  p.bias = Tensor{DType::fp64, {1, 1, 1, 2}, {0.0, -kInf}};
  p.softcap = 2.0;
  p.softcap_after_mask = true;
  const double w = std::exp(-2.0);
  EXPECT_NEAR(attention(p).out.values[0], (1 + 2 * w) / (1 + w), 1e-12);
  p.softcap_after_mask = false;  // flash-attn's order: the hidden key stays hidden
  EXPECT_NEAR(attention(p).out.values[0], 1.0, 1e-12);
}

TEST(Reference, CausalBottomRightShortQuery) {
  Problem p = uniformScores(2, 5);
  p.masks = {CausalMask{Alignment::bottom_right}};
  const Result r = attention(p);
  EXPECT_NEAR(r.out.values[0], (1 + 2 + 3 + 4) / 4.0, 1e-12);  // row 0 sees keys 0..3
  EXPECT_NEAR(r.out.values[1], 3.0, 1e-12);                    // row 1 sees keys 0..4
  EXPECT_NEAR(r.lse.values[0], std::log(4.0), 1e-12);
  EXPECT_NEAR(r.lse.values[1], std::log(5.0), 1e-12);
}

TEST(Reference, CausalBottomRightShortKeysGivesDeclaredFullyMaskedRows) {
  Problem p = uniformScores(5, 2);
  p.masks = {CausalMask{Alignment::bottom_right}};
  const Result r = attention(p);
  for (int i = 0; i < 3; ++i) {  // rows 0..2 see no key
    EXPECT_EQ(r.out.values[i], 0.0) << i;
    EXPECT_EQ(r.lse.values[i], kInf) << i;
  }
  EXPECT_NEAR(r.out.values[3], 1.0, 1e-12);
  EXPECT_NEAR(r.out.values[4], 1.5, 1e-12);
  p.fully_masked_rows = {std::nan(""), -kInf};  // another API's declaration
  const Result other = attention(p);
  EXPECT_TRUE(std::isnan(other.out.values[0]));
  EXPECT_EQ(other.lse.values[0], -kInf);
}

// IEEE arithmetic decides what a non-finite query gives: a NaN score makes its row NaN (a max
// that dropped it, as fmax does, would see a row of -inf and call it empty), and a key the mask
// hides keeps its NaN out of rows that cannot see it.
TEST(Reference, NanQueryRowIsNanWhereItSeesAKey) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  Problem p = problem(2, 2, {nan, 1.0}, {1.0, 1.0}, {3.0, 6.0});
  p.masks = {CausalMask{Alignment::top_left}};  // row 0 sees key 0 only, hidden key 1 scores -inf
  const Result r = attention(p);
  EXPECT_TRUE(std::isnan(r.out.values[0]));
  EXPECT_TRUE(std::isnan(r.lse.values[0]));
  EXPECT_TRUE(std::isnan(r.row_max.values[0]));
  EXPECT_NEAR(r.out.values[1], 4.5, 1e-12);  // the other row is untouched

  p.masks = {CausalMask{Alignment::top_left, -1}};  // now row 0 sees nothing
  p.fully_masked_rows = {0.0, kInf};
  EXPECT_EQ(attention(p).out.values[0], 0.0);
}

TEST(Reference, CausalTopLeft) {
  Problem p = uniformScores(2, 5);
  p.masks = {CausalMask{Alignment::top_left}};
  const Result r = attention(p);
  EXPECT_NEAR(r.out.values[0], 1.0, 1e-12);
  EXPECT_NEAR(r.out.values[1], 1.5, 1e-12);
}

TEST(Reference, WindowBottomRight) {
  Problem p = uniformScores(4, 4);
  p.masks = {WindowMask{1, 0, Alignment::bottom_right}};  // row i sees keys i-1, i
  const Result r = attention(p);
  EXPECT_NEAR(r.out.values[0], 1.0, 1e-12);
  EXPECT_NEAR(r.out.values[1], 1.5, 1e-12);
  EXPECT_NEAR(r.out.values[3], 3.5, 1e-12);
  EXPECT_NEAR(r.lse.values[3], std::log(2.0), 1e-12);
}

TEST(Reference, SoftcapBeforeMask) {
  Problem p = problem(1, 2, {1.0}, {10.0, 0.0}, {1.0, 0.0});
  p.softcap = 5.0;
  const double s0 = 5.0 * std::tanh(2.0);
  const Result r = attention(p);
  EXPECT_NEAR(r.out.values[0], std::exp(s0) / (std::exp(s0) + 1.0), 1e-12);
  EXPECT_NEAR(r.lse.values[0], std::log(std::exp(s0) + 1.0), 1e-12);
}

TEST(Reference, AlibiBottomRight) {
  // sq=1, sk=3: query 0 is aligned with key 2; bias = -|0 + 2 - j| = [-2, -1, 0].
  Problem p = uniformScores(1, 3);
  p.alibi_slopes = {1.0};
  const Result r = attention(p);
  const double z = std::exp(-2.0) + std::exp(-1.0) + 1.0;
  EXPECT_NEAR(r.out.values[0], (1 * std::exp(-2.0) + 2 * std::exp(-1.0) + 3) / z, 1e-12);
  EXPECT_NEAR(r.lse.values[0], std::log(z), 1e-12);
}

TEST(Reference, SinkIsAKeyWithoutValueInEveryRowsSoftmax) {
  // Two keys at score 0 (values 1, 2) and a sink of ln 2: p = [1/4, 1/4], the sink 2/4.
  Problem p = uniformScores(1, 2);
  p.sink = {std::log(2.0)};
  const Result r = attention(p);
  EXPECT_NEAR(r.out.values[0], 3.0 / 4.0, 1e-12);
  EXPECT_NEAR(r.lse.values[0], std::log(4.0), 1e-12);
  EXPECT_NEAR(r.row_max.values[0], std::log(2.0), 1e-12);  // the sink outscores every key
}

TEST(Reference, SinkTakesAllOfARowThatSeesNoKey) {
  // Row 0 of Sq=2 > Sk=1 under bottom-right causal sees no key: out 0, lse the sink, whatever
  // the declared fully masked row; row 1 sees its key beside the sink.
  Problem p = uniformScores(2, 1);
  p.masks = {CausalMask{Alignment::bottom_right}};
  p.fully_masked_rows = {7.0, kInf};
  p.sink = {-1.0};
  const Result r = attention(p);
  EXPECT_EQ(r.out.values[0], 0.0);
  EXPECT_EQ(r.lse.values[0], -1.0);
  EXPECT_NEAR(r.out.values[1], 1.0 / (1.0 + std::exp(-1.0)), 1e-12);
}

TEST(Reference, SinkOfMinusInfinityIsNoSink) {
  Problem p = uniformScores(2, 3);
  const Result without = attention(p);
  p.sink = {-kInf};
  EXPECT_EQ(attention(p).out.values, without.out.values);
}

TEST(Reference, GqaHeadMapping) {
  // 4 query heads, 2 kv heads: heads 0,1 read kv head 0 (v = 1), heads 2,3 read kv head 1 (v = 2).
  Problem p = problem(1, 1, {0.0}, {0.0}, {1.0});
  p.heads_q = 4;
  p.heads_kv = 2;
  p.q = Tensor::zeros(DType::fp32, {1, 4, 1, 1});
  p.k = Tensor::zeros(DType::fp32, {1, 2, 1, 1});
  p.v = Tensor{DType::fp32, {1, 2, 1, 1}, {1.0, 2.0}};
  EXPECT_EQ(attention(p).out.values, (std::vector<double>{1, 1, 2, 2}));
}

TEST(Reference, PerBatchLengthsLeavePaddingAlone) {
  Problem p = uniformScores(2, 2);
  p.batch = 2;
  p.seqlens_q = {2, 1};
  p.seqlens_k = {2, 1};
  p.q = Tensor::zeros(DType::fp32, {2, 1, 2, 1});
  p.k = Tensor::zeros(DType::fp32, {2, 1, 2, 1});
  p.v = Tensor{DType::fp32, {2, 1, 2, 1}, {1, 2, 5, 99}};  // 99 is padding
  const Result r = attention(p);
  EXPECT_EQ(r.out.values, (std::vector<double>{1.5, 1.5, 5, 0}));
}

TEST(Reference, InputDTypeBaselineRoundsLikeStandardAttention) {
  Problem p = problem(1, 3, {1.0}, {0.1, 0.2, 0.3}, {0.1, 0.2, 0.3});
  p.dtype = DType::fp16;
  const Result exact = attention(p);
  const Result rounded = attentionInInputDType(p);
  EXPECT_EQ(rounded.out.values[0], roundTo(DType::fp16, rounded.out.values[0]));
  EXPECT_EQ(rounded.lse.values[0], roundTo(DType::fp32, rounded.lse.values[0]));
  EXPECT_NE(rounded.out.values[0], exact.out.values[0]);
  EXPECT_NEAR(rounded.out.values[0], exact.out.values[0], 4 * epsilon(DType::fp16));
}

// FlashAttention-3's fp8 baseline: everything in bf16 but P, stored in fp8_e4m3 for the PV
// product. Keys of scores 0 and ln 2 give P = (1/3, 2/3); value (1, 0) reads P's first entry.
TEST(Reference, BaselineRoundsTheProbabilitiesToTheirOwnDType) {
  const Problem p = problem(1, 2, {1.0}, {0.0, std::log(2.0)}, {1.0, 0.0});
  const Result fp8_p = standardAttention(p, {DType::bf16, DType::fp8_e4m3});
  const Result bf16 = standardAttention(p, Precision::all(DType::bf16));
  const double third = 1.0 / (1.0 + std::exp(roundTo(DType::bf16, std::log(2.0))));
  EXPECT_EQ(fp8_p.out.values[0], roundTo(DType::bf16, roundTo(DType::fp8_e4m3, third)));
  EXPECT_EQ(bf16.out.values[0], roundTo(DType::bf16, third));
  EXPECT_NE(fp8_p.out.values[0], bf16.out.values[0]);
}

}  // namespace
}  // namespace attnconf::reference

namespace attnconf::reference {
namespace {

// A small problem with GQA, a causal mask that leaves a row empty, and softcap.
Problem gradientProblem() {
  Problem p;
  p.dtype = DType::fp64;
  p.batch = 1;
  p.heads_q = 2;
  p.heads_kv = 1;
  p.head_dim = p.head_dim_v = 3;
  p.seqlens_q = {4};
  p.seqlens_k = {3};
  p.scale = 0.7;
  p.softcap = 2.0;
  p.masks = {CausalMask{Alignment::bottom_right}};
  const auto fill = [](Shape shape, double seed) {
    Tensor t = Tensor::zeros(DType::fp64, std::move(shape));
    for (std::size_t i = 0; i < t.values.size(); ++i)
      t.values[i] = std::sin(seed + 1.3 * static_cast<double>(i));
    return t;
  };
  p.q = fill({1, 2, 4, 3}, 0.1);
  p.k = fill({1, 1, 3, 3}, 0.7);
  p.v = fill({1, 1, 3, 3}, 1.9);
  // A score bias (torch_npu's pse) that also hides key 0 from row 3 of head 1.
  p.bias = fill({1, 2, 4, 3}, 2.3);
  p.bias.values[(4 + 3) * 3] = -std::numeric_limits<double>::infinity();
  return p;
}

// dLoss/dx by central differences, Loss = sum(dout * out).
double numericGradient(Problem p, Tensor Problem::*which, std::size_t i, const Tensor& dout) {
  const auto loss = [&](double delta) {
    Problem moved = p;
    (moved.*which).values[i] += delta;
    const Result r = attention(moved);
    double sum = 0;
    for (std::size_t j = 0; j < r.out.values.size(); ++j) sum += r.out.values[j] * dout.values[j];
    return sum;
  };
  const double h = 1e-6;
  return (loss(h) - loss(-h)) / (2 * h);
}

TEST(ReferenceBackward, MatchesFiniteDifferences) {
  const Problem p = gradientProblem();
  Tensor dout = Tensor::zeros(DType::fp64, {1, 2, 4, 3});
  for (std::size_t i = 0; i < dout.values.size(); ++i)
    dout.values[i] = std::cos(0.4 * static_cast<double>(i));
  const Gradients g = attentionBackward(p, dout);
  for (const auto& [which, grad, name] :
       {std::tuple{&Problem::q, &g.dq, "dq"}, std::tuple{&Problem::k, &g.dk, "dk"},
        std::tuple{&Problem::v, &g.dv, "dv"}, std::tuple{&Problem::bias, &g.dbias, "dbias"}}) {
    for (std::size_t i = 0; i < grad->values.size(); ++i) {
      EXPECT_NEAR(grad->values[i], numericGradient(p, which, i, dout), 1e-7)
          << name << "[" << i << "]";
    }
  }
  // Row 0 sees no key (Sq=4 > Sk=3 under bottom-right causal): its dq is 0; so is the bias
  // gradient of a key the bias hides.
  for (int d = 0; d < 3; ++d) EXPECT_EQ(g.dq.values[d], 0.0);
  EXPECT_EQ(g.dbias.values[(4 + 3) * 3], 0.0);
}

TEST(ReferenceBackward, WithASinkMatchesFiniteDifferences) {
  Problem p = gradientProblem();
  p.sink = {0.4, -0.9};
  Tensor dout = Tensor::zeros(DType::fp64, {1, 2, 4, 3});
  for (std::size_t i = 0; i < dout.values.size(); ++i)
    dout.values[i] = std::sin(0.3 * static_cast<double>(i));
  const Gradients g = attentionBackward(p, dout);
  for (const auto& [which, grad] : {std::pair{&Problem::q, &g.dq}, std::pair{&Problem::k, &g.dk},
                                    std::pair{&Problem::v, &g.dv}}) {
    for (std::size_t i = 0; i < grad->values.size(); ++i)
      EXPECT_NEAR(grad->values[i], numericGradient(p, which, i, dout), 1e-7) << i;
  }
}

}  // namespace
}  // namespace attnconf::reference
