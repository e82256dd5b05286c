#include "npu/advance_step_flashattn.h"

namespace attnconf::adapters {
namespace {

using front_end::check;

// The state tensors with the names CANN's messages give them.
constexpr std::array<std::pair<const char*, const char*>, 4> kState = {
    std::pair{"input_tokens", "inputTokens"}, std::pair{"input_positions", "inputPositions"},
    std::pair{"seq_lens", "seqLens"}, std::pair{"slot_mapping", "slotMapping"}};

// The op registers every input as DT_INT64 alone.
void checkDTypes(const Case& c) {
  for (const auto& [name, cann] : kState) {
    check(front_end::required(c, name).dtype == DType::int64,
          fmt::format("{}DType is not DT_INT64.", cann));
  }
  check(front_end::required(c, "sampled_token_ids").dtype == DType::int64,
        "sampledTokenIdsDType is not DT_INT64.");
  check(front_end::required(c, "block_tables").dtype == DType::int64,
        "blockTablesDType is not DT_INT64.");
}

// The legacy tiling's checks, in its order.
void checkShapes(const Case& c, std::int64_t num_seqs, std::int64_t num_queries,
                 std::int64_t block_size) {
  check(num_seqs >= 1, "Non-positive attr num_seqs, tiling failed.");
  check(num_queries >= 1, "Non-positive attr num_queries, tiling failed.");
  check(block_size >= 1, "Non-positive attr block_size, tiling failed.");
  check(num_seqs > num_queries,
        fmt::format("numSeqs {} should not be smaller or equal to numQueries {}", num_seqs,
                    num_queries));
  const auto rows = [&](const char* name) {
    const Tensor& t = front_end::required(c, name);
    return t.shape.empty() ? std::int64_t{0} : t.shape[0];
  };
  for (const auto& [name, cann] : kState) {
    check(rows(name) == num_seqs,
          fmt::format("numSeqs {} should equal to {}'s dim {}", num_seqs, cann, rows(name)));
  }
  check(rows("block_tables") == num_seqs,
        fmt::format("numSeqs {} should equal to blockTables's first dim {}", num_seqs,
                    rows("block_tables")));
  check(front_end::required(c, "block_tables").rank() == 2, "blockTables must be 2-D");
  check(rows("sampled_token_ids") == num_queries,
        fmt::format("numQueries {} should equal to sampledTokenIds's first dim {}", num_queries,
                    rows("sampled_token_ids")));
  const Shape& sampled = front_end::required(c, "sampled_token_ids").shape;
  check(sampled.size() == 2 && sampled[1] == 1, "sampledTokenIds's last dim should be 1");
}

Tensor int64Vector(const std::vector<std::int64_t>& values) {
  return Tensor{DType::int64, {std::ssize(values)}, {values.begin(), values.end()}};
}

}  // namespace

std::map<std::string, Tensor> npuAdvanceStepFlashattn(const Case& c, PlantedFault fault,
                                                      const ForwardKernel& /*kernel*/,
                                                      const BackwardKernel* /*backward*/) {
  const auto num_seqs = front_end::paramOr<std::int64_t>(c, "num_seqs", 0);
  const auto num_queries = front_end::paramOr<std::int64_t>(c, "num_queries", 0);
  const auto block_size = front_end::paramOr<std::int64_t>(c, "block_size", 0);
  checkDTypes(c);
  checkShapes(c, num_seqs, num_queries, block_size);
  auto tokens = integers(front_end::required(c, "input_tokens"));
  auto positions = integers(front_end::required(c, "input_positions"));
  auto lengths = integers(front_end::required(c, "seq_lens"));
  auto slots = integers(front_end::required(c, "slot_mapping"));
  const auto sampled = integers(front_end::required(c, "sampled_token_ids"));
  const auto table = integers(front_end::required(c, "block_tables"));
  const std::int64_t stride = front_end::required(c, "block_tables").shape[1];
  for (std::int64_t i = 0; i < num_seqs; ++i) {
    const auto at = static_cast<std::size_t>(i);
    if (i >= num_queries) {  // padding: no token, no slot
      if (fault == PlantedFault::advance_step_padding_untouched) continue;
      tokens[at] = 0;
      positions[at] = 0;
      slots[at] = -1;
      continue;
    }
    const std::int64_t position = lengths[at];  // the new token's, 0-based
    tokens[at] = sampled[at];
    lengths[at] = position + 1;
    positions[at] =
        fault == PlantedFault::advance_step_position_is_new_length ? lengths[at] : position;
    const std::int64_t offset = fault == PlantedFault::advance_step_slot_offset_of_new_length
                                    ? lengths[at] % block_size
                                    : position % block_size;
    slots[at] =
        table[static_cast<std::size_t>(i * stride + position / block_size)] * block_size + offset;
  }
  return {{"input_tokens", int64Vector(tokens)},
          {"input_positions", int64Vector(positions)},
          {"seq_lens", int64Vector(lengths)},
          {"slot_mapping", int64Vector(slots)}};
}

}  // namespace attnconf::adapters
