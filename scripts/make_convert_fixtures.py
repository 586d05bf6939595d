#!/usr/bin/python3
"""make_convert_fixtures.py: official-layout Flax checkpoints of a tiny BiGS (Debian python3-msgpack,
python3-numpy, python3-torch) and the logits the PyTorch reference computes with the same weights.

Writes tests/formats/flax_mlm/ (flax_model.msgpack, config.json, vocab.txt: HF's layout, top-level keys
s4_bert and cls), tests/formats/flax_cls/flax_model.msgpack (under "params", one leaf stored as a chunked
array, a classification head) and tests/formats/flax_expected.safetensors (inputs and reference logits).
The Flax-to-PyTorch name mapping here is written independently of bigs's.
"""
import json
import os
import sys

import msgpack
import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from golden_io import write_safetensors  # noqa: E402
from ref_bigs import Model  # noqa: E402

OUT = os.path.join(HERE, "..", "tests", "formats")
CFG = {"model_type": "BiGS", "architectures": ["BiGSForMaskedLM"], "vocab_size": 50, "hidden_size": 16,
       "num_hidden_layers": 2, "intermediate_size": 24, "hidden_act": "gelu", "hidden_dropout_prob": 0.1,
       "max_position_embeddings": 16, "type_vocab_size": 2, "initializer_range": 0.02, "layer_norm_eps": 1e-12,
       "pad_token_id": 0, "num_ssm": 4, "pre_norm": True, "scaling": "hippo", "pooler_type": "non_padding_mean",
       "classifier_dropout": None, "decode": False, "use_pykeops_kernel": False, "transformers_version": "4.24.0"}


def pack_array(a):
    # flax.serialization: ext type 1, payload msgpack (shape, dtype name, bytes)
    return msgpack.ExtType(1, msgpack.packb((list(a.shape), a.dtype.name, a.tobytes()), use_bin_type=True))


def tree(rs, head, num_labels=3):
    H, I, N, V, P, NL = 16, 24, 4, 50, 16, 2
    f32 = lambda *s, sc=0.5: (rs.randn(*s) * sc).astype(np.float32)
    dense = lambda i, o: {"kernel": f32(i, o), "bias": f32(o, sc=0.1)}
    ln = lambda: {"scale": (1 + 0.1 * rs.randn(H)).astype(np.float32), "bias": f32(H, sc=0.1)}
    ssm = lambda: {"A_re": rs.uniform(-0.8, -0.2, N).astype(np.float32), "A_im": rs.uniform(0, 3, N).astype(np.float32),
                   "C": f32(N, 2), "D": f32(1, sc=1.0), "log_step": rs.uniform(np.log(0.01), 0, 1).astype(np.float32)}
    layers = {}
    for i in range(NL):
        layers[str(i)] = {"LayerNorm": ln(), "fs4": ssm(), "bs4": ssm(), "dv": dense(H, I), "du_forward": dense(H, H),
                          "du_backward": dense(H, H), "duc_forward": dense(H, H), "duc_backward": dense(H, H),
                          "dol": dense(H, I), "do": dense(I, H)}
    t = {"s4_bert": {"embeddings": {"word_embeddings": {"embedding": f32(V, H, sc=1.0)},
                                    "position_embeddings": {"embedding": f32(P, H, sc=1.0)},
                                    "token_type_embeddings": {"embedding": f32(2, H, sc=1.0)}, "LayerNorm": ln()},
                     "encoder": {"layer": layers}}}
    if head == "mlm":
        t["cls"] = {"predictions": {"transform": {"dense": dense(H, H), "LayerNorm": ln()}, "bias": f32(V, sc=0.1)}}
    else:
        t["s4_bert"]["pooler"] = {"dense": dense(H, H)}
        t["classifier"] = dense(H, num_labels)
    return t


def to_msgpack_tree(t, chunk_path=None, path=""):
    out = {}
    for k, v in t.items():
        p = path + "/" + k if path else k
        if isinstance(v, dict):
            out[k] = to_msgpack_tree(v, chunk_path, p)
        elif p == chunk_path:  # flax's layout for arrays over 2^30 bytes, here forced on a small one
            flat = v.reshape(-1)
            chunks = [flat[i:i + 7] for i in range(0, flat.size, 7)]
            out[k] = {"__msgpack_chunked_array__": True, "shape": {str(i): d for i, d in enumerate(v.shape)},
                      "chunks": {str(i): pack_array(c) for i, c in enumerate(chunks)}}
        else:
            out[k] = pack_array(v)
    return out


def state_dict(t, head):
    """Flax tree -> the PyTorch port's names (Dense kernels transposed, scale -> weight)."""
    sd = {}

    def walk(node, path):
        for k, v in node.items():
            if isinstance(v, dict):
                walk(v, path + [k])
                continue
            parts = ["bigs" if p == "s4_bert" else p for p in path]
            if k in ("A_re", "A_im", "C", "log_step"):
                name, val = ".".join(parts + ["kernel", k]), v
            elif k == "D":
                name, val = ".".join(parts + ["D"]), v
            elif k == "kernel":
                name, val = ".".join(parts + ["weight"]), v.T
            elif k in ("scale", "embedding"):
                name, val = ".".join(parts + ["weight"]), v
            else:
                name, val = ".".join(parts + [k]), v
            sd[name] = torch.tensor(np.ascontiguousarray(val).astype(np.float64))
    walk(t, [])
    return sd


def main():
    os.makedirs(os.path.join(OUT, "flax_mlm"), exist_ok=True)
    os.makedirs(os.path.join(OUT, "flax_cls"), exist_ok=True)
    rs = np.random.RandomState(11)
    t = tree(rs, "mlm")
    with open(os.path.join(OUT, "flax_mlm", "flax_model.msgpack"), "wb") as f:
        f.write(msgpack.packb(to_msgpack_tree(t), use_bin_type=True))
    with open(os.path.join(OUT, "flax_mlm", "config.json"), "w") as f:
        json.dump(CFG, f, indent=2)
    with open(os.path.join(OUT, "flax_mlm", "vocab.txt"), "w") as f:
        f.write("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + ["w%d" % i for i in range(45)]) + "\n")
    tc = tree(rs, "seqcls")
    with open(os.path.join(OUT, "flax_cls", "flax_model.msgpack"), "wb") as f:
        f.write(msgpack.packb({"params": to_msgpack_tree(tc, chunk_path="s4_bert/encoder/layer/1/dol/kernel")}, use_bin_type=True))
    # the reference: the official JAX model's GELU (tanh form) in the gated blocks; pads pass through
    torch.set_default_dtype(torch.float64)
    c = dict(CFG, block="gated", routing="ssm", block_act="gelu_tanh", num_attention_heads=2, num_labels=3)
    m = Model(c, "mlm").double()
    missing = m.load_state_dict(state_dict(t, "mlm"), strict=True)
    ids = np.array([[2, 7, 4, 9, 11, 4, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0], [2, 5, 6, 4, 8, 12, 13, 14, 4, 3, 0, 0, 0, 0, 0, 0]])
    labels = np.where(ids == 4, np.array([[0, 0, 17, 0, 0, 21, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], [0, 0, 0, 30, 0, 0, 0, 0, 44, 0, 0, 0, 0, 0, 0, 0]]), -100)
    mask = (ids != 0).astype(np.int64)
    with torch.no_grad():
        logits, loss = m(torch.tensor(ids), torch.zeros_like(torch.tensor(ids)), torch.tensor(mask), torch.tensor(labels))
    mc = Model(c, "seqcls").double()
    mc.load_state_dict(state_dict(tc, "seqcls"), strict=True)
    with torch.no_grad():
        cls_logits, _ = mc(torch.tensor(ids), torch.zeros_like(torch.tensor(ids)), torch.tensor(mask), torch.tensor([0, 1]))
    write_safetensors(os.path.join(OUT, "flax_expected.safetensors"),
                      {"input.input_ids": ids.astype(np.int64), "input.attention_mask": mask, "input.labels": labels.astype(np.int64),
                       "output.logits": logits.numpy(), "output.loss": loss.numpy().reshape(1), "output.cls_logits": cls_logits.numpy()},
                      {"made_by": "scripts/make_convert_fixtures.py", "unused": str(missing)})
    # a Hugging Face BERT checkpoint (BertForPreTraining layout: with the pooler, the next-sentence head,
    # the tied decoder and the position_ids buffer, which the conversion drops)
    os.makedirs(os.path.join(OUT, "bert_hf"), exist_ok=True)
    bcfg = {"model_type": "bert", "architectures": ["BertForPreTraining"], "vocab_size": 50, "hidden_size": 16,
            "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 24, "hidden_act": "gelu",
            "hidden_dropout_prob": 0.1, "attention_probs_dropout_prob": 0.1, "max_position_embeddings": 16,
            "type_vocab_size": 2, "initializer_range": 0.02, "layer_norm_eps": 1e-12, "pad_token_id": 0,
            "position_embedding_type": "absolute", "use_cache": True, "transformers_version": "4.24.0"}
    rb = np.random.RandomState(12)
    cb = dict(bcfg, block="stack", routing="attention", pre_norm=False, block_act="gelu_tanh", num_ssm=4,
              pooler_type="cls", num_labels=2)
    mb = Model(cb, "mlm").double()
    sd = {}
    for n, p in mb.named_parameters():
        v = (rb.randn(*p.shape) * (1.0 if "embeddings" in n and p.dim() == 2 else 0.3)).astype(np.float32)
        if n.endswith("LayerNorm.weight"):
            v = (1 + 0.1 * rb.randn(*p.shape)).astype(np.float32)
        p.data = torch.tensor(v.astype(np.float64))
        sd[n] = v
    sd["bert.embeddings.position_ids"] = np.arange(16, dtype=np.int64).reshape(1, 16)
    sd["cls.predictions.decoder.weight"] = sd["bert.embeddings.word_embeddings.weight"]
    sd["cls.predictions.decoder.bias"] = sd["cls.predictions.bias"]
    sd["bert.pooler.dense.weight"] = (rb.randn(16, 16) * 0.3).astype(np.float32)
    sd["bert.pooler.dense.bias"] = np.zeros(16, np.float32)
    sd["cls.seq_relationship.weight"] = (rb.randn(2, 16) * 0.3).astype(np.float32)
    sd["cls.seq_relationship.bias"] = np.zeros(2, np.float32)
    write_safetensors(os.path.join(OUT, "bert_hf", "model.safetensors"), sd, {"format": "pt"})
    with open(os.path.join(OUT, "bert_hf", "config.json"), "w") as f:
        json.dump(bcfg, f, indent=2)
    with torch.no_grad():
        blogits, _ = mb(torch.tensor(ids), torch.zeros_like(torch.tensor(ids)), torch.tensor(mask), torch.tensor(labels))
    write_safetensors(os.path.join(OUT, "bert_expected.safetensors"), {"output.logits": blogits.numpy()}, {"made_by": "scripts/make_convert_fixtures.py"})
    # torch.save files: the BiGS MLM weights with the PyTorch port's names (plus its buffers and the tied
    # decoder), and a state dict of awkward tensors: float16, bfloat16, int64, a transposed view, a slice
    # with a storage offset, two tensors sharing one storage
    os.makedirs(os.path.join(OUT, "torch_bigs"), exist_ok=True)
    from collections import OrderedDict
    port = OrderedDict((k, v.float()) for k, v in state_dict(t, "mlm").items())
    port["bigs.embeddings.position_ids"] = torch.arange(16).expand((1, -1))
    port["cls.predictions.decoder.weight"] = port["bigs.embeddings.word_embeddings.weight"]
    port["cls.predictions.decoder.bias"] = port["cls.predictions.bias"]
    torch.save(port, os.path.join(OUT, "torch_bigs", "pytorch_model.bin"))
    with open(os.path.join(OUT, "torch_bigs", "config.json"), "w") as f:
        json.dump(CFG, f, indent=2)
    g = torch.Generator().manual_seed(5)
    base = torch.randn(4, 6, generator=g)
    views = OrderedDict([("f32", torch.randn(3, 5, generator=g)), ("f16", torch.randn(7, generator=g).half()),
                         ("bf16", torch.randn(2, 3, generator=g).bfloat16()), ("i64", torch.arange(-3, 9).view(3, 4)),
                         ("transposed", base.t()), ("sliced", base[1:3, 2:5]), ("shared", base)])
    torch.save(views, os.path.join(OUT, "torch_views.bin"))
    write_safetensors(os.path.join(OUT, "torch_views_expected.safetensors"),
                      {k: (v.float().contiguous().numpy() if k != "i64" else v.contiguous().numpy()) for k, v in views.items()},
                      {"made_by": "scripts/make_convert_fixtures.py"})
    bert_untied(ids, mask, labels)
    print("wrote", os.path.normpath(OUT))


def bert_untied(ids, mask, labels):
    """A Hugging Face BertForMaskedLM with tie_word_embeddings false, as torch.save writes it (the decoder
    its own tensor, decoder.bias shared with cls.predictions.bias, the position_ids buffer), and its logits
    on the Flax fixture's inputs by the float64 reference (scripts/reference_model.py)."""
    import reference_model as R
    from collections import OrderedDict
    d = os.path.join(OUT, "bert_hf_untied")
    os.makedirs(d, exist_ok=True)
    bcfg = {"model_type": "bert", "architectures": ["BertForMaskedLM"], "vocab_size": 50, "hidden_size": 16,
            "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 24, "hidden_act": "gelu",
            "hidden_dropout_prob": 0.1, "attention_probs_dropout_prob": 0.1, "max_position_embeddings": 16,
            "type_vocab_size": 2, "initializer_range": 0.02, "layer_norm_eps": 1e-12, "pad_token_id": 0,
            "position_embedding_type": "absolute", "tie_word_embeddings": False, "transformers_version": "4.24.0"}
    cfg = R.config_fill({k: bcfg[k] for k in ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads",
                                              "intermediate_size", "max_position_embeddings", "type_vocab_size",
                                              "layer_norm_eps", "tie_word_embeddings")}
                        | {"block": "stack", "routing": "attention", "pre_norm": False, "pooler_type": "cls",
                           "hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0})
    rs = np.random.RandomState(13)
    sd = OrderedDict()
    for name, shape in R.param_table(cfg, "mlm"):
        v = rs.randn(*shape) * (1.0 if "embeddings" in name else 0.3)
        if name.endswith("LayerNorm.weight"):
            v = 1 + 0.1 * rs.randn(*shape)
        sd[name] = torch.tensor(v.astype(np.float32))
    P = R.as_leaves(sd)
    sd["bert.embeddings.position_ids"] = torch.arange(16).expand((1, -1))
    sd["cls.predictions.decoder.bias"] = sd["cls.predictions.bias"]
    torch.save(sd, os.path.join(d, "pytorch_model.bin"))
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(bcfg, f, indent=2)
    batch = {"input_ids": torch.tensor(ids), "token_type_ids": torch.zeros(ids.shape, dtype=torch.int64),
             "attention_mask": torch.tensor(mask), "labels": torch.tensor(labels)}
    with torch.no_grad():
        logits = R.forward(cfg, "mlm", P, batch)["logits"]
    write_safetensors(os.path.join(OUT, "bert_untied_expected.safetensors"), {"output.logits": logits.numpy()},
                      {"made_by": "scripts/make_convert_fixtures.py"})


if __name__ == "__main__":
    main()
