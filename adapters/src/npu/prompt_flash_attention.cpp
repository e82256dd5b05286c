#include "npu/prompt_flash_attention.h"

#include "npu/inference.h"

namespace attnconf::adapters {

std::map<std::string, Tensor> npuPromptFlashAttention(const Case& c, PlantedFault fault,
                                                      const ForwardKernel& kernel,
                                                      const BackwardKernel* /*backward*/) {
  const auto mode = front_end::paramOr<std::int64_t>(c, "sparse_mode", 0);
  front_end::check(
      mode >= 0 && mode <= 4,
      fmt::format("sparse_mode must be in [0, 4] for npu_prompt_flash_attention, got {}", mode));
  // The planted fault takes npu_fusion_attention's default of next_tockens (every key).
  const std::int64_t default_next =
      fault == PlantedFault::next_tokens_default_all ? npu::kAllTokens : 0;
  return npu::inferenceAttention(
      c, fault, kernel,
      {.api = "npu_prompt_flash_attention",
       .query_lengths = "actual_seq_lengths",
       .key_lengths = "actual_seq_lengths_kv",
       .max_head_dim = 512,  // mindspore_pfa: "D <= 512"
       .sparse_mode = mode,
       .band = {front_end::paramOr<std::int64_t>(c, "pre_tokens", npu::kAllTokens),
                front_end::paramOr<std::int64_t>(c, "next_tokens", default_next)}});
}

}  // namespace attnconf::adapters
