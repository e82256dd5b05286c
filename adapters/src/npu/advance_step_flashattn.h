#pragma once

#include "front_end.h"

namespace attnconf::adapters {

/// torch_npu.npu_advance_step_flashattn's front end: CANN's AdvanceStep checks (the legacy
/// tiling's shapes, the op's int64 dtypes, with their messages) and the decode-step update of
/// input_tokens, input_positions, seq_lens and slot_mapping, returned as the in-place outputs.
/// No attention kernel runs.
std::map<std::string, Tensor> npuAdvanceStepFlashattn(const Case& c, PlantedFault fault,
                                                      const ForwardKernel& kernel,
                                                      const BackwardKernel* backward);

}  // namespace attnconf::adapters
