#!/usr/bin/python3
"""extrapolation_table.py OUT_DIR STEPS BATCH LR THREADS: the table of scripts/extrapolation.sh.

Reads OUT_DIR/eval.jsonl (one line per model and length: the eval JSON, the load average) and each run's
train_time.json and all_results.json; writes OUT_DIR/extrapolation.json, OUT_DIR/extrapolation.md (the loss
and the forward microseconds per token at each length) and OUT_DIR/plot.dat (for gnuplot), and prints the
markdown.
"""
import json
import os
import sys

out, steps, batch, lr, threads = sys.argv[1:]
rows = [json.loads(l) for l in open(os.path.join(out, "eval.jsonl"))]
models, lengths = [], []
for r in rows:
    if r["model"] not in models:
        models.append(r["model"])
    if r["L"] not in lengths:
        lengths.append(r["L"])
res = {"budget": {"steps": int(steps), "batch": int(batch), "L": 128, "learning_rate": float(lr)},
       "eval_threads": int(threads), "models": {}}
for m in models:
    tr = json.load(open(os.path.join(out, f"run-{m}", "train_time.json")))
    ar = json.load(open(os.path.join(out, f"run-{m}", "all_results.json")))
    e = {r["L"]: r for r in rows if r["model"] == m}
    res["models"][m] = {
        "position": e[lengths[0]]["position"], "train_seconds": round(tr["train_seconds"], 1),
        "eval_loss_128_during_training": ar.get("eval_loss"),
        "loss": {L: e[L]["eval"]["loss"] for L in lengths},
        "accuracy": {L: e[L]["eval"]["accuracy"] for L in lengths},
        "tokens": {L: e[L]["eval"]["tokens"] for L in lengths},
        "us_per_token": {L: round(1e6 * e[L]["eval"]["seconds"] / e[L]["eval"]["tokens"], 1) for L in lengths},
        "load_average": {L: e[L]["load"] for L in lengths}}
json.dump(res, open(os.path.join(out, "extrapolation.json"), "w"), indent=1)
md = ["| model | positions | " + " | ".join(f"L={L}" for L in lengths) + " |", "|---|---|" + "---|" * len(lengths)]
for m, r in res["models"].items():
    md.append(f"| {m} | {r['position']} | " + " | ".join(f"{r['loss'][L]:.3f}" for L in lengths) + " |")
md += ["", "| model | " + " | ".join(f"L={L}" for L in lengths) + " |", "|---|" + "---|" * len(lengths)]
for m, r in res["models"].items():
    md.append(f"| {m} | " + " | ".join(f"{r['us_per_token'][L]:.0f}" for L in lengths) + " |")
open(os.path.join(out, "extrapolation.md"), "w").write("\n".join(md) + "\n")
with open(os.path.join(out, "plot.dat"), "w") as f:
    for m, r in res["models"].items():
        f.write(f"# {m}\n" + "".join(f"{L} {r['loss'][L]} {r['us_per_token'][L]}\n" for L in lengths) + "\n\n")
print("\n".join(md))
