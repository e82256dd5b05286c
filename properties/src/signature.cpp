#include "attnconf/properties/signature.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <malloc.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <fstream>
#include <sstream>

#include "attnconf/generators/cases.h"
#include "attnconf/generators/recipe.h"
#include "attnconf/properties/fallback.h"
#include "attnconf/spec/rules.h"

namespace attnconf::props {
namespace {

std::optional<double> statusKiB(const std::string& key) {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind(key + ":", 0) == 0) return std::stod(line.substr(key.size() + 1));
  }
  return std::nullopt;
}

double secondsOf(const std::function<void()>& fn) {
  const auto start = std::chrono::steady_clock::now();
  fn();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// The better of two timings of a call; a call that reports its own time (a worker leaves the
// transport out) is timed by that instead of the wall clock around it.
double bestOfTwo(const std::function<std::optional<double>()>& fn) {
  const auto once = [&] {
    std::optional<double> own;
    const double wall = secondsOf([&] { own = fn(); });
    return own.value_or(wall);
  };
  return std::min(once(), once());
}

std::string mib(double bytes) {
  return fmt::format("{:.1f} MiB", bytes / (1024.0 * 1024.0));
}

// A paged cache's keys are its blocks per entry (a batch-kind dim, 1 in a signature) times the
// block size, which the rules cap at a few hundred: as many blocks as `seqlen` keys need.
void withBlocksFor(const spec::ApiSpec& spec, std::int64_t seqlen, gen::Recipe& recipe) {
  for (const auto& dim : spec.dims) {
    if (dim.kind != spec::DimKind::seqlen || dim.product_of.size() != 2) continue;
    for (std::size_t at = 0; at < 2; ++at) {
      const spec::Dim* blocks = spec.dim(dim.product_of[at]);
      const auto size = recipe.dims.find(dim.product_of[1 - at]);
      if (blocks && blocks->kind == spec::DimKind::batch && !blocks->fromParts() &&
          size != recipe.dims.end() && size->second > 0)
        recipe.dims[blocks->name] = (seqlen + size->second - 1) / size->second;
    }
  }
}

}  // namespace

std::optional<double> peakBytesDuring(const std::function<void()>& fn) {
  // Large blocks straight from mmap, and given back when freed, so the high-water mark sees
  // each call's own allocations rather than memory malloc kept from earlier calls.
  static const bool tuned =
      mallopt(M_MMAP_THRESHOLD, 128 * 1024) && mallopt(M_TRIM_THRESHOLD, 128 * 1024);
  (void)tuned;
  std::ofstream reset("/proc/self/clear_refs");
  reset << "5" << std::flush;  // "5" resets the peak resident set size to the current one
  const auto before = statusKiB("VmRSS");
  if (!reset || !before) return std::nullopt;
  fn();
  const auto peak = statusKiB("VmHWM");
  if (!peak) return std::nullopt;
  return std::max(0.0, *peak - *before) * 1024.0;
}

std::optional<Case> signatureCase(const spec::ApiSpec& spec, std::int64_t seqlen,
                                  std::int64_t heads, std::int64_t head_dim) {
  gen::Recipe recipe;
  for (const auto& dim : spec.dims) {
    switch (dim.kind) {
      case spec::DimKind::batch:
        recipe.dims[dim.name] = 1;
        break;
      case spec::DimKind::seqlen: {
        // The first length from `seqlen` on that the rules allow (flash-attn's pages hold a
        // multiple of 256 keys), or the longest they allow below it (a decode API's one query).
        const auto allowed = gen::dimCandidates(spec, dim, recipe.dims, 2 * seqlen);
        const auto at = std::ranges::lower_bound(allowed, seqlen);
        recipe.dims[dim.name] = at != allowed.end() ? *at
                                : allowed.empty()   ? seqlen
                                                    : allowed.back();
        break;
      }
      case spec::DimKind::heads:
        recipe.dims[dim.name] = heads;
        break;
      case spec::DimKind::head_dim:
        recipe.dims[dim.name] = head_dim;
        break;
    }
  }
  withBlocksFor(spec, seqlen, recipe);
  // The query's first allowed dtype wherever an input allows it (q, k, v share one).
  const DType dtype = gen::allowedDTypes(spec, *spec.input(spec.semantics.query)).front();
  for (const auto& input : spec.inputs) {
    if (input.optional) continue;
    recipe.shape_choice[input.name] = 0;
    const auto allowed = gen::allowedDTypes(spec, input);
    recipe.dtypes[input.name] =
        std::ranges::find(allowed, dtype) != allowed.end() ? dtype : allowed.front();
  }
  recipe.data_seed = 2024;
  Case c = gen::materialize(spec, gen::withPartners(spec, std::move(recipe)));
  // Every entry at its full length, so that the case runs as many keys as it names.
  for (const auto& decl : spec.inputs) {
    const auto t = c.tensors.find(decl.name);
    if (decl.lengths_of.empty() || t == c.tensors.end()) continue;
    std::ranges::fill(t->second.values, static_cast<double>(gen::longestLength(decl, c.dims)));
  }
  if (!spec::brokenRules(spec, c).empty()) return std::nullopt;
  return c;
}

int FallbackSignals::count() const {
  return int{reported_fallback} + int{probe_refused} + int{quadratic_memory} +
         int{small_memory_saving} + int{small_speedup};
}

std::string FallbackSignals::describe() const {
  std::vector<std::string> seen;
  if (reported_fallback) seen.emplace_back("reported fallback path");
  if (probe_refused) seen.emplace_back("fast-path probe refused");
  if (quadratic_memory) seen.emplace_back("quadratic memory");
  if (small_memory_saving) seen.emplace_back("memory saving < 30%");
  if (small_speedup) seen.emplace_back("speed-up < 1.3x");
  return fmt::format("{} of 5 signals{}{}", count(), seen.empty() ? "" : ": ",
                     fmt::join(seen, ", "));
}

std::string ResourceSignature::describe() const {
  std::vector<std::string> peaks;
  for (const double p : peak_bytes) peaks.push_back(mib(p));
  return fmt::format(
      "S={}: peak {} (growth S^{:.2f}); at S={}: standard attention {} in {:.3f} s, adapter {} in "
      "{:.3f} s (memory {:+.0f}%, speed-up {:.2f}x); {}",
      fmt::join(seqlens, "/"), fmt::join(peaks, " / "), growth_exponent, seqlens.back(),
      mib(standard_peak_bytes), standard_seconds, mib(peak_bytes.back()), seconds,
      100.0 * (peak_bytes.back() / standard_peak_bytes - 1.0), standard_seconds / seconds,
      signals.describe());
}

std::optional<ResourceSignature> measureSignature(const spec::ApiSpec& spec,
                                                  adapters::Adapter& adapter,
                                                  std::int64_t base_seqlen) {
  constexpr std::int64_t kHeads = 2, kHeadDim = 64;
  ResourceSignature sig;
  adapters::Outcome last;
  for (const std::int64_t seqlen : {base_seqlen, 2 * base_seqlen, 4 * base_seqlen}) {
    const auto c = signatureCase(spec, seqlen, kHeads, kHeadDim);
    if (!c) return std::nullopt;
    auto peak = peakBytesDuring([&] { last = adapter.run(*c); });
    if (last.measured.peak_bytes) peak = last.measured.peak_bytes;  // measured where it ran
    if (!peak || last.rejected()) return std::nullopt;
    sig.seqlens.push_back(seqlen);
    sig.peak_bytes.push_back(*peak);
    sig.longest = *c;
  }
  const auto standard = adapters::makeInTreeAdapter("naive");
  sig.standard_peak_bytes = peakBytesDuring([&] { (void)standard->run(sig.longest); }).value_or(0);
  sig.seconds = bestOfTwo([&] { return adapter.run(sig.longest).measured.seconds; });
  sig.standard_seconds = bestOfTwo([&] { return standard->run(sig.longest).measured.seconds; });
  const auto n = sig.peak_bytes.size();
  sig.growth_exponent = std::log2(sig.peak_bytes[n - 1] / std::max(sig.peak_bytes[n - 2], 1.0));

  const PathContract contract = PathContract::of(spec, adapter);
  const auto probe = adapter.runFastPathOnly(sig.longest);
  sig.longest_path = last.path.path;
  sig.signals.reported_fallback = !sig.longest_path.empty() && !contract.isFast(sig.longest_path);
  sig.signals.probe_refused = probe && probe->rejected();
  // Below 16 MiB, page granularity and allocator slack (a thread's malloc arena is a few MiB)
  // swamp the growth: a tiled kernel at S = 4004 was once seen at S^1.53 between 2.6 and 7.5 MiB
  // on a loaded machine. A real fallback at the signature's lengths holds tens of MiB or more.
  constexpr double kMeasurableBytes = 16.0 * 1024 * 1024;
  sig.signals.quadratic_memory =
      sig.peak_bytes.back() >= kMeasurableBytes && sig.growth_exponent > 1.5;
  sig.signals.small_memory_saving =
      sig.seqlens.back() >= 2048 && sig.peak_bytes.back() > 0.7 * sig.standard_peak_bytes;
  sig.signals.small_speedup =
      sig.seqlens.back() >= 1024 && sig.standard_seconds < 1.3 * sig.seconds;
  return sig;
}

Verdict checkResourceSignature(const spec::ApiSpec& spec, adapters::Adapter& adapter,
                               const RunConfig& config) {
  const auto start = std::chrono::steady_clock::now();
  Verdict verdict;
  verdict.test_id = fmt::format("{}.ResourceSignature_{}", spec.api, adapter.name());
  const auto sig = measureSignature(spec, adapter, config.signature_seqlen);
  if (!sig) {
    verdict.status = Verdict::Status::gave_up;
    verdict.message =
        "no resource signature: the platform cannot measure peak memory, or the API "
        "rejects the plain call at these lengths";
    return verdict;
  }
  verdict.cases = static_cast<int>(sig->seqlens.size());
  verdict.evidence = sig->describe();
  const std::string& path = sig->longest_path;
  const PathContract contract = PathContract::of(spec, adapter);
  const bool declared = !path.empty() && contract.covering(spec, sig->longest, path);
  if (sig->signals.fellBack() && !declared) {
    verdict.status = Verdict::Status::fail;
    verdict.message = fmt::format(
        "[{} §paths] looks like a fallback that no declared region covers ({}), but should run {}\n"
        "evidence: {}\ncase: {}",
        spec.api, sig->signals.describe(), fmt::join(contract.fastFor(spec, sig->longest), " or "),
        sig->describe(), describeCase(sig->longest).substr(0, 200));
  }
  verdict.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return verdict;
}

}  // namespace attnconf::props
