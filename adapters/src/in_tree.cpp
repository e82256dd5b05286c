#include "attnconf/adapters/in_tree.h"

#include <fmt/format.h>

#include <stdexcept>

#include "flash_attn/flash_attn_func.h"

namespace attnconf::adapters {

InTreeAdapter::InTreeAdapter(InTreeKernel kernel, PlantedFault fault, TileSizes tiles)
    : kernel_(kernel), fault_(fault), tiles_(tiles) {}

std::string InTreeAdapter::name() const {
  const std::string base = kernel_ == InTreeKernel::tiled_flash ? "cpu_flash" : "naive";
  return fault_ == PlantedFault::none ? base : fmt::format("{}_mutant_{}", base, faultName(fault_));
}

std::string InTreeAdapter::description() const {
  return kernel_ == InTreeKernel::tiled_flash
             ? fmt::format(
                   "FlashAttention-2 tiled CPU kernel ({}x{} tiles, online softmax, fp32 "
                   "accumulation)",
                   tiles_.block_q, tiles_.block_k)
             : "standard attention in the input dtype, full score matrix (what a fallback runs)";
}

bool InTreeAdapter::supports(std::string_view api) const {
  return api == "flash_attn_func";
}

Outcome InTreeAdapter::run(const Case& c) {
  const std::string kernel_name =
      kernel_ == InTreeKernel::tiled_flash ? "cpu_flash.tiled_fa2" : "naive.standard_attention";
  Outcome outcome{Rejection{}, PathEvidence{kernel_name, "in-process"}};
  if (!supports(c.api)) {
    outcome.result = Rejection{fmt::format("{} does not implement {}", name(), c.api)};
    return outcome;
  }
  const auto kernel = [&](const AttentionArgs& args) {
    if (kernel_ == InTreeKernel::tiled_flash) {
      tiledFlashForward(args, tiles_.block_q, tiles_.block_k);
    } else {
      standardForward(args);
    }
  };
  try {
    outcome.result = flashAttnFunc(c, fault_, kernel);
  } catch (const ApiError& e) {
    outcome.result = Rejection{e.what()};
  }
  return outcome;
}

std::vector<std::string> inTreeAdapterNames() {
  return {"cpu_flash", "naive"};
}

std::unique_ptr<Adapter> makeInTreeAdapter(std::string_view name) {
  for (const InTreeKernel kernel : {InTreeKernel::tiled_flash, InTreeKernel::standard}) {
    for (const PlantedFault fault : allPlantedFaults()) {
      if (InTreeAdapter(kernel, fault).name() == name)
        return std::make_unique<InTreeAdapter>(kernel, fault);
    }
    if (InTreeAdapter(kernel).name() == name) return std::make_unique<InTreeAdapter>(kernel);
  }
  throw std::invalid_argument(
      fmt::format("unknown adapter \"{}\"; expected cpu_flash, naive, or cpu_flash_mutant_<fault> "
                  "(attnconf list)",
                  name));
}

}  // namespace attnconf::adapters
