#!/usr/bin/python3
"""gen_model_golden.py: end-to-end golden values of the model family from scripts/ref_bigs.py.

For a tiny config of each variant (gated/stack x ssm/attention) and each head (mlm, seqcls, mc), plus
post-norm variants and a regression head, writes tests/golden/e2e_<variant>_<head>.safetensors with every
parameter (F32, Hugging Face names), the inputs, the reference logits and loss and the gradient of every
parameter (float64), and the config as metadata. Inputs have padding at the end of some rows.
Run with Debian's python3 (python3-torch): /usr/bin/python3 scripts/gen_model_golden.py
"""
import json
import math
import os
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from golden_io import write_safetensors  # noqa: E402
from ref_bigs import Model  # noqa: E402

OUT = os.path.join(HERE, "..", "tests", "golden")


def config(block, routing, **kw):
    c = dict(vocab_size=50, hidden_size=16, num_hidden_layers=2, intermediate_size=24, num_ssm=4,
             num_attention_heads=2, max_position_embeddings=16, type_vocab_size=2, layer_norm_eps=1e-12,
             initializer_range=0.02, pad_token_id=0, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
             block=block, routing=routing, pre_norm=True, block_act="gelu_tanh", hidden_act="gelu",
             pooler_type="non_padding_mean", num_labels=3, scaling="hippo")
    if block == "stack" and routing == "attention":
        c.update(pre_norm=False, pooler_type="cls")
    c.update(kw)
    return c


def randomise(model, rs):
    """Non-trivial float32-representable values for every parameter."""
    for name, p in model.named_parameters():
        shape = tuple(p.shape)
        if name.endswith("kernel.A_re"):
            v = rs.uniform(-0.8, -0.2, shape)
            v[1] = 0.3  # above the clip at -1e-4: its gradient must be 0
        elif name.endswith("kernel.A_im"):
            v = rs.uniform(0.0, 3.0, shape)
        elif name.endswith("kernel.C"):
            v = rs.normal(0, 0.7, shape)
        elif name.endswith("kernel.log_step"):
            v = rs.uniform(math.log(0.01), math.log(1.0), shape)
        elif name.endswith("LayerNorm.weight"):
            v = 1 + 0.1 * rs.normal(0, 1, shape)
        elif name.endswith(".bias") or name.endswith(".D"):
            v = rs.normal(0, 0.1 if name.endswith(".bias") else 1.0, shape)
        elif len(shape) == 2 and "embeddings" in name:
            v = rs.normal(0, 1.0, shape)
        else:
            v = rs.normal(0, 1.0 / math.sqrt(shape[-1]), shape)
        p.data = torch.tensor(v.astype(np.float32).astype(np.float64))


def inputs(rs, c, head):
    B, L = 3, 12
    lens = [12, 9, 6]
    shape = (2, 3, L) if head == "mc" else (B, L)
    rows = int(np.prod(shape[:-1]))
    ids = np.zeros((rows, L), np.int64)
    types = np.zeros((rows, L), np.int64)
    mask = np.zeros((rows, L), np.int64)
    for r in range(rows):
        n = lens[r % 3]
        ids[r, :n] = rs.randint(1, c["vocab_size"], n)
        types[r, n // 2:n] = 1
        mask[r, :n] = 1
    if head == "mlm":
        labels = np.full((rows, L), -100, np.int64)
        pick = (rs.rand(rows, L) < 0.35) & (mask == 1)
        labels[pick] = rs.randint(0, c["vocab_size"], int(pick.sum()))
    elif head == "mc":
        labels = rs.randint(0, 3, 2)
    elif c["num_labels"] == 1:
        labels = rs.uniform(0, 5, B).astype(np.float32).astype(np.float64)
    else:
        labels = rs.randint(0, c["num_labels"], B)
    return [a.reshape(shape) for a in (ids, types, mask)] + [labels]


def make(name, c, head, seed):
    rs = np.random.RandomState(seed)
    torch.manual_seed(seed)
    m = Model(c, head).double()
    randomise(m, rs)
    ids, types, mask, labels = inputs(rs, c, head)
    lab = torch.tensor(labels)
    logits, loss = m(torch.tensor(ids), torch.tensor(types), torch.tensor(mask), lab)
    loss.backward()
    t = {}
    for pname, p in m.named_parameters():
        t[pname] = p.detach().numpy().astype(np.float32)
        t["grad." + pname] = p.grad.numpy()
    t["input.input_ids"], t["input.token_type_ids"], t["input.attention_mask"] = ids, types, mask
    t["input.labels"] = labels
    t["output.logits"] = logits.detach().numpy()
    t["output.loss"] = loss.detach().numpy().reshape(1)
    meta = {"config": json.dumps(c), "variant": "%s+%s" % (c["block"], c["routing"]), "head": head}
    write_safetensors(os.path.join(OUT, "e2e_%s.safetensors" % name), t, meta)
    return loss.item()


def main():
    torch.set_default_dtype(torch.float64)
    seed = 100
    for block in ("gated", "stack"):
        for routing in ("ssm", "attention"):
            for head in ("mlm", "seqcls", "mc"):
                seed += 1
                loss = make("%s_%s_%s" % (block, routing, head), config(block, routing), head, seed)
                print("%-28s loss %.6f" % ("%s+%s %s" % (block, routing, head), loss))
    make("gated_ssm_mlm_postnorm_erf", config("gated", "ssm", pre_norm=False, block_act="gelu"), "mlm", 201)
    make("stack_attention_mlm_prenorm", config("stack", "attention", pre_norm=True), "mlm", 202)
    make("gated_ssm_regression_mean", config("gated", "ssm", num_labels=1, pooler_type="mean"), "seqcls", 203)
    make("stack_ssm_seqcls_cls_tanhffn", config("stack", "ssm", pooler_type="cls", hidden_act="gelu_tanh"), "seqcls", 204)
    print("wrote the e2e_* fixtures to", os.path.normpath(OUT))


if __name__ == "__main__":
    main()
