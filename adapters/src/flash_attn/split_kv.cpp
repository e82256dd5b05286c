#include "flash_attn/split_kv.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

namespace attnconf::adapters::flash_attn {
namespace {

// One piece's output and LSE, (seqlen_q, heads, head_dim_v) and (heads, seqlen_q).
struct Partial {
  std::vector<double> out, lse;
};

// Runs the keys [first, first + count) of `args` alone into a partial.
Partial runPiece(const AttentionArgs& args, std::int64_t first, std::int64_t count,
                 const ForwardKernel& kernel) {
  Partial p{
      std::vector<double>(static_cast<std::size_t>(args.seqlen_q * args.heads * args.head_dim_v)),
      std::vector<double>(static_cast<std::size_t>(args.heads * args.seqlen_q))};
  AttentionArgs piece = args;
  piece.seqlen_k = count;
  piece.k.data = args.k.data + first * args.k.seq_stride;
  piece.v.data = args.v.data + first * args.v.seq_stride;
  // Mask diagonals and ALiBi distances are relative to the piece's first key.
  piece.causal_offset -= first;
  piece.window_offset -= first;
  piece.alibi_offset -= first;
  for (std::int64_t& prefix : piece.causal_prefix) prefix -= first;
  piece.out = OutView{p.out.data(), args.seqlen_q * args.heads * args.head_dim_v,
                      args.heads * args.head_dim_v, args.head_dim_v};
  piece.lse = p.lse.data();
  piece.partial_output = true;
  kernel(piece);
  return p;
}

}  // namespace

void splitKvForward(const AttentionArgs& args, std::int64_t splits, const ForwardKernel& kernel,
                    PlantedFault fault) {
  if (splits <= 1) return kernel(args);
  const std::int64_t length = (args.seqlen_k + splits - 1) / splits;
  std::vector<Partial> pieces;
  for (std::int64_t first = 0; first < args.seqlen_k; first += length)
    pieces.push_back(runPiece(args, first, std::min(length, args.seqlen_k - first), kernel));
  constexpr double inf = std::numeric_limits<double>::infinity();
  for (std::int64_t h = 0; h < args.heads; ++h) {
    for (std::int64_t i = 0; i < args.seqlen_q; ++i) {
      const auto at = static_cast<std::size_t>(h * args.seqlen_q + i);
      double top = -inf;  // the largest LSE of a piece that saw a key; NaN if one is NaN
      for (const Partial& p : pieces)
        if (p.lse[at] != inf) top = std::isnan(p.lse[at]) ? p.lse[at] : std::max(top, p.lse[at]);
      double* out = args.out.row(0, i, h);
      if (top == -inf) {
        std::fill_n(out, args.head_dim_v, args.empty_row_value);
        args.lse[at] = inf;
        continue;
      }
      double sum = 0, seen = 0;
      for (const Partial& p : pieces) {
        if (p.lse[at] == inf) continue;
        sum += std::exp(p.lse[at] - top);
        ++seen;
      }
      const double lse = top + std::log(sum);
      for (std::int64_t d = 0; d < args.head_dim_v; ++d) {
        double value = 0;
        for (const Partial& p : pieces) {
          if (p.lse[at] == inf) continue;
          const double partial =
              p.out[static_cast<std::size_t>((i * args.heads + h) * args.head_dim_v + d)];
          value += fault == PlantedFault::split_combine_unweighted
                       ? partial / seen
                       : std::exp(p.lse[at] - lse) * partial;
        }
        out[d] = roundTo(args.dtype, value);
      }
      args.lse[at] = lse;
    }
  }
}

}  // namespace attnconf::adapters::flash_attn
