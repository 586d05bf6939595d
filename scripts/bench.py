#!/usr/bin/python3
"""bench.py: bigs against PyTorch on this machine, in one run (`make bench`).

Measures, on the same machine, interleaved so that all sides see the same load:
  1. the CPU (model name, family/model, the SIMD flags that matter) and the GEMM peaks of a 2048^3
     product: OpenBLAS sgemm, bigs's float32 GEMM and bigs's bf16 GEMM (build/bench_gemm);
  2. per model row (BiGS-small and BERT-small of configs/, L=128 batch 16 and L=4096 batch 1, BiGS-small
     also at L=1024 batch 2): training-step tokens/s (forward, backward, clipping, AdamW) and inference
     tokens/s of bigs in float32 and in bf16 (build/bench_train [--bf16]) and of PyTorch in float32 and
     under torch.autocast("cpu", dtype=torch.bfloat16) (scripts/bench_torch.py, the reference model of
     scripts/ref_bigs.py, SSM by FFT, the last layer and the logits only at the masked positions, as
     bigs computes them), PyTorch at 1 and 2 threads and
     compared at its faster one, with OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE removed from its environment
     (they would pin its OpenBLAS below its best kernels); peak resident memory of each process;
  3. the pretraining command itself: `bigs pretrain` on real text (State of the Union addresses packed
     into 128-token sequences; fetched once by scripts/fetch_data.sh into BIGS_CACHE) against
     build/bench_train on the same model and batch, in float32 and bf16, both measured the same way: the
     median over the steps after the first of one step's tokens/s (the pretraining run logs every step;
     evaluation and checkpoints are excluded), with the same number of steps on both sides; the two
     sides run in pairs, one right after the other (in alternating order), and the row's ratio is the
     median over the pairs of each pair's ratio, since the machine's speed drifts by 10-20% between
     runs a minute apart on some VMs (--pretrain-reps pairs, default 7);
  4. with an MPI build, data-parallel layouts (scripts/bench_mpi.sh).
Each figure is the median over repetitions of each run's median step. Prints tables and the targets of
issue 18, each missed one with its ceiling on this CPU (the ratio if bigs's products, counted by
build/bench_train, ran at the cores' arithmetic peak, measured by build/bench_gemm, and nothing else
took time), and writes a JSON summary (default build/bench.json).

  /usr/bin/python3 scripts/bench.py [--reps 3] [--steps 4] [--pretrain-steps 16] [--pretrain-reps 7] [--out build/bench.json]
                                    [--no-mpi] [--quick] [--rows 0,1,...] [--no-pretrain]
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ROWS = [  # name, config, L, batch
    ("BiGS-small", "configs/bigs-small.json", 128, 16),
    ("BiGS-small", "configs/bigs-small.json", 1024, 2),
    ("BiGS-small", "configs/bigs-small.json", 4096, 1),
    ("BERT-small", "configs/bert-small.json", 128, 16),
    ("BERT-small", "configs/bert-small.json", 4096, 1),
]
SIDES = ("bigs", "bigs_bf16", "torch1", "torch2", "torch1_bf16", "torch2_bf16")
FLAGS = ("avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512_bf16", "amx_bf16")


def cpu_info():
    """Model name, family/model and the relevant flags of the first CPU in /proc/cpuinfo."""
    info = {"model_name": "?", "family": "?", "model": "?", "flags": [], "cores": os.cpu_count()}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if not line.strip():
                    break
                k, _, v = line.partition(":")
                k, v = k.strip(), v.strip()
                if k == "model name":
                    info["model_name"] = v
                elif k == "cpu family":
                    info["family"] = v
                elif k == "model":
                    info["model"] = v
                elif k == "flags":
                    have = set(v.split())
                    info["flags"] = [x for x in FLAGS if x in have]
    except OSError:
        pass
    return info


def torch_env():
    """The environment for the PyTorch side: without the OpenBLAS pins."""
    env = dict(os.environ)
    for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):
        env.pop(k, None)
    return env


def run_json(cmd, env=None):
    """Runs cmd (a list) from the repository root and returns its last stdout line as JSON."""
    p = subprocess.run(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    if p.returncode != 0:
        sys.exit("bench.py: %s failed (exit %d):\n%s" % (" ".join(cmd), p.returncode, p.stderr[-2000:]))
    lines = [l for l in p.stdout.splitlines() if l.startswith("{")]
    if not lines:
        sys.exit("bench.py: %s printed no JSON line:\n%s" % (" ".join(cmd), p.stdout[-2000:]))
    return json.loads(lines[-1])


def med(runs, key):
    return statistics.median(r[key] for r in runs)


def side_cmd(side, cfg, L, B, steps):
    if side.startswith("bigs"):
        return ["build/bench_train", cfg, str(L), str(B), str(steps)] + (["--bf16"] if side.endswith("bf16") else []), None
    t = side[5]
    return ([sys.executable, "scripts/bench_torch.py", cfg, str(L), str(B), t, str(steps)]
            + (["bf16"] if side.endswith("bf16") else [])), torch_env()


def model_rows(a, sides, rows_idx):
    runs = {(i, s): [] for i in rows_idx for s in sides}
    for rep in range(a.reps):
        for i in rows_idx:
            name, cfg, L, B = ROWS[i]
            print("rep %d/%d: %s L=%d batch %d" % (rep + 1, a.reps, name, L, B), file=sys.stderr, flush=True)
            for s in sides:
                cmd, env = side_cmd(s, cfg, L, B, a.steps)
                runs[(i, s)].append(run_json(cmd, env))
    rows = []
    for i in rows_idx:
        name, cfg, L, B = ROWS[i]
        r = {"model": name, "config": cfg, "L": L, "batch": B}
        for s in sides:
            keys = ("train_tokens_per_sec", "infer_tokens_per_sec", "peak_rss_mib") + ((
                "model_gflops_per_sec", "train_product_gflop", "infer_product_gflop") if s.startswith("bigs") else ())
            r[s] = {k: med(runs[(i, s)], k) for k in keys}
        for fmt in ("", "_bf16"):
            if "torch1" + fmt not in sides:
                continue
            for m in ("train", "infer"):
                key = m + "_tokens_per_sec"
                best = max((1, 2), key=lambda t: r["torch%d%s" % (t, fmt)][key])
                r["torch%s_%s_best_threads" % (fmt, m)] = best
                r["torch%s_%s" % (fmt, m)] = r["torch%d%s" % (best, fmt)][key]
        rows.append(r)
    return rows, runs


def pretrain_side(a, shards, bf16, tmp):
    """Steady-state tokens/s of bigs pretrain (padded-token count, as bench_train's) and bench_train's."""
    out = os.path.join(tmp, "run-bf16" if bf16 else "run-fp32")
    shutil.rmtree(out, ignore_errors=True)
    # every step logged: the median of single steps, the statistic bench_train reports (a median of
    # several-step windows would average the machine's slow steps in, and read a few percent low)
    sets = ["--set", "model.hidden_dropout_prob=0", "--set", "train.max_steps=%d" % (a.pretrain_steps + 1),
            "--set", "train.logging_steps=1", "--set", "train.eval_steps=0", "--set", "train.save_steps=0",
            "--set", "train.eval_batches=1", "--set", "train.warmup_steps=2"]
    if bf16:
        sets += ["--set", "train.bf16=true"]
    cmd = ["build/bigs", "pretrain", "--config", "configs/bigs-small.json", "--data", shards, "--output", out, "--quiet"] + sets
    p = subprocess.run(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if p.returncode != 0:
        sys.exit("bench.py: %s failed (exit %d):\n%s" % (" ".join(cmd), p.returncode, p.stderr[-2000:]))
    with open(os.path.join(out, "metrics.jsonl")) as f:
        tps = [json.loads(l)["tokens_per_sec"] for l in f if '"tokens_per_sec"' in l]
    return statistics.median(tps[1:])


def pretrain_row(a, tmp):
    """bigs pretrain against bench_train, BiGS-small L=128 batch 16, float32 and bf16."""
    cache = os.environ.get("BIGS_CACHE", os.path.expanduser("~/.cache/bigs"))
    if not os.path.isfile(os.path.join(cache, "sotu", ".done")) or not os.path.isfile(os.path.join(cache, "vocab.txt")):
        print("fetching the demo's text into %s (scripts/fetch_data.sh)" % cache, file=sys.stderr, flush=True)
        if subprocess.run(["scripts/fetch_data.sh", cache], cwd=ROOT).returncode != 0:
            print("bench.py: no text for the pretraining row (set BIGS_CACHE to a fetched cache); skipped", file=sys.stderr)
            return None
    shards = os.path.join(tmp, "shards")
    p = subprocess.run(["build/bigs", "prepare", "--vocab", os.path.join(cache, "vocab.txt"), "--input", os.path.join(cache, "sotu"),
                        "--output", shards, "--max-len", "128", "--short-seq-prob", "0", "--val-fraction", "0.02"],
                       cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if p.returncode != 0:
        sys.exit("bench.py: bigs prepare failed:\n" + p.stderr[-2000:])
    info = run_json(["build/bigs", "info", shards, "--json"])
    fill = info["train"]["tokens"] / (info["train"]["sequences"] * 128.0)
    sides = [False, True] if a.bf16 else [False]
    runs = {(k, bf): [] for k in ("pretrain", "bench") for bf in sides}
    for rep in range(a.pretrain_reps):
        print("pair %d/%d: bigs pretrain against bench_train" % (rep + 1, a.pretrain_reps), file=sys.stderr, flush=True)
        for bf in sides:
            cmd = ["build/bench_train", "configs/bigs-small.json", "128", "16", str(a.pretrain_steps)] + (["--bf16"] if bf else [])
            # the two sides in turn, and in the other order at every other repetition, so that a drift of the
            # machine's speed over a repetition favours neither
            for side in (("pretrain", "bench") if rep % 2 == 0 else ("bench", "pretrain")):
                if side == "pretrain":  # the pretraining log counts non-pad tokens; divided by the fill it counts as bench_train does
                    runs[("pretrain", bf)].append(pretrain_side(a, shards, bf, tmp) / fill)
                else:
                    runs[("bench", bf)].append(run_json(cmd)["train_tokens_per_sec"])
            print("  %s: pretrain %.0f tokens/s, bench_train %.0f" % ("bf16" if bf else "fp32", runs[("pretrain", bf)][-1],
                                                                   runs[("bench", bf)][-1]), file=sys.stderr, flush=True)
    r = {"fill": fill}
    for bf in sides:
        tag = "bf16" if bf else "fp32"
        pt, be = statistics.median(runs[("pretrain", bf)]), statistics.median(runs[("bench", bf)])
        pairs = [x / y for x, y in zip(runs[("pretrain", bf)], runs[("bench", bf)])]
        r[tag] = {"pretrain_tokens_per_sec": pt, "bench_train_tokens_per_sec": be, "ratio": statistics.median(pairs),
                  "ratio_of_medians": pt / be, "pair_ratios": pairs,
                  "runs": {"pretrain": runs[("pretrain", bf)], "bench_train": runs[("bench", bf)]}}
    return r


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--reps", type=int, default=3, help="repetitions of every measurement (default 3)")
    ap.add_argument("--steps", type=int, default=4, help="timed steps per run, after one warm-up step (default 4)")
    ap.add_argument("--pretrain-steps", type=int, default=16,
                    help="timed steps of the pretraining row, on both sides, after one warm-up step (default 16)")
    ap.add_argument("--pretrain-reps", type=int, default=7,
                    help="pairs of runs (pretrain, bench_train) of the pretraining row (default 7; 1..50)")
    ap.add_argument("--out", default="build/bench.json", help="JSON summary (default build/bench.json)")
    ap.add_argument("--rows", default=None, help="model rows to run, by index (default all: %s)" % ", ".join(
        "%d=%s L=%d" % (i, r[0], r[2]) for i, r in enumerate(ROWS)))
    ap.add_argument("--no-mpi", action="store_true", help="skip the data-parallel layouts")
    ap.add_argument("--no-pretrain", action="store_true", help="skip the pretraining command's row")
    ap.add_argument("--quick", action="store_true", help="one repetition of 2 steps (a smoke run, not for figures)")
    a = ap.parse_args()
    if a.quick:
        a.reps, a.steps, a.pretrain_steps, a.pretrain_reps = 1, 2, 2, 1
    for exe in ("build/bench_train", "build/bench_gemm", "build/bigs"):
        if not os.access(os.path.join(ROOT, exe), os.X_OK):
            sys.exit("bench.py: %s is missing: run `make build/bench_train build/bench_gemm build/bigs` (or `make bench`)" % exe)
    try:
        import torch  # noqa: F401
    except ImportError:
        sys.exit("bench.py: PyTorch is not installed for %s: apt-get install python3-torch python3-numpy" % sys.executable)
    try:
        rows_idx = list(range(len(ROWS))) if a.rows is None else [int(x) for x in a.rows.split(",") if x.strip()]
    except ValueError:
        sys.exit("bench.py: --rows takes row numbers separated by commas (0 to %d), or \"\" for none; got %r" % (len(ROWS) - 1, a.rows))
    if any(not 0 <= i < len(ROWS) for i in rows_idx):
        sys.exit("bench.py: --rows: there are rows 0 to %d; got %r" % (len(ROWS) - 1, a.rows))
    if not 1 <= a.pretrain_reps <= 50:
        sys.exit("bench.py: --pretrain-reps must be 1 to 50; got %d" % a.pretrain_reps)
    if not 1 <= a.pretrain_steps <= 64:
        sys.exit("bench.py: --pretrain-steps must be 1 to 64 (bench_train's limit); got %d" % a.pretrain_steps)

    cpu = cpu_info()
    print("CPU: %s (family %s model %s), %d cores, flags: %s" % (cpu["model_name"], cpu["family"], cpu["model"], cpu["cores"],
                                                                  " ".join(cpu["flags"])))
    print("environment: OPENBLAS_CORETYPE=%s OPENBLAS_L2_SIZE=%s (bigs's side only; PyTorch runs without them)"
          % (os.environ.get("OPENBLAS_CORETYPE", "(unset)"), os.environ.get("OPENBLAS_L2_SIZE", "(unset)")), flush=True)
    peaks = [run_json(["build/bench_gemm"]) for _ in range(a.reps)]
    peak_blas, peak_own = med(peaks, "openblas_gflops"), med(peaks, "bigs_gemm_gflops")
    a.bf16 = peaks[0]["bigs_gemm_bf16_gflops"] is not None
    peak_bf16 = med(peaks, "bigs_gemm_bf16_gflops") if a.bf16 else None
    arith32 = med(peaks, "arith_peak_fp32_gflops")
    arith16 = med(peaks, "arith_peak_bf16_gflops") if a.bf16 and peaks[0]["arith_peak_bf16_gflops"] is not None else None
    print("GEMM 2048^3, %d threads: OpenBLAS sgemm %.1f GFLOP/s, bigs float32 %.1f, bigs bf16 %s%s" % (
        peaks[0]["threads"], peak_blas, peak_own, "%.1f" % peak_bf16 if a.bf16 else "- (no AVX512-BF16)",
        " (%.2fx float32)" % (peak_bf16 / peak_own) if a.bf16 else ""), flush=True)
    print("arithmetic peak of the cores (chains of multiply-adds in registers): fp32 %.1f GFLOP/s, bf16 %s" % (
        arith32, "%.1f" % arith16 if arith16 else "- (not measured)"), flush=True)
    tpk = [run_json([sys.executable, "scripts/bench_torch_gemm.py"], torch_env()) for _ in range(a.reps)]
    pt_fp32, pt_bf16 = med(tpk, "fp32_gflops"), med(tpk, "bf16_gflops")
    print("PyTorch's torch.mm 2048^3 at its faster thread count: float32 %.1f GFLOP/s, bf16 %.1f; bigs / PyTorch: "
          "float32 %.2fx, bf16 %s (the ceiling of the ratios where the products are the whole step)" % (
              pt_fp32, pt_bf16, peak_own / pt_fp32, "%.2fx" % (peak_bf16 / pt_bf16) if a.bf16 else "-"), flush=True)

    sides = [s for s in SIDES if a.bf16 or not s.endswith("bf16")]
    rows, runs = model_rows(a, sides, rows_idx)
    tmp = tempfile.mkdtemp(prefix="bigs-bench-", dir=os.path.join(ROOT, "build"))
    pre = None if a.no_pretrain else pretrain_row(a, tmp)
    shutil.rmtree(tmp, ignore_errors=True)

    for m, title in (("train", "training"), ("infer", "inference")) if rows else ():
        key = m + "_tokens_per_sec"
        print("\n%s tokens/s (PyTorch at its faster thread count; bf16: torch.autocast)" % title)
        print("%-10s %5s %5s | %9s %9s %9s %9s | %8s %8s %8s | %s" % (
            "model", "L", "batch", "bigs f32", "bigs bf16", "pt f32", "pt bf16", "bigs/pt", "bf/f32", "bf/pt bf", "peak RSS MiB bigs f32/bf16, pt f32/bf16"))
        for r in rows:
            b, bb = r["bigs"][key], r["bigs_bf16"][key] if a.bf16 else float("nan")
            pt, ptb = r["torch_" + m], r["torch_bf16_" + m] if a.bf16 else float("nan")
            rss = [r[s]["peak_rss_mib"] for s in ("bigs", "bigs_bf16")] if a.bf16 else [r["bigs"]["peak_rss_mib"]]
            rss_pt = [r["torch%d" % r["torch_%s_best_threads" % m]]["peak_rss_mib"]]
            if a.bf16:
                rss_pt.append(r["torch%d_bf16" % r["torch_bf16_%s_best_threads" % m]]["peak_rss_mib"])
            num = lambda x: "%9.0f" % x if a.bf16 else "%9s" % "-"  # noqa: E731 (no bf16 here: no figure)
            rat = lambda x: "%7.2fx" % x if a.bf16 else "%8s" % "-"  # noqa: E731
            print("%-10s %5d %5d | %9.0f %s %9.0f %s | %7.2fx %s %s | %s, %s" % (
                r["model"], r["L"], r["batch"], b, num(bb), pt, num(ptb), b / pt, rat(bb / b), rat(bb / ptb),
                "/".join("%.0f" % x for x in rss), "/".join("%.0f" % x for x in rss_pt)))
    if rows:
        r0 = rows[0]
        mfu = r0["bigs"]["model_gflops_per_sec"] / peak_own
        print("\nmodel FLOP utilisation, %s L=%d training, float32: %.0f%% of bigs's GEMM peak%s" % (
            r0["model"], r0["L"], 100 * mfu, ", bf16: %.0f%% of the bf16 peak" % (100 * r0["bigs_bf16"]["model_gflops_per_sec"] / peak_bf16)
            if a.bf16 else ""))
    # the ceilings: tokens/s if the products of bigs's step ran at the cores' peak and nothing else took time
    def ceiling(r, m, bf):
        pk = arith16 if bf else arith32
        return r["batch"] * r["L"] / (r["bigs"][m + "_product_gflop"] / pk) if pk else None
    if rows:
        print("\nthe products of a step as bigs does them (counted by its GEMM: dense layers, the last layer and the MLM")
        print("head at the predicted positions, attention's products, BiGS's Toeplitz convolutions at L <= 512)")
        print("against the cores' arithmetic peak")
        print("%-10s %5s %5s | %12s %12s | %s" % ("model", "L", "batch", "train GFLOP", "infer GFLOP",
                                               "share of the peak reached: train f32/bf16, infer f32/bf16"))
        for r in rows:
            sh = []
            for m in ("train", "infer"):
                for bf in ((0, 1) if a.bf16 else (0,)):
                    c = ceiling(r, m, bf)
                    sh.append("%.0f%%" % (100 * r["bigs_bf16" if bf else "bigs"][m + "_tokens_per_sec"] / c) if c else "-")
            print("%-10s %5d %5d | %12.1f %12.1f | %s" % (r["model"], r["L"], r["batch"], r["bigs"]["train_product_gflop"],
                                                       r["bigs"]["infer_product_gflop"], ", ".join(sh)))
    if pre:
        print("\nbigs pretrain (real text, BiGS-small L=128 batch 16, fill %.1f%%) against build/bench_train:" % (100 * pre["fill"]))
        for tag in ("fp32", "bf16"):
            if tag in pre:
                p = pre[tag]
                print("  %s: pretrain %.0f tokens/s, bench_train %.0f (medians of %d runs each); median of the %d pairs' ratios %.3f"
                      " (pairs %.3f to %.3f)" % (tag, p["pretrain_tokens_per_sec"], p["bench_train_tokens_per_sec"],
                                                 len(p["pair_ratios"]), len(p["pair_ratios"]), p["ratio"],
                                                 min(p["pair_ratios"]), max(p["pair_ratios"])))

    checks = []
    for r in rows:
        tag = "%s L=%d" % (r["model"], r["L"])
        for m in ("train", "infer"):
            # each target with its ceiling: the ratio if our side ran at its ceiling (None: no peak measured)
            c32, c16 = ceiling(r, m, 0), ceiling(r, m, 1) if a.bf16 else None
            div = lambda c, d: c / d if c else None  # noqa: E731
            v = r["bigs"][m + "_tokens_per_sec"] / r["torch_" + m]
            checks.append({"target": "float32 %s >= 1.5x PyTorch float32, %s" % (m, tag), "value": v, "ok": v >= 1.5,
                           "need": 1.5, "ceiling": div(c32, r["torch_" + m])})
            if a.bf16:
                v = r["bigs_bf16"][m + "_tokens_per_sec"] / r["bigs"][m + "_tokens_per_sec"]
                checks.append({"target": "bf16 %s >= 1.6x bigs float32, %s" % (m, tag), "value": v, "ok": v >= 1.6,
                               "need": 1.6, "ceiling": div(c16, r["bigs"][m + "_tokens_per_sec"])})
                v = r["bigs_bf16"][m + "_tokens_per_sec"] / r["torch_bf16_" + m]
                checks.append({"target": "bf16 %s >= 2x PyTorch bf16 autocast, %s" % (m, tag), "value": v, "ok": v >= 2.0,
                               "need": 2.0, "ceiling": div(c16, r["torch_bf16_" + m])})
    if pre:
        for tag in ("fp32", "bf16"):
            if tag in pre:
                v = pre[tag]["ratio"]
                checks.append({"target": "bigs pretrain within 3%% of bench_train, %s" % tag, "value": v, "ok": v >= 0.97})
    print("\n(ceiling: the ratio if bigs's products ran at the cores' arithmetic peak and nothing else took time;"
          " \"beyond this CPU\": the target is above it, out of reach without fewer products)")
    for c in checks:
        note = ""
        if not c["ok"] and c.get("ceiling"):
            note = "  (ceiling %.2f%s)" % (c["ceiling"], ": beyond this CPU" if c["ceiling"] < c["need"] else "")
        print("%-4s %-70s %.3f%s" % ("ok" if c["ok"] else "MISS", c["target"], c["value"], note))  # 1.497 is a miss

    summary = {"machine": {"cpu": cpu, "openblas_coretype": os.environ.get("OPENBLAS_CORETYPE", ""),
                           "openblas_l2_size": os.environ.get("OPENBLAS_L2_SIZE", "")},
               "reps": a.reps, "steps": a.steps,
               "gemm_peak_gflops": {"openblas_sgemm": peak_blas, "bigs_fp32": peak_own, "bigs_bf16": peak_bf16,
                                 "torch_fp32": pt_fp32, "torch_bf16": pt_bf16},
               "arith_peak_gflops": {"fp32": arith32, "bf16": arith16},
               "rows": rows, "pretrain": pre, "targets": checks, "raw": {"%d-%s" % k: v for k, v in runs.items()}}
    if not a.no_mpi and shutil.which("mpirun") and "MPI v" in subprocess.run(
            ["build/bigs", "--version"], cwd=ROOT, stdout=subprocess.PIPE, text=True).stdout:
        print("\ndata-parallel layouts (scripts/bench_mpi.sh):", flush=True)
        env = dict(os.environ, OUT=os.path.join(ROOT, "build/bench_mpi.json"))
        p = subprocess.run(["scripts/bench_mpi.sh", "--reps", str(a.reps)], cwd=ROOT, env=env)
        if p.returncode == 0:
            with open(os.path.join(ROOT, "build/bench_mpi.json")) as f:
                summary["mpi"] = json.loads(f.read().strip().splitlines()[-1])
    out = os.path.join(ROOT, a.out)
    with open(out + ".tmp", "w") as f:
        json.dump(summary, f, indent=1)
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(out + ".tmp", out)
    print("\nsummary: %s" % a.out)


if __name__ == "__main__":
    main()
