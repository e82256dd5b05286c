#include "attnconf/adapters/in_tree.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <stdexcept>

#include "diy/flash_attention.h"
#include "flash_attn/flash_attn_func.h"
#include "flash_attn/flash_attn_varlen_func.h"
#include "flash_attn/flash_attn_with_kvcache.h"
#include "flash_attn_npu/flash_attn_with_kvcache.h"
#include "jax/dot_product_attention.h"
#include "npu/advance_step_flashattn.h"
#include "npu/fused_infer_attention_score.h"
#include "npu/fusion_attention.h"
#include "npu/incre_flash_attention.h"
#include "npu/prompt_flash_attention.h"
#include "onnx/attention.h"
#include "onnx/group_query_attention.h"
#include "onnx/multi_head_attention.h"
#include "torch/scaled_dot_product_attention.h"

namespace attnconf::adapters {
namespace {

// The APIs the in-tree kernels implement, each with its front end and the name its spec gives
// the query head dim (for the declared fallback's region; none for an API without attention).
struct InTreeApi {
  std::string_view api;
  FrontEnd front_end;
  std::string_view head_dim;
};

constexpr std::array kApis = {
    InTreeApi{"flash_attn_func", &flashAttnFunc, "headdim"},
    InTreeApi{"flash_attn_varlen_func", &flashAttnVarlenFunc, "headdim"},
    InTreeApi{"flash_attn_with_kvcache", &flashAttnWithKvcache, "headdim"},
    InTreeApi{"flash_attn_with_kvcache_paged", &flashAttnWithKvcache, "headdim"},
    InTreeApi{"flash_attn3_with_kvcache", &flashAttn3WithKvcache, "headdim"},
    InTreeApi{"flash_attn_npu_with_kvcache", &flashAttnNpuWithKvcache, "headdim"},
    InTreeApi{"flash_attn_npu_with_kvcache_paged", &flashAttnNpuWithKvcache, "headdim"},
    InTreeApi{"scaled_dot_product_attention", &scaledDotProductAttention, "e"},
    InTreeApi{"diy_flash_attention", &diyFlashAttention, "head_dim"},
    InTreeApi{"onnx_attention", &onnxAttention, "head_size"},
    InTreeApi{"onnx_attention_3d", &onnxAttention, "head_size"},
    InTreeApi{"ort_multi_head_attention", &ortMultiHeadAttention, "head_size"},
    InTreeApi{"ort_group_query_attention", &ortGroupQueryAttention, "head_size"},
    InTreeApi{"jax_dot_product_attention", &jaxDotProductAttention, "h"},
    InTreeApi{"npu_fusion_attention_bnsd", &npuFusionAttention, "d"},
    InTreeApi{"npu_fusion_attention_bsnd", &npuFusionAttention, "d"},
    InTreeApi{"npu_fusion_attention_bsh", &npuFusionAttention, "d"},
    InTreeApi{"npu_fusion_attention_sbh", &npuFusionAttention, "d"},
    InTreeApi{"npu_fusion_attention_tnd", &npuFusionAttention, "d"},
    InTreeApi{"npu_prompt_flash_attention_bnsd", &npuPromptFlashAttention, "d"},
    InTreeApi{"npu_prompt_flash_attention_bsnd", &npuPromptFlashAttention, "d"},
    InTreeApi{"npu_prompt_flash_attention_bsh", &npuPromptFlashAttention, "d"},
    InTreeApi{"npu_incre_flash_attention_bnsd", &npuIncreFlashAttention, "d"},
    InTreeApi{"npu_incre_flash_attention_bsnd", &npuIncreFlashAttention, "d"},
    InTreeApi{"npu_incre_flash_attention_bsh", &npuIncreFlashAttention, "d"},
    InTreeApi{"npu_incre_flash_attention_paged_bnsd", &npuIncreFlashAttention, "d"},
    InTreeApi{"npu_incre_flash_attention_paged_bsnd", &npuIncreFlashAttention, "d"},
    InTreeApi{"npu_incre_flash_attention_paged_bsh", &npuIncreFlashAttention, "d"},
    InTreeApi{"npu_fused_infer_attention_score_bnsd", &npuFusedInferAttentionScore, "d"},
    InTreeApi{"npu_fused_infer_attention_score_bsnd", &npuFusedInferAttentionScore, "d"},
    InTreeApi{"npu_fused_infer_attention_score_bsh", &npuFusedInferAttentionScore, "d"},
    InTreeApi{"npu_fused_infer_attention_score_paged_bnsd", &npuFusedInferAttentionScore, "d"},
    InTreeApi{"npu_fused_infer_attention_score_paged_bsnd", &npuFusedInferAttentionScore, "d"},
    InTreeApi{"npu_fused_infer_attention_score_paged_bsh", &npuFusedInferAttentionScore, "d"},
    InTreeApi{"npu_advance_step_flashattn", &npuAdvanceStepFlashattn, ""},
};

const InTreeApi* findApi(std::string_view api) {
  const auto it = std::ranges::find(kApis, api, &InTreeApi::api);
  return it == kApis.end() ? nullptr : &*it;
}

}  // namespace

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
                   "accumulation); head_dim > {} runs standard attention (declared)",
                   tiles_.block_q, tiles_.block_k, kMaxTiledHeadDim)
             : "standard attention in the input dtype, full score matrix (what a fallback runs)";
}

bool InTreeAdapter::supports(std::string_view api) const {
  return findApi(api) != nullptr;
}

std::pair<std::string, std::string> InTreeAdapter::choosePath(std::int64_t head_dim,
                                                              std::int64_t seqlen_k) const {
  if (kernel_ == InTreeKernel::standard) return {"standard", "naive has no other path"};
  if (head_dim > kMaxTiledHeadDim) {
    return {"standard", fmt::format("head_dim {} > {}", head_dim, kMaxTiledHeadDim)};
  }
  const bool ragged = seqlen_k % tiles_.block_k != 0;
  if (ragged && (fault_ == PlantedFault::silent_fallback_ragged_keys ||
                 fault_ == PlantedFault::hidden_fallback_ragged_keys)) {
    return {"standard",
            fmt::format("seqlen_k {} is not a multiple of {}", seqlen_k, tiles_.block_k)};
  }
  return {"flash", ""};
}

Outcome InTreeAdapter::runWith(const Case& c, bool fast_only, bool backward) {
  Outcome outcome{Rejection{}, PathEvidence{}, {}};
  const InTreeApi* api = findApi(c.api);
  if (!api) {
    outcome.result = Rejection{fmt::format("{} does not implement {}", name(), c.api)};
    return outcome;
  }
  const auto kernel = [&](const AttentionArgs& args) {
    const auto [path, why] = choosePath(args.head_dim, args.seqlen_k);
    if (fast_only && path != "flash") throw ApiError("fast path unavailable: " + why);
    const bool hide = fault_ == PlantedFault::hidden_fallback_ragged_keys;
    outcome.path = PathEvidence{
        hide || path == "flash" ? std::string(args.fast_path) : path,
        fmt::format("{}.{}", name(), hide || path == "flash" ? "tiled_fa2" : "standard"),
        why.empty() || hide ? "in-process dispatch" : "in-process dispatch: " + why};
    if (path == "flash") {
      tiledFlashForward(args, tiles_.block_q, tiles_.block_k);
    } else {
      standardForward(args);
    }
  };
  // The backward takes the path the forward took.
  const auto backward_kernel = [&](const BackwardArgs& args) {
    if (outcome.path.kernel.ends_with("tiled_fa2")) {
      tiledFlashBackward(args, tiles_.block_q, tiles_.block_k);
    } else {
      standardBackward(args);
    }
  };
  try {
    const BackwardKernel backward_fn = backward_kernel;
    outcome.result = api->front_end(c, fault_, kernel, backward ? &backward_fn : nullptr);
  } catch (const ApiError& e) {
    outcome.result = Rejection{e.what()};
  }
  return outcome;
}

Outcome InTreeAdapter::run(const Case& c) {
  return runWith(c, false);
}

std::optional<Outcome> InTreeAdapter::runFastPathOnly(const Case& c) {
  if (kernel_ == InTreeKernel::standard) return std::nullopt;  // it has no fast path to force
  return runWith(c, true);
}

std::optional<Outcome> InTreeAdapter::runBackward(const Case& c) {
  return runWith(c, false, true);
}

std::string InTreeAdapter::declaredFallbacks(std::string_view api_name) const {
  const InTreeApi* api = findApi(api_name);
  if (!api || api->head_dim.empty()) return {};
  if (kernel_ == InTreeKernel::standard) {
    return "- name: standard\n"
           "  note: naive is standard attention; every call takes this path\n";
  }
  return fmt::format(
      "- name: standard\n"
      "  when: [{{dim: {}, min: {}}}]\n"
      "  note: the tiled kernel's tiles hold head_dim <= {}; wider heads run standard attention\n",
      api->head_dim, kMaxTiledHeadDim + 1, kMaxTiledHeadDim);
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
