"""A worker that breaks the protocol on purpose, for the suite's own tests.

It speaks protocol 1 without numpy: every call is rejected with "fine", except a call whose params
say `misbehave: true`, which gets MODE's misbehaviour. With ALWAYS set, every call misbehaves.
"""
import json
import os
import signal
import sys
import time

mode = sys.argv[1]
always = len(sys.argv) > 2 and sys.argv[2] == "always"
out = sys.stdout.buffer


def send(header: dict, payload: bytes = b"") -> None:
    out.write(json.dumps(header).encode() + b"\n" + payload)
    out.flush()


protocol = 99 if mode == "wrong_protocol" else 1
send({"type": "hello", "protocol": protocol, "worker": mode, "versions": {"python": sys.version.split()[0]},
      "apis": {"scaled_dot_product_attention": {"modes": ["forward"], "declared_fallbacks": ""}}})

for line in sys.stdin.buffer:
    header = json.loads(line)
    size = 0
    for t in header["tensors"]:
        n = {"fp64": 8, "fp32": 4, "fp16": 2, "bf16": 2, "int64": 8, "int32": 4, "bool": 1}[t["dtype"]]
        for extent in t["shape"]:
            n *= extent
        size += n
    sys.stdin.buffer.read(size)
    reply = {"id": header["id"]}
    if not (always or header["params"].get("misbehave")):
        send({**reply, "type": "rejected", "error": {"type": "ValueError", "message": "fine"}})
        continue
    if mode == "crash":
        os.kill(os.getpid(), signal.SIGSEGV)
    elif mode == "hang":
        time.sleep(3600)
    elif mode == "garbage":
        out.write(b"this is not a header\n")
        out.flush()
    elif mode == "exit_mid_reply":
        send({**reply, "type": "outputs", "tensors": [{"name": "out", "dtype": "fp32", "shape": [1000]}]},
             b"\0" * 10)
        os._exit(0)
    elif mode == "huge_tensor":
        send({**reply, "type": "outputs", "tensors": [{"name": "out", "dtype": "fp32", "shape": [1 << 40, 1 << 20]}]})
    elif mode == "fault":  # what a worker sends after a CUDA error, which is sticky
        send({**reply, "type": "fault",
              "error": {"type": "AcceleratorError", "message": "CUDA error: misaligned address"}})
        sys.exit(3)
    elif mode == "wrong_id":
        send({"id": header["id"] + 7, "type": "rejected", "error": {"type": "E", "message": "?"}})
