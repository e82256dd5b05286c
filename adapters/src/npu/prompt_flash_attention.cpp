#include "npu/prompt_flash_attention.h"

#include "npu/inference.h"

namespace attnconf::adapters {

std::map<std::string, Tensor> npuPromptFlashAttention(const Case& c, PlantedFault fault,
                                                      const ForwardKernel& kernel,
                                                      const BackwardKernel* /*backward*/) {
  // next_tokens defaults to 0; the planted fault takes npu_fusion_attention's default of
  // next_tockens (every key).
  const std::int64_t default_next =
      fault == PlantedFault::next_tokens_default_all ? npu::kAllTokens : 0;
  return npu::inferenceAttention(c, fault, kernel,
                                 npu::promptCall(c, "npu_prompt_flash_attention", default_next));
}

}  // namespace attnconf::adapters
