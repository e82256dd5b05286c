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

  /// Widest head the tiled kernel handles; wider heads run standard attention (declared).
  static constexpr std::int64_t kMaxTiledHeadDim = 128;

  std::string name() const override;
  std::string description() const override;
  bool supports(std::string_view api) const override;
  Outcome run(const Case& c) override;
  std::string declaredFallbacks(std::string_view api) const override;
  std::optional<Outcome> runFastPathOnly(const Case& c) override;
  std::optional<Outcome> runBackward(const Case& c) override;

 private:
  Outcome runWith(const Case& c, bool fast_only, bool backward = false);
  // The path a call takes and, for a fallback, why.
  std::pair<std::string, std::string> choosePath(std::int64_t head_dim,
                                                 std::int64_t seqlen_k) const;

  InTreeKernel kernel_;
  PlantedFault fault_;
  TileSizes tiles_;
};

}  // namespace attnconf::adapters
