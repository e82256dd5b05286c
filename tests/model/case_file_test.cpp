#include "attnconf/model/case_file.h"

#include <gtest/gtest.h>

#include <filesystem>

namespace attnconf {
namespace {

Case sample() {
  Case c;
  c.api = "flash_attn_func";
  c.dims = {{"batch", 1}, {"headdim", 8}};
  c.params = {{"causal", true},
              {"softcap", 2.5},
              {"window_size", std::vector<std::int64_t>{-1, 3}},
              {"answer", std::int64_t{42}}};
  c.tensors["q"] = Tensor{DType::fp16, {1, 2}, {0.5, -1.25}};
  c.broken_rule = "HeadDimTooLarge";
  return c;
}

TEST(CaseFile, RoundTripsExactly) {
  const auto path = std::filesystem::temp_directory_path() / "attnconf_case_test.json";
  saveCase(path, sample());
  EXPECT_EQ(loadCase(path), sample());
  std::filesystem::remove(path);
}

TEST(CaseFile, RejectsValueNotRepresentableInDType) {
  std::string text = caseToJson(sample());
  text.replace(text.find("0.5"), 3, "0.1");
  try {
    caseFromJson(text, "mem.json");
    FAIL() << "accepted 0.1 as an fp16 value";
  } catch (const CaseFileError& e) {
    EXPECT_STREQ(e.what(), "mem.json: tensors.q.values[0]: 0.1 is not a fp16 value");
  }
}

TEST(CaseFile, NamesTheMissingField) {
  EXPECT_THROW(
      {
        try {
          caseFromJson(R"({"format": "attnconf-case", "version": 1, "api": "x"})", "f.json");
        } catch (const CaseFileError& e) {
          EXPECT_STREQ(e.what(), "f.json: tensors: missing, expected a value here");
          throw;
        }
      },
      CaseFileError);
}

TEST(CaseFile, RejectsWrongShapeProduct) {
  std::string text = caseToJson(sample());
  const auto at = text.find("-1.25");
  text.replace(at, 5, "-1.25, 2");
  EXPECT_THROW(caseFromJson(text, "f.json"), CaseFileError);
}

TEST(CaseFile, RejectsNotJson) {
  EXPECT_THROW(caseFromJson("{oops", "f.json"), CaseFileError);
}

}  // namespace
}  // namespace attnconf
