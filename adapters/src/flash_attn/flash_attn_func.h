#pragma once

#include <functional>
#include <stdexcept>

#include "attnconf/adapters/adapter.h"
#include "kernels/attention_args.h"

namespace attnconf::adapters {

/// The API refused the call; the message is the vendor's.
class ApiError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// flash_attn_func's front end, written from flash-attn's mha_fwd: checks the call as the
/// CUDA extension does (same messages), decodes it into kernel arguments and runs `kernel`.
/// Throws ApiError on input the API rejects.
std::map<std::string, Tensor> flashAttnFunc(
    const Case& c, PlantedFault fault, const std::function<void(const AttentionArgs&)>& kernel);

/// flash_attn_func's backward (autograd's out.backward(dout)): the forward with `kernel`, then
/// `backward` on the call's tensor `dout`; returns dq, dk, dv.
std::map<std::string, Tensor> flashAttnFuncBackward(
    const Case& c, PlantedFault fault, const std::function<void(const AttentionArgs&)>& kernel,
    const std::function<void(const BackwardArgs&)>& backward);

}  // namespace attnconf::adapters
