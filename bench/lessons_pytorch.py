"""PyTorch side of the lesson full runs (BENCHMARKS.md, bench/lessons): the models of Day 4 and Day 6, trained
the way the notebooks train them, on the very data the notebooks use: Day 4's split as examples/lesson_splits.rs
writes it, Day 6's Fashion-MNIST read from the same gzipped IDX files the notebook reads (CANDLELIT_DATA_MIRROR).

Day 4: logistic regression on the standardised breast-cancer table, weights N(0, 0.01²), bias 0, binary
cross-entropy written out (probabilities clamped to [1e-7, 1 - 1e-7]), full-batch gradient descent, lr 0.1,
300 epochs. Day 6: MLP 784-256-128-10 with ReLU, Adam(1e-3); then the same with BatchNorm1d + ReLU + Dropout(0.3)
after each hidden linear layer and AdamW(1e-3, weight_decay=0.01); batch 64, shuffled, 15 epochs, pixels scaled
to [0, 1] and standardised with the training images' mean and std; after every epoch, as the notebook does, the
first 10,000 training images and the test images are evaluated, and the epoch's time includes that.

Usage: python bench/lessons_pytorch.py SPLITS_DIR [SEEDS]   (prints one JSON line per run)
       (CANDLELIT_DATA_MIRROR: the folder holding fashion-mnist/*.gz, as for the notebooks)
"""

import gzip
import json
import os
import struct
import sys
import time

import numpy as np
import torch
from torch import nn

DTYPES = {"U8": np.uint8, "U32": np.uint32, "F32": np.float32, "I64": np.int64}


def read_safetensors(path):
    """The tensors of a safetensors file, as numpy arrays (the format: u64 header size, JSON header, bytes)."""
    with open(path, "rb") as f:
        blob = f.read()
    (size,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + size])
    data = blob[8 + size:]
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        start, end = info["data_offsets"]
        out[name] = np.frombuffer(data[start:end], dtype=DTYPES[info["dtype"]]).reshape(info["shape"])
    return out


def read_idx(path):
    """A gzipped IDX file (MNIST's format: big-endian u32 magic, dims, then bytes) as a numpy array."""
    with gzip.open(path, "rb") as f:
        blob = f.read()
    ndim = blob[3]
    dims = struct.unpack(f">{ndim}I", blob[4:4 + 4 * ndim])
    return np.frombuffer(blob[4 + 4 * ndim:], dtype=np.uint8).reshape(dims)


def fashion_mnist(mirror):
    folder = os.path.join(mirror, "fashion-mnist")
    parts = {"x_train": "train-images-idx3-ubyte.gz", "y_train": "train-labels-idx1-ubyte.gz",
             "x_test": "t10k-images-idx3-ubyte.gz", "y_test": "t10k-labels-idx1-ubyte.gz"}
    data = {name: read_idx(os.path.join(folder, file)) for name, file in parts.items()}
    data["x_train"], data["x_test"] = data["x_train"][:, None], data["x_test"][:, None]
    return data


def day04(splits, seed):
    torch.manual_seed(seed)
    x_train = torch.tensor(splits["x_train"])
    x_test = torch.tensor(splits["x_test"])
    mean, std = x_train.mean(0), x_train.std(0, unbiased=False)
    std = torch.where(std > 1e-12, std, torch.ones_like(std))
    x_train, x_test = (x_train - mean) / std, (x_test - mean) / std
    y_train = torch.tensor(splits["y_train"].astype(np.float32)).unsqueeze(1)
    y_test = torch.tensor(splits["y_test"].astype(np.float32)).unsqueeze(1)
    w = (torch.randn(30, 1) * 0.01).requires_grad_()
    b = torch.zeros(1, requires_grad=True)
    started = time.perf_counter()
    for _ in range(300):
        p = torch.sigmoid(x_train @ w + b).clamp(1e-7, 1 - 1e-7)
        loss = -(y_train * p.log() + (1 - y_train) * (1 - p).log()).mean()
        loss.backward()
        with torch.no_grad():
            for param in (w, b):
                param -= 0.1 * param.grad
                param.grad = None
    seconds = time.perf_counter() - started
    with torch.no_grad():
        predicted = (torch.sigmoid(x_test @ w + b) >= 0.5).float()
        acc = (predicted == y_test).float().mean().item()
    return {"lesson": "day04", "model": "logistic", "seed": seed, "test_accuracy": acc, "train_seconds": seconds}


def mlp(regularised):
    def block(n_in, n_out):
        if regularised:
            return [nn.Linear(n_in, n_out), nn.BatchNorm1d(n_out), nn.ReLU(), nn.Dropout(0.3)]
        return [nn.Linear(n_in, n_out), nn.ReLU()]
    return nn.Sequential(nn.Flatten(), *block(784, 256), *block(256, 128), nn.Linear(128, 10))


def accuracy(model, x, y):
    model.eval()
    with torch.no_grad():
        right = sum((model(x[i:i + 1000]).argmax(1) == y[i:i + 1000]).sum().item() for i in range(0, len(x), 1000))
    return right / len(x)


def standardised(images):
    """Pixels scaled to [0, 1], then standardised with the training images' mean and std (as the notebooks do):
    (x_train, y_train, x_test, y_test) tensors."""
    x_train = torch.tensor(images["x_train"].astype(np.float32) / 255.0)
    x_test = torch.tensor(images["x_test"].astype(np.float32) / 255.0)
    mean, std = x_train.mean().item(), x_train.std(unbiased=False).item()
    y_train = torch.tensor(images["y_train"].astype(np.int64))
    y_test = torch.tensor(images["y_test"].astype(np.int64))
    return (x_train - mean) / std, y_train, (x_test - mean) / std, y_test


def day06(splits, seed, regularised, epochs=15):
    torch.manual_seed(seed)
    x_train, y_train, x_test, y_test = standardised(splits)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x_train, y_train), batch_size=64, shuffle=True)
    model = mlp(regularised)
    if regularised:
        opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)
    else:
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    seen = min(len(x_train), 10_000)
    started = time.perf_counter()
    for _ in range(epochs):
        model.train()
        for x, y in loader:
            opt.zero_grad()
            nn.functional.cross_entropy(model(x), y).backward()
            opt.step()
        train_accuracy = accuracy(model, x_train[:seen], y_train[:seen])
        test_accuracy = accuracy(model, x_test, y_test)
    return {
        "lesson": "day06", "model": "regularised" if regularised else "plain", "seed": seed,
        "train_accuracy": train_accuracy, "test_accuracy": test_accuracy,
        "epoch_seconds": (time.perf_counter() - started) / epochs,
    }


def main():
    folder = sys.argv[1] if len(sys.argv) > 1 else "target/lesson-runs"
    seeds = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    day04_split = f"{folder}/breast_cancer_split.safetensors"
    table = read_safetensors(day04_split) if os.path.exists(day04_split) else None
    if table is None:
        print(f"no {day04_split}: Day 4 left out (examples/lesson_splits.rs writes it)", file=sys.stderr)
    images = fashion_mnist(os.environ.get("CANDLELIT_DATA_MIRROR", "../shared/data"))
    for seed in range(seeds):
        if table is not None:
            print(json.dumps(day04(table, seed)), flush=True)
        for regularised in (False, True):
            print(json.dumps(day06(images, seed, regularised)), flush=True)


if __name__ == "__main__":
    main()
