#!/usr/bin/python3
"""PyTorch reference of the BiGS model family (docs/models.md).

Written from the spec, float64-capable, no dependency beyond torch and numpy. It is the oracle the C code is
tested against (scripts/make_model_golden.py writes the golden fixtures from it), so it favours plain,
line-by-line math over speed. Variable names follow docs/models.md (Xn, V, Uf, Ub, Yf, Yb, Cf, Cb, Z, O).

The 2x2 grid (docs/models.md sections 1 and 4):
  block="gated", routing="ssm"        BiGS (the official model)      prefix "bigs."
  block="stack", routing="ssm"        BERT-like stack, SSM sub-block prefix "bigs."
  block="gated", routing="attention"  gated block around MHA         prefix "bigs."
  block="stack", routing="attention"  BERT                           prefix "bert."

Parameters live in one ordered dict {Hugging Face name: tensor}; `param_table(cfg, head)` is the single
source of names and shapes (the decoder of the MLM head is tied to the word embeddings and is not stored,
unless tie_word_embeddings is false).

Usage as a library:
  import reference_model as R
  cfg = R.config_fill({"block": "gated", "routing": "ssm", ...})
  P = R.init_params(cfg, "mlm", seed=0)                 # float32 tensors, spec init
  out = R.forward(cfg, "mlm", P64, batch)               # P64 = {k: v.double().requires_grad_()}
Run directly: prints the parameter count of the official BiGS_128 MLM model and runs the self-checks.
"""
import json
import math
import sys
from collections import OrderedDict

import numpy as np
import torch
import torch.nn.functional as F

# ---------------------------------------------------------------------------------------------------------
# config

CONFIG_DEFAULTS = OrderedDict([
    ("vocab_size", 30522),
    ("hidden_size", 1024),
    ("num_hidden_layers", 23),
    ("intermediate_size", 3072),
    ("hidden_act", "gelu"),          # MLM head transform and STACK FFN; "gelu" = erf (HF meaning)
    ("hidden_dropout_prob", 0.1),
    ("max_position_embeddings", 128),
    ("type_vocab_size", 2),
    ("initializer_range", 0.02),
    ("layer_norm_eps", 1e-12),
    ("pad_token_id", 0),
    ("num_ssm", 64),                 # N
    ("pre_norm", True),
    ("scaling", "hippo"),            # hippo | lin | inv (SSM init only)
    ("pooler_type", "non_padding_mean"),  # non_padding_mean | mean | cls
    ("classifier_dropout", None),    # None -> hidden_dropout_prob (HF convention)
    ("block", "gated"),              # gated | stack
    ("routing", "ssm"),              # ssm | attention
    ("block_act", "gelu_tanh"),      # GELU inside GATED blocks; gelu_tanh = jax.nn.gelu default
    ("num_attention_heads", 16),
    ("attention_probs_dropout_prob", 0.1),
    ("tie_word_embeddings", True),   # False: the MLM decoder is its own (V,H) cls.predictions.decoder.weight
    ("num_labels", 2),
    ("position_embedding_type", "absolute"),  # absolute | rope | alibi | none (docs/models.md section 8)
    ("rope_theta", 10000.0),
    ("rope_interleaved", False),     # RoPE pairs (2i, 2i+1) (RoFormer); default (i, i + dh/2) (LLaMA)
    ("rope_scaling", None),          # None or {"type": "linear", "factor": F}: positions divided by F
])

# Keys a saved config holds only when they differ from their defaults (configs from before them unchanged)
OPTIONAL_KEYS = ("position_embedding_type", "rope_theta", "rope_interleaved", "rope_scaling")

ENUMS = {
    "hidden_act": ("gelu", "gelu_tanh"),
    "block_act": ("gelu", "gelu_tanh"),
    "scaling": ("hippo", "lin", "inv"),
    "pooler_type": ("non_padding_mean", "mean", "cls"),
    "block": ("gated", "stack"),
    "routing": ("ssm", "attention"),
    "position_embedding_type": ("absolute", "rope", "alibi", "none"),
}

HEADS = ("mlm", "seqcls", "mc")


def config_fill(cfg):
    """Defaults for missing keys; unknown keys and bad enum values are errors."""
    unknown = sorted(set(cfg) - set(CONFIG_DEFAULTS))
    if unknown:
        raise ValueError(f"unknown config keys {unknown}; known: {list(CONFIG_DEFAULTS)}")
    out = OrderedDict((k, cfg.get(k, v)) for k, v in CONFIG_DEFAULTS.items())
    for k, allowed in ENUMS.items():
        if out[k] not in allowed:
            raise ValueError(f"config {k}={out[k]!r}, expected one of {allowed}")
    if out["routing"] == "attention" and out["hidden_size"] % out["num_attention_heads"]:
        raise ValueError("hidden_size must be a multiple of num_attention_heads")
    pt = out["position_embedding_type"]
    if pt in ("rope", "alibi") and out["routing"] != "attention":
        raise ValueError(f"position_embedding_type {pt} needs attention routing")
    if pt == "none" and out["routing"] == "attention":
        raise ValueError("position_embedding_type none leaves attention without word order")
    if pt == "rope" and (out["hidden_size"] // out["num_attention_heads"]) % 2:
        raise ValueError("position_embedding_type rope needs an even head dimension")
    if not out["rope_theta"] > 0:
        raise ValueError("rope_theta must be > 0")
    rs = out["rope_scaling"]
    if rs is not None and (rs.get("type") != "linear" or not rs.get("factor", 0) >= 1):
        raise ValueError(f"rope_scaling {rs!r}: only {{'type': 'linear', 'factor': F >= 1}}")
    return out


def config_public(cfg):
    """The config as saved: the OPTIONAL_KEYS only where they differ from their defaults."""
    return OrderedDict((k, v) for k, v in cfg.items() if k not in OPTIONAL_KEYS or v != CONFIG_DEFAULTS[k])


def prefix_of(cfg):
    """HF base-model prefix: BERT checkpoints use "bert.", everything else the authors' "bigs."."""
    return "bert" if (cfg["block"], cfg["routing"]) == ("stack", "attention") else "bigs"


def variant_of(cfg):
    return f'{cfg["block"]}_{cfg["routing"]}'


# ---------------------------------------------------------------------------------------------------------
# parameter table: (name, shape) in a fixed order; everything else derives from it

def _linear(name, n_out, n_in):
    return [(name + ".weight", (n_out, n_in)), (name + ".bias", (n_out,))]


def _layernorm(name, H):
    return [(name + ".weight", (H,)), (name + ".bias", (H,))]


def _ssm(name, N):
    # official port names: S4dLayer.D and S4DKernel.{C, log_step, A_re, A_im}
    return [(name + ".D", (1,)), (name + ".kernel.C", (N, 2)), (name + ".kernel.log_step", (1,)),
            (name + ".kernel.A_re", (N,)), (name + ".kernel.A_im", (N,))]


def layer_table(cfg, i):
    H, I, N = cfg["hidden_size"], cfg["intermediate_size"], cfg["num_ssm"]
    p = f"{prefix_of(cfg)}.encoder.layer.{i}."
    t = []
    if cfg["block"] == "gated":
        t += _layernorm(p + "LayerNorm", H)
        t += _linear(p + "dv", I, H)
        if cfg["routing"] == "ssm":
            t += _linear(p + "du_forward", H, H) + _linear(p + "du_backward", H, H)
            t += _ssm(p + "fs4", N) + _ssm(p + "bs4", N)
            t += _linear(p + "duc_forward", H, H) + _linear(p + "duc_backward", H, H)
        else:
            t += _linear(p + "du", H, H)
            for w in ("query", "key", "value"):
                t += _linear(p + "attention." + w, H, H)
            t += _linear(p + "duc", H, H)
        t += _linear(p + "dol", I, H) + _linear(p + "do", H, I)
    else:
        if cfg["routing"] == "ssm":
            t += _ssm(p + "ssm.fs4", N) + _ssm(p + "ssm.bs4", N)
            t += _linear(p + "ssm.output.dense", H, 2 * H) + _layernorm(p + "ssm.output.LayerNorm", H)
        else:
            for w in ("query", "key", "value"):
                t += _linear(p + "attention.self." + w, H, H)
            t += _linear(p + "attention.output.dense", H, H) + _layernorm(p + "attention.output.LayerNorm", H)
        t += _linear(p + "intermediate.dense", I, H)
        t += _linear(p + "output.dense", H, I) + _layernorm(p + "output.LayerNorm", H)
    return t


def param_table(cfg, head):
    """[(name, shape)] for the base model plus `head` ("mlm" | "seqcls" | "mc" | None)."""
    H, V = cfg["hidden_size"], cfg["vocab_size"]
    p = prefix_of(cfg)
    t = [(f"{p}.embeddings.word_embeddings.weight", (V, H))]
    if cfg["position_embedding_type"] == "absolute":      # rope, alibi, none: no table
        t += [(f"{p}.embeddings.position_embeddings.weight", (cfg["max_position_embeddings"], H))]
    t += [(f"{p}.embeddings.token_type_embeddings.weight", (cfg["type_vocab_size"], H))]
    t += _layernorm(f"{p}.embeddings.LayerNorm", H)
    for i in range(cfg["num_hidden_layers"]):
        t += layer_table(cfg, i)
    if head == "mlm":
        # tied: decoder weight = word_embeddings (not stored); only its bias is a parameter
        t += _linear("cls.predictions.transform.dense", H, H) + _layernorm("cls.predictions.transform.LayerNorm", H)
        t += [("cls.predictions.bias", (V,))]
        if not cfg["tie_word_embeddings"]:
            t += [("cls.predictions.decoder.weight", (V, H))]
    elif head in ("seqcls", "mc"):
        t += _linear(f"{p}.pooler.dense", H, H)
        t += _linear("classifier", cfg["num_labels"] if head == "seqcls" else 1, H)
    elif head is not None:
        raise ValueError(f"head {head!r}, expected one of {HEADS} or None")
    return t


def count_params(cfg, head="mlm"):
    """Number of scalar parameters (a tied decoder counted once, as the word embeddings)."""
    return sum(int(np.prod(s)) for _, s in param_table(config_fill(cfg), head))


# ---------------------------------------------------------------------------------------------------------
# initialisation (docs/models.md sections 2-3)

def hippo_imag(N):
    """A_im for scaling="hippo": ascending eigenvalues of the Hermitian matrix -i*S, S = -HiPPO_LegS + P P^T.

    S = -0.5*I + (skew-symmetric part); -i*S is Hermitian only for the skew part (the -0.5 diagonal is the
    real part of A, set separately), so we diagonalise -i*skew(S) exactly, in float64."""
    n = np.arange(N, dtype=np.float64)
    q = np.sqrt(2 * n + 1)
    hippo = np.tril(np.outer(q, q), -1) + np.diag(n + 1)     # HiPPO_LegS
    P = np.sqrt(n + 0.5)
    S = -hippo + np.outer(P, P)                              # (N,N)
    skew = 0.5 * (S - S.T)
    return np.linalg.eigvalsh(-1j * skew)                     # ascending, +/- pairs


def ssm_a_init(cfg):
    N = cfg["num_ssm"]
    n = np.arange(N, dtype=np.float64)
    a_re = np.full(N, -0.5)
    if cfg["scaling"] == "hippo":
        a_im = hippo_imag(N)
    elif cfg["scaling"] == "lin":
        a_im = math.pi * n
    else:
        a_im = (N / math.pi) * (N / (2 * n + 1) - 1)
    return a_re, a_im


def init_params(cfg, head, seed=0):
    """Spec initialisation, float32 tensors keyed by HF name."""
    cfg = config_fill(cfg)
    g = np.random.default_rng(seed)
    std = cfg["initializer_range"]
    a_re, a_im = ssm_a_init(cfg)
    P = OrderedDict()
    for name, shape in param_table(cfg, head):
        leaf = name.rsplit(".", 1)[-1]
        if leaf == "A_re":
            v = a_re
        elif leaf == "A_im":
            v = a_im
        elif leaf == "C":
            v = g.normal(0.0, math.sqrt(0.5), shape)
        elif leaf == "D":
            v = np.ones(shape)
        elif leaf == "log_step":
            v = g.uniform(math.log(0.01), math.log(1.0), shape)
        elif "LayerNorm" in name:
            v = np.ones(shape) if leaf == "weight" else np.zeros(shape)
        elif leaf == "bias":
            v = np.zeros(shape)
        else:                                   # embeddings and dense weights
            v = g.normal(0.0, std, shape)
        P[name] = torch.tensor(np.asarray(v, dtype=np.float32).reshape(shape))
    return P


# ---------------------------------------------------------------------------------------------------------
# ops

def act_fn(name):
    if name == "gelu":
        return lambda x: F.gelu(x)                        # erf form (HF "gelu")
    return lambda x: F.gelu(x, approximate="tanh")         # matches jax.nn.gelu(approximate=True)


def linear(P, name, x):
    return x @ P[name + ".weight"].t() + P[name + ".bias"]


def layernorm(P, name, x, eps):
    return F.layer_norm(x, (x.shape[-1],), P[name + ".weight"], P[name + ".bias"], eps)


def flip(x):                                               # reverse the sequence axis of (B,L,H)
    return torch.flip(x, dims=[1])


def dropout(x, p, train):
    return F.dropout(x, p, training=True) if (train and p > 0) else x


def ssm_kernel(P, name, L):
    """K (L,) of one SSM, always computed in float64/complex128 (docs/models.md section 2):
    K[l] = Re(sum_n C_n (exp(dt A_n) - 1)/A_n exp(l dt A_n)), A_n = min(A_re_n, -1e-4) + i A_im_n."""
    A_re = P[name + ".kernel.A_re"].double()                # (N)
    A_im = P[name + ".kernel.A_im"].double()                # (N)
    C = P[name + ".kernel.C"].double()                      # (N,2) real, imaginary
    dt = torch.exp(P[name + ".kernel.log_step"].double())   # (1)
    A = torch.complex(torch.clamp(A_re, max=-1e-4), A_im)   # (N); gradient 0 where clipped
    dtA = dt * A                                            # (N)
    Cz = torch.complex(C[:, 0], C[:, 1])                    # (N)
    Ct = Cz * (torch.exp(dtA) - 1.0) / A                    # (N) ZOH with B = 1
    l = torch.arange(L, dtype=torch.float64)                # (L)
    powers = torch.exp(dtA[:, None] * l[None, :])           # (N,L): exp(l dt A) directly, no repeated products
    K = (Ct[:, None] * powers).sum(0).real                  # (L)
    return K


def ssm_apply(P, name, u):
    """y = causal_conv(u, K) + D*u per channel; u (B,L,H), one kernel shared by all H channels."""
    Bsz, L, H = u.shape
    K = ssm_kernel(P, name, L).to(u.dtype)                  # (L)
    uT = u.transpose(1, 2)                                  # (B,H,L)
    FK = torch.fft.rfft(K, n=2 * L)                         # (L+1) zero-padded to 2L: no wrap-around
    FU = torch.fft.rfft(uT, n=2 * L)                        # (B,H,L+1)
    y = torch.fft.irfft(FU * FK, n=2 * L)[..., :L]          # (B,H,L) causal part
    return y.transpose(1, 2) + P[name + ".D"] * u           # (B,L,H)


def ssm_apply_direct(P, name, u):
    """O(L^2) causal sum; only used by the self-check against the FFT path."""
    L = u.shape[1]
    K = ssm_kernel(P, name, L).to(u.dtype)
    y = torch.zeros_like(u)
    for t in range(L):
        for s in range(t + 1):
            y[:, t] = y[:, t] + K[t - s] * u[:, s]
    return y + P[name + ".D"] * u


# Key padding mask value: like HF BERT (extended attention mask), (1 - mask) * finfo(dtype).min is added to
# the scores. exp() of it underflows to exactly 0, so it is the same as excluding pad keys, and a row whose
# keys are all pads still gives a finite (uniform) softmax instead of NaN (which -inf would give).
def mask_bias(attention_mask, dtype):
    m = attention_mask.to(dtype)                            # (B,L) 1 = token, 0 = pad
    return (1.0 - m)[:, None, None, :] * torch.finfo(dtype).min   # (B,1,1,L)


# ---------------------------------------------------------------------------------------------------------
# positions inside attention (docs/models.md section 8)

def rope_angles(cfg, L, dh, offset=0):
    """(L, dh/2): position m (divided by the linear scaling factor) times theta_i = rope_theta^(-2i/dh)."""
    f = cfg["rope_scaling"]["factor"] if cfg["rope_scaling"] else 1.0
    m = (torch.arange(L, dtype=torch.float64) + offset) / f
    theta = cfg["rope_theta"] ** (-torch.arange(0, dh, 2, dtype=torch.float64) / dh)
    return m[:, None] * theta[None, :]


def rope(cfg, t, offset=0):
    """Rotates each head of t (B,NH,L,dh). Half-split pairs (i, i+dh/2) as Hugging Face's rotate_half
    (cos and sin repeated over both halves); interleaved pairs (2i, 2i+1) as complex multiplication."""
    L, dh = t.shape[-2], t.shape[-1]
    a = rope_angles(cfg, L, dh, offset).to(t.dtype)          # (L, dh/2)
    if cfg["rope_interleaved"]:
        z = torch.complex(t[..., 0::2], t[..., 1::2]) * torch.polar(torch.ones_like(a), a)
        return torch.stack([z.real, z.imag], dim=-1).reshape(t.shape)
    cos, sin = torch.cat([a.cos(), a.cos()], -1), torch.cat([a.sin(), a.sin()], -1)     # (L, dh)
    rotated = torch.cat([-t[..., dh // 2:], t[..., :dh // 2]], dim=-1)
    return t * cos + rotated * sin


def alibi_slopes(n):
    """Per-head slopes: 2^(-8h/n), h = 1..n, for n a power of two; otherwise those of the power of two c
    below n followed by every other slope of 2c (ALiBi's rule)."""
    def geometric(k):
        return [2.0 ** (-8.0 * h / k) for h in range(1, k + 1)]
    c = 1 << (n.bit_length() - 1)
    return geometric(c) if c == n else geometric(c) + geometric(2 * c)[0::2][:n - c]


def alibi_bias(NH, L, dtype):
    """(1,NH,L,L): -m_h |i - j|, symmetric in i and j (a bidirectional encoder; no causal mask)."""
    i = torch.arange(L, dtype=dtype)
    m = torch.tensor(alibi_slopes(NH), dtype=dtype)
    return -(m[:, None, None] * (i[:, None] - i[None, :]).abs())[None]


def mha(P, names, x, attention_mask, NH, p_drop, train, cfg=None):
    """Multi-head self-attention without output projection. names = (query, key, value) linear names.
    cfg's position_embedding_type adds RoPE (q, k rotated before the scaled product) or ALiBi biases."""
    Bsz, L, H = x.shape
    dh = H // NH
    pt = cfg["position_embedding_type"] if cfg else "absolute"

    def heads(t):                                           # (B,L,H) -> (B,NH,L,dh)
        return t.view(Bsz, L, NH, dh).transpose(1, 2)
    q = heads(linear(P, names[0], x))
    k = heads(linear(P, names[1], x))
    v = heads(linear(P, names[2], x))
    if pt == "rope":
        q, k = rope(cfg, q), rope(cfg, k)
    s = q @ k.transpose(-1, -2) / math.sqrt(dh)             # (B,NH,L,L)
    if pt == "alibi":
        s = s + alibi_bias(NH, L, s.dtype)
    s = s + mask_bias(attention_mask, s.dtype)
    a = torch.softmax(s, dim=-1)
    a = dropout(a, p_drop, train)
    ctx = a @ v                                             # (B,NH,L,dh)
    return ctx.transpose(1, 2).reshape(Bsz, L, H)           # (B,L,H)


# ---------------------------------------------------------------------------------------------------------
# blocks

def gated_block(cfg, P, p, X, attention_mask, train):
    """GATED block (docs/models.md sections 1 and 4). No dropout inside except attention probabilities."""
    eps, act = cfg["layer_norm_eps"], act_fn(cfg["block_act"])
    Xn = layernorm(P, p + "LayerNorm", X, eps) if cfg["pre_norm"] else X      # post-norm: f reads X
    V = act(linear(P, p + "dv", Xn))                        # (B,L,I)
    if cfg["routing"] == "ssm":
        Uf = act(linear(P, p + "du_forward", Xn))           # (B,L,H)
        Ub = act(linear(P, p + "du_backward", flip(Xn)))    # (B,L,H) flipped time
        Yf = ssm_apply(P, p + "fs4", Uf)
        Yb = ssm_apply(P, p + "bs4", Ub)
        Cf = linear(P, p + "duc_forward", Yf)
        Cb = flip(linear(P, p + "duc_backward", Yb))
        G = Cf * Cb                                         # (B,L,H)
    else:
        U = act(linear(P, p + "du", Xn))                    # (B,L,H)
        M = mha(P, (p + "attention.query", p + "attention.key", p + "attention.value"), U, attention_mask,
                cfg["num_attention_heads"], cfg["attention_probs_dropout_prob"], train, cfg)
        G = linear(P, p + "duc", M)                         # Cg, (B,L,H)
    Z = act(linear(P, p + "dol", G))                        # (B,L,I)
    O = linear(P, p + "do", Z * V)                          # (B,L,H)
    if cfg["pre_norm"]:
        return X + O
    return layernorm(P, p + "LayerNorm", X + O, eps)


def stack_block(cfg, P, p, X, attention_mask, train):
    """STACK block: routing sub-block then FFN sub-block, each with residual, dropout and LayerNorm."""
    eps, drop = cfg["layer_norm_eps"], cfg["hidden_dropout_prob"]
    if cfg["routing"] == "ssm":
        ln1, rdense = p + "ssm.output.LayerNorm", p + "ssm.output.dense"
    else:
        ln1, rdense = p + "attention.output.LayerNorm", p + "attention.output.dense"
    ln2 = p + "output.LayerNorm"
    Xn = layernorm(P, ln1, X, eps) if cfg["pre_norm"] else X
    if cfg["routing"] == "ssm":
        Yf = ssm_apply(P, p + "ssm.fs4", Xn)                # (B,L,H)
        Yb = flip(ssm_apply(P, p + "ssm.bs4", flip(Xn)))    # (B,L,H)
        R = linear(P, rdense, torch.cat([Yf, Yb], dim=-1))  # (B,L,2H) -> (B,L,H)
    else:
        q = p + "attention.self."
        M = mha(P, (q + "query", q + "key", q + "value"), Xn, attention_mask,
                cfg["num_attention_heads"], cfg["attention_probs_dropout_prob"], train, cfg)
        R = linear(P, rdense, M)
    if cfg["pre_norm"]:
        X1 = X + dropout(R, drop, train)
        Fin = layernorm(P, ln2, X1, eps)
    else:
        X1 = layernorm(P, ln1, X + dropout(R, drop, train), eps)
        Fin = X1
    Fo = linear(P, p + "output.dense", act_fn(cfg["hidden_act"])(linear(P, p + "intermediate.dense", Fin)))
    if cfg["pre_norm"]:
        return X1 + dropout(Fo, drop, train)
    return layernorm(P, ln2, X1 + dropout(Fo, drop, train), eps)


# ---------------------------------------------------------------------------------------------------------
# model

def embed(cfg, P, input_ids, token_type_ids, train):
    p = prefix_of(cfg) + ".embeddings."
    L = input_ids.shape[1]
    pos = torch.arange(L)
    X = P[p + "word_embeddings.weight"][input_ids]                          # (B,L,H)
    if cfg["position_embedding_type"] == "absolute":
        X = X + P[p + "position_embeddings.weight"][pos][None]
    X = X + P[p + "token_type_embeddings.weight"][token_type_ids]
    X = layernorm(P, p + "LayerNorm", X, cfg["layer_norm_eps"])
    return dropout(X, cfg["hidden_dropout_prob"], train)


def encode(cfg, P, input_ids, token_type_ids, attention_mask, train=False):
    """(B,L) ids -> (B,L,H). SSM routing never masks pads (they flow through every layer, as the official
    model); attention routing masks pad keys. No final LayerNorm."""
    X = embed(cfg, P, input_ids, token_type_ids, train)
    block = gated_block if cfg["block"] == "gated" else stack_block
    for i in range(cfg["num_hidden_layers"]):
        X = block(cfg, P, f"{prefix_of(cfg)}.encoder.layer.{i}.", X, attention_mask, train)
    return X


def pool(cfg, P, X, attention_mask):
    """(B,L,H) -> (B,H): pooler_type reduction, then pooler dense + tanh."""
    if cfg["pooler_type"] == "non_padding_mean":
        m = attention_mask.to(X.dtype)[:, :, None]          # (B,L,1)
        h = (X * m).sum(1) / m.sum(1)
    elif cfg["pooler_type"] == "mean":
        h = X.mean(1)
    else:
        h = X[:, 0]
    return torch.tanh(linear(P, prefix_of(cfg) + ".pooler.dense", h))


def forward(cfg, head, P, batch, train=False):
    """batch: input_ids, token_type_ids, attention_mask (I64), labels. Returns {"logits", "loss"}.
    mlm:    ids (B,L), labels (B,L) with -100 = not predicted; logits (M,V) only at labels != -100, rows in
            row-major (batch, position) order; loss = mean CE over those M positions.
    seqcls: ids (B,L), labels (B,) int64, or float when num_labels == 1 (MSE); logits (B,num_labels).
    mc:     ids (B,C,L), labels (B,) in [0,C); logits (B,C); CE over the choices."""
    ids, tt, am, labels = batch["input_ids"], batch["token_type_ids"], batch["attention_mask"], batch["labels"]
    if head == "mc":
        Bsz, nC, L = ids.shape
        ids, tt, am = ids.reshape(-1, L), tt.reshape(-1, L), am.reshape(-1, L)
    X = encode(cfg, P, ids, tt, am, train)                  # (B,L,H)
    if head == "mlm":
        sel = labels.reshape(-1) != -100                    # (B*L,)
        h = X.reshape(-1, X.shape[-1])[sel]                 # (M,H)
        h = linear(P, "cls.predictions.transform.dense", h)
        h = act_fn(cfg["hidden_act"])(h)
        h = layernorm(P, "cls.predictions.transform.LayerNorm", h, cfg["layer_norm_eps"])
        if cfg["tie_word_embeddings"]:
            E = P[prefix_of(cfg) + ".embeddings.word_embeddings.weight"]
        else:
            E = P["cls.predictions.decoder.weight"]
        logits = h @ E.t() + P["cls.predictions.bias"]      # (M,V)
        loss = F.cross_entropy(logits, labels.reshape(-1)[sel])
        return {"logits": logits, "loss": loss}
    pooled = pool(cfg, P, X, am)                            # (B,H) or (B*C,H)
    if head == "seqcls":
        p = cfg["classifier_dropout"]
        pooled = dropout(pooled, cfg["hidden_dropout_prob"] if p is None else p, train)
        logits = linear(P, "classifier", pooled)            # (B,num_labels)
        if cfg["num_labels"] == 1:
            loss = F.mse_loss(logits[:, 0], labels.to(logits.dtype))
        else:
            loss = F.cross_entropy(logits, labels)
        return {"logits": logits, "loss": loss}
    if head == "mc":
        # the authors' port uses hidden_dropout_prob here (not classifier_dropout)
        pooled = dropout(pooled, cfg["hidden_dropout_prob"], train)
        logits = linear(P, "classifier", pooled).reshape(Bsz, nC)   # (B,C)
        return {"logits": logits, "loss": F.cross_entropy(logits, labels)}
    raise ValueError(f"head {head!r}, expected one of {HEADS}")


def as_leaves(P, dtype=torch.float64):
    """Copy of P in `dtype`, every tensor a leaf requiring grad."""
    return OrderedDict((k, v.detach().to(dtype).clone().requires_grad_(True)) for k, v in P.items())


# ---------------------------------------------------------------------------------------------------------
# self-checks (run: /usr/bin/python3 scripts/reference_model.py)

BIGS_128 = {"vocab_size": 30522, "hidden_size": 1024, "num_hidden_layers": 23, "intermediate_size": 3072,
            "num_ssm": 64, "max_position_embeddings": 128, "type_vocab_size": 2}


def _selfcheck():
    torch.manual_seed(0)
    n = count_params(BIGS_128, "mlm")
    print(f"BiGS_128 MLM parameters: {n:,} (expected 346,314,134)")
    assert n == 346314134
    a = hippo_imag(64)
    pos = a[a > 0]
    print(f"hippo A_im N=64: min positive {pos.min():.4f}, max {pos.max():.2f}, pairs {np.allclose(a, -a[::-1])}")
    cfg = config_fill({"vocab_size": 20, "hidden_size": 8, "num_hidden_layers": 1, "intermediate_size": 12,
                       "num_ssm": 4, "max_position_embeddings": 10})
    P = as_leaves(init_params(cfg, "mlm", seed=1))
    u = torch.randn(2, 7, 8, dtype=torch.float64)
    p = "bigs.encoder.layer.0.fs4"
    err = (ssm_apply(P, p, u) - ssm_apply_direct(P, p, u)).abs().max().item()
    print(f"FFT conv vs direct causal sum: max abs diff {err:.2e}")
    assert err < 1e-12
    # prefix property: the kernel for a shorter L is a prefix of the kernel for a longer L
    assert torch.allclose(ssm_kernel(P, p, 5), ssm_kernel(P, p, 9)[:5], rtol=0, atol=1e-14)
    # independent path: the diagonal ZOH recurrence x_l = Abar x_{l-1} + Bbar u_l, y_l = Re(C x_l) + D u_l
    # (the official JAX decode path), in numpy complex128
    A = np.minimum(P[p + ".kernel.A_re"].detach().numpy(), -1e-4) + 1j * P[p + ".kernel.A_im"].detach().numpy()
    Cz = P[p + ".kernel.C"].detach().numpy() @ np.array([1, 1j])
    dt = math.exp(P[p + ".kernel.log_step"].item())
    Abar, Bbar = np.exp(dt * A), (np.exp(dt * A) - 1) / A
    un = u.numpy()
    x = np.zeros((2, 8, 4), complex)
    y = np.zeros_like(un)
    for t in range(7):
        x = Abar * x + Bbar * un[:, t, :, None]
        y[:, t] = (x @ Cz).real + P[p + ".D"].item() * un[:, t]
    err = np.abs(ssm_apply(P, p, u).detach().numpy() - y).max()
    print(f"FFT conv vs ZOH recurrence: max abs diff {err:.2e}")
    assert err < 1e-12
    _selfcheck_positions()
    print("self-checks passed")


def _selfcheck_positions():
    """RoPE against explicit block rotation matrices in both layouts, its relative property, and the ALiBi
    slope tables against their closed forms."""
    g = torch.Generator().manual_seed(3)
    dh, L = 8, 6
    for inter in (False, True):
        cfg = config_fill({"routing": "attention", "position_embedding_type": "rope", "rope_interleaved": inter,
                           "rope_theta": 100.0, "hidden_size": 16, "num_attention_heads": 2})
        t = torch.randn(1, 1, L, dh, generator=g, dtype=torch.float64)
        want = torch.empty_like(t)
        for m in range(L):
            R = torch.zeros(dh, dh, dtype=torch.float64)
            for i in range(dh // 2):
                a, b = (2 * i, 2 * i + 1) if inter else (i, i + dh // 2)
                ang = m * 100.0 ** (-2 * i / dh)
                R[a, a], R[a, b], R[b, a], R[b, b] = math.cos(ang), -math.sin(ang), math.sin(ang), math.cos(ang)
            want[0, 0, m] = R @ t[0, 0, m]
        err = (rope(cfg, t) - want).abs().max().item()
        # scores of rotated q, k depend on m - n only: shift every position by 5
        q, k = torch.randn(2, 1, 1, L, dh, generator=g, dtype=torch.float64)
        s0 = rope(cfg, q) @ rope(cfg, k).transpose(-1, -2)
        s5 = rope(cfg, q, offset=5) @ rope(cfg, k, offset=5).transpose(-1, -2)
        shift = (s0 - s5).abs().max().item()
        print(f"RoPE {'interleaved' if inter else 'half-split'}: vs rotation matrices {err:.1e}, shift by 5 {shift:.1e}")
        assert err < 1e-14 and shift < 1e-12
    assert alibi_slopes(8) == [2.0 ** -h for h in range(1, 9)]
    assert alibi_slopes(16) == [2.0 ** (-h / 2) for h in range(1, 17)]
    want12 = [2.0 ** -h for h in range(1, 9)] + [0.70710678, 0.35355339, 0.17677670, 0.08838835]
    assert np.allclose(alibi_slopes(12), want12, rtol=0, atol=1e-8)
    print("ALiBi slopes for 8, 12, 16 heads: as the closed forms")


if __name__ == "__main__":
    _selfcheck()
