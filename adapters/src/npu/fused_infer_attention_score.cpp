#include "npu/fused_infer_attention_score.h"

#include "npu/inference.h"

namespace attnconf::adapters {

std::map<std::string, Tensor> npuFusedInferAttentionScore(const Case& c, PlantedFault fault,
                                                          const ForwardKernel& kernel,
                                                          const BackwardKernel* /*backward*/) {
  npu::InferenceCall call = npu::promptCall(c, "npu_fused_infer_attention_score", npu::kAllTokens);
  call.scale = "scale";
  call.dispatches = true;
  call.pages = true;
  call.returns_lse = front_end::paramOr(c, "softmax_lse_flag", false);
  return npu::inferenceAttention(c, fault, kernel, call);
}

}  // namespace attnconf::adapters
