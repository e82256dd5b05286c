"""attnconf worker for JAX: jax.nn.dot_product_attention on the CPU (workers/jax) or a CUDA GPU
(workers/jax_cuda); JAX_PLATFORMS, set by the manifest, chooses.

The default call (implementation=None) runs xla, which computes the full (B, N, T, S) logits; the
spec (spec/jax_dot_product_attention.yaml) declares that path. The fast-path probe asks for
implementation="cudnn" (cuDNN's fused flash attention), which only a CUDA GPU has: where it
raises, the default call is known to fall back.

Calls run under jax.jit, as JAX programs run them (one compilation per shape, five times faster
than eager dispatch here), except fp16 calls, which run eagerly: under jit they raise "The
precision 'F16_F16_F32' is not supported by dot_general on CPU" (jax 0.10.2). The function asks
for that precision and catches the error to retry with the default one, but under jit the error
comes when the whole program is compiled, after the try has passed. A finding recorded in
expectations.yaml; run eagerly, fp16 is checked like the other dtypes.
"""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "python"))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from attnconf_worker import HELD_AS_FLOAT32, Api, Tensor, serve  # noqa: E402

JAX_DTYPE = {"fp64": jnp.float64, "fp32": jnp.float32, "fp16": jnp.float16,
             "bf16": jnp.bfloat16, "fp8_e4m3": jnp.float8_e4m3fn, "fp8_e5m2": jnp.float8_e5m2,
             "int64": jnp.int64, "int32": jnp.int32, "bool": jnp.bool_}
NAMES = {np.dtype(jnp.float32): "fp32", np.dtype(jnp.float16): "fp16",
         np.dtype(jnp.bfloat16): "bf16", np.dtype(jnp.float64): "fp64"}
TENSORS = ["query", "key", "value", "bias", "mask", "query_seq_lengths", "key_value_seq_lengths"]
PARAMS = ["scale", "is_causal", "local_window_size", "return_residual"]


def _array(t: Tensor):
    # numpy arrays keep their dtype (jnp.asarray would make int64 int32 without x64 first).
    if t.dtype in HELD_AS_FLOAT32:
        return jnp.asarray(t.array, dtype=JAX_DTYPE[t.dtype])
    return t.array


def _tensor(array) -> Tensor:
    array = np.asarray(array)
    name = NAMES[array.dtype]
    return Tensor(name, array.astype(np.float32) if name == "bf16" else array)


_jitted = jax.jit(jax.nn.dot_product_attention, static_argnames=PARAMS + ["implementation"])


def _call(call, implementation):
    args = {n: _array(call.tensors[n]) for n in TENSORS if n in call.tensors}
    params = {n: call.params[n] for n in PARAMS if n in call.params}
    if "local_window_size" in params:
        params["local_window_size"] = tuple(params["local_window_size"])
    eager = implementation is not None or call.tensors["query"].dtype == "fp16"
    function = jax.nn.dot_product_attention if eager else _jitted
    result = function(**args, **params, implementation=implementation)
    if params.get("return_residual"):
        output, residual = result
        return {"output": _tensor(output), "residual": _tensor(residual)}
    return {"output": _tensor(result)}


def _error(e: Exception) -> Exception:
    """An exception whose message names its type when JAX gives none (a bare assert)."""
    return e if str(e) else type(e)(f"{type(e).__name__} (no message)")


def forward(call):
    try:
        outputs = _call(call, None)
    except Exception as e:
        raise _error(e) from None
    return outputs, {"path": "standard", "kernel": "xla",
                     "detail": "implementation=None falls back to xla: full (B, N, T, S) logits"}


def fast_path_only(call):
    outputs = _call(call, "cudnn")
    return outputs, {"path": "flash", "kernel": "cudnn"}


if __name__ == "__main__":
    serve("jax", description=f"JAX jax.nn.dot_product_attention, implementation None (xla), "
                             f"{jax.default_backend()}",
          versions={"jax": jax.__version__, "jaxlib": jax.lib.__version__,
                    "numpy": np.__version__, "backend": jax.default_backend()},
          apis={"jax_dot_product_attention": Api(forward=forward, fast_path_only=fast_path_only)})
