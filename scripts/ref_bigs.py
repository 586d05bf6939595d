"""ref_bigs.py: a PyTorch reference of the bigs model family, written from the model description
(BiGS paper and the authors' code), for golden values. Float64 throughout; dropout off.

Variants: block "gated" | "stack" x routing "ssm" | "attention". Heads: "mlm" (logits at labelled
positions only), "seqcls" (classification, or regression when num_labels == 1), "mc" (multiple choice).
Module names reproduce the Hugging Face parameter names bigs uses (state_dict keys).
Run as a script, it checks its LAST_LAYER_ROWS path (used by the speed comparison) against the whole layer.
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

# Convolution algorithm of the SSM: the direct Toeplitz sum (exact, for golden values) or, for speed
# comparisons, the FFT as the authors' PyTorch port computes it.
USE_FFT = False
# The masked-LM head's last layer at the labelled positions only (as bigs computes it: the sequence mixing
# at every position, the per-token work after it at those rows), for speed comparisons; the whole layer
# when False (golden values).
LAST_LAYER_ROWS = False


def take_rows(t, idx):
    # the rows idx of t viewed as (B*L, C)
    return t.reshape(-1, t.shape[-1])[idx]


def act(x, name):
    # "gelu" is the exact erf form; "gelu_tanh" the tanh approximation (jax.nn.gelu's default)
    return F.gelu(x, approximate="tanh" if name == "gelu_tanh" else "none")


class Kernel(nn.Module):
    """Diagonal ZOH SSM kernel with B = 1, one kernel shared by all channels."""

    def __init__(self, N):
        super().__init__()
        self.C = nn.Parameter(torch.zeros(N, 2))
        self.log_step = nn.Parameter(torch.zeros(1))
        self.A_re = nn.Parameter(torch.zeros(N))
        self.A_im = nn.Parameter(torch.zeros(N))

    def forward(self, L):
        A = torch.clamp(self.A_re, max=-1e-4) + 1j * self.A_im            # (N)
        dt = torch.exp(self.log_step)                                       # (1)
        C = self.C[:, 0] + 1j * self.C[:, 1]                                # (N)
        l = torch.arange(L, dtype=self.A_re.dtype)
        powers = torch.exp(l[None, :] * (dt * A)[:, None])                  # (N, L): exp(l dt A) directly
        return ((C * (torch.exp(dt * A) - 1) / A)[:, None] * powers).sum(0).real  # (L)


class SSM(nn.Module):
    def __init__(self, N):
        super().__init__()
        self.D = nn.Parameter(torch.zeros(1))
        self.kernel = Kernel(N)

    def forward(self, u):  # u (B, L, H): y[t] = sum_{s<=t} K[t-s] u[s] + D u[t], per channel
        B, L, H = u.shape
        K = self.kernel(L)
        u = u.to(K.dtype)  # under bf16 autocast the convolution stays float32 (as bigs's); no-op otherwise
        if USE_FFT:
            Kf = torch.fft.rfft(K, n=2 * L)                                 # (L+1)
            uf = torch.fft.rfft(u, n=2 * L, dim=1)                          # (B, L+1, H)
            return torch.fft.irfft(uf * Kf[None, :, None], n=2 * L, dim=1)[:, :L] + self.D * u
        t = torch.arange(L)
        lag = t[:, None] - t[None, :]
        T = torch.where(lag >= 0, K[lag.clamp(min=0)], torch.zeros((), dtype=K.dtype))  # (L, L) Toeplitz
        return torch.einsum("ts,bsh->bth", T, u) + self.D * u


class MHA(nn.Module):
    """Bidirectional multi-head attention (projections only, no output dense); pad keys masked."""

    def __init__(self, H, NH):
        super().__init__()
        self.query, self.key, self.value = nn.Linear(H, H), nn.Linear(H, H), nn.Linear(H, H)
        self.NH = NH

    def forward(self, x, mask):
        B, L, H = x.shape
        dh = H // self.NH
        split = lambda t: t.view(B, L, self.NH, dh).transpose(1, 2)
        q, k, v = split(self.query(x)), split(self.key(x)), split(self.value(x))
        s = q @ k.transpose(-1, -2) / math.sqrt(dh)
        if mask is not None:
            s = s.masked_fill(mask[:, None, None, :] == 0, float("-inf"))
        return (torch.softmax(s, -1) @ v).transpose(1, 2).reshape(B, L, H)


class Layer(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c = c
        H, I, N, eps = c["hidden_size"], c["intermediate_size"], c["num_ssm"], c["layer_norm_eps"]
        if c["block"] == "gated":
            self.LayerNorm = nn.LayerNorm(H, eps=eps)
            self.dv = nn.Linear(H, I)
            if c["routing"] == "ssm":
                self.du_forward, self.du_backward = nn.Linear(H, H), nn.Linear(H, H)
                self.fs4, self.bs4 = SSM(N), SSM(N)
                self.duc_forward, self.duc_backward = nn.Linear(H, H), nn.Linear(H, H)
            else:
                self.du = nn.Linear(H, H)
                self.attention = MHA(H, c["num_attention_heads"])
                self.duc = nn.Linear(H, H)
            self.dol = nn.Linear(H, I)
            setattr(self, "do", nn.Linear(I, H))
        else:
            if c["routing"] == "ssm":
                self.ssm = nn.Module()
                self.ssm.fs4, self.ssm.bs4 = SSM(N), SSM(N)
                self.ssm.output = nn.Module()
                self.ssm.output.dense = nn.Linear(2 * H, H)
                self.ssm.output.LayerNorm = nn.LayerNorm(H, eps=eps)
            else:
                self.attention = nn.Module()
                self.attention.self = MHA(H, c["num_attention_heads"])
                self.attention.output = nn.Module()
                self.attention.output.dense = nn.Linear(H, H)
                self.attention.output.LayerNorm = nn.LayerNorm(H, eps=eps)
            self.intermediate = nn.Module()
            self.intermediate.dense = nn.Linear(H, I)
            self.output = nn.Module()
            self.output.dense = nn.Linear(I, H)
            self.output.LayerNorm = nn.LayerNorm(H, eps=eps)

    def gated(self, x, mask):
        c = self.c
        a = c["block_act"]
        V = act(self.dv(x), a)
        if c["routing"] == "ssm":
            Uf = act(self.du_forward(x), a)
            Ub = act(self.du_backward(torch.flip(x, [1])), a)
            Cf = self.duc_forward(self.fs4(Uf))
            Cb = torch.flip(self.duc_backward(self.bs4(Ub)), [1])
            G = Cf * Cb
        else:
            G = self.duc(self.attention(act(self.du(x), a), mask))
        Z = act(self.dol(G), a)
        return getattr(self, "do")(Z * V)

    def gated_rows(self, x, mask, idx):
        # gated() at the flat rows idx of (B*L,H) only
        c = self.c
        a = c["block_act"]
        rows = lambda t: take_rows(t, idx)  # noqa: E731
        V = act(self.dv(rows(x)), a)
        if c["routing"] == "ssm":
            Uf = act(self.du_forward(x), a)
            Ub = act(self.du_backward(torch.flip(x, [1])), a)
            Cf = self.duc_forward(rows(self.fs4(Uf)))
            Cb = self.duc_backward(rows(torch.flip(self.bs4(Ub), [1])))
            G = Cf * Cb
        else:
            G = self.duc(rows(self.attention(act(self.du(x), a), mask)))
        Z = act(self.dol(G), a)
        return getattr(self, "do")(Z * V)

    def route_rows(self, x, mask, idx):
        rows = lambda t: take_rows(t, idx)  # noqa: E731
        if self.c["routing"] == "ssm":
            Yf = self.ssm.fs4(x)
            Yb = torch.flip(self.ssm.bs4(torch.flip(x, [1])), [1])
            return self.ssm.output.dense(rows(torch.cat([Yf, Yb], -1)))
        return self.attention.output.dense(rows(self.attention.self(x, mask)))

    def forward_rows(self, X, mask, idx):
        # forward() at the flat rows idx only: (n, H)
        c = self.c
        Xr = take_rows(X, idx)
        if c["block"] == "gated":
            if c["pre_norm"]:
                return Xr + self.gated_rows(self.LayerNorm(X), mask, idx)
            return self.LayerNorm(Xr + self.gated_rows(X, mask, idx))
        if c["pre_norm"]:
            X1 = Xr + self.route_rows(self.route_norm()(X), mask, idx)
            return X1 + self.ffn(self.output.LayerNorm(X1))
        X1 = self.route_norm()(Xr + self.route_rows(X, mask, idx))
        return self.output.LayerNorm(X1 + self.ffn(X1))

    def route(self, x, mask):
        if self.c["routing"] == "ssm":
            Yf = self.ssm.fs4(x)
            Yb = torch.flip(self.ssm.bs4(torch.flip(x, [1])), [1])
            return self.ssm.output.dense(torch.cat([Yf, Yb], -1))
        return self.attention.output.dense(self.attention.self(x, mask))

    def route_norm(self):
        return self.ssm.output.LayerNorm if self.c["routing"] == "ssm" else self.attention.output.LayerNorm

    def ffn(self, x):
        return self.output.dense(act(self.intermediate.dense(x), self.c["hidden_act"]))

    def forward(self, X, mask):
        c = self.c
        if c["block"] == "gated":
            if c["pre_norm"]:
                return X + self.gated(self.LayerNorm(X), mask)
            return self.LayerNorm(X + self.gated(X, mask))
        if c["pre_norm"]:
            X1 = X + self.route(self.route_norm()(X), mask)
            return X1 + self.ffn(self.output.LayerNorm(X1))
        X1 = self.route_norm()(X + self.route(X, mask))
        return self.output.LayerNorm(X1 + self.ffn(X1))


class Encoder(nn.Module):
    def __init__(self, c, pooler):
        super().__init__()
        H = c["hidden_size"]
        self.c = c
        self.embeddings = nn.Module()
        self.embeddings.word_embeddings = nn.Embedding(c["vocab_size"], H)
        self.embeddings.position_embeddings = nn.Embedding(c["max_position_embeddings"], H)
        self.embeddings.token_type_embeddings = nn.Embedding(c["type_vocab_size"], H)
        self.embeddings.LayerNorm = nn.LayerNorm(H, eps=c["layer_norm_eps"])
        self.encoder = nn.Module()
        self.encoder.layer = nn.ModuleList([Layer(c) for _ in range(c["num_hidden_layers"])])
        if pooler:
            self.pooler = nn.Module()
            self.pooler.dense = nn.Linear(H, H)

    def forward(self, ids, types, mask, idx=None):
        # idx (flat row indices): the last layer's output at those rows only, (n, H)
        B, L = ids.shape
        e = self.embeddings
        pos = torch.arange(L)[None, :].expand(B, L)
        X = e.LayerNorm(e.word_embeddings(ids) + e.position_embeddings(pos) + e.token_type_embeddings(types))
        # SSM routing does not mask pads inside the encoder (the official model); attention masks pad keys
        amask = mask if self.c["routing"] == "attention" else None
        layers = list(self.encoder.layer)
        for layer in layers if idx is None else layers[:-1]:
            X = layer(X, amask)
        return X if idx is None else layers[-1].forward_rows(X, amask, idx)

    def pool(self, X, mask):
        p = self.c["pooler_type"]
        if p == "cls":
            P = X[:, 0]
        elif p == "mean":
            P = X.mean(1)
        else:
            m = mask[..., None].to(X.dtype)
            P = (X * m).sum(1) / m.sum(1)
        return torch.tanh(self.pooler.dense(P))


class Model(nn.Module):
    def __init__(self, c, head):
        super().__init__()
        self.c, self.head = c, head
        prefix = "bert" if c["block"] == "stack" and c["routing"] == "attention" else "bigs"
        self.prefix = prefix
        setattr(self, prefix, Encoder(c, pooler=head != "mlm"))
        H = c["hidden_size"]
        if head == "mlm":
            self.cls = nn.Module()
            self.cls.predictions = nn.Module()
            self.cls.predictions.transform = nn.Module()
            self.cls.predictions.transform.dense = nn.Linear(H, H)
            self.cls.predictions.transform.LayerNorm = nn.LayerNorm(H, eps=c["layer_norm_eps"])
            self.cls.predictions.bias = nn.Parameter(torch.zeros(c["vocab_size"]))
        else:
            self.classifier = nn.Linear(H, 1 if head == "mc" else c["num_labels"])

    def enc(self):
        return getattr(self, self.prefix)

    def forward(self, ids, types, mask, labels):
        """Returns (logits, loss). mlm: logits (M, V) at labelled positions in row-major order."""
        if self.head == "mlm":
            sel = labels.reshape(-1) != -100
            if LAST_LAYER_ROWS:
                h = self.enc()(ids, types, mask, idx=sel.nonzero().squeeze(1))
            else:
                h = take_rows(self.enc()(ids, types, mask), sel)
            t = self.cls.predictions.transform
            h = t.LayerNorm(act(t.dense(h), self.c["hidden_act"]))
            logits = h @ self.enc().embeddings.word_embeddings.weight.T + self.cls.predictions.bias
            return logits, F.cross_entropy(logits, labels.reshape(-1)[sel])
        if self.head == "seqcls":
            X = self.enc()(ids, types, mask)
            logits = self.classifier(self.enc().pool(X, mask))
            if self.c["num_labels"] == 1:
                return logits, F.mse_loss(logits.squeeze(-1), labels)
            return logits, F.cross_entropy(logits, labels)
        B, C, L = ids.shape
        flat = lambda t: t.reshape(B * C, L)
        X = self.enc()(flat(ids), flat(types), flat(mask))
        logits = self.classifier(self.enc().pool(X, flat(mask))).view(B, C)
        return logits, F.cross_entropy(logits, labels)


def check_last_layer_rows():
    """The masked-LM loss, logits and gradients with LAST_LAYER_ROWS against the whole last layer, in
    float64, for every block, routing and norm placement (`python3 scripts/ref_bigs.py`)."""
    global LAST_LAYER_ROWS
    torch.manual_seed(0)
    worst = 0.0
    for block in ("gated", "stack"):
        for routing in ("ssm", "attention"):
            for pre in (True, False):
                c = {"vocab_size": 50, "hidden_size": 16, "num_hidden_layers": 2, "intermediate_size": 24, "num_ssm": 4,
                     "max_position_embeddings": 16, "type_vocab_size": 2, "layer_norm_eps": 1e-12,
                     "num_attention_heads": 2, "block": block, "routing": routing, "pre_norm": pre,
                     "block_act": "gelu_tanh", "hidden_act": "gelu", "pooler_type": "cls", "num_labels": 2}
                m = Model(c, "mlm").double()
                for p in m.parameters():
                    with torch.no_grad():
                        p.normal_(0, 0.3)
                ids = torch.randint(5, 50, (3, 12))
                mask = torch.ones_like(ids)
                mask[2, 9:] = 0
                labels = torch.where(torch.rand(3, 12) < 0.3, ids, torch.full_like(ids, -100))
                out = []
                for flag in (False, True):
                    LAST_LAYER_ROWS = flag
                    m.zero_grad()
                    logits, loss = m(ids, torch.zeros_like(ids), mask, labels)
                    loss.backward()
                    out.append([logits.detach()] + [p.grad.clone() for p in m.parameters()])
                LAST_LAYER_ROWS = False
                # against the largest magnitude of the pass: some gradients are zero in exact arithmetic (the
                # key bias's, under the softmax) and only rounding noise in either path
                scale = max(a.abs().max().item() for a in out[0])
                d = max((a - b).abs().max().item() for a, b in zip(out[0], out[1])) / scale
                print("%s + %s, %s-norm: largest relative difference %.1e" % (block, routing, "pre" if pre else "post", d))
                worst = max(worst, d)
    if worst > 1e-12:
        raise SystemExit("ref_bigs.py: LAST_LAYER_ROWS differs from the whole layer (%.1e)" % worst)
    print("ok: LAST_LAYER_ROWS gives the whole layer's results at the masked positions")


if __name__ == "__main__":
    check_last_layer_rows()
