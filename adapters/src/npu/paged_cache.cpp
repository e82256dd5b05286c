#include "npu/paged_cache.h"

#include <algorithm>
#include <span>

#include "npu/layouts.h"

namespace attnconf::adapters::npu {
namespace {

using front_end::check;
using front_end::pageOf;

constexpr std::int64_t kBlockSizeMultiple = 16;  // ifa_tiling: for a float16 or bfloat16 cache
// fia_pa_checker: the fused API's block sizes with a head dim of no template of its own.
constexpr std::int64_t kPromptBlockSizeMultiple = 128;

std::int64_t checkedBlockSize(const Case& c, std::int64_t max_block_size) {
  const auto size = front_end::paramOr<std::int64_t>(c, "block_size", 0);
  check(size > 0, fmt::format("When Page Attention is enabled, input attribute blocksize can not "
                              "be 0 (got {}).",
                              size));
  check(size <= max_block_size,
        fmt::format("When Page Attention is enabled, input attribute blocksize {} can not be "
                    "larger than {}.",
                    size, max_block_size));
  return size;
}

// The table's entries, one row of block numbers per batch entry.
std::vector<std::int64_t> checkedTable(const Tensor& table, std::int64_t batch,
                                       std::int64_t blocks) {
  check(table.dtype == DType::int32, "block_table must be int32");
  check(table.rank() == 2 && table.shape[0] == batch,
        fmt::format("block_table must have shape (B, blocks per entry) with B = {}, got ({})",
                    batch, fmt::join(table.shape, ", ")));
  auto entries = integers(table);
  // The kernel reads the table unchecked (an assumption of the spec); attnconf refuses.
  check(std::ranges::all_of(entries, [&](std::int64_t e) { return e >= 0 && e < blocks; }),
        fmt::format("attnconf: block_table entries must lie in [0, {})", blocks));
  return entries;
}

// The cache as (blocks, outer, block_size, inner): BNSD's (blocks, N, block_size, D), the
// hidden layouts' (blocks, 1, block_size, H).
Shape blockedShape(const Tensor& key, const Tensor& value, const std::string& layout,
                   std::int64_t block_size) {
  const bool heads_first = layout == "BNSD";
  check(key.rank() == (heads_first ? 4 : 3),
        fmt::format("with input_layout {} the paged key must be {}, got shape ({})", layout,
                    heads_first ? "(blocks, N, block_size, D)" : "(blocks, block_size, H)",
                    fmt::join(key.shape, ", ")));
  checkSameShape(key, value);
  Shape blocked = heads_first ? key.shape : Shape{key.shape[0], 1, key.shape[1], key.shape[2]};
  check(blocked[2] == block_size,
        fmt::format("the paged key's block axis holds {} positions, but block_size is {}",
                    blocked[2], block_size));
  return blocked;
}

// (batch, outer, width * block_size, inner): entry b's blocks end to end.
Tensor gathered(const Tensor& cache, const Shape& blocked, const std::vector<std::int64_t>& table,
                std::int64_t batch, bool blocks_consecutive) {
  const std::int64_t blocks = blocked[0], outer = blocked[1], size = blocked[2];
  const std::int64_t inner = blocked[3];
  const std::int64_t width = batch > 0 ? std::ssize(table) / batch : 0, length = width * size;
  Tensor out = Tensor::zeros(cache.dtype, {batch, outer, length, inner});
  for (std::int64_t b = 0; b < batch; ++b) {
    const auto row = std::span(table).subspan(static_cast<std::size_t>(b * width),
                                              static_cast<std::size_t>(width));
    for (std::int64_t p = 0; p < length; ++p) {
      const std::int64_t block = pageOf(row, p / size, blocks, blocks_consecutive);
      for (std::int64_t o = 0; o < outer; ++o) {
        std::copy_n(cache.values.begin() + ((block * outer + o) * size + p % size) * inner, inner,
                    out.values.begin() + ((b * outer + o) * length + p) * inner);
      }
    }
  }
  return out;
}

// A gathered (batch, outer, length, inner) cache in `layout`; BSND's H split into heads of the
// query's head dim.
Tensor inLayout(Tensor t, const std::string& layout, const Tensor& query) {
  const std::int64_t batch = t.shape[0], length = t.shape[2], hidden = t.shape[3];
  if (layout == "BSH") t.shape = {batch, length, hidden};
  if (layout == "BSND") {
    check(query.rank() == 4, fmt::format("query must be 4-D in layout BSND, got shape ({})",
                                         fmt::join(query.shape, ", ")));
    const std::int64_t head_dim = query.shape[3];
    check(head_dim > 0 && hidden % head_dim == 0,
          fmt::format("the paged key's hidden size {} is not a multiple of the query's head dim {}",
                      hidden, head_dim));
    t.shape = {batch, length, hidden / head_dim, head_dim};
  }
  return t;
}

}  // namespace

GatheredCache gatherPagedCache(const Case& c, const std::string& layout, const Tensor& query,
                               const Tensor& block_table, std::int64_t max_block_size,
                               PlantedFault fault) {
  const std::int64_t block_size = checkedBlockSize(c, max_block_size);
  const Tensor& key = front_end::required(c, "key");
  const Tensor& value = front_end::required(c, "value");
  const Shape blocked = blockedShape(key, value, layout, block_size);
  const std::int64_t batch = query.rank() > 0 ? query.shape[0] : 0;
  const auto table = checkedTable(block_table, batch, blocked[0]);
  const bool consecutive = fault == PlantedFault::pages_assumed_consecutive;
  return {inLayout(gathered(key, blocked, table, batch, consecutive), layout, query),
          inLayout(gathered(value, blocked, table, batch, consecutive), layout, query)};
}

void checkBlockSizeAligned(std::int64_t block_size) {
  check(block_size % kBlockSizeMultiple == 0,
        fmt::format("blockSize={}, it need align to {} when kv dtype is fp16/bf16.", block_size,
                    kBlockSizeMultiple));
}

void checkFusedBlockSize(std::int64_t block_size, std::int64_t head_dim, std::int64_t seqlen_q) {
  const bool prompt = seqlen_q > 1, templated = templatedHeadDim(head_dim);
  const auto limit = [&](std::int64_t multiple, std::int64_t max) {
    check(block_size % multiple == 0 && block_size <= max,
          fmt::format("block_size {} must be a multiple of {} in range of [{}, {}] with head dim "
                      "{} and {} query per batch entry",
                      block_size, multiple, multiple, max, head_dim,
                      prompt ? "more than one" : "one"));
  };
  if (prompt && !templated) return limit(kPromptBlockSizeMultiple, kMaxFusedBlockSize);
  checkBlockSizeAligned(block_size);
  if (!templated) limit(kBlockSizeMultiple, kMaxIncreBlockSize);
}

}  // namespace attnconf::adapters::npu
