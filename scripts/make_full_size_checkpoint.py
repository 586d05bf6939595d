#!/usr/bin/python3
"""make_full_size_checkpoint.py OUT_DIR: a flax_model.msgpack at the official BiGS_128 shapes (H=1024,
NL=23, I=3072, N=64, V=30522; random weights, 1.39 GB) and its config.json, to measure `bigs convert` at
full size (time, memory, bitwise round trips); see the README's figures. Needs python3-msgpack and numpy."""
import json
import os
import sys

import msgpack
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_convert_fixtures import pack_array  # noqa: E402

out = sys.argv[1] if len(sys.argv) > 1 else "full-size"
os.makedirs(out, exist_ok=True)
H, I, N, V, P, NL = 1024, 3072, 64, 30522, 128, 23
rs = np.random.default_rng(0)


def f32(*s):
    return rs.standard_normal(s, dtype=np.float32) * np.float32(0.02)


def dense(i, o):
    return {"kernel": f32(i, o), "bias": np.zeros(o, np.float32)}


def ln():
    return {"scale": np.ones(H, np.float32), "bias": np.zeros(H, np.float32)}


def ssm():
    return {"A_re": np.full(N, -0.5, np.float32), "A_im": np.arange(N, dtype=np.float32), "C": f32(N, 2),
            "D": np.ones(1, np.float32), "log_step": np.full(1, -2.0, np.float32)}


layers = {str(i): {"LayerNorm": ln(), "fs4": ssm(), "bs4": ssm(), "dv": dense(H, I), "du_forward": dense(H, H),
                   "du_backward": dense(H, H), "duc_forward": dense(H, H), "duc_backward": dense(H, H),
                   "dol": dense(H, I), "do": dense(I, H)} for i in range(NL)}
tree = {"s4_bert": {"embeddings": {"word_embeddings": {"embedding": f32(V, H)}, "position_embeddings": {"embedding": f32(P, H)},
                                   "token_type_embeddings": {"embedding": f32(2, H)}, "LayerNorm": ln()},
                    "encoder": {"layer": layers}},
        "cls": {"predictions": {"transform": {"dense": dense(H, H), "LayerNorm": ln()}, "bias": np.zeros(V, np.float32)}}}


def conv(d):
    return {k: conv(v) if isinstance(v, dict) else pack_array(v) for k, v in d.items()}


with open(os.path.join(out, "flax_model.msgpack"), "wb") as f:
    f.write(msgpack.packb(conv(tree), use_bin_type=True))
json.dump({"model_type": "BiGS", "vocab_size": V, "hidden_size": H, "num_hidden_layers": NL, "intermediate_size": I,
           "hidden_act": "gelu", "max_position_embeddings": P, "type_vocab_size": 2, "num_ssm": N, "pre_norm": True,
           "scaling": "hippo", "pooler_type": "non_padding_mean"}, open(os.path.join(out, "config.json"), "w"), indent=2)
print(os.path.join(out, "flax_model.msgpack"), os.path.getsize(os.path.join(out, "flax_model.msgpack")), "bytes")
