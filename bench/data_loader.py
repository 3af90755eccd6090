"""PyTorch side of the data-loader benchmark (BENCHMARKS.md, bench/data-loader).

One epoch over 60,000 28x28 images (the real MNIST test set repeated six times in memory), batch 64, shuffled, each
image turned into a float tensor in 0-1 and normalised in __getitem__ (what torchvision's ToTensor + Normalize do),
with torch.utils.data.DataLoader and the given number of worker processes. Prints one JSON line per epoch.

Usage: python bench/data_loader.py MNIST_DIR WORKERS EPOCHS
"""

import gzip
import json
import struct
import sys
import time

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset


def read_idx(path):
    data = gzip.open(path, "rb").read()
    rank = data[3]
    dims = struct.unpack(">" + "I" * rank, data[4 : 4 + 4 * rank])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * rank).reshape(dims)


class Images(Dataset):
    def __init__(self, images, labels, mean, std):
        self.images = torch.from_numpy(images.copy())
        self.labels = torch.from_numpy(labels.astype(np.int64))
        self.mean, self.std = mean, std

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        x = self.images[i].unsqueeze(0).float().div(255.0)
        x = (x - self.mean) / self.std
        return x, self.labels[i]


def main():
    folder, workers, epochs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    torch.set_num_threads(2)
    images = np.tile(read_idx(f"{folder}/t10k-images-idx3-ubyte.gz"), (6, 1, 1))
    labels = np.tile(read_idx(f"{folder}/t10k-labels-idx1-ubyte.gz"), 6)
    dataset = Images(images, labels, 0.1307, 0.3081)
    loader = DataLoader(
        dataset, batch_size=64, shuffle=True, num_workers=workers, generator=torch.Generator().manual_seed(0)
    )
    for epoch in range(epochs):
        started = time.perf_counter()
        seen, checksum = 0, 0.0
        for x, y in loader:
            seen += y.shape[0]
            checksum += float(x[0, 0, 14, 14])
        seconds = time.perf_counter() - started
        print(json.dumps({
            "side": "pytorch", "workers": workers, "epoch": epoch, "images": seen,
            "seconds": round(seconds, 4), "images_per_s": round(seen / seconds), "checksum": round(checksum, 3),
        }), flush=True)


if __name__ == "__main__":
    main()
