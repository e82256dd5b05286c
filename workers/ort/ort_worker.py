"""attnconf worker for ONNX Runtime: the ONNX Attention operator (opset 23) on the CPU, in its
4-D form (spec/onnx_attention.yaml) and its 3-D form (spec/onnx_attention_3d.yaml: the same node,
with the q_num_heads / kv_num_heads attributes the call passes).

Each call builds a one-node model in memory (cached by input types and attributes) and runs it
with the CPUExecutionProvider. onnxruntime's CPU kernel for Attention computes the full score
matrix per head; the spec (spec/onnx_attention.yaml) declares that path. When the node's types
do not fit the kernel, onnxruntime inlines the operator's function body instead; a type error
there is its rejection of the call.

Not exposed yet: com.microsoft MultiHeadAttention and GroupQueryAttention (no spec). attnconf's
probe of MultiHeadAttention with unidirectional=1 and seqlen_q != seqlen_kv (equal scores, one-hot
values, so the output is the attention weights): for seqlen_q < seqlen_kv, every query row but the
last is causal top-left (row i sees keys 0..i) and the last row sees every key, which matches
neither alignment; for seqlen_q > seqlen_kv it is top-left throughout.
"""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "python"))

import numpy as np  # noqa: E402
import onnx  # noqa: E402
import onnxruntime as ort  # noqa: E402
from onnx import TensorProto, helper  # noqa: E402

from attnconf_worker import Api, Tensor, serve  # noqa: E402

ELEMENT = {"fp64": TensorProto.DOUBLE, "fp32": TensorProto.FLOAT, "fp16": TensorProto.FLOAT16,
           "bf16": TensorProto.BFLOAT16, "int64": TensorProto.INT64, "int32": TensorProto.INT32,
           "bool": TensorProto.BOOL}
NUMPY = {"fp64": np.float64, "fp32": np.float32, "fp16": np.float16, "int64": np.int64,
         "int32": np.int32, "bool": np.bool_}
NAMES = {np.dtype(v): k for k, v in NUMPY.items()}
INPUTS = ["Q", "K", "V", "attn_mask", "past_key", "past_value"]
ATTRIBUTES = {"is_causal": int, "scale": float, "softcap": float, "qk_matmul_output_mode": int,
              "softmax_precision": int, "q_num_heads": int, "kv_num_heads": int}
OPSET = 23
# onnxruntime 1.23 reads models up to IR version 11; onnx 1.19 writes 12 by default.
IR_VERSION = 10
PATH = {"path": "standard", "kernel": "onnxruntime CPUExecutionProvider Attention",
        "detail": "the CPU kernel computes the full score matrix per head (llm/attention.cc)"}

_sessions = {}


def _model(call) -> onnx.ModelProto:
    given = [n for n in INPUTS if n in call.tensors]
    names = [n if n in call.tensors else "" for n in INPUTS]
    while names[-1] == "":
        names.pop()
    # onnxruntime returns the present cache only with a past one (both or neither).
    outputs = {"Y": "Q"} | ({"present_key": "K", "present_value": "V"}
                            if "past_key" in call.tensors else {})
    attributes = {k: ATTRIBUTES[k](v) for k, v in call.params.items() if k in ATTRIBUTES}
    node = helper.make_node("Attention", names, list(outputs), **attributes)
    graph = helper.make_graph(
        [node], "attnconf",
        [helper.make_tensor_value_info(n, ELEMENT[call.tensors[n].dtype], None) for n in given],
        [helper.make_tensor_value_info(o, ELEMENT[call.tensors[i].dtype], None)
         for o, i in outputs.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = IR_VERSION
    return model


def _session(call) -> ort.InferenceSession:
    key = (tuple((n, t.dtype) for n, t in sorted(call.tensors.items())),
           tuple(sorted(call.params.items())))
    if key not in _sessions:
        options = ort.SessionOptions()
        options.intra_op_num_threads = int(os.environ.get("OMP_NUM_THREADS", "2"))
        options.log_severity_level = 3  # errors reach the suite as rejections, not as log lines
        _sessions[key] = ort.InferenceSession(_model(call).SerializeToString(), options,
                                              providers=["CPUExecutionProvider"])
    return _sessions[key]


def _short(error: Exception) -> str:
    """onnxruntime's message without the C++ signature of the failing check."""
    text = str(error)
    return text.split("was false.", 1)[1].strip() if "was false." in text else text


class OrtError(Exception):
    pass


def attention(call):
    if any(t.dtype == "bf16" for t in call.tensors.values()):
        # numpy has no bf16: the session is made (rejecting mixed types as onnxruntime does) but
        # not fed; this worker declares fp16 and fp32 only.
        try:
            _session(call)
        except Exception as e:
            raise OrtError(_short(e)) from None
        raise OrtError("attnconf's ort worker cannot feed bf16 tensors from numpy")
    try:
        session = _session(call)
        feeds = {n: np.asarray(t.array, dtype=NUMPY[t.dtype]) for n, t in call.tensors.items()}
        results = session.run(None, feeds)
    except Exception as e:
        raise OrtError(_short(e)) from None
    names = [o.name for o in session.get_outputs()]
    return {n: Tensor(NAMES[r.dtype], r) for n, r in zip(names, results)}, PATH


if __name__ == "__main__":
    serve("ort", description="ONNX Runtime Attention-23 on the CPUExecutionProvider",
          versions={"onnxruntime": ort.__version__, "onnx": onnx.__version__,
                    "numpy": np.__version__},
          apis={"onnx_attention": Api(forward=attention, dtypes=["fp16", "fp32"]),
                "onnx_attention_3d": Api(forward=attention, dtypes=["fp16", "fp32"])})
