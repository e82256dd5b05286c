// attnconf_bench: the reference and the in-tree adapters on flash_attn_func calls of
// (batch 1, heads 8, seqlen S x S, head_dim 128, fp16), S in {512, 1024, 2048}.
// Compare rows of one run only: they share the machine and the inputs.
#include <benchmark/benchmark.h>

#include <random>

#include "attnconf/adapters/adapter.h"
#include "attnconf/reference/attention.h"
#include "attnconf/spec/binding.h"
#include "attnconf/spec/loader.h"

namespace {

using namespace attnconf;

const spec::ApiSpec& flashAttnFunc() {
  static const spec::ApiSpec s = spec::loadSpec(spec::specFolder() / "flash_attn_func.yaml");
  return s;
}

Case call(std::int64_t seqlen, bool causal) {
  Case c;
  c.api = "flash_attn_func";
  std::mt19937_64 rng(seqlen);
  std::uniform_real_distribution<double> uniform(-1, 1);
  for (const char* name : {"q", "k", "v"}) {
    Tensor t = Tensor::zeros(DType::fp16, {1, seqlen, 8, 128});
    for (double& x : t.values) x = roundTo(DType::fp16, uniform(rng));
    c.tensors[name] = std::move(t);
  }
  c.params["causal"] = causal;
  c.params["return_attn_probs"] = true;
  return c;
}

void setCounters(benchmark::State& state, std::int64_t seqlen) {
  const double flops = 4.0 * 8 * static_cast<double>(seqlen) * static_cast<double>(seqlen) * 128;
  state.counters["GFLOP/s"] =
      benchmark::Counter(flops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

void referenceExact(benchmark::State& state) {
  const Problem p = spec::bindProblem(flashAttnFunc(), call(state.range(0), state.range(1) != 0));
  for (auto _ : state) benchmark::DoNotOptimize(reference::attention(p));
  setCounters(state, state.range(0));
}

void adapterRun(benchmark::State& state, const char* name) {
  const Case c = call(state.range(0), state.range(1) != 0);
  const auto adapter = adapters::makeInTreeAdapter(name);
  for (auto _ : state) benchmark::DoNotOptimize(adapter->run(c));
  setCounters(state, state.range(0));
}

void cpuFlash(benchmark::State& state) {
  adapterRun(state, "cpu_flash");
}
void naive(benchmark::State& state) {
  adapterRun(state, "naive");
}

void shapes(benchmark::internal::Benchmark* b) {
  b->ArgNames({"S", "causal"})->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(0.5);
  for (const int s : {512, 1024, 2048}) b->Args({s, 0});
  b->Args({2048, 1});
}

BENCHMARK(referenceExact)->Apply(shapes);
BENCHMARK(cpuFlash)->Apply(shapes);
BENCHMARK(naive)->Apply(shapes);

}  // namespace

BENCHMARK_MAIN();
