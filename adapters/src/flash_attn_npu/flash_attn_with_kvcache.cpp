#include "flash_attn_npu/flash_attn_with_kvcache.h"

#include "flash_attn/flash_attn_with_kvcache.h"

namespace attnconf::adapters {

std::map<std::string, Tensor> flashAttnNpuWithKvcache(const Case& c, PlantedFault fault,
                                                      const ForwardKernel& kernel,
                                                      const BackwardKernel* backward) {
  using front_end::check;
  if (fault == PlantedFault::unsupported_alibi_ignored && c.tensor("alibi_slopes")) {
    Case without = c;  // as a port that drops what it cannot do would run it
    without.tensors.erase("alibi_slopes");
    return flashAttnWithKvcache(without, fault, kernel, backward);
  }
  check(!c.tensor("alibi_slopes"), "NPU FlashAttention does not support alibi_slopes");
  check(!c.tensor("cache_leftpad"), "NPU FlashAttention does not support leftpad_k");
  check(!c.tensor("rotary_cos") && !c.tensor("rotary_sin"),
        "NPU FlashAttention does not support rotary embedding");
  const auto splits = front_end::paramOr(c, "num_splits", std::int64_t{0});
  check(splits == 0 || splits == 1,
        "NPU FlashAttention only supports num_splits=1 or num_splits=0");
  return flashAttnWithKvcache(c, fault, kernel, backward);
}

}  // namespace attnconf::adapters
