#!/usr/bin/python3
"""make_golden.py: golden values for every op kernel of bigs, computed by PyTorch in float64.

Each case is tests/golden/op_<case>.safetensors holding the float32 inputs "in.<name>" (int inputs
as I64), a random upstream gradient "dout", the output "out" and the input gradients "grad.<name>"
(float64) of sum(out * dout); metadata "op" names the op and the other keys are its parameters.
Run with Debian's python3 (python3-torch, python3-numpy):  /usr/bin/python3 scripts/make_golden.py
"""
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from golden_io import keep_mask, rng_mix, write_safetensors  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "golden")
rs = np.random.RandomState(1234)


def f32(*shape, scale=1.0, lo=None, hi=None):
    if lo is not None:
        return rs.uniform(lo, hi, size=shape).astype(np.float32)
    return (rs.randn(*shape) * scale).astype(np.float32)


def case(name, op, fn, inputs, ints=None, meta=None):
    """fn(**float64 leaf tensors, **ints) -> output tensor. Writes the golden file."""
    ints = ints or {}
    leaves = {k: torch.tensor(v.astype(np.float64), requires_grad=True) for k, v in inputs.items()}
    out = fn(**leaves, **{k: torch.tensor(v) for k, v in ints.items()})
    dout = f32(*out.shape)
    (out * torch.tensor(dout.astype(np.float64))).sum().backward()
    t = {"in." + k: v for k, v in inputs.items()}
    t.update({"in." + k: v.astype(np.int64) for k, v in ints.items()})
    t["dout"] = dout
    t["out"] = out.detach().numpy().astype(np.float64)
    for k, v in leaves.items():
        t["grad." + k] = (v.grad if v.grad is not None else torch.zeros_like(v)).numpy()
    md = {"op": op}
    md.update(meta or {})
    write_safetensors(os.path.join(OUT, "op_%s.safetensors" % name), t, md)


def ssm_kernel(A_re, A_im, C, log_step, L):
    # K (nk, L) = Re(sum_n C_n (exp(dt A_n) - 1) / A_n exp(l dt A_n)), A_n = min(A_re, -1e-4) + i A_im
    A = torch.clamp(A_re, max=-1e-4) + 1j * A_im  # (nk, N)
    Cc = C[..., 0] + 1j * C[..., 1]  # (nk, N)
    dt = torch.exp(log_step)[:, None]  # (nk, 1)
    W = Cc * (torch.exp(dt * A) - 1) / A  # (nk, N)
    l = torch.arange(L, dtype=torch.float64)
    Z = torch.exp(l[None, None, :] * (dt * A)[:, :, None])  # (nk, N, L)
    return (W[:, :, None] * Z).sum(1).real


def causal_conv(u, K, D):
    # u (B,L,H), K (nk,L) with nk in {1,H}, D (nk): y[b,t,h] = sum_{s<=t} K[t-s] u[b,s,h] + D u[b,t,h]
    B, L, H = u.shape
    idx = torch.arange(L)
    lag = idx[:, None] - idx[None, :]  # (t, s)
    T = torch.where(lag >= 0, K[:, lag.clamp(min=0)], torch.zeros(()))  # (nk, L, L)
    if K.shape[0] == 1:
        y = torch.einsum("ts,bsh->bth", T[0], u)
    else:
        y = torch.einsum("hts,bsh->bth", T, u)
    return y + D * u


def attention(q, k, v, mask, NH, p=0.0, key=0):
    B, L, H = q.shape
    dh = H // NH
    qh = q.reshape(B, L, NH, dh).transpose(1, 2)
    kh = k.reshape(B, L, NH, dh).transpose(1, 2)
    vh = v.reshape(B, L, NH, dh).transpose(1, 2)
    s = qh @ kh.transpose(-1, -2) / np.sqrt(dh)  # (B,NH,L,L)
    s = s.masked_fill(mask[:, None, None, :] == 0, float("-inf"))
    P = torch.softmax(s, -1)
    if p > 0:
        keep = np.stack([keep_mask(rng_mix(key, b * NH + h), L * L, p).reshape(L, L)
                         for b in range(B) for h in range(NH)]).reshape(B, NH, L, L)
        P = P * torch.tensor(keep, dtype=torch.float64) / (1 - float(np.float32(p)))
    return (P @ vh).transpose(1, 2).reshape(B, L, H)


def rope_angles(pos, dh, theta, scale):
    # (R, dh/2): (m / scale) * theta^(-2i/dh), float64
    inv = theta ** (-torch.arange(0, dh, 2, dtype=torch.float64) / dh)
    return (pos.to(torch.float64) / scale)[:, None] * inv[None, :]


def rope(x, pos, NH, theta, scale, interleaved):
    # x (B,L,H), pos (B*L); each head rotated: half-split as LLaMA's rotate_half, interleaved as complex
    # multiplication of the pairs (2i, 2i+1)
    B, L, H = x.shape
    dh = H // NH
    a = rope_angles(pos, dh, theta, scale).reshape(B, L, 1, dh // 2)
    xh = x.reshape(B, L, NH, dh)
    if interleaved:
        z = torch.complex(xh[..., 0::2], xh[..., 1::2]) * torch.exp(1j * a)
        y = torch.stack([z.real, z.imag], -1).reshape(B, L, NH, dh)
    else:
        cos, sin = torch.cat([a.cos(), a.cos()], -1), torch.cat([a.sin(), a.sin()], -1)
        rot = torch.cat([-xh[..., dh // 2:], xh[..., :dh // 2]], -1)
        y = xh * cos + rot * sin
    return y.reshape(B, L, H)


def alibi_slopes(n):
    # 2^(-8h/n) for a power of two; otherwise the closest lower power c and every other slope of 2c
    def pow2(k):
        return [2.0 ** (-8.0 * h / k) for h in range(1, k + 1)]
    c = 2 ** int(np.floor(np.log2(n)))
    return pow2(c) if c == n else pow2(c) + pow2(2 * c)[0::2][:n - c]


def attention_alibi(q, k, v, mask, NH):
    B, L, H = q.shape
    dh = H // NH
    qh, kh, vh = (t.reshape(B, L, NH, dh).transpose(1, 2) for t in (q, k, v))
    i = torch.arange(L, dtype=torch.float64)
    dist = (i[:, None] - i[None, :]).abs()                          # (L,L) |i-j|
    m = torch.tensor(alibi_slopes(NH), dtype=torch.float64)[None, :, None, None]
    s = qh @ kh.transpose(-1, -2) / np.sqrt(dh) - m * dist          # (B,NH,L,L)
    s = s.masked_fill(mask[:, None, None, :] == 0, float("-inf"))
    return (torch.softmax(s, -1) @ vh).transpose(1, 2).reshape(B, L, H)


def position_cases():
    # RoPE in both layouts (one with a non-default base and linear interpolation), positions not starting
    # at 0; ALiBi with a head count that is not a power of two (3: slopes 2^-4, 2^-8, then 2^-2)
    pos = np.concatenate([np.arange(5), np.arange(3, 8)])
    for nm, theta, scale, inter in (("rope_half", 10000.0, 1.0, 0), ("rope_interleaved", 500.0, 2.0, 1)):
        case(nm, "rope", lambda x, pos: rope(x, pos, 2, theta, scale, inter), {"x": f32(2, 5, 8)}, ints={"pos": pos},
             meta={"NH": "2", "theta": repr(theta), "scale": repr(scale), "interleaved": str(inter)})
    mask = np.array([[1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 0, 0]])
    qkv = {"q": f32(2, 6, 12), "k": f32(2, 6, 12), "v": f32(2, 6, 12)}
    case("attention_alibi", "attention", lambda q, k, v, mask: attention_alibi(q, k, v, mask, 3), qkv, ints={"mask": mask},
         meta={"NH": "3", "alibi": "1"})


def main():
    os.makedirs(OUT, exist_ok=True)
    F = torch.nn.functional
    case("linear", "linear", lambda x, W, b: x @ W.T + b, {"x": f32(2, 3, 5), "W": f32(4, 5), "b": f32(4)})
    case("linear_nobias", "linear", lambda x, W: x @ W.T, {"x": f32(7, 6), "W": f32(3, 6)})
    for eps, nm in ((1e-12, "layernorm"), (1e-5, "layernorm_eps")):
        case(nm, "layernorm", lambda x, w, b: F.layer_norm(x, (x.shape[-1],), w, b, eps),
             {"x": f32(6, 8, scale=2.0) + 0.5, "w": f32(8, scale=0.3) + 1, "b": f32(8, scale=0.3)}, meta={"eps": repr(eps)})
    case("gelu_erf", "gelu", lambda x: F.gelu(x), {"x": f32(48, lo=-5, hi=5)}, meta={"tanh": "0"})
    case("gelu_tanh", "gelu", lambda x: F.gelu(x, approximate="tanh"), {"x": f32(48, lo=-5, hi=5)}, meta={"tanh": "1"})
    case("tanh", "tanh", torch.tanh, {"x": f32(40, lo=-3, hi=3)})
    case("add", "add", lambda a, b: a + b, {"a": f32(3, 7), "b": f32(3, 7)})
    case("mul", "mul", lambda a, b: a * b, {"a": f32(3, 7), "b": f32(3, 7)})
    case("concat", "concat", lambda a, b: torch.cat([a, b], -1), {"a": f32(2, 3, 4), "b": f32(2, 3, 5)})
    case("flip", "flip", lambda x: torch.flip(x, [1]), {"x": f32(2, 5, 3)})
    case("gather", "gather", lambda table, idx: table[idx], {"table": f32(7, 4)},
         ints={"idx": np.array([3, 0, 6, 3, 3, 1, 6, 2, 5])})
    key = 0xC0FFEE1234
    n = 60
    keep = torch.tensor(keep_mask(rng_mix(key, 0), n, 0.3), dtype=torch.float64)
    case("dropout", "dropout", lambda x: x * keep / (1 - float(np.float32(0.3))), {"x": f32(n)},
         meta={"p": "0.3", "key": str(key)})
    # SSM kernels: one A_re entry sits above the clip (-1e-4) so its gradient must be 0
    for nk, nm in ((1, "ssm_kernel"), (3, "ssm_kernel_perchannel")):
        N, L = 4, 11
        A_re = f32(nk, N, lo=-0.8, hi=-0.2)
        A_re[0, 1] = 0.3
        A_im = f32(nk, N, lo=0.0, hi=4.0)
        case(nm, "ssm_kernel", lambda A_re, A_im, C, log_step: ssm_kernel(A_re, A_im, C, log_step, L),
             {"A_re": A_re, "A_im": A_im, "C": f32(nk, N, 2, scale=0.7), "log_step": f32(nk, lo=np.log(0.01), hi=np.log(1.0))},
             meta={"L": str(L)})
    case("fftconv", "fftconv", causal_conv, {"u": f32(2, 9, 5), "K": f32(1, 9), "D": f32(1)})
    case("fftconv_perchannel", "fftconv", causal_conv, {"u": f32(2, 9, 5), "K": f32(5, 9), "D": f32(5)})
    case("fftconv_long", "fftconv", causal_conv, {"u": f32(1, 70, 3), "K": f32(1, 70, scale=0.3), "D": f32(1)})
    mask = np.array([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]])
    qkv = {"q": f32(2, 5, 8), "k": f32(2, 5, 8), "v": f32(2, 5, 8)}
    case("attention", "attention", lambda q, k, v, mask: attention(q, k, v, mask, 2), qkv, ints={"mask": mask},
         meta={"NH": "2"})
    case("attention_dropout", "attention", lambda q, k, v, mask: attention(q, k, v, mask, 2, 0.25, rng_mix(key, 0)),
         qkv, ints={"mask": mask}, meta={"NH": "2", "p": "0.25", "key": str(key)})
    pm = np.array([[1, 1, 1, 0], [1, 1, 1, 1], [1, 0, 0, 0]])
    case("meanpool", "meanpool", lambda x, mask: (x * mask[..., None]).sum(1) / mask.sum(1, keepdim=True),
         {"x": f32(3, 4, 6)}, ints={"mask": pm})
    case("meanpool_all", "meanpool", lambda x: x.mean(1), {"x": f32(3, 4, 6)})
    case("firstpool", "firstpool", lambda x: x[:, 0], {"x": f32(3, 4, 6)})
    tg = np.array([2, -100, 0, 6, -100, 3])
    case("cross_entropy", "cross_entropy", lambda logits, targets: F.cross_entropy(logits, targets, ignore_index=-100).reshape(1),
         {"logits": f32(6, 7, scale=2.0)}, ints={"targets": tg})
    target = f32(5)
    case("mse", "mse", lambda pred: ((pred - torch.tensor(target.astype(np.float64))) ** 2).mean().reshape(1),
         {"pred": f32(5)}, meta={"target": " ".join(repr(float(t)) for t in target)})
    # HiPPO A_im as the official code computes it: eigh of -1j * S (it reads the lower triangle)
    hippo = {}
    for N in (7, 64):
        n = np.arange(N)
        P = np.sqrt(n + 0.5)
        legs = np.where(n[:, None] > n[None, :], np.sqrt(2 * n[:, None] + 1) * np.sqrt(2 * n[None, :] + 1), 0.0)
        legs = legs + np.diag(n + 1.0)
        S = -legs + P[:, None] * P[None, :]
        hippo["A_im.%d" % N] = np.linalg.eigh(S * -1j)[0].astype(np.float64)
    write_safetensors(os.path.join(OUT, "hippo.safetensors"), hippo, {"what": "eigh(-1j*S) ascending"})
    # AdamW (torch.optim.AdamW, decoupled decay; the second tensor in a no-decay group) for 4 steps
    # at changing learning rates, with global-norm clipping before each step
    w0, w1 = f32(5, 3), f32(7)
    grads = [(f32(5, 3, scale=2.0), f32(7, scale=2.0)) for _ in range(4)]
    lrs = [1e-3, 6e-4, 3e-4, 1e-4]
    pa, pb = torch.tensor(w0, requires_grad=True), torch.tensor(w1, requires_grad=True)
    opt = torch.optim.AdamW([{"params": [pa], "weight_decay": 0.05}, {"params": [pb], "weight_decay": 0.0}],
                            lr=1e-3, betas=(0.9, 0.98), eps=1e-6)
    norms = []
    for (ga, gb), lr in zip(grads, lrs):
        pa.grad, pb.grad = torch.tensor(ga), torch.tensor(gb)
        norms.append(float(torch.nn.utils.clip_grad_norm_([pa, pb], 1.5)))
        for g in opt.param_groups:
            g["lr"] = lr
        opt.step()
    t = {"w0": w0, "w1": w1, "out.w0": pa.detach().numpy(), "out.w1": pb.detach().numpy(),
         "norms": np.array(norms, dtype=np.float64), "lrs": np.array(lrs, dtype=np.float64)}
    for i, (ga, gb) in enumerate(grads):
        t["grad%d.w0" % i], t["grad%d.w1" % i] = ga, gb
    write_safetensors(os.path.join(OUT, "adamw.safetensors"), t,
                      {"betas": "0.9 0.98", "eps": "1e-6", "weight_decay": "0.05", "max_norm": "1.5"})
    position_cases()  # last: the cases above keep their random draws
    print("wrote", len([f for f in os.listdir(OUT) if f.startswith("op_")]), "op golden files to", os.path.normpath(OUT))


if __name__ == "__main__":
    main()
