#!/usr/bin/env python3
"""PyTorch on the GPU, the peer of avgk's GPU benchmarks (bench/gpu/check.ts): the same workloads,
timed the same way (host clock around a batch of calls, device synchronised before and after,
median of several batches after warm-up).

    python3 torch_gpu.py                      every workload at full size
    python3 torch_gpu.py --only sgemm,copy    some of them
    python3 torch_gpu.py --tiny --allow-cpu   small sizes, on the CPU when CUDA is unavailable
                                              (to test this script on a machine without a GPU)

Workloads (one JSON object per line on stdout, each with "peer": "torch-gpu" and "workload"):
    sgemm      C = A B at 4096^3, fp32 (TF32 off) and tf32 (TF32 on)           seconds, tflops
    resnet18   one ResNet-18 CIFAR two-head training step, batch 256, fp32 (TF32 off for cuBLAS
               and cuDNN), cudnn.benchmark on                                  seconds_per_step
    select     torch.kthvalue over 1e8 floats (the median, as avgk's selectKth)  seconds
    copy       dst.copy_(src), device to device, for each size the other workloads are compared
               with (400 MB for select, the loss workloads' bytes)              seconds, gbps
    ce         F.cross_entropy on [1e5, 1000] logits, forward + backward        seconds
    bce        binary_cross_entropy_with_logits on 1e8 entries, forward + backward  seconds
Without a usable CUDA device (and without --allow-cpu) it prints one line {"peer": "torch-gpu",
"unavailable": "<why>"} and exits with status 3.
"""
import argparse
import json
import os
import statistics
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_peer import build, make_step  # noqa: E402  (the models and loss shared with the CPU peer)

WORKLOADS = ["sgemm", "copy", "select", "ce", "bce", "resnet18"]


def emit(obj):
    obj = {"peer": "torch-gpu", "version": torch.__version__, **obj}
    print(json.dumps(obj), flush=True)


def set_tf32(on):
    """TF32 for cuBLAS and cuDNN, through whichever API this torch has (the two must not be mixed)."""
    mode = "tf32" if on else "ieee"
    try:  # older torch raises AssertionError, not AttributeError, for an unknown attribute
        new_api = isinstance(torch.backends.cuda.matmul.fp32_precision, str)
    except Exception:
        new_api = False
    if new_api:
        torch.backends.cuda.matmul.fp32_precision = mode
        torch.backends.cudnn.conv.fp32_precision = mode
        return {"api": "fp32_precision", "matmul": torch.backends.cuda.matmul.fp32_precision,
                "cudnn_conv": torch.backends.cudnn.conv.fp32_precision}
    torch.backends.cuda.matmul.allow_tf32 = on
    torch.backends.cudnn.allow_tf32 = on
    return {"api": "allow_tf32", "matmul": torch.backends.cuda.matmul.allow_tf32,
            "cudnn_conv": torch.backends.cudnn.allow_tf32}


class Timer:
    """Median seconds of one call: the device is synchronised, a batch of calls runs, the device is
    synchronised again; the batch is sized to last about `target_s`."""

    def __init__(self, device, samples, target_s):
        self.sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
        self.samples = samples
        self.target_s = target_s

    def __call__(self, fn, warmup=2, max_reps=200):
        for _ in range(warmup):
            fn()
        self.sync()
        t0 = time.perf_counter()
        fn()
        self.sync()
        one = max(time.perf_counter() - t0, 1e-6)
        reps = max(1, min(max_reps, int(self.target_s / one)))
        out = []
        for _ in range(self.samples):
            self.sync()
            t0 = time.perf_counter()
            for _ in range(reps):
                fn()
            self.sync()
            out.append((time.perf_counter() - t0) / reps)
        return statistics.median(out), reps


def sizes(tiny):
    """The sizes of bench/gpu/check.ts (its --tiny ones with --tiny)."""
    if tiny:
        return {"gemm": 64, "select": 100_000, "ce_rows": 200, "ce_cols": 50, "bce": 100_000, "batch": 2, "image": 8}
    return {"gemm": 4096, "select": 100_000_000, "ce_rows": 100_000, "ce_cols": 1000, "bce": 100_000_000,
            "batch": 256, "image": 32}


def uniform(n, device, gen):
    """Values in [-1, 1), as avgk's benchmark inputs."""
    return torch.rand(n, device=device, generator=gen) * 2 - 1


def run_sgemm(dev, timer, s, gen):
    n = s["gemm"]
    a = torch.randn(n, n, device=dev, generator=gen)
    b = torch.randn(n, n, device=dev, generator=gen)
    c = torch.empty(n, n, device=dev)
    for precision in ["fp32", "tf32"]:
        state = set_tf32(precision == "tf32")
        sec, reps = timer(lambda: torch.mm(a, b, out=c), warmup=3)
        emit({"workload": "sgemm", "precision": precision, "m": n, "k": n, "n": n, "seconds": sec,
              "tflops": 2.0 * n ** 3 / sec / 1e12, "reps": reps, "tf32_state": state})
    set_tf32(False)


def run_copy(dev, timer, s, gen):
    # the floats each compared workload moves, read + write counted as a copy does (8 bytes a float)
    ce_bytes = 4 * s["ce_rows"] * s["ce_cols"] * 2 + 4 * s["ce_rows"]
    targets = {"select": s["select"], "ce": ce_bytes // 8, "bce": 12 * s["bce"] // 8}
    for what, floats in targets.items():
        src = uniform(floats, dev, gen)
        dst = torch.empty_like(src)
        sec, reps = timer(lambda: dst.copy_(src))
        emit({"workload": "copy", "for": what, "floats": floats, "seconds": sec, "gbps": 8 * floats / sec / 1e9,
              "reps": reps})
        del src, dst


def run_select(dev, timer, s, gen):
    n = s["select"]
    x = uniform(n, dev, gen)
    m = n // 2  # the m-th largest is the (n - m + 1)-th smallest
    sec, reps = timer(lambda: torch.kthvalue(x, n - m + 1), max_reps=50)
    emit({"workload": "select", "op": "torch.kthvalue", "n": n, "m": m, "seconds": sec,
          "gbps_read": 4 * n / sec / 1e9, "reps": reps})


def run_ce(dev, timer, s, gen):
    rows, cols = s["ce_rows"], s["ce_cols"]
    logits = (uniform(rows * cols, dev, gen) * 4).reshape(rows, cols).requires_grad_(True)
    labels = torch.randint(0, cols, (rows,), device=dev, generator=gen)

    def step():
        logits.grad = None
        F.cross_entropy(logits, labels, reduction="sum").backward()

    sec, reps = timer(step)
    emit({"workload": "ce", "op": "F.cross_entropy + backward", "rows": rows, "cols": cols, "seconds": sec,
          "reps": reps})


def run_bce(dev, timer, s, gen):
    n = s["bce"]
    z = (uniform(n, dev, gen) * 6).requires_grad_(True)
    t = torch.zeros(n, device=dev)
    t[::7] = 1.0

    def step():
        z.grad = None
        F.binary_cross_entropy_with_logits(z, t, reduction="sum").backward()

    sec, reps = timer(step)
    emit({"workload": "bce", "op": "binary_cross_entropy_with_logits + backward", "n": n, "seconds": sec,
          "reps": reps})


def run_resnet(dev, timer, s, gen, steps):
    set_tf32(False)
    torch.backends.cudnn.benchmark = dev.type == "cuda"
    batch, classes, hw = s["batch"], 100, s["image"]
    torch.manual_seed(0)
    model = build("resnet18", classes).to(dev)
    x = torch.randn(batch, 3, hw, hw, device=dev, generator=gen)
    labels = torch.randint(0, classes, (batch,), device=dev, generator=gen)
    step = make_step(model, x, labels, 2.0)
    # one step per timed batch: a training step is long enough for the host clock
    timer_steps = Timer(dev, steps, 0.0)
    sec, _ = timer_steps(step, warmup=5, max_reps=1)
    emit({"workload": "resnet18", "name": "resnet18-cifar-two-head-train-step", "batch": batch, "input": [3, hw, hw],
          "classes": classes,
          "seconds_per_step": sec, "images_per_s": batch / sec, "steps": steps, "precision": "fp32",
          "cudnn_benchmark": torch.backends.cudnn.benchmark})


def main():
    ap = argparse.ArgumentParser(description="PyTorch GPU peer of avgk's GPU benchmarks (JSON lines)")
    ap.add_argument("--only", default=",".join(WORKLOADS), help=f"comma-separated subset of {','.join(WORKLOADS)}")
    ap.add_argument("--tiny", action="store_true", help="small sizes (a smoke test of this script)")
    ap.add_argument("--allow-cpu", action="store_true", help="run on the CPU when CUDA is unavailable")
    ap.add_argument("--samples", type=int, default=5, help="timed batches per workload (median)")
    ap.add_argument("--resnet-steps", type=int, default=15, help="timed ResNet-18 steps (median)")
    args = ap.parse_args()
    only = [w.strip() for w in args.only.split(",") if w.strip()]
    unknown = [w for w in only if w not in WORKLOADS]
    if unknown:
        ap.error(f"unknown workload(s) {unknown}; expected some of {WORKLOADS}")

    if torch.cuda.is_available():
        dev = torch.device("cuda")
        emit({"workload": "env", "device": torch.cuda.get_device_name(0), "cuda": torch.version.cuda,
              "cudnn": torch.backends.cudnn.version()})
    elif args.allow_cpu:
        dev = torch.device("cpu")
        emit({"workload": "env", "device": "cpu", "note": "CUDA unavailable: --allow-cpu timings are not GPU numbers"})
    else:
        why = f"torch {torch.__version__} sees no CUDA device (built for CUDA {torch.version.cuda})"
        emit({"unavailable": why})
        sys.exit(3)

    s = sizes(args.tiny)
    gen = torch.Generator(device=dev).manual_seed(1234)
    timer = Timer(dev, max(1, args.samples), 0.02)
    runs = {
        "sgemm": lambda: run_sgemm(dev, timer, s, gen),
        "copy": lambda: run_copy(dev, timer, s, gen),
        "select": lambda: run_select(dev, timer, s, gen),
        "ce": lambda: run_ce(dev, timer, s, gen),
        "bce": lambda: run_bce(dev, timer, s, gen),
        "resnet18": lambda: run_resnet(dev, timer, s, gen, max(1, args.resnet_steps)),
    }
    failed = 0
    for w in WORKLOADS:
        if w not in only:
            continue
        try:
            runs[w]()
        except Exception as e:  # one failed workload must not hide the others
            failed += 1
            emit({"workload": w, "error": f"{type(e).__name__}: {e}"})
        if dev.type == "cuda":
            torch.cuda.empty_cache()
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
