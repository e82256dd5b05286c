// Binds a decode-step call (torch_npu's npu_advance_step_flashattn) to the canonical DecodeStep
// and its result back to the vendor's state tensors.
#include <array>

#include "attnconf/spec/binding.h"

namespace attnconf::spec {
namespace {

// The state tensors by role, in the order of DecodeState's members.
std::array<std::pair<const std::string*, std::vector<std::int64_t> DecodeState::*>, 4> stateRoles(
    const DecodeStepRoles& roles) {
  return {std::pair{&roles.input_tokens, &DecodeState::input_tokens},
          std::pair{&roles.input_positions, &DecodeState::input_positions},
          std::pair{&roles.seq_lens, &DecodeState::seq_lens},
          std::pair{&roles.slot_mapping, &DecodeState::slot_mapping}};
}

}  // namespace

DecodeStep bindDecodeStep(const ApiSpec& spec, const Case& c) {
  const DecodeStepRoles& roles = *spec.semantics.decode_step;
  DecodeStep step;
  for (const auto& [name, member] : stateRoles(roles))
    step.before.*member = integers(*c.tensor(*name));
  step.sampled = integers(*c.tensor(roles.sampled));  // (queries, 1): one token per row
  const Tensor& table = *c.tensor(roles.block_table);
  const std::int64_t blocks = table.shape.at(1);
  for (std::int64_t row = 0; row < table.shape.at(0); ++row) {
    const auto first = table.values.begin() + row * blocks;
    step.block_table.emplace_back(first, first + blocks);
  }
  step.block_size = std::get<std::int64_t>(*c.param(roles.block_size));
  return step;
}

std::map<std::string, ExpectedOutput> expectedDecodeState(const ApiSpec& spec, const Case& c,
                                                          const DecodeState& after) {
  std::map<std::string, ExpectedOutput> expected;
  for (const auto& [name, member] : stateRoles(*spec.semantics.decode_step)) {
    const Tensor& before = *c.tensor(*name);
    Tensor exact{before.dtype, before.shape, {}};
    exact.values.assign((after.*member).begin(), (after.*member).end());
    expected[*name] = ExpectedOutput{
        *name, "copy", before.dtype, std::move(exact), spec.output(*name)->shapes[0], {}};
  }
  return expected;
}

}  // namespace attnconf::spec
