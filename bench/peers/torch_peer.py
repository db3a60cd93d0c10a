#!/usr/bin/env python3
"""PyTorch on the CPU, the peer of avgk's CPU benchmarks (bench/peers.ts): the same workloads, timed
in the same session so that ratios can be taken.

    python3 torch_peer.py gemm     --threads 1 --sizes 256,512,1024
    python3 torch_peer.py cnn      --threads 2 --batch 128 --steps 15 --warmup 2
    python3 torch_peer.py resnet18 --threads 2 --batch 32 --steps 5 --warmup 2

Each prints one JSON object per line:
    gemm:          {"peer": "torch", "version", "workload": "sgemm", "m", "k", "n", "threads",
                    "seconds", "gflops"}
    cnn, resnet18: {"peer": "torch", "version", "workload", "batch", "threads",
                    "seconds_per_step", "images_per_s"}

The models and the loss mirror avgk's (src/nn/models.ts, src/avgk/model.ts, src/avgk/losses.ts):
bench/peers/torch_gpu.py imports them from here.
"""
import argparse
import json
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


# ---------------------------------------------------------------------------- models


def conv_bn_relu(cin, cout):
    return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]


class TwoHeads(nn.Module):
    """A backbone with avgk's two heads: a softmax head and a multi-label head on the same features."""

    def __init__(self, backbone, features, classes):
        super().__init__()
        self.backbone = backbone
        self.softmax_head = nn.Linear(features, classes)
        self.multilabel_head = nn.Linear(features, classes)

    def forward(self, x):
        f = self.backbone(x)
        return self.softmax_head(f), self.multilabel_head(f)


def small_cnn(in_channels=1):
    """avgk's SmallCNN: conv-bn-relu 32, 32, max-pool, 64, 64, max-pool, global average pool."""
    return nn.Sequential(
        *conv_bn_relu(in_channels, 32), *conv_bn_relu(32, 32), nn.MaxPool2d(2),
        *conv_bn_relu(32, 64), *conv_bn_relu(64, 64), nn.MaxPool2d(2),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(),
    )


class Block(nn.Module):
    """avgk's BasicBlock: relu(bn(conv(relu(bn(conv(x))))) + shortcut), 1x1 conv + bn shortcut when
    the shape changes."""

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.c1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
        self.b1 = nn.BatchNorm2d(cout)
        self.c2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.b2 = nn.BatchNorm2d(cout)
        self.short = None
        if stride != 1 or cin != cout:
            self.short = nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = F.relu(self.b1(self.c1(x)))
        z = self.b2(self.c2(y))
        return F.relu(z + (x if self.short is None else self.short(x)))


def resnet18(in_channels=3):
    """avgk's CIFAR-style ResNet-18: 3x3 stem (no max-pool), 2 blocks per stage, global average pool."""
    layers = conv_bn_relu(in_channels, 64)
    cin = 64
    for cout, stride in [(64, 1), (128, 2), (256, 2), (512, 2)]:
        layers += [Block(cin, cout, stride), Block(cout, cout, 1)]
        cin = cout
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())


def build(workload, classes):
    if workload == "cnn":
        return TwoHeads(small_cnn(1), 64, classes)
    return TwoHeads(resnet18(3), 512, classes)


# ---------------------------------------------------------------------------- loss


def pseudo_label_targets(a, labels, k):
    """avgk's 'true-plus-topk' pseudo-labels (src/avgk/pseudo-labels.ts): each row's true label, plus
    the round((K-1)*B) largest detached softmax probabilities among all other entries of the batch."""
    b, c = a.shape
    with torch.no_grad():
        p = torch.softmax(a, dim=1)
        rows = torch.arange(b, device=a.device)
        targets = torch.zeros_like(p)
        targets[rows, labels] = 1.0
        extra = int(round((k - 1) * b))
        if extra > 0:
            p[rows, labels] = float("-inf")  # the true labels are already positive
            top = torch.topk(p.reshape(-1), extra, sorted=False).indices
            targets.view(-1)[top] = 1.0
    return targets


def two_head_loss(a, z, labels, k, mu=1.0):
    """avgk's two-head loss: mean cross-entropy on the softmax head + mu * BCE of the multi-label
    head on the pseudo-labels, summed per sample and averaged over the batch ('batchmean')."""
    targets = pseudo_label_targets(a, labels, k)
    ce = F.cross_entropy(a, labels)
    bce = F.binary_cross_entropy_with_logits(z, targets, reduction="sum") / a.shape[0]
    return ce + mu * bce


def make_step(model, x, labels, k):
    """One training step as avgk's bench/train.ts: SGD lr 0.05, momentum 0.9, Nesterov, wd 1e-4."""
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-4)
    model.train()

    def step():
        opt.zero_grad(set_to_none=True)
        a, z = model(x)
        loss = two_head_loss(a, z, labels, k)
        loss.backward()
        opt.step()
        return loss

    return step


# ---------------------------------------------------------------------------- workloads


def emit(obj):
    print(json.dumps(obj), flush=True)


def run_gemm(args):
    for n in [int(s) for s in args.sizes.split(",") if s.strip()]:
        g = torch.Generator().manual_seed(n)
        a = torch.randn(n, n, generator=g)
        b = torch.randn(n, n, generator=g)
        c = torch.empty(n, n)
        for _ in range(2):
            torch.mm(a, b, out=c)
        t0 = time.perf_counter()
        torch.mm(a, b, out=c)
        one = max(time.perf_counter() - t0, 1e-7)
        reps = max(1, min(10_000, int(0.1 / one)))
        samples = []
        for _ in range(5):
            t0 = time.perf_counter()
            for _ in range(reps):
                torch.mm(a, b, out=c)
            samples.append((time.perf_counter() - t0) / reps)
        seconds = statistics.median(samples)
        emit({"peer": "torch", "version": torch.__version__, "workload": "sgemm", "m": n, "k": n, "n": n,
              "threads": args.threads, "seconds": seconds, "gflops": 2.0 * n ** 3 / seconds / 1e9})


def run_train(args):
    classes = 10 if args.workload == "cnn" else 100
    shape = (1, 28, 28) if args.workload == "cnn" else (3, 32, 32)
    name = "cnn28-two-head-train-step" if args.workload == "cnn" else "resnet18-cifar-two-head-train-step"
    g = torch.Generator().manual_seed(0)
    model = build(args.workload, classes)
    x = torch.randn(args.batch, *shape, generator=g)
    labels = torch.randint(0, classes, (args.batch,), generator=g)
    step = make_step(model, x, labels, args.k)
    for _ in range(args.warmup):
        step()
    samples = []
    for _ in range(max(1, args.steps)):
        t0 = time.perf_counter()
        step()
        samples.append(time.perf_counter() - t0)
    seconds = statistics.median(samples)
    emit({"peer": "torch", "version": torch.__version__, "workload": name, "batch": args.batch,
          "threads": args.threads, "seconds_per_step": seconds, "images_per_s": args.batch / seconds})


def main():
    ap = argparse.ArgumentParser(description="PyTorch CPU peer of avgk's benchmarks (JSON lines)")
    ap.add_argument("workload", choices=["gemm", "cnn", "resnet18"])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--sizes", default="256,512,1024")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--k", type=float, default=2.0)
    args = ap.parse_args()
    torch.set_num_threads(max(1, args.threads))
    torch.manual_seed(0)
    if args.workload == "gemm":
        run_gemm(args)
    else:
        run_train(args)


if __name__ == "__main__":
    main()
