"""golden_io.py: writes safetensors files and mirrors bigs's counter-based RNG (core/base/rng.c)."""
import json
import struct

import numpy as np

_DT = {np.float32: "F32", np.float64: "F64", np.int64: "I64", np.int32: "I32"}


def write_safetensors(path, tensors, metadata=None):
    """tensors: dict name -> numpy array (float32, float64, int64, int32). Sorted by name."""
    header, blobs, pos = {}, [], 0
    if metadata:
        header["__metadata__"] = {k: str(v) for k, v in metadata.items()}
    for name in sorted(tensors):
        a = np.ascontiguousarray(tensors[name])
        dt = _DT[a.dtype.type]
        raw = a.astype(a.dtype.newbyteorder("<")).tobytes()
        header[name] = {"dtype": dt, "shape": list(a.shape), "data_offsets": [pos, pos + len(raw)]}
        blobs.append(raw)
        pos += len(raw)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


M64 = (1 << 64) - 1


def rng_mix(key, counter):
    """Same bits as rng_mix() in core/base/rng.c."""
    z = (key + (counter + 1) * 0x9E3779B97F4A7C15) & M64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
    z ^= z >> 31
    z = ((z ^ (z >> 32)) * 0xD6E8FEB86659FD93) & M64
    return z ^ (z >> 32)


def keep_mask(key, n, p):
    """Dropout keep mask of dropout_forward(): element i kept when uniform_at(key, i) >= p."""
    p32 = float(np.float32(p))
    return np.array([((rng_mix(key, i) >> 40) / 16777216.0) >= p32 for i in range(n)])
