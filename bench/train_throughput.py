"""PyTorch side of the training-throughput benchmark (BENCHMARKS.md, bench/training).

The same models, batch sizes, loss and optimizer as examples/train_throughput.rs: one training step = forward,
cross-entropy, backward, SGD(lr=0.01). Prints one JSON line per measurement, like the Candle side.

Usage: python bench/train_throughput.py MODEL STEPS   (MODEL: mlp, mlp1024, cnn)
"""

import json
import sys
import time

import torch
from torch import nn


def mlp():
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 64), nn.ReLU(), nn.Linear(64, 10))


def cnn():
    return nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(64 * 7 * 7, 128), nn.ReLU(), nn.Linear(128, 10),
    )


def main():
    name = sys.argv[1] if len(sys.argv) > 1 else "mlp"
    steps = int(sys.argv[2]) if len(sys.argv) > 2 else 50
    torch.manual_seed(0)
    model, batch = {"mlp": (mlp, 64), "mlp1024": (mlp, 1024), "cnn": (cnn, 64)}[name]
    model = model()
    x = torch.randn(batch, 1, 28, 28)
    y = torch.randint(0, 10, (batch,))
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    fwd = bwd = stp = 0.0
    for i in range(steps + 5):
        t0 = time.perf_counter()
        opt.zero_grad()
        loss = nn.functional.cross_entropy(model(x), y)
        loss.item()
        t1 = time.perf_counter()
        loss.backward()
        t2 = time.perf_counter()
        opt.step()
        t3 = time.perf_counter()
        if i >= 5:
            fwd += t1 - t0
            bwd += t2 - t1
            stp += t3 - t2
    total = fwd + bwd + stp
    print(json.dumps({
        "side": "pytorch", "model": name, "samples_per_s": round(steps * batch / total, 1),
        "forward_ms": round(fwd / steps * 1e3, 3), "backward_ms": round(bwd / steps * 1e3, 3),
        "step_ms": round(stp / steps * 1e3, 3),
    }))
    if name == "cnn":
        ops(steps)


def ops(steps):
    w2 = (torch.randn(64, 32, 3, 3) * 0.05).requires_grad_()
    x2 = torch.randn(64, 32, 14, 14, requires_grad=True)
    p = torch.randn(64, 32, 28, 28, requires_grad=True)
    a = torch.randn(1024, 1024, requires_grad=True)
    b = torch.randn(1024, 1024, requires_grad=True)
    logits = torch.randn(1024, 10, requires_grad=True)
    targets = torch.randint(0, 10, (1024,))
    cases = [
        ("matmul 1024×1024 · 1024×1024", lambda: a @ b),
        ("cross-entropy on 1024×10 logits", lambda: nn.functional.cross_entropy(logits, targets)),
        ("conv2d 32→64 on 14×14", lambda: nn.functional.conv2d(x2, w2, padding=1)),
        ("max_pool2d 2 on 32×28×28", lambda: nn.functional.max_pool2d(p, 2)),
        ("relu on 32×28×28", lambda: torch.relu(p)),
    ]
    for name, f in cases:
        fwd = bwd = 0.0
        for i in range(steps + 3):
            t0 = time.perf_counter()
            out = f()
            t1 = time.perf_counter()
            out.sum().backward()
            t2 = time.perf_counter()
            if i >= 3:
                fwd += t1 - t0
                bwd += t2 - t1
        print(json.dumps({"side": "pytorch", "op": name, "forward_ms": round(fwd / steps * 1e3, 3),
                          "backward_ms": round(bwd / steps * 1e3, 3)}, ensure_ascii=False))


if __name__ == "__main__":
    main()
