"""attnconf's own Triton FlashAttention with the API of the DIY cheat sheet (shared/seeds/004):

    flash_attention(q, k, v, causal=False, seq_lens=None)

q, k, v: (batch, heads, seq_len, head_dim), head_dim 32 or 64; seq_lens (batch,) int32: each
entry's valid length, outputs past it are 0. A FlashAttention-2 forward: one program per
(query block, batch x head) walks the key blocks with an online softmax in fp32 and never holds
the seq_len x seq_len matrix. Runs natively on a GPU, or on the CPU under TRITON_INTERPRET=1.
"""

import os

import torch
import triton
import triton.language as tl

BLOCK_M = 32
BLOCK_N = 32
# Triton 3.5.1's interpreter multiplies bf16 tl.dot operands as raw bits (numpy has no bf16):
# there, bf16 tiles are widened to fp32 first. Compiled kernels keep bf16 tensor-core products.
INTERPRETED = os.environ.get("TRITON_INTERPRET") == "1"


@triton.jit
def _forward(Q, K, V, Out, SeqLens, scale, stride_b, stride_h, stride_s, heads, seq_len,
             HAS_LENS: tl.constexpr, CAUSAL: tl.constexpr, HEAD_DIM: tl.constexpr,
             BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, PRECISION: tl.constexpr,
             DOT_IN_FP32: tl.constexpr):
    block_m = tl.program_id(0)
    bh = tl.program_id(1)
    b = bh // heads
    base = b * stride_b + (bh % heads) * stride_h
    length = seq_len
    if HAS_LENS:
        length = tl.load(SeqLens + b)
    rows = block_m * BLOCK_M + tl.arange(0, BLOCK_M)
    dims = tl.arange(0, HEAD_DIM)
    q = tl.load(Q + base + rows[:, None] * stride_s + dims[None, :], mask=rows[:, None] < length,
                other=0.0)
    row_max = tl.full([BLOCK_M], float("-inf"), tl.float32)
    row_sum = tl.zeros([BLOCK_M], tl.float32)
    acc = tl.zeros([BLOCK_M, HEAD_DIM], tl.float32)
    end = length
    if CAUSAL:
        end = tl.minimum(end, (block_m + 1) * BLOCK_M)
    for start in range(0, end, BLOCK_N):
        cols = start + tl.arange(0, BLOCK_N)
        kv_mask = cols[:, None] < length
        k = tl.load(K + base + cols[:, None] * stride_s + dims[None, :], mask=kv_mask, other=0.0)
        v = tl.load(V + base + cols[:, None] * stride_s + dims[None, :], mask=kv_mask, other=0.0)
        if DOT_IN_FP32:
            q_dot, k_dot, v_dot = q.to(tl.float32), k.to(tl.float32), v.to(tl.float32)
        else:
            q_dot, k_dot, v_dot = q, k, v
        s = tl.dot(q_dot, tl.trans(k_dot), input_precision=PRECISION) * scale
        visible = cols[None, :] < length
        if CAUSAL:
            visible = visible & (cols[None, :] <= rows[:, None])
        s = tl.where(visible, s, float("-inf"))
        new_max = tl.maximum(row_max, tl.max(s, 1))
        # A row that has seen no key yet keeps max -inf; shift by 0 so exp gives 0, not NaN.
        shift = tl.where(new_max == float("-inf"), 0.0, new_max)
        p = tl.exp(s - shift[:, None])
        rescale = tl.exp(row_max - shift)
        row_sum = row_sum * rescale + tl.sum(p, 1)
        acc = acc * rescale[:, None] + tl.dot(p.to(v.dtype).to(v_dot.dtype), v_dot,
                                              input_precision=PRECISION)
        row_max = new_max
    # A row that saw no key has sum 0; a NaN sum (a NaN query) is no empty row and stays NaN.
    live = (rows[:, None] < length) & (row_sum[:, None] != 0)
    out = tl.where(live, acc / tl.where(row_sum != 0, row_sum, 1.0)[:, None], 0.0)
    tl.store(Out + base + rows[:, None] * stride_s + dims[None, :], out.to(Out.dtype.element_ty),
             mask=rows[:, None] < seq_len)


def flash_attention(q, k, v, causal=False, seq_lens=None):
    if q.dim() not in (3, 4):
        raise ValueError("Expected 3D or 4D tensors")
    if q.shape != k.shape or q.shape != v.shape:
        raise ValueError("Q, K, V shapes must match")
    if q.dim() == 3:  # (heads, seq_len, head_dim): one batch entry
        return flash_attention(q[None], k[None], v[None], causal, seq_lens)[0]
    if not (q.dtype == k.dtype == v.dtype):
        raise TypeError("Q, K, V dtypes must match")
    batch, heads, seq_len, head_dim = q.shape
    if head_dim not in (32, 64):
        raise ValueError("Unsupported head_dim")
    if seq_lens is not None:
        if seq_lens.dtype != torch.int32 or tuple(seq_lens.shape) != (batch,):
            raise ValueError("seq_lens must be an int32 tensor of shape (batch,)")
        if bool((seq_lens < 0).any()) or bool((seq_lens > seq_len).any()):
            raise ValueError("seq_lens must lie in [0, seq_len]")
    q, k, v = (x.contiguous() for x in (q, k, v))
    out = torch.zeros_like(q)
    grid = (triton.cdiv(seq_len, BLOCK_M), batch * heads)
    _forward[grid](q, k, v, out, seq_lens if seq_lens is not None else q, head_dim ** -0.5,
                   q.stride(0), q.stride(1), q.stride(2), heads, seq_len,
                   HAS_LENS=seq_lens is not None, CAUSAL=bool(causal), HEAD_DIM=head_dim,
                   BLOCK_M=BLOCK_M, BLOCK_N=BLOCK_N,
                   PRECISION="ieee" if q.dtype == torch.float32 else "tf32",
                   DOT_IN_FP32=INTERPRETED and q.dtype == torch.bfloat16)
    return out
