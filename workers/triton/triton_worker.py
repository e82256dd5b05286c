"""attnconf worker for attnconf's own Triton FlashAttention (diy_flash_attention.py), checked
against spec/diy_flash_attention.yaml: natively where a CUDA GPU is present, else under the Triton
interpreter on the CPU (TRITON_INTERPRET=1, set before triton is imported)."""

import os
import sys

import torch

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
if DEVICE == "cpu":
    os.environ["TRITON_INTERPRET"] = "1"

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "python"))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "torch"))

import numpy as np  # noqa: E402
import triton  # noqa: E402

from attnconf_worker import Api, serve  # noqa: E402
from diy_flash_attention import flash_attention  # noqa: E402
from torch_worker import CudaPeak, cuda_fault, from_torch, to_torch  # noqa: E402


def forward(call):
    t = call.tensors
    seq_lens = to_torch(t["seq_lens"]) if "seq_lens" in t else None
    out = flash_attention(to_torch(t["q"]), to_torch(t["k"]), to_torch(t["v"]),
                          causal=call.params.get("causal", False), seq_lens=seq_lens)
    if DEVICE == "cuda":
        torch.cuda.synchronize()
    mode = "interpreter" if DEVICE == "cpu" else "compiled"
    return {"out": from_torch(out)}, {"path": "flash", "kernel": "diy_flash_attention._forward",
                                      "detail": f"Triton {triton.__version__}, {mode} on {DEVICE}"}


if __name__ == "__main__":
    serve("triton", description=f"attnconf's Triton FlashAttention on {DEVICE}",
          versions={"triton": triton.__version__, "torch": torch.__version__,
                    "numpy": np.__version__,
                    "mode": "TRITON_INTERPRET=1" if DEVICE == "cpu" else "compiled"},
          apis={"diy_flash_attention": Api(forward=forward)},
          is_fault=cuda_fault, memory=CudaPeak() if DEVICE == "cuda" else None)
