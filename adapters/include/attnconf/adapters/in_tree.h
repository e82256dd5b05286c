#pragma once

#include <cstdint>

#include "attnconf/adapters/adapter.h"
#include "attnconf/adapters/planted_fault.h"

namespace attnconf::adapters {

/// Which in-tree kernel runs behind the API front ends.
enum class InTreeKernel {
  tiled_flash,  ///< "cpu_flash": FlashAttention-2 tiles, online softmax
  standard,     ///< "naive": standard attention in the input dtype, full score matrix
};

/// Tile sizes of the tiled kernel.
struct TileSizes {
  std::int64_t block_q = 32;
  std::int64_t block_k = 32;
};

/// An in-tree CPU implementation of every API the suite has a front end for.
class InTreeAdapter final : public Adapter {
 public:
  /// `fault` plants one bug, for the suite's own mutant tests; in-tree adapters use none.
  explicit InTreeAdapter(InTreeKernel kernel, PlantedFault fault = PlantedFault::none,
                         TileSizes tiles = {});

  std::string name() const override;
  std::string description() const override;
  bool supports(std::string_view api) const override;
  Outcome run(const Case& c) override;

 private:
  InTreeKernel kernel_;
  PlantedFault fault_;
  TileSizes tiles_;
};

}  // namespace attnconf::adapters
