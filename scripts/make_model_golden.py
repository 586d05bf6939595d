#!/usr/bin/python3
"""Writes the end-to-end golden fixtures tests/golden/model_<variant>_<head>[_suffix].safetensors.

Each fixture: a tiny model of one variant (scripts/reference_model.py) with random, non-trivial float32
parameters, one padded batch, and the float64 forward (logits, loss) and backward (gradient of the loss
w.r.t. every parameter), dropout off. Tensors in each file:
  <HF param name>        F32   the parameter values used (computation casts them to float64)
  input.input_ids        I64   (B,L), or (B,C,L) for "mc"; pad id 0 after the end of each row
  input.token_type_ids   I64   same shape
  input.attention_mask   I64   same shape, 1 = token, 0 = pad (trailing)
  input.labels           I64   mlm: (B,L) with -100 where not predicted; seqcls: (B,); mc: (B,)
                         F32   (B,) for regression (num_labels == 1)
  output.logits          F64   mlm: (M,V) rows = positions with labels != -100 in row-major order;
                               seqcls: (B,num_labels); mc: (B,C)
  output.loss            F64   [1]
  grad.<HF param name>   F64   d loss / d param
__metadata__: {"config": <config JSON>, "variant": "<block>_<routing>", "head": "mlm"|"seqcls"|"mc"}.

Usage:   scripts/make_model_golden.py [--check] [--out DIR]
Example: scripts/make_model_golden.py --check          # write tests/golden/ and run the verification
--check also runs (not part of the C suite): finite differences of the loss on a few parameters per fixture,
and a comparison of the GATED+SSM math against the authors' PyTorch port (read from the mirrored repository).
"""
import json
import math
import os
import re
import struct
import subprocess
import sys
from collections import OrderedDict

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import reference_model as R  # noqa: E402

TINY = {"vocab_size": 50, "hidden_size": 16, "num_hidden_layers": 2, "intermediate_size": 24,
        "num_ssm": 4, "num_attention_heads": 2, "max_position_embeddings": 16, "type_vocab_size": 2,
        "num_labels": 3, "hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0,
        "classifier_dropout": 0.0, "initializer_range": 0.02, "layer_norm_eps": 1e-12, "pad_token_id": 0}
B, L, NCHOICE = 3, 12, 2
LENGTHS = (12, 9, 6)              # rows 1 and 2 end with pads
MC_LENGTHS = ((12, 10), (8, 12), (7, 5))

# pooler type per variant: covers all three reductions (BiGS: official non_padding_mean; BERT: cls)
POOLER = {"gated_ssm": "non_padding_mean", "stack_ssm": "mean", "gated_attention": "non_padding_mean",
          "stack_attention": "cls"}


def fixture_list():
    """[(file stem, config overrides, head)]"""
    out = []
    for variant in ("gated_ssm", "stack_ssm", "gated_attention", "stack_attention"):
        block, routing = variant.split("_")
        for head in R.HEADS:
            out.append((f"model_{variant}_{head}",
                        {"block": block, "routing": routing, "pre_norm": True, "pooler_type": POOLER[variant],
                         "block_act": "gelu_tanh"}, head))
    # post-norm: BiGS with the erf gelu (= the authors' PyTorch port's block activation), and classic BERT
    out.append(("model_gated_ssm_mlm_postnorm", {"block": "gated", "routing": "ssm", "pre_norm": False,
                                                 "pooler_type": "non_padding_mean", "block_act": "gelu"}, "mlm"))
    out.append(("model_stack_attention_seqcls_postnorm", {"block": "stack", "routing": "attention",
                                                          "pre_norm": False, "pooler_type": "cls"}, "seqcls"))
    # regression (STS-B style): num_labels = 1, MSE
    out.append(("model_gated_ssm_seqcls_regression", {"block": "gated", "routing": "ssm", "pre_norm": True,
                                                      "pooler_type": "non_padding_mean", "num_labels": 1},
                "seqcls"))
    out += position_fixtures()
    return out


def position_fixtures():
    """Positions inside attention (RoPE in both layouts, one with another base and linear scaling; ALiBi
    with 4 heads), no position table for the SSM, and the untied decoder (docs/models.md section 8)."""
    bert = {"block": "stack", "routing": "attention", "pre_norm": False, "pooler_type": "cls"}
    gated = {"block": "gated", "routing": "attention", "pre_norm": True, "pooler_type": "non_padding_mean",
             "block_act": "gelu_tanh"}
    rope = {"position_embedding_type": "rope"}
    rope_il = {"position_embedding_type": "rope", "rope_interleaved": True, "rope_theta": 500.0,
               "rope_scaling": {"type": "linear", "factor": 2.0}}
    alibi = {"position_embedding_type": "alibi", "num_attention_heads": 4}
    none = {"position_embedding_type": "none"}
    untied = {"tie_word_embeddings": False}
    ssm = {"block": "gated", "routing": "ssm", "pre_norm": True, "pooler_type": "non_padding_mean"}
    return [
        ("model_stack_attention_mlm_rope", {**bert, **rope}, "mlm"),
        ("model_stack_attention_mlm_rope_interleaved", {**bert, **rope_il}, "mlm"),
        ("model_stack_attention_mlm_alibi", {**bert, **alibi}, "mlm"),
        ("model_stack_attention_seqcls_rope", {**bert, **rope}, "seqcls"),
        ("model_stack_attention_mc_alibi", {**bert, **alibi}, "mc"),
        ("model_gated_attention_mlm_rope", {**gated, **rope}, "mlm"),
        ("model_gated_attention_mlm_rope_interleaved", {**gated, **rope_il}, "mlm"),
        ("model_gated_attention_mlm_alibi", {**gated, **alibi}, "mlm"),
        ("model_gated_attention_seqcls_alibi", {**gated, **alibi}, "seqcls"),
        ("model_gated_attention_mc_rope", {**gated, **rope}, "mc"),
        ("model_gated_ssm_mlm_none", {**ssm, **none}, "mlm"),
        ("model_stack_ssm_seqcls_none", {"block": "stack", "routing": "ssm", "pre_norm": True, "pooler_type": "mean", **none},
         "seqcls"),
        ("model_stack_attention_mlm_untied", {**bert, **untied}, "mlm"),
        ("model_gated_ssm_mlm_untied", {**ssm, **untied}, "mlm"),
        ("model_gated_attention_mlm_rope_untied", {**gated, **rope, **untied}, "mlm"),
        ("model_stack_attention_seqcls_untied", {**bert, **untied}, "seqcls"),
    ]


# ---------------------------------------------------------------------------------------------------------
# random non-trivial parameters and inputs

def random_params(cfg, head, g):
    """float32 parameters far from the spec init so every term matters (LayerNorm not identity, biases
    non-zero, SSM A_re spread with one entry above -1e-4 so the clip is exercised)."""
    H = cfg["hidden_size"]
    P = OrderedDict()
    for name, shape in R.param_table(cfg, head):
        leaf = name.rsplit(".", 1)[-1]
        if leaf == "A_re":
            v = g.uniform(-0.8, -0.2, shape)
            v[1] = 0.05                                  # clipped to -1e-4: zero gradient expected
        elif leaf == "A_im":
            v = R.hippo_imag(shape[0]) + g.normal(0, 0.1, shape)
        elif leaf == "C":
            v = g.normal(0.0, math.sqrt(0.5), shape)
        elif leaf == "D":
            v = 1.0 + 0.3 * g.normal(size=shape)
        elif leaf == "log_step":
            v = g.uniform(math.log(0.01), math.log(1.0), shape)
        elif "LayerNorm" in name:
            v = 1.0 + 0.1 * g.normal(size=shape) if leaf == "weight" else g.normal(0, 0.1, shape)
        elif leaf == "bias":
            v = g.normal(0, 0.1, shape)
        elif "embeddings" in name:
            v = g.normal(0, 0.5, shape)
        else:                                            # dense (out,in): unit-variance outputs
            v = g.normal(0, 1.0 / math.sqrt(shape[1]), shape)
        P[name] = torch.tensor(np.asarray(v, dtype=np.float32).reshape(shape))
    return P


def random_rows(g, lengths, V):
    n = len(lengths)
    ids = np.zeros((n, L), np.int64)
    tt = np.zeros((n, L), np.int64)
    am = np.zeros((n, L), np.int64)
    for r, n_tok in enumerate(lengths):
        ids[r, :n_tok] = g.integers(1, V, n_tok)
        am[r, :n_tok] = 1
        tt[r, n_tok // 2:n_tok] = r % 2 == 0            # second segment on even rows (type 1 used)
    return ids, tt, am


def random_batch(cfg, head, g):
    V = cfg["vocab_size"]
    if head == "mc":
        rows = [random_rows(g, ls, V) for ls in MC_LENGTHS]
        ids, tt, am = (np.stack([r[k] for r in rows]) for k in range(3))       # (B,C,L)
        labels = g.integers(0, NCHOICE, B)
    else:
        ids, tt, am = random_rows(g, LENGTHS, V)
        if head == "mlm":
            labels = np.full((B, L), -100, np.int64)
            for r, n_tok in enumerate(LENGTHS):
                pos = g.choice(n_tok, size=3, replace=False)
                labels[r, pos] = ids[r, pos]
                ids[r, pos[0]] = 3                          # a "[MASK]" id at one of them
        elif cfg["num_labels"] == 1:
            labels = g.normal(0, 1, B).astype(np.float32)
        else:
            labels = g.integers(0, cfg["num_labels"], B)
    return {"input_ids": torch.tensor(ids), "token_type_ids": torch.tensor(tt),
            "attention_mask": torch.tensor(am), "labels": torch.tensor(labels)}


# ---------------------------------------------------------------------------------------------------------
# safetensors writer (docs/formats.md section 4)

DTYPES = {"F32": np.float32, "F64": np.float64, "I64": np.int64}


def safetensors_write(path, tensors, metadata):
    """tensors: OrderedDict name -> (dtype, ndarray); written in order, contiguous from offset 0."""
    header, blobs, off = OrderedDict(), [], 0
    if metadata is not None:
        header["__metadata__"] = metadata
    for name, (dt, a) in tensors.items():
        b = np.ascontiguousarray(a, dtype=np.dtype(DTYPES[dt]).newbyteorder("<")).tobytes()
        header[name] = {"dtype": dt, "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def safetensors_read(path):
    with open(path, "rb") as f:
        raw = f.read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    meta = header.pop("__metadata__", {})
    out, base = OrderedDict(), 8 + n
    for name, e in header.items():
        b0, b1 = e["data_offsets"]
        out[name] = np.frombuffer(raw[base + b0:base + b1], dtype=DTYPES[e["dtype"]]).reshape(e["shape"])
    assert base + max(e["data_offsets"][1] for e in header.values()) == len(raw)
    return out, meta


# ---------------------------------------------------------------------------------------------------------
# fixtures

def run(cfg, head, P32, batch):
    P = R.as_leaves(P32)
    out = R.forward(cfg, head, P, batch)
    out["loss"].backward()
    return out, P


def make_fixture(stem, overrides, head, seed, outdir):
    cfg = R.config_fill({**TINY, **overrides})
    g = np.random.default_rng(seed)
    P32 = random_params(cfg, head, g)
    batch = random_batch(cfg, head, g)
    out, P = run(cfg, head, P32, batch)
    t = OrderedDict()
    for k, v in P32.items():
        t[k] = ("F32", v.numpy())
    for k in ("input_ids", "token_type_ids", "attention_mask", "labels"):
        a = batch[k].numpy()
        t["input." + k] = ("F32" if a.dtype == np.float32 else "I64", a)
    t["output.logits"] = ("F64", out["logits"].detach().numpy())
    t["output.loss"] = ("F64", out["loss"].detach().numpy().reshape(1))
    for k, v in P.items():
        t["grad." + k] = ("F64", v.grad.numpy() if v.grad is not None else np.zeros(v.shape))
    meta = {"config": json.dumps(R.config_public(cfg)), "variant": R.variant_of(cfg), "head": head}
    path = os.path.join(outdir, stem + ".safetensors")
    safetensors_write(path, t, meta)
    return path, cfg, P32, batch, out, P


# ---------------------------------------------------------------------------------------------------------
# verification (--check)

def check_finite_differences(cfg, head, P32, batch, P, names, h=1e-6):
    """Central differences of the float64 loss on a few entries of each named parameter."""
    worst = 0.0
    for name in names:
        flat = P32[name].reshape(-1)
        for j in sorted({0, flat.numel() // 2, flat.numel() - 1}):
            def loss_at(d):
                Q = R.as_leaves(P32)
                with torch.no_grad():
                    Q[name].view(-1)[j] += d
                return R.forward(cfg, head, Q, batch)["loss"].item()
            fd = (loss_at(h) - loss_at(-h)) / (2 * h)
            an = P[name].grad.reshape(-1)[j].item()
            err = abs(fd - an) / (1e-6 + abs(an))
            worst = max(worst, err if abs(an) > 1e-7 or abs(fd) > 1e-7 else 0.0)
            if not (abs(fd - an) <= 1e-6 + 1e-5 * abs(an)):
                raise AssertionError(f"finite difference mismatch {name}[{j}]: fd {fd:.10g} analytic {an:.10g}")
    return worst


def fd_names(cfg, head):
    """A few parameters per fixture: the SSM kernel parameters, a dense weight, an embedding, the head."""
    p = f"{R.prefix_of(cfg)}.encoder.layer.0."
    names = [f"{R.prefix_of(cfg)}.embeddings.word_embeddings.weight", f"{R.prefix_of(cfg)}.embeddings.LayerNorm.bias"]
    if cfg["routing"] == "ssm":
        s = p + ("fs4" if cfg["block"] == "gated" else "ssm.bs4")
        names += [s + ".kernel.A_re", s + ".kernel.A_im", s + ".kernel.C", s + ".kernel.log_step", s + ".D"]
    names += [p + ("dol.weight" if cfg["block"] == "gated" else "intermediate.dense.weight")]
    names += ["cls.predictions.bias"] if head == "mlm" else ["classifier.weight"]
    if head == "mlm" and not cfg["tie_word_embeddings"]:
        names += ["cls.predictions.decoder.weight"]
    if cfg["routing"] == "attention":
        names += [p + ("attention.query.weight" if cfg["block"] == "gated" else "attention.self.key.weight")]
    return names


def official_port_namespace():
    """Exec the SSM and layer classes of the authors' PyTorch port (read from the mirror, not copied into
    this repository) in a namespace with the few names they need."""
    src = subprocess.run(["git", "-C", "/work/.mirror/jxiw+BiGS/repo", "show", "HEAD:BiGS/modeling_bigs.py"],
                         check=True, capture_output=True, text=True).stdout
    parts = []
    for cls in ("def log_step_initializer", "class S4DKernel", "class S4dLayer", "class BiGSLayer",
                "class BiGSEmbeddings", "class BiGSPooler", "class BiGSPredictionHeadTransform",
                "class BiGSLMPredictionHead"):
        m = re.search(r"^" + cls + r".*?(?=^\S)", src, re.S | re.M)
        parts.append(m.group(0))
    ns = {"torch": torch, "nn": torch.nn, "math": math, "has_pykeops": False,
          "ACT2FN": {"gelu": torch.nn.functional.gelu}}
    exec("\n".join(parts), ns)
    return ns


def check_official_port():
    """GATED+SSM pre-norm layer and the SSM kernel: reference vs the authors' port (erf gelu, as the port)."""
    torch.manual_seed(0)
    ns = official_port_namespace()
    cfg = R.config_fill({**TINY, "block": "gated", "routing": "ssm", "pre_norm": True, "block_act": "gelu"})

    class PortCfg:
        num_ssm = cfg["num_ssm"]
        max_position_embeddings = cfg["max_position_embeddings"]
        pre_norm = True
        decode = False
        hidden_size = cfg["hidden_size"]
        intermediate_size = cfg["intermediate_size"]
        layer_norm_eps = cfg["layer_norm_eps"]
        use_pykeops_kernel = False
    g = np.random.default_rng(123)
    P32 = random_params(cfg, None, g)
    pre = "bigs.encoder.layer.0."
    layer = ns["BiGSLayer"](PortCfg()).double()
    sd = {k[len(pre):]: v.double() for k, v in P32.items() if k.startswith(pre)}
    missing = set(layer.state_dict()) ^ set(sd)
    assert not missing, f"parameter names differ from the official port: {sorted(missing)}"
    layer.load_state_dict(sd)
    # kernel formula
    K_port = layer.fs4.kernel(L=L)[0]
    K_ref = R.ssm_kernel(R.as_leaves(P32), pre + "fs4", L)
    dk = (K_port - K_ref).abs().max().item()
    # whole layer, forward and input gradient, on a padded-like random input
    X = torch.randn(B, L, cfg["hidden_size"], dtype=torch.float64)
    Xa, Xb = X.clone().requires_grad_(True), X.clone().requires_grad_(True)
    Yp = layer(Xa)
    Yr = R.gated_block(cfg, R.as_leaves(P32), pre, Xb, None, False)
    dy = (Yp - Yr).abs().max().item()
    W = torch.randn_like(Yp)
    (Yp * W).sum().backward()
    (Yr * W).sum().backward()
    dg = (Xa.grad - Xb.grad).abs().max().item()
    print(f"official port: kernel max|diff| {dk:.2e}, layer output {dy:.2e}, input grad {dg:.2e}")
    assert dk < 1e-12 and dy < 1e-12 and dg < 1e-12
    # and the tanh gelu really differs (the JAX model's choice is not a no-op)
    cfg_t = R.config_fill({**cfg, "block_act": "gelu_tanh"})
    d_tanh = (layer(X) - R.gated_block(cfg_t, R.as_leaves(P32), pre, X, None, False)).abs().max().item()
    print(f"official port vs block_act=gelu_tanh: max|diff| {d_tanh:.2e} (expected > 0)")
    check_official_port_end_to_end(ns, PortCfg)


def check_official_port_end_to_end(ns, PortCfg):
    """Whole MLM and seqcls forward (embeddings, 2 layers, heads) through the port's modules vs forward()."""
    cfg = R.config_fill({**TINY, "block": "gated", "routing": "ssm", "pre_norm": True, "block_act": "gelu"})
    g = np.random.default_rng(321)
    P32 = random_params(cfg, "mlm", g)
    P32.update(random_params(cfg, "seqcls", g))            # adds pooler and classifier
    batch = random_batch(cfg, "mlm", g)

    class FullCfg(PortCfg):
        vocab_size, type_vocab_size, pad_token_id = cfg["vocab_size"], cfg["type_vocab_size"], 0
        hidden_dropout_prob, hidden_act, pooler_type = 0.0, "gelu", "non_padding_mean"
    c = FullCfg()
    mods = {"bigs.embeddings": ns["BiGSEmbeddings"](c), "cls.predictions": ns["BiGSLMPredictionHead"](c),
            "bigs.pooler": ns["BiGSPooler"](c)}
    for i in range(cfg["num_hidden_layers"]):
        mods[f"bigs.encoder.layer.{i}"] = ns["BiGSLayer"](c)
    for pre, m in mods.items():
        m.double().eval()
        sd = {k[len(pre) + 1:]: v.double() for k, v in P32.items() if k.startswith(pre + ".")}
        if pre == "cls.predictions":
            sd["decoder.weight"] = P32["bigs.embeddings.word_embeddings.weight"].double()   # tied
        m.load_state_dict(sd, strict=False)   # decoder.bias is the port's alias of bias; buffers not params
        missing = (set(m.state_dict()) - {"position_ids", "token_type_ids", "decoder.bias"}) ^ set(sd)
        assert not missing, f"{pre}: names differ from the official port: {sorted(missing)}"
    with torch.no_grad():
        X = mods["bigs.embeddings"](batch["input_ids"], batch["token_type_ids"])
        for i in range(cfg["num_hidden_layers"]):
            X = mods[f"bigs.encoder.layer.{i}"](X)
        sel = batch["labels"].reshape(-1) != -100
        logits_port = mods["cls.predictions"](X).reshape(-1, cfg["vocab_size"])[sel]
        pooled_port = mods["bigs.pooler"](X, batch["attention_mask"].double())
        P = R.as_leaves(P32)
        logits_ref = R.forward(cfg, "mlm", P, batch)["logits"]
        X_ref = R.encode(cfg, P, batch["input_ids"], batch["token_type_ids"], batch["attention_mask"])
        pooled_ref = R.pool(cfg, P, X_ref, batch["attention_mask"])
    d1 = (logits_port - logits_ref).abs().max().item()
    d2 = (pooled_port - pooled_ref).abs().max().item()
    print(f"official port end to end (erf block gelu, pre-norm, padded batch): MLM logits {d1:.2e}, pooled {d2:.2e}")
    assert d1 < 1e-11 and d2 < 1e-12


def check_safetensors_vector():
    """docs/formats.md section 4 test vector: "attn.0" F32 [1,2,3] values 0..5 -> header length 64."""
    path = "/tmp/make_model_golden_vector.safetensors"
    safetensors_write(path, OrderedDict([("attn.0", ("F32", np.arange(6, dtype=np.float32).reshape(1, 2, 3)))]),
                      None)
    raw = open(path, "rb").read()
    os.remove(path)
    # our writer always emits __metadata__; the vector has none, so compare with the key dropped
    h = b'{"attn.0":{"dtype":"F32","shape":[1,2,3],"data_offsets":[0,24]}}'
    h += b" " * (-len(h) % 8)
    want = struct.pack("<Q", len(h)) + h + np.arange(6, dtype="<f4").tobytes()
    assert struct.unpack("<Q", want[:8])[0] == 64
    assert raw == want, (raw, want)
    print("safetensors writer: docs/formats.md test vector reproduced (N=64)")


def check_mask_values(stem, overrides, head, seed):
    """The key-padding bias: finfo.min (used), -1e4 and -inf give the same outputs on these fixtures."""
    cfg = R.config_fill({**TINY, **overrides})
    g = np.random.default_rng(seed)
    P32 = random_params(cfg, head, g)
    batch = random_batch(cfg, head, g)
    base = R.forward(cfg, head, R.as_leaves(P32), batch)["logits"]
    keep = R.mask_bias
    diffs = []
    for val in (-1e4, -math.inf):
        R.mask_bias = lambda m, dt, v=val: torch.where(m[:, None, None, :] > 0, 0.0, v).to(dt)
        try:
            diffs.append((R.forward(cfg, head, R.as_leaves(P32), batch)["logits"] - base).abs().max().item())
        finally:
            R.mask_bias = keep
    print(f"{stem}: mask value -1e4 vs finfo.min {diffs[0]:.1e}, -inf vs finfo.min {diffs[1]:.1e}")
    assert max(diffs) < 1e-12


def check_bert_layer():
    """STACK+attention block vs torch.nn.TransformerEncoderLayer (independent code, same math as a BERT
    layer: fused q/k/v in_proj, out_proj, post- or pre-norm, erf-gelu FFN, key padding mask)."""
    torch.manual_seed(1)
    for pre_norm in (False, True):
        cfg = R.config_fill({**TINY, "block": "stack", "routing": "attention", "pre_norm": pre_norm})
        H, I, NH = cfg["hidden_size"], cfg["intermediate_size"], cfg["num_attention_heads"]
        P = R.as_leaves(random_params(cfg, None, np.random.default_rng(7)))
        p = "bert.encoder.layer.0."
        tl = torch.nn.TransformerEncoderLayer(H, NH, I, dropout=0.0, activation="gelu",
                                              layer_norm_eps=cfg["layer_norm_eps"], batch_first=True,
                                              norm_first=pre_norm).double()
        a = p + "attention.self."
        cat = lambda leaf: torch.cat([P[a + w + leaf] for w in ("query", "key", "value")]).detach()
        sd = {"self_attn.in_proj_weight": cat(".weight"), "self_attn.in_proj_bias": cat(".bias")}
        for dst, src in (("self_attn.out_proj", "attention.output.dense"), ("linear1", "intermediate.dense"),
                         ("linear2", "output.dense"), ("norm1", "attention.output.LayerNorm"),
                         ("norm2", "output.LayerNorm")):
            for leaf in ("weight", "bias"):
                sd[f"{dst}.{leaf}"] = P[f"{p}{src}.{leaf}"].detach()
        tl.load_state_dict(sd)
        X = torch.randn(B, L, H)
        am = torch.ones(B, L, dtype=torch.int64)
        am[1, 9:] = 0
        am[2, 6:] = 0
        Yt = tl(X, src_key_padding_mask=am == 0)
        Yr = R.stack_block(cfg, P, p, X, am, False)
        d = (Yt - Yr)[am.bool()].abs().max().item()      # torch may zero padded query rows: compare tokens
        print(f"BERT layer (pre_norm={pre_norm}) vs nn.TransformerEncoderLayer: max|diff| {d:.2e}")
        assert d < 1e-12


def check_padding_semantics(cfg, head, P32, batch, out):
    """SSM routing: pads change the outputs (no encoder masking); attention: pad tokens' ids do not matter."""
    b2 = dict(batch)
    ids = batch["input_ids"].clone()
    ids[batch["attention_mask"] == 0] = 7                 # different pad token ids
    b2["input_ids"] = ids
    o2 = R.forward(cfg, head, R.as_leaves(P32), b2)
    d = (o2["logits"] - out["logits"]).abs().max().item()
    return d


def main():
    args = sys.argv[1:]
    outdir = "tests/golden"
    if "--out" in args:
        outdir = args[args.index("--out") + 1]
    os.makedirs(outdir, exist_ok=True)
    check = "--check" in args
    torch.set_default_dtype(torch.float64)
    total = 0
    for seed, (stem, overrides, head) in enumerate(fixture_list()):
        path, cfg, P32, batch, out, P = make_fixture(stem, overrides, head, 1000 + seed, outdir)
        size = os.path.getsize(path)
        total += size
        line = f"{path}: {size} bytes, loss {out['loss'].item():.6f}, logits {tuple(out['logits'].shape)}"
        if check:
            t, meta = safetensors_read(path)
            assert np.array_equal(t["output.loss"], out["loss"].detach().numpy().reshape(1))
            assert R.config_fill(json.loads(meta["config"])) == cfg
            worst = check_finite_differences(cfg, head, P32, batch, P, fd_names(cfg, head))
            if cfg["routing"] == "ssm":
                s = f"{R.prefix_of(cfg)}.encoder.layer.0." + ("fs4" if cfg["block"] == "gated" else "ssm.fs4")
                assert P[s + ".kernel.A_re"].grad[1].item() == 0.0   # clipped entry
            if head != "mc":
                dpad = check_padding_semantics(cfg, head, P32, batch, out)
                if cfg["routing"] == "attention" and cfg["pooler_type"] != "mean":
                    assert dpad < 1e-12, dpad
                else:
                    assert dpad > 1e-6, dpad
                line += f", fd worst rel {worst:.1e}, pad-id sensitivity {dpad:.1e}"
            else:
                line += f", fd worst rel {worst:.1e}"
        print(line)
    print(f"total {total} bytes")
    if check:
        check_safetensors_vector()
        for seed, (stem, overrides, head) in enumerate(fixture_list()):
            if overrides["routing"] == "attention":
                check_mask_values(stem, overrides, head, 1000 + seed)
        check_official_port()
        check_bert_layer()
        print("all checks passed")


if __name__ == "__main__":
    main()
