#include "npu/incre_flash_attention.h"

#include "npu/inference.h"

namespace attnconf::adapters {

std::map<std::string, Tensor> npuIncreFlashAttention(const Case& c, PlantedFault fault,
                                                     const ForwardKernel& kernel,
                                                     const BackwardKernel* /*backward*/) {
  // ascend_docs: actual_seq_lengths are the keys' valid lengths; the mask is taken as given.
  return npu::inferenceAttention(c, fault, kernel,
                                 {.api = "npu_incre_flash_attention",
                                  .key_lengths = "actual_seq_lengths",
                                  .max_head_dim = 512,
                                  .head_dim_multiple = npu::kIncreHeadDimMultiple,
                                  .single_query = true,
                                  .pages = true});
}

}  // namespace attnconf::adapters
