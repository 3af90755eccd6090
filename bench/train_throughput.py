"""PyTorch side of the training-throughput benchmark (`candlelit bench`, which runs this file; BENCHMARKS.md).

The same models, batch sizes, loss and optimizer as kernel/src/bench.rs: one training step = forward,
cross-entropy, backward, SGD(lr=0.01). Prints one JSON line per measurement, like the candlelit side.

Usage: python bench/train_throughput.py MODEL STEPS [--device cpu|cuda] [--model-only]   (MODEL: mlp, mlp1024, cnn)
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


def option(flag, default):
    """The value after `flag` on the command line, or `default`."""
    return sys.argv[sys.argv.index(flag) + 1] if flag in sys.argv[:-1] else default


def sync(device):
    """Waits for the device, so that a timing covers the work and not only its launch."""
    if device.type == "cuda":
        torch.cuda.synchronize()


def main():
    name = sys.argv[1] if len(sys.argv) > 1 else "mlp"
    steps = int(sys.argv[2]) if len(sys.argv) > 2 else 50
    device = torch.device(option("--device", "cpu"))
    torch.manual_seed(0)
    model, batch = {"mlp": (mlp, 64), "mlp1024": (mlp, 1024), "cnn": (cnn, 64)}[name]
    model = model().to(device)
    x = torch.randn(batch, 1, 28, 28, device=device)
    y = torch.randint(0, 10, (batch,), device=device)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    fwd = bwd = stp = 0.0
    for i in range(steps + 5):
        t0 = time.perf_counter()
        opt.zero_grad()
        loss = nn.functional.cross_entropy(model(x), y)
        loss.item()
        t1 = time.perf_counter()
        loss.backward()
        sync(device)
        t2 = time.perf_counter()
        opt.step()
        sync(device)
        t3 = time.perf_counter()
        if i >= 5:
            fwd += t1 - t0
            bwd += t2 - t1
            stp += t3 - t2
    total = fwd + bwd + stp
    print(json.dumps({
        "side": "pytorch", "device": device.type, "model": name, "samples_per_s": round(steps * batch / total, 1),
        "forward_ms": round(fwd / steps * 1e3, 3), "backward_ms": round(bwd / steps * 1e3, 3),
        "step_ms": round(stp / steps * 1e3, 3),
    }))
    if name == "cnn" and "--model-only" not in sys.argv:
        ops(steps, device)


def ops(steps, device):
    w2 = (torch.randn(64, 32, 3, 3, device=device) * 0.05).requires_grad_()
    x2 = torch.randn(64, 32, 14, 14, device=device, requires_grad=True)
    p = torch.randn(64, 32, 28, 28, device=device, requires_grad=True)
    a = torch.randn(1024, 1024, device=device, requires_grad=True)
    b = torch.randn(1024, 1024, device=device, requires_grad=True)
    logits = torch.randn(1024, 10, device=device, requires_grad=True)
    targets = torch.randint(0, 10, (1024,), device=device)
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
            sync(device)
            t1 = time.perf_counter()
            out.sum().backward()
            sync(device)
            t2 = time.perf_counter()
            if i >= 3:
                fwd += t1 - t0
                bwd += t2 - t1
        print(json.dumps({"side": "pytorch", "op": name, "forward_ms": round(fwd / steps * 1e3, 3),
                          "backward_ms": round(bwd / steps * 1e3, 3)}, ensure_ascii=False))


if __name__ == "__main__":
    main()
