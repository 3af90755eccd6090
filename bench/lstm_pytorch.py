"""PyTorch side of Day 10's language models (BENCHMARKS.md, bench/recurrent): the notebook's next-word models —
Embedding(V, 64) → RNN or LSTM(64, 128, batch_first) → Linear(128, V) — on the very token ids the notebook uses
(written by `cargo run --example lm_corpus`), with the same recipe: non-overlapping windows of SEQ_LEN words over
the whole text (TextCorpus::windows(seq_len, seq_len)), the last tenth of them held out, Adam (lr 2e-3), gradient norm clipped to 1, batches of 64 shuffled each epoch, validation
perplexity = exp(mean cross-entropy per word) after each epoch. Both sides start from PyTorch's default
initialisation (a `Sequential` re-draws its layers that way): embeddings N(0, 1), recurrent weights and biases
uniform in ±1/√128, the output layer's weight and bias uniform in ±1/√128.

Prints one JSON line per model and seed: the kind, the seed, the perplexity after each epoch, seconds per epoch.

Usage: python bench/lstm_pytorch.py CORPUS.safetensors SEEDS EPOCHS [SEQ_LEN]
"""

import json
import math
import os
import sys
import time

import torch
from torch import nn
from torch.nn import functional as F

sys.path.insert(0, os.path.dirname(__file__))
from lessons_pytorch import read_safetensors  # noqa: E402


class LanguageModel(nn.Module):
    def __init__(self, kind, vocab):
        super().__init__()
        self.embed = nn.Embedding(vocab, 64)
        self.rnn = (nn.LSTM if kind == "lstm" else nn.RNN)(64, 128, batch_first=True)
        self.out = nn.Linear(128, vocab)

    def forward(self, x):
        hs, _ = self.rnn(self.embed(x))
        return self.out(hs)


def windows(ids, seq_len):
    """(inputs, targets) of windows starting at 0, seq_len apart, the target moved on by one (TextCorpus::windows)."""
    n = (len(ids) - seq_len - 1) // seq_len + 1
    x = ids[: n * seq_len].view(n, seq_len)
    y = ids[1 : n * seq_len + 1].view(n, seq_len)
    return x, y


def loss_of(model, x, y):
    logits = model(x)
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))


def perplexity(model, x, y):
    model.eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for start in range(0, len(x), 256):
            xb, yb = x[start : start + 256], y[start : start + 256]
            total += loss_of(model, xb, yb).item() * len(xb)
            count += len(xb)
    return math.exp(total / count)


def main():
    path, seeds, epochs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    seq_len = int(sys.argv[4]) if len(sys.argv) > 4 else 32
    tables = read_safetensors(path)
    ids = torch.from_numpy(tables["ids"].astype("int64"))
    vocab = int(tables["vocab_size"][0])
    x, y = windows(ids, seq_len)
    split = len(x) * 9 // 10
    train, valid = (x[:split], y[:split]), (x[split:], y[split:])
    for seed in range(seeds):
        for kind in ("rnn", "lstm"):
            torch.manual_seed(seed)
            model = LanguageModel(kind, vocab)
            opt = torch.optim.Adam(model.parameters(), lr=2e-3)
            curve, seconds = [], []
            for _ in range(epochs):
                model.train()
                started = time.perf_counter()
                order = torch.randperm(len(train[0]))
                for start in range(0, len(order), 64):
                    batch = order[start : start + 64]
                    opt.zero_grad()
                    loss_of(model, train[0][batch], train[1][batch]).backward()
                    nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                    opt.step()
                curve.append(perplexity(model, *valid))
                seconds.append(time.perf_counter() - started)
            print(json.dumps({"kind": kind, "seed": seed, "perplexity": curve, "seconds_per_epoch": seconds}), flush=True)


if __name__ == "__main__":
    main()
