"""attnconf worker for ONNX Runtime on the CPU: the ONNX Attention operator (opset 23), in its
4-D form (spec/onnx_attention.yaml) and its 3-D form (spec/onnx_attention_3d.yaml: the same node,
with the q_num_heads / kv_num_heads attributes the call passes), and the contrib operator
com.microsoft MultiHeadAttention (spec/ort_multi_head_attention.yaml) and GroupQueryAttention
(spec/ort_group_query_attention.yaml).

Each call builds a one-node model in memory (cached by operator, input types and attributes) and
runs it with the CPUExecutionProvider. onnxruntime's CPU kernel for Attention computes the full
score matrix per head; the spec (spec/onnx_attention.yaml) declares that path. When the node's
types do not fit the kernel, onnxruntime inlines the operator's function body instead; a type
error there is its rejection of the call.

MultiHeadAttention's CPU kernel runs MLAS's tiled FlashAttention for fp32 calls without
unidirectional, key_padding_mask, attention_bias or a past (contrib_ops/cpu/bert/
multihead_attention.cc), and the full score matrix otherwise. The path reported is that dispatch
rule, checked against what ran: each call also runs in a session made with
ORT_DISABLE_FLASH_ATTENTION=1 (which the kernel reads when it is made), and an output that
differs from that forced standard one bit for bit can only come from the flash kernel.

GroupQueryAttention's CPU kernel (contrib_ops/cpu/bert/gqa_attention_base.h) always computes the
full (batch, num_heads, sequence_length, total_sequence_length) probabilities: the standard path.
"""

import os
import sys
from dataclasses import dataclass

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "python"))

import numpy as np  # noqa: E402
import onnx  # noqa: E402
import onnxruntime as ort  # noqa: E402
from onnx import TensorProto, helper  # noqa: E402

from attnconf_worker import HELD_AS_FLOAT32, Api, ResidentSetPeak, Tensor, serve  # noqa: E402

ELEMENT = {"fp64": TensorProto.DOUBLE, "fp32": TensorProto.FLOAT, "fp16": TensorProto.FLOAT16,
           "bf16": TensorProto.BFLOAT16, "fp8_e4m3": TensorProto.FLOAT8E4M3FN,
           "fp8_e5m2": TensorProto.FLOAT8E5M2, "int64": TensorProto.INT64,
           "int32": TensorProto.INT32, "bool": TensorProto.BOOL}
NUMPY = {"fp64": np.float64, "fp32": np.float32, "fp16": np.float16, "int64": np.int64,
         "int32": np.int32, "bool": np.bool_}
NAMES = {np.dtype(v): k for k, v in NUMPY.items()}
OPSET = 23
# onnxruntime 1.23 reads models up to IR version 11; onnx 1.19 writes 12 by default.
IR_VERSION = 10
DISABLE_FLASH = "ORT_DISABLE_FLASH_ATTENTION"
PATH = {"path": "standard", "kernel": "onnxruntime CPUExecutionProvider Attention",
        "detail": "the CPU kernel computes the full score matrix per head (llm/attention.cc)"}



@dataclass(frozen=True)
class Operator:
    name: str
    domain: str
    inputs: list          # the node's inputs in order; a call leaves any of them out
    attributes: dict      # attribute -> its Python type
    outputs: dict         # output -> the input whose type it has
    present: dict         # with a past: present output -> the input whose type it has
    present_required: bool = False  # the schema asks for the present outputs even without a past


ATTENTION = Operator(
    "Attention", "", ["Q", "K", "V", "attn_mask", "past_key", "past_value"],
    {"is_causal": int, "scale": float, "softcap": float, "qk_matmul_output_mode": int,
     "softmax_precision": int, "q_num_heads": int, "kv_num_heads": int},
    {"Y": "Q"}, {"present_key": "K", "present_value": "V"})
MULTI_HEAD_ATTENTION = Operator(
    "MultiHeadAttention", "com.microsoft",
    ["query", "key", "value", "bias", "key_padding_mask", "attention_bias", "past_key",
     "past_value"],
    {"num_heads": int, "scale": float, "unidirectional": int, "mask_filter_value": float},
    {"output": "query"}, {"present_key": "key", "present_value": "value"})
GROUP_QUERY_ATTENTION = Operator(
    "GroupQueryAttention", "com.microsoft",
    ["query", "key", "value", "past_key", "past_value", "seqlens_k", "total_sequence_length",
     "cos_cache", "sin_cache", "position_ids", "attention_bias", "head_sink"],
    {"num_heads": int, "kv_num_heads": int, "scale": float, "softcap": float,
     "local_window_size": int, "do_rotary": int, "rotary_interleaved": int,
     "smooth_softmax": int},
    {"output": "query"}, {"present_key": "key", "present_value": "value"}, present_required=True)

_sessions = {}


def _model(op: Operator, call) -> onnx.ModelProto:
    given = [n for n in op.inputs if n in call.tensors]
    names = [n if n in call.tensors else "" for n in op.inputs]
    while names[-1] == "":
        names.pop()
    # onnxruntime returns the present cache only with a past one (both or neither), unless the
    # schema requires it (GroupQueryAttention; _run drops it again).
    with_present = "past_key" in call.tensors or op.present_required
    outputs = op.outputs | (op.present if with_present else {})
    attributes = {k: op.attributes[k](v) for k, v in call.params.items() if k in op.attributes}
    node = helper.make_node(op.name, names, list(outputs), domain=op.domain, **attributes)
    graph = helper.make_graph(
        [node], "attnconf",
        [helper.make_tensor_value_info(n, ELEMENT[call.tensors[n].dtype], None) for n in given],
        [helper.make_tensor_value_info(o, ELEMENT[call.tensors[i].dtype], None)
         for o, i in outputs.items()])
    opsets = [helper.make_opsetid("", OPSET)] + ([helper.make_opsetid(op.domain, 1)]
                                                 if op.domain else [])
    model = helper.make_model(graph, opset_imports=opsets)
    model.ir_version = IR_VERSION
    return model


def _session(op: Operator, call, disable_flash: bool = False) -> ort.InferenceSession:
    key = (op.name, disable_flash, tuple((n, t.dtype) for n, t in sorted(call.tensors.items())),
           tuple(sorted(call.params.items())))
    if key not in _sessions:
        options = ort.SessionOptions()
        options.intra_op_num_threads = int(os.environ.get("OMP_NUM_THREADS", "2"))
        options.log_severity_level = 4  # errors reach the suite as rejections, not as log lines
        # Freed buffers go back to the system, so that a call's peak is its own.
        options.enable_cpu_mem_arena = False
        # The kernels read the switch when the session makes them.
        previous = os.environ.get(DISABLE_FLASH)
        os.environ[DISABLE_FLASH] = "1" if disable_flash else "0"
        try:
            _sessions[key] = ort.InferenceSession(_model(op, call).SerializeToString(), options,
                                                  providers=["CPUExecutionProvider"])
        finally:
            if previous is None:
                del os.environ[DISABLE_FLASH]
            else:
                os.environ[DISABLE_FLASH] = previous
    return _sessions[key]


def _short(error: Exception) -> str:
    """onnxruntime's message without the C++ signature of the failing check."""
    text = str(error)
    # An ORT_ENFORCE without a message keeps its condition ("kv_num_heads > 0 was false.").
    return text.split("was false.", 1)[1].strip() or text if "was false." in text else text


class OrtError(Exception):
    pass


def _run(op: Operator, call, disable_flash: bool = False) -> dict:
    """The node's outputs by name; onnxruntime's errors as OrtError."""
    unfed = sorted({t.dtype for t in call.tensors.values()} & HELD_AS_FLOAT32)
    if unfed:
        # numpy has no bf16 or fp8: the session is made (rejecting mixed types as onnxruntime
        # does) but not fed; this worker declares fp16 and fp32 only.
        try:
            _session(op, call)
        except Exception as e:
            raise OrtError(_short(e)) from None
        raise OrtError(f"attnconf's ort worker cannot feed {', '.join(unfed)} tensors from numpy")
    try:
        session = _session(op, call, disable_flash)
        feeds = {n: np.asarray(t.array, dtype=NUMPY[t.dtype]) for n, t in call.tensors.items()}
        results = session.run(None, feeds)
    except Exception as e:
        raise OrtError(_short(e)) from None
    named = {o.name: r for o, r in zip(session.get_outputs(), results)}
    # The specs ask for the present cache only with a past one.
    return {n: r for n, r in named.items() if n not in op.present or "past_key" in call.tensors}


def _tensors(results: dict) -> dict:
    return {n: Tensor(NAMES[r.dtype], r) for n, r in results.items()}


def attention(call):
    return _tensors(_run(ATTENTION, call)), PATH


def _mha_dispatches_flash(call) -> bool:
    """multihead_attention.cc's condition for MlasFlashAttentionThreaded."""
    return (call.tensors["query"].dtype == "fp32" and not call.params.get("unidirectional")
            and not any(n in call.tensors for n in ("key_padding_mask", "attention_bias",
                                                     "past_key", "past_value")))


class CallPeak:
    """The peak resident set of the call a handler measures, not of its probes."""

    def __init__(self):
        self._resident = ResidentSetPeak()
        self._peak = None

    def start(self) -> None:
        self._peak = None
        self._resident.start()

    def measure(self, run):
        self._resident.start()
        result = run()
        self._peak = self._resident.peak_bytes()
        return result

    def peak_bytes(self):
        return self._peak if self._peak is not None else self._resident.peak_bytes()


_memory = CallPeak()


def multi_head_attention(call):
    results = _memory.measure(lambda: _run(MULTI_HEAD_ATTENTION, call))
    forced = _run(MULTI_HEAD_ATTENTION, call, disable_flash=True)["output"]
    differs = not np.array_equal(results["output"], forced, equal_nan=True)
    flash = differs or _mha_dispatches_flash(call)
    seen = ("differs from" if differs else "equals") + f" the output with {DISABLE_FLASH}=1"
    path = ({"path": "flash", "kernel": "MlasFlashAttentionThreaded"} if flash else
            {"path": "standard", "kernel": "AttentionCPUBase::ApplyAttention"})
    rule = "the dispatch rule picks flash" if _mha_dispatches_flash(call) else \
        "the dispatch rule picks standard"
    return _tensors(results), path | {"detail": f"{rule}; the output {seen}"}


def group_query_attention(call):
    results = _memory.measure(lambda: _run(GROUP_QUERY_ATTENTION, call))
    return _tensors(results), {"path": "standard", "kernel": "GQAAttentionBase::ApplyAttention",
                               "detail": "the CPU kernel computes the full probabilities "
                                         "(gqa_attention_base.h)"}


if __name__ == "__main__":
    serve("ort", description="ONNX Runtime Attention-23 and com.microsoft MultiHeadAttention and "
                             "GroupQueryAttention on the CPUExecutionProvider",
          versions={"onnxruntime": ort.__version__, "onnx": onnx.__version__,
                    "numpy": np.__version__},
          apis={"onnx_attention": Api(forward=attention, dtypes=["fp16", "fp32"]),
                "onnx_attention_3d": Api(forward=attention, dtypes=["fp16", "fp32"]),
                "ort_multi_head_attention": Api(forward=multi_head_attention,
                                                dtypes=["fp16", "fp32"]),
                "ort_group_query_attention": Api(forward=group_query_attention,
                                                 dtypes=["fp16", "fp32"])},
          memory=_memory)
