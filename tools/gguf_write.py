"""Minimal GGUF v3 writer for test oracles (numpy only).

Independent of sail's C writer on purpose: the C reader is tested against a
file produced by other code. Layout as in docs/FORMAT.md."""
import struct

import numpy as np

ALIGN = 32
VT_I32, VT_F32, VT_BOOL, VT_STRING, VT_ARRAY = 5, 6, 7, 8, 9


def _str(b):
    if isinstance(b, str):
        b = b.encode("utf-8")
    return struct.pack("<Q", len(b)) + b


def _value(v):
    if isinstance(v, bool):
        return struct.pack("<IB", VT_BOOL, int(v))
    if isinstance(v, int):
        return struct.pack("<I", VT_I32) + struct.pack("<i", v)
    if isinstance(v, float):
        return struct.pack("<I", VT_F32) + struct.pack("<f", v)
    if isinstance(v, str):
        return struct.pack("<I", VT_STRING) + _str(v)
    if isinstance(v, list) and all(isinstance(x, str) for x in v):
        return struct.pack("<IIQ", VT_ARRAY, VT_STRING, len(v)) + b"".join(_str(x) for x in v)
    if isinstance(v, list):
        return struct.pack("<IIQ", VT_ARRAY, VT_F32, len(v)) + struct.pack("<%df" % len(v), *v)
    raise TypeError(type(v))


def write(path, kv, tensors):
    """kv: dict key -> int/float/str/list; tensors: list of (name, np.ndarray)."""
    out = bytearray(b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(kv)))
    for k, v in kv.items():
        out += _str(k) + _value(v)
    offset, blobs = 0, []
    for name, a in tensors:
        a = np.ascontiguousarray(a, dtype=np.float32)
        out += _str(name) + struct.pack("<I", a.ndim)
        out += b"".join(struct.pack("<Q", d) for d in reversed(a.shape))
        out += struct.pack("<IQ", 0, offset)
        blobs.append(a.tobytes())
        offset += (len(blobs[-1]) + ALIGN - 1) // ALIGN * ALIGN
    out += b"\0" * (-len(out) % ALIGN)
    for b in blobs:
        out += b + b"\0" * (-len(b) % ALIGN)
    with open(path, "wb") as f:
        f.write(out)
