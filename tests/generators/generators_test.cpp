// The generators produce what the spec allows, and break exactly the rule they are asked to.
#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <algorithm>
#include <set>
#include <string_view>
#include <utility>

#include "attnconf/generators/cases.h"
#include "attnconf/spec/loader.h"
#include "attnconf/spec/rules.h"

namespace attnconf::gen {
namespace {

const std::vector<spec::ApiSpec>& allSpecs() {
  static const std::vector<spec::ApiSpec> specs = spec::loadSpecFolder(spec::specFolder());
  return specs;
}

const spec::ApiSpec& specOf(const std::string& api) {
  return *std::ranges::find(allSpecs(), api, &spec::ApiSpec::api);
}

const spec::ApiSpec& flashAttnFunc() {
  return specOf("flash_attn_func");
}

RC_GTEST_PROP(ValidCases, BreakNoRule, ()) {
  const Case c = *validCases(flashAttnFunc());
  RC_ASSERT(spec::brokenRules(flashAttnFunc(), c).empty());
}

RC_GTEST_PROP(ValidCases, ValuesAreRoundedToTheirDType, ()) {
  const Case c = *validCases(flashAttnFunc());
  for (const auto& [name, t] : c.tensors) {
    for (const double v : t.values) RC_ASSERT(roundTo(t.dtype, v) == v);
  }
}

RC_GTEST_PROP(ValidCases, OnlyInTheDTypesTheAdapterTakes, ()) {
  Limits limits;
  limits.dtypes = {DType::fp16, DType::fp64};  // fp64 is outside SDPA's coverage
  const Case c = *validCases(specOf("scaled_dot_product_attention"), limits);
  RC_ASSERT(c.tensors.at("query").dtype == DType::fp16);
  RC_ASSERT(c.tensors.at("key").dtype == DType::fp16);
}

RC_GTEST_PROP(ValidCases, StayWithinLimits, ()) {
  const Limits limits{
      .max_batch = 2, .max_seqlen = 40, .max_heads = 4, .max_head_dim = 64, .dtypes = {}};
  const Case c = *validCases(flashAttnFunc(), limits);
  RC_ASSERT(c.dims.at("seqlen_q") <= 40);
  RC_ASSERT(c.dims.at("seqlen_k") <= 40);
  RC_ASSERT(c.dims.at("nheads") <= 4);
  RC_ASSERT(c.dims.at("headdim") <= 64);
}

// Every rule of every spec, as "api.RuleId".
class InvalidCases : public testing::TestWithParam<std::pair<std::string, std::string>> {};

TEST_P(InvalidCases, BreakExactlyTheirRule) {
  const spec::ApiSpec& spec = specOf(GetParam().first);
  const spec::Rule& rule = *spec.rule(GetParam().second);
  const bool ok = rc::check(rule.id, [&] {
    const Case c = *invalidCases(spec, rule);
    RC_ASSERT(spec::brokenRules(spec, c) == std::vector<std::string>{rule.id});
    RC_ASSERT(spec::keepsAssumptions(spec, c));
    RC_ASSERT(c.broken_rule == rule.id);
  });
  EXPECT_TRUE(ok) << "rule " << rule.id << " cannot be broken alone, or a case broke another rule";
}

std::vector<std::pair<std::string, std::string>> ruleIds() {
  std::vector<std::pair<std::string, std::string>> ids;
  for (const auto& s : allSpecs()) {
    for (const auto& rule : s.rules) ids.emplace_back(s.api, rule.id);
  }
  return ids;
}

INSTANTIATE_TEST_SUITE_P(AllSpecs, InvalidCases, testing::ValuesIn(ruleIds()),
                         [](const auto& param_info) {
                           return param_info.param.first + "_" + param_info.param.second;
                         });

// The edges the generators are biased to must actually occur, for each spec.
struct Edges {
  std::string api;
  std::vector<std::string> tags;
};

class ValidCasesReach : public testing::TestWithParam<Edges> {};

TEST_P(ValidCasesReach, TheEdges) {
  const auto& spec = specOf(GetParam().api);
  std::map<std::string, int> seen;
  // Four cases per run, 400 in all: rare edges (GQA under SDPA's enable_gqa, about 1 in 30)
  // must show whatever RapidCheck's seed.
  rc::check("collect tags", [&] {
    for (int i = 0; i < 4; ++i) {
      const Case c = *validCases(spec);
      RC_ASSERT(spec::brokenRules(spec, c).empty());
      for (const auto& tag : caseTags(spec, c)) ++seen[tag];
    }
  });
  for (const auto& tag : GetParam().tags) {
    EXPECT_GT(seen[tag], 0) << "no generated case had " << tag;
  }
}

INSTANTIATE_TEST_SUITE_P(
    AllSpecs, ValidCasesReach,
    testing::Values(
        Edges{"flash_attn_func",
              {"fp16", "bf16", "Sq>Sk", "Sq<Sk", "batch>1", "len1", "off_tile_len", "causal",
               "window", "softcap", "alibi", "gqa", "mqa", "fully_masked_rows", "large_magnitude"}},
        Edges{"flash_attn_varlen_func",
              {"fp16", "bf16", "Sq>Sk", "Sq<Sk", "batch>1", "causal", "window", "softcap", "alibi",
               "gqa", "padded_lengths", "empty_sequence", "fully_masked_rows"}},
        Edges{"flash_attn_with_kvcache",
              {"fp16",
               "bf16",
               "Sq>Sk",
               "Sq<Sk",
               "batch>1",
               "causal",
               "window",
               "softcap",
               "alibi",
               "gqa",
               "mqa",
               "padded_lengths",
               "empty_sequence",
               "fully_masked_rows",
               "appends_kv",
               "cache_batch_idx",
               "cache_leftpad",
               "full_cache",
               "rotary",
               "rotary_partial_head",
               "rotary_queries_at_cache_end"}},
        Edges{"flash_attn_with_kvcache_paged",
              {"fp16", "bf16", "Sq<Sk", "batch>1", "causal", "window", "softcap", "alibi", "gqa",
               "padded_lengths", "empty_sequence", "fully_masked_rows", "appends_kv", "full_cache",
               "crosses_pages", "rotary"}},
        Edges{"scaled_dot_product_attention",
              {"fp32", "fp16", "bf16", "Sq>Sk", "causal", "bool_mask", "float_mask", "gqa", "mqa",
               "fully_masked_rows", "broadcast_mask"}},
        Edges{"diy_flash_attention",
              {"fp32", "fp16", "bf16", "causal", "padded_lengths", "empty_sequence"}},
        Edges{"onnx_attention",
              {"fp32", "fp16", "bf16", "Sq>Sk", "Sq<Sk", "causal", "softcap", "bool_mask",
               "float_mask", "gqa", "past_kv", "fully_masked_rows"}},
        Edges{"jax_dot_product_attention",
              {"fp32", "fp16", "bf16", "Sq>Sk", "Sq<Sk", "causal", "window", "bool_mask", "bias",
               "gqa", "mqa", "padded_lengths", "empty_sequence", "fully_masked_rows",
               "broadcast_mask"}},
        Edges{"npu_fusion_attention_bnsd",
              {"fp32",
               "fp16",
               "bf16",
               "Sq>Sk",
               "Sq<Sk",
               "causal",
               "window",
               "bool_mask",
               "gqa",
               "mqa",
               "fully_masked_rows",
               "broadcast_mask",
               "sparse_mode_0",
               "sparse_mode_1",
               "sparse_mode_2",
               "sparse_mode_3",
               "sparse_mode_4",
               "sparse_mode_5",
               "sparse_mode_6",
               "mask_per_entry",
               "compressed_mask",
               "bias"}},
        Edges{"npu_fusion_attention_tnd",
              {"fp32", "fp16", "bf16", "Sq>Sk", "Sq<Sk", "batch>1", "gqa", "bool_mask",
               "padded_lengths", "empty_sequence", "fully_masked_rows", "sparse_mode_0",
               "sparse_mode_3", "sparse_mode_4", "sparse_mode_7", "sparse_mode_8", "mask_per_entry",
               "compressed_mask"}}),
    [](const testing::TestParamInfo<Edges>& param_info) { return param_info.param.api; });

// torch_npu's modes 2-4 take the compressed mask: 2048 x 2048, true (hidden) above the diagonal.
TEST(NpuCases, CompressedModesPassTheUpperTriangle) {
  const auto& spec = specOf("npu_fusion_attention_bnsd");
  rc::check("compressed masks", [&] {
    const Case c = *validCases(spec);
    const Tensor* mask = c.tensor("atten_mask");
    const auto mode = std::get<std::int64_t>(c.param("sparse_mode").value_or(std::int64_t{0}));
    if (!mask || mode < 2 || mode > 4) return;
    RC_TAG(mode);
    RC_ASSERT(mask->shape == (Shape{2048, 2048}));
    for (const std::int64_t at : std::vector<std::int64_t>{0, 1, 2048 * 5 + 5, 2048 * 5 + 6,
                                                           2048 * 2048 - 1, 2048 * 2047 - 2})
      RC_ASSERT(mask->values[static_cast<std::size_t>(at)] == (at % 2048 > at / 2048 ? 1.0 : 0.0));
  });
}

// torch_npu's prefix modes: each entry's prefix within [max(0, Skv - Sq), Skv]; mode 5 passes its
// mask written out per entry (B1SS or BNSS), mode 6 the 3072 x 2048 marker whose last 1024 rows
// hide their right half.
TEST(NpuCases, PrefixModesPassThePrefixesAndTheirMask) {
  const auto& spec = specOf("npu_fusion_attention_bnsd");
  rc::check("prefix modes", [&] {
    const Case c = *validCases(spec);
    const Tensor* mask = c.tensor("atten_mask");
    const auto mode = std::get<std::int64_t>(c.param("sparse_mode").value_or(std::int64_t{0}));
    if (!mask || mode < 5) return;
    RC_TAG(mode);
    const std::int64_t sq = c.dims.at("s1"), sk = c.dims.at("s2");
    const Tensor* prefix = c.tensor("prefix");
    RC_ASSERT(prefix != nullptr);
    for (const std::int64_t n : integers(*prefix))
      RC_ASSERT(n >= std::max<std::int64_t>(0, sk - sq) && n <= sk);
    if (mode == 6) {
      RC_ASSERT(mask->shape == (Shape{3072, 2048}));
      const auto at = [&](std::int64_t i, std::int64_t j) {
        return mask->values[static_cast<std::size_t>(i * 2048 + j)];
      };
      RC_ASSERT(at(5, 5) == 0.0 && at(5, 6) == 1.0 && at(2048, 1023) == 0.0 &&
                at(3071, 1024) == 1.0);
      return;
    }
    RC_ASSERT(mask->rank() == 4 && mask->shape[0] == c.dims.at("b"));
    const std::int64_t heads = mask->shape[1];
    for (std::int64_t b = 0; b < mask->shape[0]; ++b) {
      const auto shown = static_cast<std::int64_t>(prefix->values[static_cast<std::size_t>(b)]);
      for (std::int64_t i = 0; i < sq; ++i) {
        for (std::int64_t j = 0; j < sk; ++j) {
          const bool hidden = j >= shown && j > i + sk - sq;
          const auto at = static_cast<std::size_t>(((b * heads + heads - 1) * sq + i) * sk + j);
          RC_ASSERT(mask->values[at] == (hidden ? 1.0 : 0.0));
        }
      }
    }
  });
}

// A rule under dim conditions alone steers valid dims: npu_fused_infer_attention_score's one-query
// calls (its incremental branch, about 8% of the draws) keep that kernel's head dim of a
// multiple of 16, where the rule's filter alone would drop 15 of 16 of them.
TEST(NpuCases, OneQueryFusedCallsKeepTheIncrementalHeadDim) {
  const auto& spec = specOf("npu_fused_infer_attention_score_bnsd");
  int one_query = 0, drawn = 0;
  while (drawn < 300) {
    ASSERT_TRUE(rc::check("fused infer cases", [&] {
      const Case c = *validCases(spec);
      ++drawn;
      if (c.dims.at("s1") != 1) return;
      ++one_query;
      RC_ASSERT(c.dims.at("d") % 16 == 0);
    }));
  }
  // Steered, about 24 are expected; the filter alone would keep about 1.5.
  EXPECT_GE(one_query, 5) << one_query << " one-query calls in " << drawn;
}

// npu_advance_step_flashattn: padding after the queries, every tensor num_seqs rows long, and each
// query's next position inside its block_tables row; across the draws some new token opens a
// block and lands in the row's last one (the edges of the slot arithmetic).
TEST(NpuCases, DecodeStepsPadAndLandInsideTheirTable) {
  const auto& spec = specOf("npu_advance_step_flashattn");
  std::set<std::string> seen;
  rc::check("decode step cases", [&] {
    const Case c = *validCases(spec);
    const auto num_seqs = std::get<std::int64_t>(*c.param("num_seqs"));
    RC_ASSERT(num_seqs > std::get<std::int64_t>(*c.param("num_queries")));
    for (const char* name : {"input_tokens", "input_positions", "seq_lens", "slot_mapping"})
      RC_ASSERT(c.tensor(name)->shape == Shape{num_seqs});
    const Shape& table = c.tensor("block_tables")->shape;
    const auto block_size = std::get<std::int64_t>(*c.param("block_size"));
    for (const double length : c.tensor("seq_lens")->values)
      RC_ASSERT(static_cast<std::int64_t>(length) / block_size < table[1]);
    for (auto& tag : caseTags(spec, c)) seen.insert(std::move(tag));
  });
  EXPECT_TRUE(seen.contains("padding"));
  EXPECT_TRUE(seen.contains("opens_block"));
  EXPECT_TRUE(seen.contains("last_block"));
}

// torch_npu's page attention: the 4-D cache (blocks, N, block_size, D) with BNSD, the 3-D one
// (blocks, block_size, H) with BSH; block_size the cache's block axis, a multiple of 16 up to 512;
// the table's entries distinct existing blocks, and every key length given and inside its
// entry's blocks. Across the draws some entry's keys cross a block.
TEST(NpuCases, PagedCachesNameDistinctBlocksOfAMultipleOf16) {
  std::set<std::string> seen;
  for (const char* api :
       {"npu_incre_flash_attention_paged_bnsd", "npu_incre_flash_attention_paged_bsh"}) {
    const auto& spec = specOf(api);
    const bool heads_first = std::string_view(api).ends_with("bnsd");
    rc::check(api, [&] {
      const Case c = *validCases(spec);
      const Shape& key = c.tensor("key")->shape;
      RC_ASSERT(key.size() == (heads_first ? 4U : 3U));
      const auto block_size = std::get<std::int64_t>(*c.param("block_size"));
      RC_ASSERT(key[heads_first ? 2 : 1] == block_size);
      RC_ASSERT(block_size % 16 == 0 && block_size <= 512);
      const Tensor& table = *c.tensor("block_table");
      RC_ASSERT(table.dtype == DType::int32);
      std::set<double> blocks(table.values.begin(), table.values.end());
      RC_ASSERT(blocks.size() == table.values.size());
      RC_ASSERT(*blocks.begin() >= 0 && *blocks.rbegin() < static_cast<double>(key[0]));
      const Tensor* lengths = c.tensor("actual_seq_lengths");
      RC_ASSERT(lengths != nullptr);
      for (const double n : lengths->values)
        RC_ASSERT(n >= 0 && n <= static_cast<double>(table.shape[1] * block_size));
      for (auto& tag : caseTags(spec, c)) seen.insert(std::move(tag));
    });
  }
  EXPECT_TRUE(seen.contains("crosses_pages"));
}

// The fused API's page attention: blocks of a multiple of 16 up to 1024; with a head dim other
// than 64 or 128, a multiple of 128 for longer queries and at most 512 for one query. The keys'
// lengths are given with one query and may be left out with more. Both branches are drawn.
TEST(NpuCases, FusedPagedBlockSizesFollowTheHeadDimAndQueryLength) {
  std::set<std::string> seen;
  for (const char* api : {"npu_fused_infer_attention_score_paged_bnsd",
                          "npu_fused_infer_attention_score_paged_bsh"}) {
    const auto& spec = specOf(api);
    const bool heads_first = std::string_view(api).ends_with("bnsd");
    rc::check(api, [&] {
      const Case c = *validCases(spec);
      const Shape& query = c.tensor("query")->shape;
      const std::int64_t seqlen_q = query[heads_first ? 2 : 1];
      const std::int64_t head_dim =
          heads_first ? query[3] : query[2] / std::get<std::int64_t>(*c.param("num_heads"));
      const auto block_size = std::get<std::int64_t>(*c.param("block_size"));
      RC_ASSERT(block_size % 16 == 0 && block_size <= 1024);
      const bool prompt = seqlen_q > 1;
      const bool any_block = head_dim == 64 || head_dim == 128;
      const bool branch_allows = prompt ? block_size % 128 == 0 : block_size <= 512;
      RC_ASSERT(any_block || branch_allows);
      const bool lengths = c.tensor("actual_seq_lengths_kv") != nullptr;
      if (!prompt) RC_ASSERT(lengths);
      seen.insert(!prompt ? "one query" : lengths ? "queries, lengths" : "queries alone");
    });
  }
  EXPECT_EQ(seen, (std::set<std::string>{"one query", "queries, lengths", "queries alone"}));
}

// torch_npu's TND: each sequence's end without the leading 0, the last the packed length; a
// sequence with queries has keys (the layout does not support one without).
TEST(NpuCases, TndEndsRiseToThePackedLengthAndQueriesHaveKeys) {
  const auto& spec = specOf("npu_fusion_attention_tnd");
  rc::check("tnd cases", [&] {
    const Case c = *validCases(spec);
    const Tensor& q_ends = *c.tensor("actual_seq_qlen");
    const Tensor& k_ends = *c.tensor("actual_seq_kvlen");
    RC_ASSERT(q_ends.dtype == DType::int64);
    RC_ASSERT(q_ends.shape == k_ends.shape);
    RC_ASSERT(q_ends.values.back() == static_cast<double>(c.tensor("query")->shape[0]));
    RC_ASSERT(k_ends.values.back() == static_cast<double>(c.tensor("key")->shape[0]));
    double q_start = 0, k_start = 0;
    for (std::size_t b = 0; b < q_ends.values.size(); ++b) {
      RC_ASSERT(q_ends.values[b] >= q_start && k_ends.values[b] >= k_start);
      if (k_ends.values[b] == k_start) RC_ASSERT(q_ends.values[b] == q_start);
      if (q_ends.values[b] == q_start) RC_TAG("a sequence without queries");
      q_start = q_ends.values[b];
      k_start = k_ends.values[b];
    }
  });
}

// torch_npu's modes 7 and 8: the band of the last (7) or first (8) sequence with queries is what
// splitting a causal sequence by queries leaves: pre covers its keys, next lies in [Sq - Skv, 0]
// (7) or from Sq - Skv (8); in mode 7 no sequence has more queries than keys.
TEST(NpuCases, SplitModesDrawTheBandThatASplitLeaves) {
  const auto& spec = specOf("npu_fusion_attention_tnd");
  rc::check("split modes", [&] {
    const Case c = *validCases(spec);
    const auto mode = std::get<std::int64_t>(c.param("sparse_mode").value_or(std::int64_t{0}));
    if (mode < 7 || !c.tensor("atten_mask")) return;
    RC_TAG(mode);
    const auto lengths = [&](const char* ends) {
      std::vector<std::int64_t> n;
      double start = 0;
      for (const double end : c.tensor(ends)->values)
        n.push_back(static_cast<std::int64_t>(end - std::exchange(start, end)));
      return n;
    };
    const auto sq = lengths("actual_seq_qlen"), sk = lengths("actual_seq_kvlen");
    std::vector<std::size_t> with_queries;
    for (std::size_t b = 0; b < sq.size(); ++b) {
      if (sq[b] > 0) with_queries.push_back(b);
      if (mode == 7) RC_ASSERT(sq[b] <= sk[b]);
    }
    if (with_queries.empty()) return;
    const std::size_t b = mode == 7 ? with_queries.back() : with_queries.front();
    const auto pre = std::get<std::int64_t>(*c.param("pre_tockens"));
    const auto next = std::get<std::int64_t>(*c.param("next_tockens"));
    RC_ASSERT(pre >= sk[b]);
    RC_ASSERT(next >= sq[b] - sk[b]);
    if (mode == 7) RC_ASSERT(next <= 0);
  });
}

TEST(KvCacheCases, AppendWithinTheCacheAndPickDistinctRowsPastTheLeftPadding) {
  const auto& spec = specOf("flash_attn_with_kvcache");
  rc::check("kv cache cases", [&] {
    const Case c = *validCases(spec);
    const auto rows = static_cast<double>(c.tensor("k_cache")->shape[0]);
    const auto length = static_cast<double>(c.tensor("k_cache")->shape[1]);
    const double fresh = c.tensor("k") ? static_cast<double>(c.tensor("k")->shape[1]) : 0.0;
    const Tensor* seqlens = c.tensor("cache_seqlens");
    if (seqlens) {
      for (const double n : seqlens->values) RC_ASSERT(n >= 0 && n + fresh <= length);
    }
    if (const Tensor* leftpad = c.tensor("cache_leftpad")) {  // within each entry's cached keys
      for (std::size_t b = 0; b < leftpad->values.size(); ++b)
        RC_ASSERT(leftpad->values[b] >= 0 &&
                  leftpad->values[b] <= (seqlens ? seqlens->values[b] : length));
      RC_TAG(seqlens && leftpad->values == seqlens->values ? "no cached key left" : "keys left");
    }
    if (const Tensor* index = c.tensor("cache_batch_idx")) {
      std::set<double> seen(index->values.begin(), index->values.end());
      RC_ASSERT(seen.size() == index->values.size());
      RC_ASSERT(*seen.begin() >= 0 && *seen.rbegin() < rows);
    }
  });
}

TEST(KvCacheCases, PagedTablesNameDistinctExistingPagesOfAMultipleOf256) {
  const auto& spec = specOf("flash_attn_with_kvcache_paged");
  rc::check("paged kv cache cases", [&] {
    const Case c = *validCases(spec);
    RC_ASSERT(c.tensor("cache_batch_idx") == nullptr);
    const auto pages = static_cast<double>(c.tensor("k_cache")->shape[0]);
    const std::int64_t page_size = c.tensor("k_cache")->shape[1];
    RC_ASSERT(page_size % 256 == 0);  // above the seqlen cap: the smallest size the rules allow
    const Tensor& table = *c.tensor("block_table");
    std::set<double> seen(table.values.begin(), table.values.end());
    RC_ASSERT(seen.size() == table.values.size());
    RC_ASSERT(*seen.begin() >= 0 && *seen.rbegin() < pages);
    const auto length = static_cast<double>(table.shape[1] * page_size);
    const double fresh = c.tensor("k") ? static_cast<double>(c.tensor("k")->shape[1]) : 0.0;
    if (const Tensor* seqlens = c.tensor("cache_seqlens")) {
      for (const double n : seqlens->values) RC_ASSERT(n >= 0 && n + fresh <= length);
    }
  });
}

TEST(KvCacheCases, RotaryTablesCoverEveryPositionTheyTurn) {
  const auto& spec = specOf("flash_attn_with_kvcache");
  rc::check("rotary cases", [&] {
    const Case c = *validCases(spec);
    const Tensor* cos = c.tensor("rotary_cos");
    if (!cos) return;
    RC_TAG(cos->shape[1] > 0 ? "turns channels" : "no channel to turn");
    RC_ASSERT(c.tensor("rotary_sin") != nullptr && c.tensor("k") != nullptr);
    const std::int64_t head_dim = c.tensor("q")->shape[3], rotary_dim = cos->shape[1] * 2;
    RC_ASSERT(rotary_dim % 16 == 0 && rotary_dim <= head_dim);
    RC_ASSERT(cos->shape[0] >= c.tensor("k_cache")->shape[1]);
    RC_ASSERT(c.tensor("q")->shape[1] <= c.tensor("k")->shape[1]);  // the queries are new tokens
  });
}

TEST(DimValues, OnlyCandidatesAndShrinkToTheSmallest) {
  const std::vector<std::int64_t> candidates{3, 31, 32, 33, 40};
  rc::check("values are candidates", [&] {
    const auto v = *dimValues(candidates, spec::DimKind::seqlen);
    RC_ASSERT(std::ranges::find(candidates, v) != candidates.end());
  });
}

TEST(DimCandidates, HonourDivisibility) {
  const auto& spec = flashAttnFunc();
  const auto kv = dimCandidates(spec, *spec.dim("nheads_k"), {{"nheads", 6}}, 8);
  EXPECT_EQ(kv, (std::vector<std::int64_t>{1, 2, 3, 6}));
  const auto head_dims = dimCandidates(spec, *spec.dim("headdim"), {}, 40);
  EXPECT_EQ(head_dims, (std::vector<std::int64_t>{8, 16, 24, 32, 40}));
}

}  // namespace
}  // namespace attnconf::gen
