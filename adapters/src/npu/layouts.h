#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "front_end.h"

// What torch_npu's attention front ends share: the layouts, the boolean atten_mask whose true
// hides a key, and the sparse modes 0-4 with their band.
namespace attnconf::adapters::npu {

/// torch_npu's default band bound: every key.
constexpr std::int64_t kAllTokens = 2147483647;
/// The side of the compressed triangle sparse modes 2-4 take as atten_mask.
constexpr std::int64_t kCompressedMaskSide = 2048;
/// The rows of mode 6's compressed mask: the triangle over a 1024-row prefix block.
constexpr std::int64_t kCompressedPrefixMaskRows = 3072;

/// BSH and SBH merge heads and channels into one hidden axis H = N * D.
bool splitsHidden(const std::string& layout);

/// A tensor read in one of torch_npu's layouts as (batch, seq, head, dim).
struct LayoutView {
  std::int64_t batch = 0, seqlen = 0, heads = 0, head_dim = 0;
  SeqView view;
};

/// `t` in `layout` (BNSD, BSND, BSH or SBH); the hidden layouts split H into heads of
/// `head_dim` channels. `name` is the argument's name for errors.
LayoutView readLayout(const Tensor& t, const std::string& layout, std::int64_t head_dim,
                      const char* name);

/// Query, key and value read in one layout.
struct Operands {
  LayoutView q, k, v;
};

/// Query, key and value in the padded `layout` (BNSD, BSND, BSH or SBH), the hidden layouts
/// split into `heads` query heads (the call's `heads_param`, named in errors), checked as every
/// torch_npu API checks them: the query's head count, the key's batch and head dim, the value's
/// shape equal to the key's, and key heads that divide the query's.
Operands readOperands(const std::string& layout, const Tensor& q, const Tensor& k, const Tensor& v,
                      std::int64_t heads, std::string_view heads_param);

/// The band's bounds: keeps i - pre <= j - offset <= i + next (either may be negative).
struct Band {
  std::int64_t pre = kAllTokens, next = kAllTokens;
};

/// §sparse_mode: the band and causal masks of modes 0-6 for a call of args.seqlen_q queries and
/// args.seqlen_k keys, where attenMask found a mask (the prefixes of modes 5 and 6 aside).
void applySparseMode(std::int64_t mode, Band band, AttentionArgs& args);

/// §sparse_mode 7 and 8 (TND, a call split by query across cards): the mode whose mask sequence
/// `b` takes, given each sequence's query count: 4 (the bottom-right band) for the last
/// sequence with queries in mode 7 and the first in mode 8, else 3 (mode 7) or 2 (mode 8).
std::int64_t splitSequenceMode(std::int64_t mode, std::span<const std::int64_t> seqlens_q,
                               std::size_t b, PlantedFault fault);

/// Whether torch_npu's inference kernels have a template of their own for the head dim (64 or
/// 128), which lifts some limits: the fused API's block sizes, the prompt kernel's group size.
bool templatedHeadDim(std::int64_t head_dim);

/// Rejects a value whose shape is not the key's.
void checkSameShape(const Tensor& key, const Tensor& value);

/// Rejects a query head count that is not a multiple of the key's.
void checkHeads(std::int64_t heads, std::int64_t heads_k);

/// §atten_mask: in modes 0, 1 and 5, a bool mask that broadcasts to `full` (batch, heads,
/// seqlen_q, seqlen_k), true hiding the key, as the score bias (its -inf kept in `converted`);
/// mode 5's is each entry's prefix mask written out, BNSS or B1SS. Modes 2-4 (and 7, 8) take it
/// as their compressed marker of shape (2048, 2048), mode 6 as (3072, 2048). Nothing without a
/// mask.
const Tensor* attenMask(const Case& c, std::int64_t mode, const Shape& full, PlantedFault fault,
                        AttentionArgs& args, Tensor& converted);

/// §prefix: in the prefix modes 5 and 6, the keys each of `batch` entries shows every query
/// besides its causal ones, from the int64 list `prefix`; empty in other modes.
std::vector<std::int64_t> prefixes(const Case& c, std::int64_t mode, std::int64_t batch,
                                   PlantedFault fault);

/// §sink: each query head's attention-sink logit from the optional fp32 `sink` of shape (N1);
/// empty without one.
std::vector<float> sinks(const Case& c, std::int64_t heads);

}  // namespace attnconf::adapters::npu
