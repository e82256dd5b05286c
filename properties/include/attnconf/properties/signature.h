#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "attnconf/adapters/adapter.h"
#include "attnconf/properties/verdict.h"
#include "attnconf/spec/api_spec.h"

namespace attnconf::props {

/// Peak resident memory that `fn` adds while it runs, in bytes, or nothing where the platform
/// cannot tell (it resets and reads the kernel's high-water mark, /proc/self VmHWM).
std::optional<double> peakBytesDuring(const std::function<void()>& fn);

/// A plain valid call of the spec's API at one size: batch 1, every seqlen dim `seqlen`, every
/// heads dim `heads`, every head_dim dim `head_dim`, first allowed dtypes, no optional inputs,
/// default parameters. Nothing if the spec does not accept such a call.
std::optional<Case> signatureCase(const spec::ApiSpec& spec, std::int64_t seqlen,
                                  std::int64_t heads, std::int64_t head_dim);

/// The five signals of a fallback (seed 000's checklist), each with its strength.
struct FallbackSignals {
  bool reported_fallback = false;  ///< strong: the adapter says a non-fast path ran
  bool probe_refused = false;      ///< strong: the fast-path-only probe refused the call
  bool quadratic_memory =
      false;  ///< strong: peak memory grows like S^2 (exponent > 1.5, peak >= 4 MiB)
  bool small_memory_saving =
      false;                   ///< weak: < 30% less memory than standard attention at S >= 2048
  bool small_speedup = false;  ///< weak: < 1.3x faster than standard attention at S >= 1024

  int count() const;
  bool anyStrong() const { return reported_fallback || probe_refused || quadratic_memory; }
  /// The verdict rule: any strong signal, or at least 3 of the 5 (seed 000), means a fallback.
  bool fellBack() const { return anyStrong() || count() >= 3; }
  std::string describe() const;
};

/// Measurements of one adapter next to standard attention (the in-tree `naive`) on growing
/// sequence lengths.
struct ResourceSignature {
  std::vector<std::int64_t> seqlens;
  std::vector<double> peak_bytes;  ///< adapter, per length
  double growth_exponent = 0;      ///< log2 of peak memory growth over the last doubling
  double standard_peak_bytes = 0;  ///< standard attention at the longest length
  double seconds = 0;              ///< adapter, longest length, best of two
  double standard_seconds = 0;     ///< standard attention, same call
  FallbackSignals signals;
  Case longest;              ///< the call at the longest length
  std::string longest_path;  ///< the path the adapter reported for it
  std::string describe() const;
};

/// Measures an adapter's resource signature on the spec's API (lengths L, 2L, 4L).
std::optional<ResourceSignature> measureSignature(const spec::ApiSpec& spec,
                                                  adapters::Adapter& adapter,
                                                  std::int64_t base_seqlen);

/// Property `ResourceSignature`: the signals of seed 000 on growing lengths; a fallback that no
/// declared region covers fails. Measured in one run, side by side with standard attention.
Verdict checkResourceSignature(const spec::ApiSpec& spec, adapters::Adapter& adapter,
                               const RunConfig& config);

}  // namespace attnconf::props
