"""PyTorch side of the Day 8 full runs (BENCHMARKS.md, bench/cnn): the learners' CNN, trained the way the notebook
trains it, on the same Fashion-MNIST files (CANDLELIT_DATA_MIRROR): conv(32) → BN → ReLU → max-pool →
conv(64) → BN → ReLU → max-pool → 3136 → 128 → ReLU → Dropout(0.3) → 10, 3×3 kernels with padding 1, Adam(1e-3),
batch 64 shuffled, pixels scaled to [0, 1] and standardised with the training images' mean and std; after every
epoch the test set is evaluated, and the epoch's time includes that, as in the notebook's `fit`.

Usage: python bench/cnn_pytorch.py SEEDS EPOCHS   (prints one JSON line per run)
"""

import json
import os
import sys
import time

import torch
from torch import nn

sys.path.insert(0, os.path.dirname(__file__))
from lessons_pytorch import accuracy, fashion_mnist, standardised  # noqa: E402


def cnn():
    def block(c_in, c_out):
        return [nn.Conv2d(c_in, c_out, 3, padding=1), nn.BatchNorm2d(c_out), nn.ReLU(), nn.MaxPool2d(2)]
    return nn.Sequential(*block(1, 32), *block(32, 64), nn.Flatten(), nn.Linear(64 * 7 * 7, 128), nn.ReLU(),
                         nn.Dropout(0.3), nn.Linear(128, 10))


def run(images, seed, epochs):
    torch.manual_seed(seed)
    x_train, y_train, x_test, y_test = standardised(images)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x_train, y_train), batch_size=64, shuffle=True)
    model = cnn()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    started = time.perf_counter()
    for _ in range(epochs):
        model.train()
        for x, y in loader:
            opt.zero_grad()
            nn.functional.cross_entropy(model(x), y).backward()
            opt.step()
        test_accuracy = accuracy(model, x_test, y_test)
    return {"lesson": "day08", "model": "cnn", "seed": seed, "test_accuracy": test_accuracy,
            "epoch_seconds": (time.perf_counter() - started) / epochs,
            "parameters": sum(p.numel() for p in model.parameters())}


def main():
    seeds, epochs = int(sys.argv[1]), int(sys.argv[2])
    images = fashion_mnist(os.environ.get("CANDLELIT_DATA_MIRROR", "../shared/data"))
    for seed in range(seeds):
        print(json.dumps(run(images, seed, epochs)), flush=True)


if __name__ == "__main__":
    main()
