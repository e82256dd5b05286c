// The results schema, the regression diff and the reports, on hand-made runs.
#include <gtest/gtest.h>

#include <filesystem>

#include "attnconf/report/diff.h"
#include "attnconf/report/render.h"
#include "attnconf/report/results.h"

namespace attnconf::report {
namespace {

using Status = props::Verdict::Status;

ResultRecord record(const std::string& adapter, const std::string& property,
                    const std::string& kind, Status status, double max_ratio = 0.2) {
  ResultRecord r{"flash_attn_func", adapter, property, kind, {}, {}};
  r.verdict.test_id = "flash_attn_func." + property + "_" + adapter;
  r.verdict.status = status;
  r.verdict.cases = 60;
  r.verdict.max_ratio = max_ratio;
  r.verdict.ratio_histogram = {50, 10, 0, 0, 0, 0, 0, 0, 0, 0, 0};
  if (kind == "fallback") r.verdict.paths = {{"flash", 60}};
  if (status != Status::pass) {
    r.verdict.message = "[flash_attn_func §tolerance] out[...]=1, but should be 0";
    r.verdict.reproduce = "reproduce=abc";
    r.verdict.case_file = "attnconf-failures/x.case.json";
  }
  return r;
}

Results run(const std::string& adapter, Status accuracy, double max_ratio = 0.2) {
  Results r;
  r.suite_version = "0.1.0";
  r.git_revision = "abc1234";
  r.host = "test host";
  r.accuracy_cases = 60;
  r.error_cases = 12;
  r.specs = {SpecRecord{"flash_attn_func",
                        "spec/flash_attn_func.yaml",
                        "00ff",
                        {{"HeadDimTooLarge", "headdim <= 256 -> /at most 256/"}}}};
  r.adapters = {AdapterRecord{adapter, "test adapter"}};
  r.results = {record(adapter, "Accuracy", "accuracy", accuracy, max_ratio),
               record(adapter, "NoUndeclaredFallback", "fallback", Status::pass),
               record(adapter, "ErrorIfHeadDimTooLarge", "error_contract", Status::pass)};
  return r;
}

TEST(Results, RoundTripThroughJson) {
  const Results before = run("cpu_flash", Status::fail);
  const Results after = resultsFromJson(toJson(before), "mem");
  ASSERT_EQ(after.results.size(), 3U);
  EXPECT_EQ(after.git_revision, "abc1234");
  EXPECT_EQ(after.specs[0].rules, before.specs[0].rules);
  EXPECT_EQ(after.results[0].verdict.status, Status::fail);
  EXPECT_EQ(after.results[0].verdict.reproduce, "reproduce=abc");
  EXPECT_EQ(after.results[0].verdict.ratio_histogram, before.results[0].verdict.ratio_histogram);
  EXPECT_EQ(after.results[1].verdict.paths, before.results[1].verdict.paths);
}

void expectError(const std::string& text, const std::string& expected) {
  try {
    resultsFromJson(text, "r.json");
    FAIL() << "accepted: " << expected;
  } catch (const ResultsError& e) {
    EXPECT_EQ(std::string(e.what()).rfind("r.json: " + expected, 0), 0U) << e.what();
  }
}

TEST(Results, SchemaMistakesNameTheField) {
  std::string text = toJson(run("cpu_flash", Status::pass));
  expectError("[1, 2]", "(document): expected an object");
  expectError("{oops", "(document): expected JSON");
  std::string wrong_version = text;
  wrong_version.replace(wrong_version.find("\"version\": 2"), 12, "\"version\": 9");
  expectError(wrong_version, "version: expected 2");
  std::string bad_status = text;
  bad_status.replace(bad_status.find("\"status\": \"pass\""), 16, "\"status\": \"ok\"");
  expectError(bad_status, "results[0].status: expected pass, FAIL, GAVE UP or n/a");
  std::string missing = text;
  missing.replace(missing.find("\"cases\""), 7, "\"casez\"");
  expectError(missing, "results[0].cases: missing");
}

TEST(Results, AFolderOfPerTestFilesMerges) {
  const auto dir = std::filesystem::temp_directory_path() / "attnconf-results-merge";
  std::filesystem::remove_all(dir);
  saveResults(dir / "a.json", run("cpu_flash", Status::pass));
  saveResults(dir / "b.json", run("naive", Status::fail));
  const Results merged = loadResults(dir);
  EXPECT_EQ(merged.results.size(), 6U);
  EXPECT_EQ(merged.adapters.size(), 2U);
  EXPECT_EQ(merged.specs.size(), 1U);
  std::filesystem::remove_all(dir);
  EXPECT_THROW(loadResults(dir), ResultsError);
}

TEST(Diff, PlantedRegressionIsNewlyFailingAndGates) {
  const Diff diff =
      diffResults(run("cpu_flash", Status::pass), run("cpu_flash_mutant_x", Status::fail));
  ASSERT_EQ(diff.newly_failing.size(), 1U);
  EXPECT_NE(diff.newly_failing[0].find("attnconf replay"), std::string::npos)
      << diff.newly_failing[0];
  EXPECT_EQ(diff.adapter_pairs, std::vector<std::string>{"cpu_flash -> cpu_flash_mutant_x"});
  EXPECT_TRUE(diff.gates());
  EXPECT_NE(formatDiff(diff).find("REGRESSED"), std::string::npos);
}

TEST(Diff, SameRunChangesNothing) {
  const Diff diff = diffResults(run("cpu_flash", Status::pass), run("cpu_flash", Status::pass));
  EXPECT_FALSE(diff.gates());
  EXPECT_TRUE(diff.newly_failing.empty() && diff.fixed.empty() && diff.drift.empty() &&
              diff.spec_changes.empty());
}

TEST(Diff, FixedDriftNewPathsAndSpecChanges) {
  Results base = run("cpu_flash", Status::fail);
  Results next = run("cpu_flash", Status::pass);
  EXPECT_EQ(diffResults(base, next).fixed.size(), 1U);

  base = run("cpu_flash", Status::pass, 0.2);
  next = run("cpu_flash", Status::pass, 0.6);
  const Diff drift = diffResults(base, next);
  ASSERT_EQ(drift.drift.size(), 1U);
  EXPECT_FALSE(drift.gates());
  EXPECT_TRUE(diffResults(base, next, DiffOptions{.fail_on_drift = true}).gates());

  next = run("cpu_flash", Status::pass);
  next.results[1].verdict.paths["standard"] = 7;
  const Diff paths = diffResults(base, next);
  ASSERT_EQ(paths.new_fallbacks.size(), 1U);
  EXPECT_TRUE(paths.gates());

  next = run("cpu_flash", Status::pass);
  next.specs[0].content_hash = "11aa";
  next.specs[0].rules["HeadDimTooLarge"] = "headdim <= 512 -> /at most 512/";
  next.specs[0].rules["BatchEmpty"] = "batch >= 1 -> /positive/";
  const Diff spec = diffResults(base, next);
  EXPECT_EQ(spec.spec_changes.size(), 3U);  // the spec, one rule changed, one added
}

TEST(Render, MarkdownAndHtmlShowTheMatrix) {
  const Results r = run("cpu_flash", Status::fail);
  const std::string md = renderMarkdown(r);
  EXPECT_NE(md.find("| flash_attn_func | cpu_flash | FAIL | pass | 1/1 |"), std::string::npos)
      << md;
  EXPECT_NE(md.find("attnconf replay"), std::string::npos);
  const std::string html = renderHtml(r);
  EXPECT_NE(html.find("<table id=\"matrix\">"), std::string::npos);
  EXPECT_NE(html.find("out[...]=1, but should be 0"), std::string::npos);
  EXPECT_EQ(html.find("<script"), std::string::npos) << "the page must not need scripts";
  EXPECT_EQ(html.find("http"), std::string::npos) << "the page must not reach the network";
}

// What a property measured beyond a ratio (a signature, a determinism spread) is in both reports.
TEST(Render, EvidenceOfEveryKindIsShown) {
  Results r = run("cpu_flash", Status::pass);
  ResultRecord spread = record("cpu_flash", "Determinism", "repeatability", Status::pass);
  spread.verdict.evidence = "3 of 60 cases differed between two identical calls";
  r.results.push_back(spread);
  EXPECT_NE(renderMarkdown(r).find("cpu_flash Determinism: 3 of 60 cases differed"),
            std::string::npos);
  EXPECT_NE(renderHtml(r).find("3 of 60 cases differed"), std::string::npos);
}

}  // namespace
}  // namespace attnconf::report
