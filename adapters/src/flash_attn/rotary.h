#pragma once

#include <functional>
#include <optional>

#include "front_end.h"

namespace attnconf::adapters::flash_attn {

/// The rotary embedding of a flash_attn_with_kvcache call: tables of (seqlen_ro, rotary_dim / 2)
/// rows, and whether channel pairs are (2i, 2i+1) or (i, i + rotary_dim / 2).
struct RotaryTables {
  const Tensor* cos = nullptr;
  const Tensor* sin = nullptr;
  bool interleaved = true;
};

/// The call's tables, checked as mha_fwd_kvcache checks them (and, beyond it, rotary_sin given
/// alone and rotary_dim against the unpadded head size); nothing without rotary_cos.
std::optional<RotaryTables> rotaryTables(const Case& c, const Tensor& q, std::int64_t seqlen_cache);

/// Position of row i of batch entry b.
using RotaryPosition = std::function<std::int64_t(std::int64_t b, std::int64_t i)>;

/// `x` (batch, seqlen, heads, headdim) with each head's vector at (b, i) rotated by the tables'
/// row position(b, i): in fp32 like the kernel, rounded to x's dtype.
Tensor rotated(const Tensor& x, const RotaryTables& tables, const RotaryPosition& position);

}  // namespace attnconf::adapters::flash_attn
