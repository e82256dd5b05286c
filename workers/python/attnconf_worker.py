"""A worker for attnconf in a few lines: serve() speaks the worker protocol (docs/worker-protocol.md).

    from attnconf_worker import Api, serve

    def forward(call):
        q = call.tensors["query"]          # a Tensor: .dtype ("fp16", ...) and .array (numpy)
        ...
        return {"out": Tensor("fp16", out)}, {"path": "flash", "kernel": "my_kernel"}

    serve("my_worker", versions={"mylib": "1.0"},
          apis={"scaled_dot_product_attention": Api(forward=forward)})

An exception raised by a handler is the API rejecting the call: the suite compares its message with
the spec's error contract, unless serve's `is_fault` says the exception left the process unusable
(a CUDA error is sticky: every later call in the process fails with it). Then the call fails as a
fault and the worker exits, so that the next call gets a fresh one. stdout belongs to the
protocol; print() goes to stderr.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np

PROTOCOL = 1

# bf16 travels as the high 16 bits of an fp32, fp8 as its one-byte code; in Python both are held
# as float32 values (numpy has neither).
_NUMPY = {"fp64": np.float64, "fp32": np.float32, "fp16": np.float16, "bf16": np.float32,
          "fp8_e4m3": np.float32, "fp8_e5m2": np.float32,
          "int64": np.int64, "int32": np.int32, "bool": np.bool_}
_WIRE = {"fp64": "<f8", "fp32": "<f4", "fp16": "<f2", "bf16": "<u2", "fp8_e4m3": "u1",
         "fp8_e5m2": "u1", "int64": "<i8", "int32": "<i4", "bool": "u1"}


def _fp8_values(mantissa_bits: int, bias: int, finite: bool) -> np.ndarray:
    """The float32 value of each of the 256 codes of an OCP FP8 format."""
    codes = np.arange(256)
    biased, mantissa = (codes & 0x7F) >> mantissa_bits, codes & ((1 << mantissa_bits) - 1)
    significand = np.where(biased == 0, mantissa, mantissa + (1 << mantissa_bits))
    values = np.ldexp(significand.astype(np.float64),
                      np.maximum(biased, 1) - bias - mantissa_bits)
    values = np.where(codes & 0x80, -values, values)
    if finite:  # e4m3fn: S.1111.111 is NaN, there is no infinity
        values[(codes & 0x7F) == 0x7F] = np.nan
    else:       # e5m2: the top exponent is infinity (mantissa 0) or NaN
        top = biased == (1 << (7 - mantissa_bits)) - 1
        values[top] = np.where(mantissa[top] == 0, np.copysign(np.inf, values[top]), np.nan)
    return values.astype(np.float32)


_FP8 = {"fp8_e4m3": _fp8_values(3, 7, True), "fp8_e5m2": _fp8_values(2, 15, False)}
# The dtypes numpy lacks, whose tensors a worker receives (and returns) as float32 values.
HELD_AS_FLOAT32 = frozenset({"bf16", *_FP8})


@dataclass
class Tensor:
    dtype: str          # the protocol's dtype name
    array: np.ndarray   # bf16 and fp8 as float32 values


@dataclass
class Call:
    api: str
    mode: str           # "forward", "fast_path_only" or "backward"
    params: dict
    tensors: dict       # name -> Tensor


Handler = Callable[[Call], tuple]  # -> (outputs: dict name -> Tensor, path: dict)


@dataclass
class Api:
    forward: Handler
    fast_path_only: Optional[Handler] = None  # every fallback disabled; raising = it would fall back
    backward: Optional[Handler] = None        # outputs are the input gradients by the spec's names
    declared_fallbacks: str = ""              # YAML, the spec's paths.fallbacks format
    dtypes: Optional[list] = None             # query dtypes taken; None = all the spec covers


class Unsupported(Exception):
    """Raised by a handler for a call it cannot make at all (not a rejection by the API)."""


def _decode(desc: dict, raw: bytes) -> Tensor:
    dtype = desc["dtype"]
    wire = np.frombuffer(raw, dtype=_WIRE[dtype]).reshape(desc["shape"])
    if dtype == "bf16":
        return Tensor(dtype, (wire.astype(np.uint32) << 16).view(np.float32))
    if dtype in _FP8:
        return Tensor(dtype, _FP8[dtype][wire])
    return Tensor(dtype, wire.astype(_NUMPY[dtype]))


def _encode(tensor: Tensor) -> bytes:
    array = np.array(tensor.array, order="C")  # (ascontiguousarray would make a 0-d array 1-d)
    if tensor.dtype == "bf16":
        return (array.astype(np.float32).view(np.uint32) >> 16).astype("<u2").tobytes()
    if tensor.dtype in _FP8:
        # The values are the format's own, and its codes 0 to 0x7E rise with their magnitude up
        # to the first NaN: a magnitude's code is its place among them. 0x7F is NaN in both.
        table = _FP8[tensor.dtype]
        ordered = table[:int(np.argmax(np.isnan(table)))]
        magnitude = np.abs(array.astype(np.float32))
        codes = np.searchsorted(ordered, np.nan_to_num(magnitude, nan=0.0))
        codes = np.where(np.isnan(magnitude), 0x7F, codes) | np.where(np.signbit(array), 0x80, 0)
        return codes.astype("u1").tobytes()
    return array.astype(_WIRE[tensor.dtype]).tobytes()


def _status_kib(key: str) -> Optional[float]:
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(key + ":"):
                    return float(line.split()[1])
    except OSError:
        pass
    return None


class ResidentSetPeak:
    """The process's peak resident set above the one at the start of the call (Linux)."""

    def start(self) -> None:
        try:
            with open("/proc/self/clear_refs", "w") as reset:
                reset.write("5")  # resets the peak resident set size to the current one
            self._before = _status_kib("VmRSS")
        except OSError:
            self._before = None

    def peak_bytes(self) -> Optional[float]:
        peak = _status_kib("VmHWM")
        if self._before is None or peak is None:
            return None
        return max(0.0, peak - self._before) * 1024.0


def _measured(handler: Handler, call: Call, memory) -> tuple:
    """Runs the handler; returns its result, the peak memory above the start, and the time."""
    memory.start()
    start = time.perf_counter()
    result = handler(call)
    measured = {"seconds": time.perf_counter() - start}
    if (peak := memory.peak_bytes()) is not None:
        measured["peak_bytes"] = peak
    return result, measured


class _Channel:
    def __init__(self):
        self.input = sys.stdin.buffer
        self.output = sys.stdout.buffer
        sys.stdout = sys.stderr  # print() must not corrupt the protocol

    def send(self, header: dict, tensors: dict = None):
        tensors = tensors or {}
        header["tensors"] = [{"name": name, "dtype": t.dtype, "shape": list(t.array.shape)}
                             for name, t in tensors.items()]
        self.output.write(json.dumps(header).encode() + b"\n")
        for t in tensors.values():
            self.output.write(_encode(t))
        self.output.flush()

    def receive(self) -> Optional[tuple]:
        line = self.input.readline()
        if not line:
            return None
        header = json.loads(line)
        tensors = {}
        for desc in header.get("tensors", []):
            size = int(np.prod(desc["shape"], dtype=np.int64)) * np.dtype(_WIRE[desc["dtype"]]).itemsize
            tensors[desc["name"]] = _decode(desc, self.input.read(size))
        return header, tensors


def _entry(api: Api) -> dict:
    entry = {"modes": [m for m in ("forward", "fast_path_only", "backward")
                       if getattr(api, m) is not None],
             "declared_fallbacks": api.declared_fallbacks}
    if api.dtypes is not None:
        entry["dtypes"] = list(api.dtypes)
    return entry


def _error(e: Exception) -> dict:
    return {"type": type(e).__name__, "message": str(e)}


def serve(worker: str, versions: dict, apis: dict, description: str = "",
          is_fault: Callable[[Exception], bool] = lambda e: False, memory=None) -> None:
    """Answers calls until the suite closes stdin.

    is_fault(e) says that an exception left the process unusable; `memory` measures a call's peak
    (start() before it, peak_bytes() after; default: the resident set, ResidentSetPeak)."""
    memory = memory or ResidentSetPeak()
    channel = _Channel()
    channel.send({"type": "hello", "protocol": PROTOCOL, "worker": worker,
                  "description": description, "versions": versions,
                  "apis": {name: _entry(api) for name, api in apis.items()}})
    while (message := channel.receive()) is not None:
        header, tensors = message
        reply = {"id": header.get("id")}
        api = apis.get(header.get("api"))
        handler = getattr(api, header.get("mode", ""), None) if api else None
        if handler is None:
            channel.send({**reply, "type": "unsupported",
                          "message": f"no {header.get('mode')} for {header.get('api')}"})
            continue
        call = Call(header["api"], header["mode"], header.get("params", {}), tensors)
        try:
            (outputs, path), measured = _measured(handler, call, memory)
            channel.send({**reply, "type": "outputs", "path": path, "measured": measured}, outputs)
        except Unsupported as e:
            channel.send({**reply, "type": "unsupported", "message": str(e)})
        except Exception as e:
            if is_fault(e):
                channel.send({**reply, "type": "fault", "error": _error(e)})
                sys.exit(3)
            channel.send({**reply, "type": "rejected", "error": _error(e),  # the API refused it
                          "path": getattr(e, "attnconf_path", {})})
