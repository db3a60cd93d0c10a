#!/usr/bin/env python3
"""OpenBLAS SGEMM through numpy, the peer of avgk's sgemm benchmarks (bench/peers.ts runNumpyGemm).

    OPENBLAS_NUM_THREADS=2 python3 numpy_gemm.py 256,512,1024      square sizes
    OPENBLAS_NUM_THREADS=1 python3 numpy_gemm.py 128x4096x10       m x k x n

Prints one JSON object per shape: {"peer": "openblas", "numpy": <version>, "workload": "sgemm",
"m", "k", "n", "seconds" (median seconds of one product), "gflops"}. The thread count comes from
the environment (OPENBLAS_NUM_THREADS), which the caller sets.
"""
import json
import statistics
import sys
import time

import numpy as np


def parse_shape(spec):
    """'512' -> (512, 512, 512); '128x4096x10' -> (128, 4096, 10) as (m, k, n)."""
    try:
        parts = [int(p) for p in spec.lower().split("x")]
    except ValueError:
        parts = []
    if len(parts) == 1:
        return parts[0], parts[0], parts[0]
    if len(parts) != 3 or min(parts) < 1:
        raise SystemExit(f"numpy_gemm.py: bad shape {spec!r} (expected N or MxKxN)")
    return parts[0], parts[1], parts[2]


def time_product(m, k, n):
    rng = np.random.default_rng(12345)
    a = rng.standard_normal((m, k), dtype=np.float32)
    b = rng.standard_normal((k, n), dtype=np.float32)
    c = np.empty((m, n), dtype=np.float32)
    flops = 2.0 * m * n * k
    # warm-up: thread pool start, page faults of c
    for _ in range(2):
        np.matmul(a, b, out=c)
    # each sample runs ~0.1 s worth of products (at least one) so tiny shapes are not timer noise
    t0 = time.perf_counter()
    np.matmul(a, b, out=c)
    one = max(time.perf_counter() - t0, 1e-7)
    reps = max(1, min(10_000, int(0.1 / one)))
    samples = []
    for _ in range(5):
        t0 = time.perf_counter()
        for _ in range(reps):
            np.matmul(a, b, out=c)
        samples.append((time.perf_counter() - t0) / reps)
    seconds = statistics.median(samples)
    return seconds, flops / seconds / 1e9


def main():
    specs = sys.argv[1] if len(sys.argv) > 1 else "256,512,1024"
    for spec in [s for s in specs.split(",") if s.strip()]:
        m, k, n = parse_shape(spec.strip())
        seconds, gflops = time_product(m, k, n)
        print(json.dumps({"peer": "openblas", "numpy": np.__version__, "workload": "sgemm",
                          "m": m, "k": k, "n": n, "seconds": seconds, "gflops": gflops}), flush=True)


if __name__ == "__main__":
    main()
