#pragma once

#include <string>

#include "front_end.h"

namespace attnconf::adapters::npu {

/// Each batch entry's keys and values read out of a paged cache, laid out as a contiguous cache.
struct GatheredCache {
  Tensor key, value;
};

/// torch_npu's page attention (ifa_tiling): `key` and `value` hold blocks of `block_size` (the
/// param) positions, (blocks, block_size, H) with input_layout BSH or BSND and (blocks, N,
/// block_size, D) with BNSD; position p of batch entry b is position p % block_size of block
/// `block_table[b, p / block_size]`. Checked as ifa_tiling checks it (the block size, the keys'
/// lengths `key_lengths` given, the cache's rank by layout) and, beyond it, the table's dtype,
/// rows and entries. Returns the entries' keys and values end to end in `layout` (BSND's H split
/// into heads of the query's head dim), each entry max blocks * block_size long.
GatheredCache gatherPagedCache(const Case& c, const std::string& layout, const Tensor& query,
                               const Tensor& block_table, const char* key_lengths,
                               PlantedFault fault);

}  // namespace attnconf::adapters::npu
