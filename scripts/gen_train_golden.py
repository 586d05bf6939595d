#!/usr/bin/python3
"""gen_train_golden.py: 5 optimizer steps of a tiny BiGS masked-LM in the PyTorch reference, for the
parity test of the training step (tests/test_train_parity.c).

torch.optim.AdamW with no decay on biases and LayerNorm weights, linear warmup then cosine decay to a
floor (evaluated before each step, as a Hugging Face scheduler), global-norm clipping with
clip_grad_norm_, fixed batches, dropout off. Writes tests/golden/train5.safetensors: the initial
parameters, the batches, the loss of every step and the final parameters.
"""
import json
import math
import os
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from gen_model_golden import config, randomise  # noqa: E402
from golden_io import write_safetensors  # noqa: E402
from ref_bigs import Model  # noqa: E402

HP = dict(learning_rate=3e-3, weight_decay=0.05, adam_beta1=0.9, adam_beta2=0.98, adam_epsilon=1e-6, max_grad_norm=0.5,
          warmup_steps=2, max_steps=5, min_lr_ratio=0.1)


def lr_factor(step, warmup, total, floor):
    if step < warmup:
        return step / max(warmup, 1)
    progress = min(1.0, (step - warmup) / max(total - warmup, 1))
    return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress))


def main():
    torch.set_default_dtype(torch.float64)
    c = config("gated", "ssm")
    rs = np.random.RandomState(77)
    m = Model(c, "mlm").double()
    randomise(m, rs)
    t = {"init." + n: p.detach().numpy().astype(np.float32) for n, p in m.named_parameters()}
    decay = [p for n, p in m.named_parameters() if not (n.endswith(".bias") or "LayerNorm.weight" in n)]
    no_decay = [p for n, p in m.named_parameters() if n.endswith(".bias") or "LayerNorm.weight" in n]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": HP["weight_decay"]}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=HP["learning_rate"], betas=(HP["adam_beta1"], HP["adam_beta2"]), eps=HP["adam_epsilon"])
    B, L = 4, 12
    losses = []
    for s in range(HP["max_steps"]):
        ids = rs.randint(1, c["vocab_size"], (B, L))
        mask = np.ones((B, L), np.int64)
        mask[1, 9:] = 0
        ids[mask == 0] = 0
        labels = np.where((rs.rand(B, L) < 0.3) & (mask == 1), rs.randint(0, c["vocab_size"], (B, L)), -100)
        t["batch%d.input_ids" % s], t["batch%d.attention_mask" % s], t["batch%d.labels" % s] = ids, mask, labels
        for g in opt.param_groups:
            g["lr"] = HP["learning_rate"] * lr_factor(s, HP["warmup_steps"], HP["max_steps"], HP["min_lr_ratio"])
        opt.zero_grad()
        _, loss = m(torch.tensor(ids), torch.zeros((B, L), dtype=torch.int64), torch.tensor(mask), torch.tensor(labels))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(m.parameters(), HP["max_grad_norm"])
        opt.step()
        losses.append(loss.item())
    t["losses"] = np.array(losses)
    for n, p in m.named_parameters():
        t["final." + n] = p.detach().numpy()
    write_safetensors(os.path.join(HERE, "..", "tests", "golden", "train5.safetensors"), t,
                      {"config": json.dumps(c), "train": json.dumps(HP)})
    print("losses", " ".join("%.6f" % x for x in losses))


if __name__ == "__main__":
    main()
