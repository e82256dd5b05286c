"""attnconf worker for PyTorch: torch.nn.functional.scaled_dot_product_attention.

Path evidence comes from the profiler: the aten op that ran (the CPU flash kernel
aten::_scaled_dot_product_flash_attention_for_cpu, or the math path
aten::_scaled_dot_product_attention_math). The fast-path probe runs the call under
torch.nn.attention.sdpa_kernel with only the fused backends allowed: "No available kernel" there
means the default call falls back to math.

ATTNCONF_TORCH_DEVICE picks the device: `cpu` for the torch adapter, `cuda` for torch_cuda (each
with its own findings). On a GPU, a CUDA error is reported as a fault (it is sticky: the process
is restarted), and the memory measured is the GPU's. Where the flash-attn package imports too,
the worker also exposes flash_attn.flash_attn_func, flash_attn_varlen_func and
flash_attn_with_kvcache (contiguous and paged) under their specs, so a vendor with that hardware
runs the same worker. attnconf's CI has no GPU: that part is untested there, and the handshake's
versions say whether it was present ("flash_attn": "absent").
"""

import contextlib
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "python"))

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch.nn.attention import SDPBackend, sdpa_kernel  # noqa: E402

from attnconf_worker import HELD_AS_FLOAT32, Api, Tensor, serve  # noqa: E402

try:
    import flash_attn  # noqa: E402
except ImportError:  # the usual case: no CUDA, or the package is not installed
    flash_attn = None

DEVICE = os.environ.get("ATTNCONF_TORCH_DEVICE", "cuda" if torch.cuda.is_available() else "cpu")
if DEVICE == "cuda" and not torch.cuda.is_available():
    sys.exit(f"ATTNCONF_TORCH_DEVICE=cuda, but torch {torch.__version__} sees no CUDA device")
TORCH_DTYPES = {"fp64": torch.float64, "fp32": torch.float32, "fp16": torch.float16,
                "bf16": torch.bfloat16, "fp8_e4m3": torch.float8_e4m3fn,
                "fp8_e5m2": torch.float8_e5m2, "int64": torch.int64, "int32": torch.int32,
                "bool": torch.bool}
NAMES = {v: k for k, v in TORCH_DTYPES.items()}
FUSED = [SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION, SDPBackend.CUDNN_ATTENTION]
# aten ops of the SDPA backends, and the spec path each is (spec/scaled_dot_product_attention.yaml).
KERNELS = {
    "aten::_scaled_dot_product_flash_attention_for_cpu": "flash",
    "aten::_scaled_dot_product_flash_attention": "flash",
    "aten::_scaled_dot_product_efficient_attention": "flash",
    "aten::_scaled_dot_product_cudnn_attention": "flash",
    "aten::_scaled_dot_product_attention_math": "math",
}


def to_torch(t: Tensor, requires_grad=False) -> torch.Tensor:
    x = torch.from_numpy(np.array(t.array, order="C")).to(DEVICE).to(TORCH_DTYPES[t.dtype])
    return x.requires_grad_(requires_grad)


def from_torch(x: torch.Tensor) -> Tensor:
    dtype = NAMES[x.dtype]
    x = x.detach().to("cpu")
    return Tensor(dtype, (x.float() if dtype in HELD_AS_FLOAT32 else x).numpy())


def path_of(profile) -> dict:
    names = [event.name for event in profile.events()]
    for name in names:
        if name in KERNELS:
            return {"path": KERNELS[name], "kernel": name, "detail": f"torch.profiler on {DEVICE}"}
    return {"path": "", "kernel": "", "detail": "no SDPA kernel seen by the profiler"}


def sdpa(call, fast_only=False, backward=False):
    t = call.tensors
    q, k, v = (to_torch(t[n], backward) for n in ("query", "key", "value"))
    mask = to_torch(t["attn_mask"]) if "attn_mask" in t else None
    backends = sdpa_kernel(FUSED) if fast_only else contextlib.nullcontext()
    with torch.profiler.profile() as profile, backends:
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, **call.params)
        if backward:
            out.backward(to_torch(t["grad_out"]))
    if backward:
        return ({"query_grad": from_torch(q.grad), "key_grad": from_torch(k.grad),
                 "value_grad": from_torch(v.grad)}, path_of(profile))
    return {"out": from_torch(out)}, path_of(profile)


def flash_attn_func(call, backward=False):
    """flash_attn.flash_attn_func; its kernel has no other path (the spec declares none)."""
    t = call.tensors
    q, k, v = (to_torch(t[n], backward) for n in ("q", "k", "v"))
    params = dict(call.params)
    if "window_size" in params:
        params["window_size"] = tuple(params["window_size"])
    alibi = to_torch(t["alibi_slopes"]) if "alibi_slopes" in t else None
    result = flash_attn.flash_attn_func(q, k, v, alibi_slopes=alibi, **params)
    out = result[0] if isinstance(result, tuple) else result
    path = {"path": "flash", "kernel": f"flash_attn {flash_attn.__version__}"}
    if backward:
        out.backward(to_torch(t["dout"]))
        return {"dq": from_torch(q.grad), "dk": from_torch(k.grad), "dv": from_torch(v.grad)}, path
    outputs = {"out": from_torch(out)}
    if params.get("return_attn_probs"):
        outputs["softmax_lse"] = from_torch(result[1])
    return outputs, path


def flash_attn_varlen_func(call):
    """flash_attn.flash_attn_varlen_func: the packed tensors and cu_seqlens as the call gives them."""
    t = call.tensors
    q, k, v, cu_q, cu_k = (to_torch(t[n]) for n in ("q", "k", "v", "cu_seqlens_q", "cu_seqlens_k"))
    params = dict(call.params)
    if "window_size" in params:
        params["window_size"] = tuple(params["window_size"])
    alibi = to_torch(t["alibi_slopes"]) if "alibi_slopes" in t else None
    result = flash_attn.flash_attn_varlen_func(q, k, v, cu_q, cu_k, alibi_slopes=alibi, **params)
    outputs = {"out": from_torch(result[0] if isinstance(result, tuple) else result)}
    if params.get("return_attn_probs"):
        outputs["softmax_lse"] = from_torch(result[1])
    return outputs, {"path": "flash", "kernel": f"flash_attn {flash_attn.__version__}"}


def flash_attn_with_kvcache(call):
    """flash_attn.flash_attn_with_kvcache: the caches are written in place and sent back."""
    t = call.tensors
    tensors = {name: to_torch(value) for name, value in t.items()}
    params = dict(call.params)
    if "window_size" in params:
        params["window_size"] = tuple(params["window_size"])
    result = flash_attn.flash_attn_with_kvcache(**tensors, **params)
    out, lse = result if isinstance(result, tuple) else (result, None)
    outputs = {"out": from_torch(out), "k_cache": from_torch(tensors["k_cache"]),
               "v_cache": from_torch(tensors["v_cache"])}
    if params.get("return_softmax_lse"):
        outputs["softmax_lse"] = from_torch(lse)
    return outputs, {"path": "flash", "kernel": f"flash_attn {flash_attn.__version__}"}


def cuda_fault(e: Exception) -> bool:
    """A CUDA error is sticky: every later call in this process would fail with it."""
    return isinstance(e, getattr(torch, "AcceleratorError", ())) or "CUDA error" in str(e)


class CudaPeak:
    """The call's peak of memory allocated on the GPU, above what was allocated before it."""

    def start(self) -> None:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        self._before = torch.cuda.memory_allocated()

    def peak_bytes(self) -> float:
        return float(max(0, torch.cuda.max_memory_allocated() - self._before))


# What this worker has seen torch 2.9.1 do beyond the spec's own fallbacks (its warning says why).
CPU_FALLBACKS = """
- name: math
  when: [{dim: ev, differs_from: e}]
  note: >-
    torch 2.9.1 on the CPU: "Flash attention requires q,k,v to have the same last dimension"
    (sdp_utils_cpp.cpp), so Ev != E runs the math path with a warning only.
"""

# What torch 2.11.0+cu130 on an H100 ran instead of a fused kernel (flash, memory-efficient or
# cuDNN), probed per dtype, head dim and feature; sdp_utils.cpp's warnings say why.
CUDA_FALLBACKS = """
- name: math
  when: [{dtype_of: [query], one_of: [fp32]}, {dim: e, not_multiple_of: 4}]
  note: >-
    fp32 runs only the memory-efficient kernel, which "requires last dimension of inputs to be
    divisible by 4".
- name: math
  when: [{dtype_of: [query], one_of: [fp32]}, {dim: ev, not_multiple_of: 4}]
  note: the same for the value's head dim.
- name: math
  when: [{dtype_of: [query], one_of: [fp32]}, {active: enable_gqa}]
  note: fp32 with enable_gqa ran the math path at every head dim probed (1 to 512).
- name: math
  when: [{dtype_of: [query], one_of: [fp16, bf16]}, {dim: e, not_multiple_of: 8}, {active: attn_mask}]
  note: &unaligned >-
    fp16/bf16 head dims (E or Ev) that are not a multiple of 8 run the flash kernel (padded) only
    without a mask, top-left causal (L != S) or Ev != E; cuDNN and the memory-efficient kernel
    need 8.
- name: math
  when: [{dtype_of: [query], one_of: [fp16, bf16]}, {dim: e, not_multiple_of: 8}, {active: is_causal}]
  note: *unaligned
- name: math
  when: [{dtype_of: [query], one_of: [fp16, bf16]}, {dim: e, not_multiple_of: 8}, {dim: ev, differs_from: e}]
  note: *unaligned
- name: math
  when: [{dtype_of: [query], one_of: [fp16, bf16]}, {dim: ev, not_multiple_of: 8}, {dim: ev, differs_from: e}]
  note: *unaligned
- name: math
  when: [{dim: e, min: 257}, {active: enable_gqa}]
  note: head dims above 256 with enable_gqa ran the math path (no fused kernel takes both).
"""


if __name__ == "__main__":
    apis = {"scaled_dot_product_attention": Api(
        forward=sdpa,
        fast_path_only=lambda call: sdpa(call, fast_only=True),
        backward=lambda call: sdpa(call, backward=True),
        declared_fallbacks=CPU_FALLBACKS if DEVICE == "cpu" else CUDA_FALLBACKS)}
    if flash_attn is not None and DEVICE == "cuda":
        apis["flash_attn_func"] = Api(forward=flash_attn_func,
                                      backward=lambda call: flash_attn_func(call, backward=True))
        apis["flash_attn_varlen_func"] = Api(forward=flash_attn_varlen_func)
        apis["flash_attn_with_kvcache"] = Api(forward=flash_attn_with_kvcache)
        apis["flash_attn_with_kvcache_paged"] = Api(forward=flash_attn_with_kvcache)
    serve("torch", description=f"PyTorch SDPA on {DEVICE}",
          versions={"torch": torch.__version__, "numpy": np.__version__,
                    "device": torch.cuda.get_device_name() if DEVICE == "cuda" else "cpu",
                    "flash_attn": flash_attn.__version__ if flash_attn else "absent"},
          apis=apis, is_fault=cuda_fault, memory=CudaPeak() if DEVICE == "cuda" else None)
