#include "attnconf/report/results.h"

#include <fmt/format.h>
#include <sys/utsname.h>

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "attnconf/model/files.h"
#include "attnconf/spec/rules.h"

namespace attnconf::report {
namespace {

using nlohmann::json;

json verdictJson(const ResultRecord& r) {
  const props::Verdict& v = r.verdict;
  return json{{"test_id", v.test_id},
              {"api", r.api},
              {"adapter", r.adapter},
              {"property", r.property},
              {"kind", r.kind},
              {"status", props::statusName(v.status)},
              {"cases", v.cases},
              {"seed", v.seed},
              {"seconds", v.seconds},
              {"err_ratio",
               {{"max", v.max_ratio},
                {"p99", v.p99_ratio},
                {"median", v.median_ratio},
                {"histogram", v.ratio_histogram}}},
              {"tags", v.tags},
              {"paths", v.paths},
              {"path_examples", v.path_examples},
              {"evidence", v.evidence},
              {"message", v.message},
              {"reproduce", v.reproduce},
              {"case_file", v.case_file},
              {"expected_failure", r.expected_failure}};
}

// Reads fields of one JSON object, naming file and field in every complaint.
class Reader {
 public:
  Reader(const json& object, std::string origin, std::string path)
      : object_(object), origin_(std::move(origin)), path_(std::move(path)) {
    if (!object_.is_object()) fail("", "expected an object");
  }

  [[noreturn]] void fail(const std::string& key, const std::string& expected) const {
    const std::string field = path_.empty() ? key : (key.empty() ? path_ : path_ + "." + key);
    throw ResultsError(
        fmt::format("{}: {}: {}", origin_, field.empty() ? "(document)" : field, expected));
  }

  const json& at(const std::string& key) const {
    if (!object_.contains(key)) fail(key, "missing");
    return object_.at(key);
  }

  template <class T>
  T get(const std::string& key) const {
    try {
      return at(key).get<T>();
    } catch (const json::exception&) {
      fail(key, fmt::format("expected {}", describe<T>()));
    }
  }

  Reader child(const std::string& key) const {
    return Reader(at(key), origin_, path_.empty() ? key : path_ + "." + key);
  }

 private:
  template <class T>
  static const char* describe() {
    if constexpr (std::is_same_v<T, std::string>)
      return "a string";
    else if constexpr (std::is_arithmetic_v<T>)
      return "a number";
    else
      return "a value of the documented type";
  }

  const json& object_;
  std::string origin_, path_;
};

props::Verdict::Status parseStatus(const Reader& r) {
  const auto text = r.get<std::string>("status");
  for (const auto s : {props::Verdict::Status::pass, props::Verdict::Status::fail,
                       props::Verdict::Status::gave_up, props::Verdict::Status::not_applicable}) {
    if (props::statusName(s) == text) return s;
  }
  r.fail("status", fmt::format("expected pass, FAIL, GAVE UP or n/a, got \"{}\"", text));
}

ResultRecord recordFromJson(const json& j, const std::string& origin, std::size_t index) {
  const Reader r(j, origin, fmt::format("results[{}]", index));
  ResultRecord record{r.get<std::string>("api"),
                      r.get<std::string>("adapter"),
                      r.get<std::string>("property"),
                      r.get<std::string>("kind"),
                      {},
                      {}};
  props::Verdict& v = record.verdict;
  v.test_id = r.get<std::string>("test_id");
  v.status = parseStatus(r);
  v.cases = r.get<int>("cases");
  v.seed = r.get<std::uint64_t>("seed");
  v.seconds = r.get<double>("seconds");
  const Reader ratio = r.child("err_ratio");
  v.max_ratio = ratio.get<double>("max");
  v.p99_ratio = ratio.get<double>("p99");
  v.median_ratio = ratio.get<double>("median");
  v.ratio_histogram = ratio.get<std::vector<int>>("histogram");
  v.tags = r.get<std::map<std::string, int>>("tags");
  v.paths = r.get<std::map<std::string, int>>("paths");
  v.path_examples = r.get<std::map<std::string, std::string>>("path_examples");
  v.evidence = r.get<std::string>("evidence");
  v.message = r.get<std::string>("message");
  v.reproduce = r.get<std::string>("reproduce");
  v.case_file = r.get<std::string>("case_file");
  if (j.contains("expected_failure"))
    record.expected_failure = r.get<std::string>("expected_failure");
  return record;
}

}  // namespace

SpecRecord recordOf(const spec::ApiSpec& spec) {
  SpecRecord record{spec.api, spec.file, spec.content_hash, {}};
  for (const auto& rule : spec.rules) {
    record.rules[rule.id] = fmt::format("{} -> /{}/", spec::describeRule(rule), rule.error);
  }
  return record;
}

std::string suiteVersion() {
  return ATTNCONF_VERSION;
}

std::string gitRevision() {
  return ATTNCONF_GIT_REVISION;
}

std::string hostDescription() {
  std::string cpu = "unknown CPU";
  std::ifstream cpuinfo("/proc/cpuinfo");
  for (std::string line; std::getline(cpuinfo, line);) {
    if (line.rfind("model name", 0) == 0) {
      cpu = line.substr(line.find(':') + 2);
      break;
    }
  }
  utsname os{};
  uname(&os);
  return fmt::format("{}, {} threads, {} {} {}", cpu, std::thread::hardware_concurrency(),
                     os.sysname, os.release, os.machine);
}

std::string toJson(const Results& results) {
  json doc{{"schema", "attnconf-results"},
           {"version", kResultsVersion},
           {"suite_version", results.suite_version},
           {"git_revision", results.git_revision},
           {"host", results.host},
           {"seed", results.seed},
           {"accuracy_cases", results.accuracy_cases},
           {"error_cases", results.error_cases},
           {"specs", json::array()},
           {"adapters", json::array()},
           {"results", json::array()}};
  for (const auto& s : results.specs) {
    doc["specs"].push_back(
        {{"api", s.api}, {"file", s.file}, {"content_hash", s.content_hash}, {"rules", s.rules}});
  }
  for (const auto& a : results.adapters) {
    doc["adapters"].push_back({{"name", a.name}, {"description", a.description}});
  }
  for (const auto& r : results.results) doc["results"].push_back(verdictJson(r));
  return doc.dump(1);
}

Results resultsFromJson(const std::string& text, const std::string& origin) {
  json doc;
  try {
    doc = json::parse(text);
  } catch (const json::parse_error& e) {
    throw ResultsError(fmt::format("{}: (document): expected JSON: {}", origin, e.what()));
  }
  const Reader r(doc, origin, "");
  if (r.get<std::string>("schema") != "attnconf-results")
    r.fail("schema", "expected \"attnconf-results\"");
  if (r.get<int>("version") != kResultsVersion) {
    r.fail("version", fmt::format("expected {} (this attnconf's schema)", kResultsVersion));
  }
  Results results;
  results.suite_version = r.get<std::string>("suite_version");
  results.git_revision = r.get<std::string>("git_revision");
  results.host = r.get<std::string>("host");
  results.seed = r.get<std::uint64_t>("seed");
  results.accuracy_cases = r.get<int>("accuracy_cases");
  results.error_cases = r.get<int>("error_cases");
  for (std::size_t i = 0; i < r.at("specs").size(); ++i) {
    const Reader s(r.at("specs")[i], origin, fmt::format("specs[{}]", i));
    results.specs.push_back(SpecRecord{s.get<std::string>("api"), s.get<std::string>("file"),
                                       s.get<std::string>("content_hash"),
                                       s.get<std::map<std::string, std::string>>("rules")});
  }
  for (std::size_t i = 0; i < r.at("adapters").size(); ++i) {
    const Reader a(r.at("adapters")[i], origin, fmt::format("adapters[{}]", i));
    results.adapters.push_back(
        AdapterRecord{a.get<std::string>("name"), a.get<std::string>("description")});
  }
  if (!r.at("results").is_array()) r.fail("results", "expected a list");
  for (std::size_t i = 0; i < r.at("results").size(); ++i) {
    results.results.push_back(recordFromJson(r.at("results")[i], origin, i));
  }
  return results;
}

void saveResults(const std::filesystem::path& path, const Results& results) {
  writeFileAtomically(path, toJson(results) + '\n');
}

namespace {

Results loadResultsFile(const std::filesystem::path& path) {
  const auto text = readTextFile(path);
  if (!text) throw ResultsError(fmt::format("{}: cannot open results file", path.string()));
  return resultsFromJson(*text, path.string());
}

template <class T, class Same>
void addMissing(std::vector<T>& into, const std::vector<T>& from, Same same) {
  for (const auto& item : from) {
    if (std::none_of(into.begin(), into.end(), [&](const T& have) { return same(have, item); })) {
      into.push_back(item);
    }
  }
}

}  // namespace

Results loadResults(const std::filesystem::path& path) {
  if (!std::filesystem::is_directory(path)) return loadResultsFile(path);
  std::vector<std::filesystem::path> files;
  for (const auto& entry : std::filesystem::directory_iterator(path)) {
    if (entry.path().extension() == ".json") files.push_back(entry.path());
  }
  if (files.empty())
    throw ResultsError(fmt::format("{}: no results files (*.json) in this folder", path.string()));
  std::sort(files.begin(), files.end());
  Results merged = loadResultsFile(files.front());
  for (std::size_t i = 1; i < files.size(); ++i) {
    const Results part = loadResultsFile(files[i]);
    addMissing(merged.specs, part.specs,
               [](const auto& a, const auto& b) { return a.api == b.api; });
    addMissing(merged.adapters, part.adapters,
               [](const auto& a, const auto& b) { return a.name == b.name; });
    merged.results.insert(merged.results.end(), part.results.begin(), part.results.end());
  }
  return merged;
}

}  // namespace attnconf::report
