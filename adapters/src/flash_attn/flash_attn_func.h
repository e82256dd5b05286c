#pragma once

#include "front_end.h"

namespace attnconf::adapters {

/// flash_attn_func's front end, written from flash-attn's mha_fwd: checks the call as the CUDA
/// extension does (same messages) and decodes it into kernel arguments. Its backward is autograd's
/// out.backward(dout), giving dq, dk, dv.
std::map<std::string, Tensor> flashAttnFunc(const Case& c, PlantedFault fault,
                                            const ForwardKernel& kernel,
                                            const BackwardKernel* backward);

}  // namespace attnconf::adapters
