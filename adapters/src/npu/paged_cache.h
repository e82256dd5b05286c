#pragma once

#include <cstdint>
#include <string>

#include "front_end.h"

namespace attnconf::adapters::npu {

/// Each batch entry's keys and values read out of a paged cache, laid out as a contiguous cache.
struct GatheredCache {
  Tensor key, value;
};

/// The largest block the incremental API takes (ifa_tiling: MAX_BLOCK_SIZE) and the fused one
/// (fia_pa_checker: BLOCK_SIZE_MAX_FOR_NO_QUANT).
constexpr std::int64_t kMaxIncreBlockSize = 512;
constexpr std::int64_t kMaxFusedBlockSize = 1024;

/// torch_npu's page attention (ifa_tiling): `key` and `value` hold blocks of `block_size` (the
/// param) positions, (blocks, block_size, H) with input_layout BSH or BSND and (blocks, N,
/// block_size, D) with BNSD; position p of batch entry b is position p % block_size of block
/// `block_table[b, p / block_size]`. Checked as ifa_tiling checks it (the block size positive up
/// to `max_block_size`, the cache's rank by layout) and, beyond it, the table's dtype,
/// rows and entries. Returns the entries' keys and values end to end in `layout` (BSND's H split
/// into heads of the query's head dim), each entry max blocks * block_size long.
GatheredCache gatherPagedCache(const Case& c, const std::string& layout, const Tensor& query,
                               const Tensor& block_table, std::int64_t max_block_size,
                               PlantedFault fault);

/// Rejects a block size that is not a multiple of 16 (ifa_tiling, a float16 or bfloat16 cache).
void checkBlockSizeAligned(std::int64_t block_size);

/// The fused API's block sizes by head dim and query length, on top of gatherPagedCache's
/// (fia_pa_checker, Atlas A2 without quantisation): a head dim of 64 or 128 takes every multiple
/// of 16; another takes multiples of 128 with more than one query, and multiples of 16 up to 512
/// with one.
void checkFusedBlockSize(std::int64_t block_size, std::int64_t head_dim, std::int64_t seqlen_q);

}  // namespace attnconf::adapters::npu
