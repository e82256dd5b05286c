// Out-of-process adapters: a worker that crashes, hangs, answers garbage, exits mid-reply or
// reports a fault fails the call it broke on with a message saying what happened, and the next
// call gets a fresh worker.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "attnconf/adapters/worker.h"
#include "attnconf/report/expectations.h"

namespace attnconf::adapters {
namespace {

const std::filesystem::path kWorkers = ATTNCONF_TEST_WORKERS;

Case call(bool misbehave) {
  Case c;
  c.api = "scaled_dot_product_attention";
  c.params["misbehave"] = misbehave;
  c.tensors["query"] = Tensor{DType::fp16, {1, 1, 1, 2}, {0.5, -1.0}};
  return c;
}

struct Misbehaviour {
  std::string worker;
  std::string message;  ///< what the failure must say
};

void PrintTo(const Misbehaviour& m, std::ostream* os) {
  *os << m.worker;
}

class BrokenWorker : public testing::TestWithParam<Misbehaviour> {};

TEST_P(BrokenWorker, FailsThatCallThenRestarts) {
  const auto adapter = makeWorkerAdapter(loadWorkerManifest(kWorkers, GetParam().worker));
  ASSERT_TRUE(adapter->supports("scaled_dot_product_attention"));
  EXPECT_EQ(adapter->run(call(false)).rejection().message, "ValueError: fine");
  try {
    (void)adapter->run(call(true));
    FAIL() << "the misbehaving call returned";
  } catch (const WorkerError& e) {
    EXPECT_NE(std::string(e.what()).find(GetParam().message), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("restarted"), std::string::npos) << e.what();
  }
  EXPECT_EQ(adapter->run(call(false)).rejection().message, "ValueError: fine");
}

INSTANTIATE_TEST_SUITE_P(
    Workers, BrokenWorker,
    testing::Values(Misbehaviour{"crash", "killed by signal 11"},
                    Misbehaviour{"hang", "did not answer before the timeout"},
                    Misbehaviour{"garbage", "expected a JSON object as the header line"},
                    Misbehaviour{"exit_mid_reply", "the worker exited with status 0"},
                    Misbehaviour{"huge_tensor", "larger than the limit"},
                    Misbehaviour{"wrong_id", "expected a reply to call 2, got id 9"},
                    Misbehaviour{"fault",
                                 "left the worker unusable: AcceleratorError: CUDA error: "
                                 "misaligned address"}),
    [](const testing::TestParamInfo<Misbehaviour>& param_info) { return param_info.param.worker; });

TEST(Worker, ThatCannotStartSupportsNothingAndSaysWhyOnUse) {
  for (const auto& [name, why] : {std::pair{"wrong_protocol", "expected protocol 1"},
                                  std::pair{"no_such_command", "command was not found"}}) {
    const auto adapter = makeWorkerAdapter(loadWorkerManifest(kWorkers, name));
    EXPECT_FALSE(adapter->supports("scaled_dot_product_attention")) << name;
    try {
      (void)adapter->run(call(false));
      FAIL() << name << " ran a call";
    } catch (const WorkerError& e) {
      EXPECT_NE(std::string(e.what()).find(why), std::string::npos) << e.what();
    }
  }
}

TEST(WorkerManifest, MistakesNameFileLineAndField) {
  const auto folder = std::filesystem::temp_directory_path() / "attnconf-manifest-test";
  std::filesystem::create_directories(folder / "bad");
  std::ofstream(folder / "bad" / "worker.yaml") << "command: [python3]\ntimeout: 3\n";
  try {
    (void)loadWorkerManifest(folder, "bad");
    FAIL() << "loaded a manifest with an unknown key";
  } catch (const WorkerError& e) {
    EXPECT_NE(std::string(e.what()).find("worker.yaml:2:1: unknown key `timeout`"),
              std::string::npos)
        << e.what();
  }
  EXPECT_THROW((void)loadWorkerManifest(folder, "missing"), WorkerError);
}

// The workers in workers/, the GPU-only ones too (CI has no GPU to run them): each manifest and
// expectations file loads, and its expectations name the manifest's adapter.
TEST(ShippedWorkers, ManifestsAndExpectationsLoad) {
  const auto names = workerNames(ATTNCONF_SHIPPED_WORKERS);
  EXPECT_NE(std::ranges::find(names, "torch_cuda"), names.end());
  for (const auto& name : names) {
    const auto manifest = loadWorkerManifest(ATTNCONF_SHIPPED_WORKERS, name);
    if (manifest.expectations.empty()) continue;
    EXPECT_EQ(report::loadExpectations(manifest.expectations).adapter, name);
  }
}

TEST(Expectations, MarkKnownFailuresAndWarnAboutStaleOnes) {
  const auto file = std::filesystem::temp_directory_path() / "attnconf-expectations.yaml";
  std::ofstream(file)
      << "adapter: torch\nexpected_failures:\n"
         "  - test: sdpa.ErrorIfA\n    reason: known\n    reproduce: attnconf run\n"
         "  - test: sdpa.ErrorIfB\n    reason: fixed now\n    reproduce: attnconf run\n"
         "  - test: sdpa.Gone\n    reason: renamed\n    reproduce: attnconf run\n";
  const auto expectations = report::loadExpectations(file);
  report::Results results;
  for (const auto& [property, status] : {std::pair{"ErrorIfA", props::Verdict::Status::fail},
                                         std::pair{"ErrorIfB", props::Verdict::Status::pass},
                                         std::pair{"Accuracy", props::Verdict::Status::fail}}) {
    report::ResultRecord r{"sdpa", "torch", property, "error_contract", {}, {}};
    r.verdict.status = status;
    report::markExpected(expectations, r);
    results.results.push_back(r);
  }
  const auto warnings =
      report::staleExpectations(expectations, results, report::RunScope::every_test);
  EXPECT_EQ(results.results[0].expected_failure, "known");
  EXPECT_EQ(results.results[2].expected_failure, "");  // not waived: still counts
  ASSERT_EQ(warnings.size(), 2U);
  EXPECT_NE(warnings[0].find("expected failure passed"), std::string::npos) << warnings[0];
  EXPECT_NE(warnings[1].find("matched no test"), std::string::npos) << warnings[1];
  // A run filtered with --only or --api leaves tests out on purpose: only the pass is stale.
  const auto filtered =
      report::staleExpectations(expectations, results, report::RunScope::some_tests);
  ASSERT_EQ(filtered.size(), 1U);
  EXPECT_NE(filtered[0].find("expected failure passed"), std::string::npos) << filtered[0];

  std::ofstream(file) << "adapter: ort\nexpected_failures:\n"
                         "  - test: onnx.Accuracy\n    reason: fp16 only\n"
                         "    reproduce: attnconf run\n    failure: \"Q:fp16\"\n";
  const auto dtype_bound = report::loadExpectations(file);
  report::Results accuracy;
  for (const char* failing_case :
       {"case: onnx Q:fp16[1,2] K:fp16[1,2]", "case: onnx Q:fp32[1,2]"}) {
    report::ResultRecord r{"onnx", "ort", "Accuracy", "accuracy", {}, {}};
    r.verdict.status = props::Verdict::Status::fail;
    r.verdict.message = failing_case;
    report::markExpected(dtype_bound, r);
    accuracy.results.push_back(r);
  }
  EXPECT_EQ(accuracy.results[0].expected_failure, "fp16 only");
  EXPECT_EQ(accuracy.results[1].expected_failure, "") << "an fp32 failure is not the fp16 finding";
  accuracy.results.erase(accuracy.results.begin());
  const auto otherwise =
      report::staleExpectations(dtype_bound, accuracy, report::RunScope::every_test);
  ASSERT_EQ(otherwise.size(), 1U);
  EXPECT_NE(otherwise[0].find("failed otherwise than expected"), std::string::npos) << otherwise[0];

  // `*` names several tests at once, and only whole names match.
  std::ofstream(file) << "adapter: ort\nexpected_failures:\n"
                         "  - test: onnx*.ErrorIf*Shape\n    reason: mask first\n"
                         "    reproduce: attnconf run\n";
  const auto glob = report::loadExpectations(file);
  EXPECT_TRUE(glob.entries[0].names("onnx.ErrorIfKeyShape"));
  EXPECT_TRUE(glob.entries[0].names("onnx_3d.ErrorIfValueShape"));
  EXPECT_FALSE(glob.entries[0].names("onnx.ErrorIfKeyShapeRank"));
  EXPECT_FALSE(glob.entries[0].names("onnxXErrorIfKeyShape")) << "the dot is literal";
  EXPECT_FALSE(glob.entries[0].names("onnx.Accuracy"));

  std::ofstream(file) << "adapter: torch\nexpected_failures:\n  - test: sdpa.X\n    reason: r\n";
  try {
    (void)report::loadExpectations(file);
    FAIL() << "loaded an entry without `reproduce`";
  } catch (const report::ExpectationsError& e) {
    EXPECT_NE(std::string(e.what()).find("expected_failures[0].reproduce: expected a non-empty"),
              std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace attnconf::adapters
