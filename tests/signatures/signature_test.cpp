// The resource signature's channels: memory measurement, growth, and each planted silent
// fallback seen by the channels that apply to it.
#include "attnconf/properties/signature.h"

#include <gtest/gtest.h>

#include <vector>

#include "attnconf/adapters/in_tree.h"
#include "attnconf/spec/loader.h"

namespace attnconf::props {
namespace {

using adapters::InTreeAdapter;
using adapters::InTreeKernel;
using adapters::PlantedFault;

const spec::ApiSpec& flashAttnFunc() {
  static const spec::ApiSpec spec = spec::loadSpec(spec::specFolder() / "flash_attn_func.yaml");
  return spec;
}

ResourceSignature measure(adapters::Adapter& adapter) {
  const auto sig = measureSignature(flashAttnFunc(), adapter, 1001);
  if (!sig) throw std::runtime_error("no signature on this platform");
  std::cout << adapter.name() << ": " << sig->describe() << '\n';
  return *sig;
}

TEST(PeakMemory, SeesAnAllocationOfKnownSize) {
  const auto bytes = peakBytesDuring([] {
    std::vector<char> block(64 << 20, 1);
    ASSERT_EQ(block[12345], 1);
  });
  ASSERT_TRUE(bytes.has_value());
  EXPECT_GT(*bytes, 60.0 * (1 << 20));
  EXPECT_LT(*bytes, 80.0 * (1 << 20));
}

TEST(SignatureCase, IsAPlainValidCall) {
  const auto c = signatureCase(flashAttnFunc(), 1001, 2, 64);
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->tensors.at("q").shape, (Shape{1, 1001, 2, 64}));
  EXPECT_EQ(c->tensors.at("q").dtype, DType::fp16);
  EXPECT_FALSE(c->tensors.contains("alibi_slopes"));
}

TEST(FallbackSignals, OneStrongOrThreeOfFive) {
  FallbackSignals s;
  EXPECT_FALSE(s.fellBack());
  s.small_speedup = s.small_memory_saving = true;
  EXPECT_FALSE(s.fellBack()) << "two weak signals are not enough";
  s.small_memory_saving = false;
  s.quadratic_memory = true;
  EXPECT_TRUE(s.fellBack()) << "one strong signal is";
  EXPECT_EQ(s.count(), 2);
}

TEST(ResourceSignature, TiledKernelGrowsLinearly) {
  InTreeAdapter cpu_flash(InTreeKernel::tiled_flash);
  const auto sig = measure(cpu_flash);
  EXPECT_LT(sig.growth_exponent, 1.3);
  EXPECT_FALSE(sig.signals.anyStrong()) << sig.signals.describe();
  EXPECT_LT(sig.peak_bytes.back(), 0.5 * sig.standard_peak_bytes);
}

TEST(ResourceSignature, StandardAttentionGrowsQuadratically) {
  InTreeAdapter naive(InTreeKernel::standard);
  const auto sig = measure(naive);
  EXPECT_GT(sig.growth_exponent, 1.5);
  EXPECT_TRUE(sig.signals.reported_fallback);
}

TEST(ResourceSignature, SilentFallbackIsSeenByEveryChannel) {
  InTreeAdapter mutant(InTreeKernel::tiled_flash, PlantedFault::silent_fallback_ragged_keys);
  const auto sig = measure(mutant);
  EXPECT_TRUE(sig.signals.reported_fallback);
  EXPECT_TRUE(sig.signals.probe_refused);
  EXPECT_TRUE(sig.signals.quadratic_memory);
}

TEST(ResourceSignature, HiddenFallbackIsSeenByProbeAndMemory) {
  InTreeAdapter mutant(InTreeKernel::tiled_flash, PlantedFault::hidden_fallback_ragged_keys);
  const auto sig = measure(mutant);
  EXPECT_FALSE(sig.signals.reported_fallback) << "this mutant reports the fast path";
  EXPECT_TRUE(sig.signals.probe_refused);
  EXPECT_TRUE(sig.signals.quadratic_memory);
}

}  // namespace
}  // namespace attnconf::props
