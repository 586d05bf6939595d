#!/usr/bin/python3
"""bench_torch.py CONFIG L BATCH THREADS [steps] [bf16]: the PyTorch side of the speed comparison: tokens/s of a
masked-LM training step (forward + backward + torch.optim.AdamW) and of inference, with the reference
model of scripts/ref_bigs.py in float32 (SSM by FFT, the last layer and the logits only at the masked
positions, as bigs),
medians of several steps, and the peak resident memory. With `bf16` the forward passes run under
torch.autocast("cpu", dtype=torch.bfloat16) (float32 master weights, as bigs's train.bf16). Prints one
JSON line."""
import json
import resource
import statistics
import sys
import time

import torch

sys.path.insert(0, __import__("os").path.dirname(__import__("os").path.abspath(__file__)))
import ref_bigs  # noqa: E402

cfg_path, L, B, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
steps = int(sys.argv[5]) if len(sys.argv) > 5 else 5
bf16 = len(sys.argv) > 6 and sys.argv[6] == "bf16"
autocast = (lambda: torch.autocast("cpu", dtype=torch.bfloat16)) if bf16 else __import__("contextlib").nullcontext
if bf16:  # PyTorch 1.13's CPU autocast leaves LayerNorm with a bf16 input and float32 weights (an error): float32 it
    _ln = torch.nn.LayerNorm.forward
    torch.nn.LayerNorm.forward = lambda self, x: _ln(self, x.float())
torch.set_num_threads(threads)
ref_bigs.USE_FFT = True
ref_bigs.LAST_LAYER_ROWS = True
c = {"vocab_size": 30522, "hidden_size": 1024, "num_hidden_layers": 23, "intermediate_size": 3072, "num_ssm": 64,
     "num_attention_heads": 16, "max_position_embeddings": 128, "type_vocab_size": 2, "layer_norm_eps": 1e-12,
     "block": "gated", "routing": "ssm", "pre_norm": True, "block_act": "gelu_tanh", "hidden_act": "gelu",
     "pooler_type": "non_padding_mean", "num_labels": 2}
c.update(json.load(open(cfg_path))["model"])
if c.get("model_type") == "bert":
    c.update(block="stack", routing="attention", pre_norm=c.get("pre_norm", False))
c["max_position_embeddings"] = max(c["max_position_embeddings"], L)
torch.manual_seed(0)
m = ref_bigs.Model(c, "mlm").float()
for n, p in m.named_parameters():  # plausible values (the init does not change the speed)
    with torch.no_grad():
        if n.endswith("kernel.A_re"):
            p.fill_(-0.5)
        elif n.endswith("kernel.A_im"):
            p.copy_(torch.arange(p.numel(), dtype=torch.float32))
        elif n.endswith("kernel.log_step"):
            p.fill_(-2.0)
        elif p.dim() >= 2:
            p.normal_(0, 0.02)
opt = torch.optim.AdamW(m.parameters(), lr=1e-4, betas=(0.9, 0.98), eps=1e-6, weight_decay=0.01)
i = torch.arange(B * L)
ids = (1000 + (i * 37) % 20000).view(B, L)
labels = torch.where(i % 7 == 3, ids.view(-1), torch.full_like(i, -100)).view(B, L)
types = torch.zeros_like(ids)
mask = torch.ones_like(ids)
tt, ti = [], []
for s in range(steps + 1):
    t0 = time.perf_counter()
    opt.zero_grad(set_to_none=True)
    with autocast():
        _, loss = m(ids, types, mask, labels)
    loss.float().backward()
    torch.nn.utils.clip_grad_norm_(m.parameters(), 1.0)
    opt.step()
    t1 = time.perf_counter()
    with torch.no_grad(), autocast():
        m(ids, types, mask, labels)
    t2 = time.perf_counter()
    if s > 0:
        tt.append(t1 - t0)
        ti.append(t2 - t1)
print(json.dumps({"peer": "pytorch %s" % torch.__version__, "config": cfg_path, "L": L, "batch": B, "threads": threads, "bf16": bf16,
                  "train_tokens_per_sec": round(B * L / statistics.median(tt), 1),
                  "infer_tokens_per_sec": round(B * L / statistics.median(ti), 1),
                  "train_step_ms": round(1e3 * statistics.median(tt), 1),
                  "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}))
