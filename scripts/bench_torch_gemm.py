#!/usr/bin/env python3
"""bench_torch_gemm.py [size]: PyTorch's own matrix product peak, the peer's ceiling in the model rows of
`make bench`: torch.mm of two size^3 float32 matrices, and of bf16 ones (the product autocast runs), at 1
and 2 threads, the median of 5 timed products after a warm-up. Prints one JSON line with the GFLOP/s at
the faster thread count of each format."""
import json
import statistics
import sys
import time

import torch

n = int(sys.argv[1]) if len(sys.argv) > 1 else 2048
best = {}
for dtype, name in ((torch.float32, "fp32"), (torch.bfloat16, "bf16")):
    for threads in (1, 2):
        torch.set_num_threads(threads)
        a = torch.randn(n, n).to(dtype)
        b = torch.randn(n, n).to(dtype)
        torch.mm(a, b)
        times = []
        for _ in range(5):
            t0 = time.perf_counter()
            torch.mm(a, b)
            times.append(time.perf_counter() - t0)
        g = 2.0 * n ** 3 / statistics.median(times) / 1e9
        if g > best.get(name, (0, 0))[0]:
            best[name] = (g, threads)
print(json.dumps({"size": n, "fp32_gflops": round(best["fp32"][0], 1), "fp32_threads": best["fp32"][1],
                  "bf16_gflops": round(best["bf16"][0], 1), "bf16_threads": best["bf16"][1]}))
