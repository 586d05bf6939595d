#!/usr/bin/python3
"""bench.py: bigs against PyTorch on this machine, in one run (`make bench`).

Measures, on the same machine and thread count:
  1. the sgemm peak (a 2048^3 product) of OpenBLAS and of bigs's own GEMM (build/bench_gemm);
  2. bigs training-step tokens/s (forward + backward + clipping + AdamW) and inference tokens/s
     (build/bench_train) for BiGS-small (H=512, I=1536, NL=4, N=64, V=30522) at L=128 batch 16,
     L=1024 batch 2 and L=4096 batch 1, and a BERT of the same parameter count (configs/bert-small.json)
     at L=128 batch 16;
  3. the same in PyTorch (scripts/bench_torch.py: Debian's python3-torch, the reference model of
     scripts/ref_bigs.py in float32, SSM by FFT, logits only at the masked positions), with
     torch.set_num_threads(1) and (2), compared against the faster of the two;
  4. ratios, and model FLOP utilisation (dense-layer FLOPs per second over each sgemm peak);
  5. the peak resident memory of both processes;
  6. with an MPI build, data-parallel layouts (scripts/bench_mpi.sh: 2 processes x 1 thread against
     1 process x 2 threads).
Repetitions are interleaved (bigs, PyTorch 1 thread, PyTorch 2 threads, next configuration...) so all
see the same machine load; each figure is the median over repetitions of each run's median step.
Prints a table and writes a JSON summary (default build/bench.json).

  /usr/bin/python3 scripts/bench.py [--reps 3] [--steps 5] [--out build/bench.json] [--no-mpi] [--quick]
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ROWS = [  # name, config, L, batch
    ("BiGS-small", "configs/bigs-small.json", 128, 16),
    ("BiGS-small", "configs/bigs-small.json", 1024, 2),
    ("BiGS-small", "configs/bigs-small.json", 4096, 1),
    ("BERT-small", "configs/bert-small.json", 128, 16),
]
TARGETS = [  # (what, row index, metric, minimum ratio)
    ("training >= 1.5x PyTorch, BiGS-small L=128", 0, "train", 1.5),
    ("training >= 1.3x PyTorch, BiGS-small L=4096", 2, "train", 1.3),
    ("inference >= 1.5x PyTorch, BiGS-small L=128", 0, "infer", 1.5),
]


def run_json(cmd):
    """Runs cmd (a list) from the repository root and returns its last stdout line as JSON."""
    p = subprocess.run(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if p.returncode != 0:
        sys.exit("bench.py: %s failed (exit %d):\n%s" % (" ".join(cmd), p.returncode, p.stderr[-2000:]))
    lines = [l for l in p.stdout.splitlines() if l.startswith("{")]
    if not lines:
        sys.exit("bench.py: %s printed no JSON line:\n%s" % (" ".join(cmd), p.stdout[-2000:]))
    return json.loads(lines[-1])


def med(runs, key):
    return statistics.median(r[key] for r in runs)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--reps", type=int, default=3, help="repetitions of every measurement (default 3)")
    ap.add_argument("--steps", type=int, default=5, help="timed steps per run, after one warm-up step (default 5)")
    ap.add_argument("--out", default="build/bench.json", help="JSON summary (default build/bench.json)")
    ap.add_argument("--no-mpi", action="store_true", help="skip the data-parallel layouts")
    ap.add_argument("--quick", action="store_true", help="one repetition of 2 steps (a smoke run, not for figures)")
    a = ap.parse_args()
    if a.quick:
        a.reps, a.steps = 1, 2
    for exe in ("build/bench_train", "build/bench_gemm", "build/bigs"):
        if not os.access(os.path.join(ROOT, exe), os.X_OK):
            sys.exit("bench.py: %s is missing: run `make build/bench_train build/bench_gemm build/bigs` (or `make bench`)" % exe)
    try:
        import torch  # noqa: F401
    except ImportError:
        sys.exit("bench.py: PyTorch is not installed for %s: apt-get install python3-torch python3-numpy" % sys.executable)

    peaks = [run_json(["build/bench_gemm"]) for _ in range(a.reps)]
    peak_blas, peak_own = med(peaks, "openblas_gflops"), med(peaks, "bigs_gemm_gflops")
    print("sgemm 2048^3: OpenBLAS %.1f GFLOP/s, bigs gemm (%s) %.1f GFLOP/s, %d threads"
          % (peak_blas, peaks[0]["bigs_gemm_engine"], peak_own, peaks[0]["threads"]), flush=True)

    runs = {(i, s): [] for i in range(len(ROWS)) for s in ("bigs", "torch1", "torch2")}
    for rep in range(a.reps):
        for i, (name, cfg, L, B) in enumerate(ROWS):
            print("rep %d/%d: %s L=%d batch %d" % (rep + 1, a.reps, name, L, B), file=sys.stderr, flush=True)
            runs[(i, "bigs")].append(run_json(["build/bench_train", cfg, str(L), str(B), str(a.steps)]))
            for t in (1, 2):
                runs[(i, "torch%d" % t)].append(
                    run_json([sys.executable, "scripts/bench_torch.py", cfg, str(L), str(B), str(t), str(a.steps)]))

    rows = []
    for i, (name, cfg, L, B) in enumerate(ROWS):
        b = runs[(i, "bigs")]
        r = {"model": name, "config": cfg, "L": L, "batch": B}
        r["bigs"] = {k: med(b, k) for k in ("train_tokens_per_sec", "infer_tokens_per_sec", "model_gflops_per_sec", "peak_rss_mib")}
        flops_per_token = r["bigs"]["model_gflops_per_sec"] * 1e9 / r["bigs"]["train_tokens_per_sec"]
        for t in (1, 2):
            tr = runs[(i, "torch%d" % t)]
            r["torch%d" % t] = {k: med(tr, k) for k in ("train_tokens_per_sec", "infer_tokens_per_sec", "peak_rss_mib")}
        for m in ("train", "infer"):
            key = m + "_tokens_per_sec"
            best = max((1, 2), key=lambda t: r["torch%d" % t][key])
            r[m + "_torch_best_threads"] = best
            r[m + "_ratio"] = r["bigs"][key] / r["torch%d" % best][key]
        bt = r["train_torch_best_threads"]
        torch_gflops = flops_per_token * r["torch%d" % bt]["train_tokens_per_sec"] / 1e9
        r["mfu"] = {"bigs_vs_openblas_peak": r["bigs"]["model_gflops_per_sec"] / peak_blas,
                    "bigs_vs_own_gemm_peak": r["bigs"]["model_gflops_per_sec"] / peak_own,
                    "torch_vs_openblas_peak": torch_gflops / peak_blas}
        r["rss_ratio"] = r["bigs"]["peak_rss_mib"] / r["torch%d" % bt]["peak_rss_mib"]
        rows.append(r)

    print()
    print("%-10s %5s %5s | %-29s %6s | %-29s %6s | %-17s %5s | %-15s" % (
        "model", "L", "batch", "train tok/s bigs/pt1/pt2", "ratio", "infer tok/s bigs/pt1/pt2", "ratio",
        "MFU bigs blas/own", "pt", "peak RSS MiB b/pt"))
    for r in rows:
        print("%-10s %5d %5d | %8.0f %9.0f %9.0f  %5.2fx | %8.0f %9.0f %9.0f  %5.2fx | %7.0f%% %7.0f%%  %4.0f%% | %6.0f %7.0f" % (
            r["model"], r["L"], r["batch"],
            r["bigs"]["train_tokens_per_sec"], r["torch1"]["train_tokens_per_sec"], r["torch2"]["train_tokens_per_sec"], r["train_ratio"],
            r["bigs"]["infer_tokens_per_sec"], r["torch1"]["infer_tokens_per_sec"], r["torch2"]["infer_tokens_per_sec"], r["infer_ratio"],
            100 * r["mfu"]["bigs_vs_openblas_peak"], 100 * r["mfu"]["bigs_vs_own_gemm_peak"], 100 * r["mfu"]["torch_vs_openblas_peak"],
            r["bigs"]["peak_rss_mib"], r["torch%d" % r["train_torch_best_threads"]]["peak_rss_mib"]))
    print("ratios are against PyTorch's faster thread setting; MFU: dense-layer model FLOPs/s over the sgemm peak"
          " of OpenBLAS (blas) and of bigs's GEMM (own); pt: PyTorch over the OpenBLAS peak")

    checks = []
    for what, i, m, lo in TARGETS:
        checks.append({"target": what, "value": rows[i][m + "_ratio"], "ok": rows[i][m + "_ratio"] >= lo})
    m0 = rows[0]["mfu"]
    checks.append({"target": "model FLOP utilisation >= 65% of the OpenBLAS sgemm peak, BiGS-small L=128 training",
                   "value": m0["bigs_vs_openblas_peak"], "ok": m0["bigs_vs_openblas_peak"] >= 0.65})
    checks.append({"target": "model FLOP utilisation >= 65% of bigs's own GEMM peak, BiGS-small L=128 training",
                   "value": m0["bigs_vs_own_gemm_peak"], "ok": m0["bigs_vs_own_gemm_peak"] >= 0.65})
    worst_rss = max(r["rss_ratio"] for r in rows)
    checks.append({"target": "peak memory no higher than PyTorch's (worst row)", "value": worst_rss, "ok": worst_rss <= 1.0})
    print()
    for c in checks:
        print("%-4s %-86s %.2f" % ("ok" if c["ok"] else "MISS", c["target"], c["value"]))

    summary = {"machine": {"cpus": os.cpu_count(), "openblas_coretype": os.environ.get("OPENBLAS_CORETYPE", "")},
               "reps": a.reps, "steps": a.steps, "sgemm_peak_gflops": {"openblas": peak_blas, "bigs_gemm": peak_own},
               "rows": rows, "targets": checks, "raw": {"%d-%s" % k: v for k, v in runs.items()}}
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
    os.replace(out + ".tmp", out)
    print("\nsummary: %s" % a.out)


if __name__ == "__main__":
    main()
