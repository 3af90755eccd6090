"""PyTorch side of Day 9's feature-extraction throughput (BENCHMARKS.md, bench/resnet-features): the CIFAR ResNet
with option-A shortcuts, written here from its published description, with the published weights (the upstream
.th file read with torch.load), in eval mode under torch.no_grad(), over the same Fashion-MNIST images the notebook
prepares the same way (/255, zero-padded 2 px to 32×32, grey repeated to 3 channels, normalised with the ImageNet
mean and std), in batches of 250. Prints one JSON line: images, seconds, images per second, and the first test
image's first features (to check that both sides compute the same thing).

Usage: python bench/resnet_features_pytorch.py DEPTH [TRAIN_LIMIT] [TEST_LIMIT]
       (CANDLELIT_DATA_MIRROR: the folder holding fashion-mnist/ and pretrained/resnet-cifar10/)
"""

import json
import os
import sys
import time

import torch
from torch import nn
from torch.nn import functional as F

sys.path.insert(0, os.path.dirname(__file__))
from lessons_pytorch import fashion_mnist  # noqa: E402

FILES = {20: "resnet20-12fca82f.th", 56: "resnet56-4bfd9763.th"}
MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


class Block(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.pad = (cout - cin) // 2 if (stride != 1 or cin != cout) else 0

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        short = x if self.pad == 0 else F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, self.pad, self.pad))
        return F.relu(out + short)


class ResNet(nn.Module):
    def __init__(self, depth):
        super().__init__()
        n = (depth - 2) // 6
        self.conv1 = nn.Conv2d(3, 16, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        stages, cin = [], 16
        for i, width in enumerate((16, 32, 64)):
            blocks = [Block(cin if b == 0 else width, width, 2 if (b == 0 and i > 0) else 1) for b in range(n)]
            stages.append(nn.Sequential(*blocks))
            cin = width
        self.layer1, self.layer2, self.layer3 = stages
        self.linear = nn.Linear(64, 10)

    def features(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return F.adaptive_avg_pool2d(x, 1).flatten(1)


def prepared(images):
    x = torch.from_numpy(images.astype("float32") / 255.0)
    x = F.pad(x, (2, 2, 2, 2)).repeat(1, 3, 1, 1)
    return (x - torch.tensor(MEAN).view(1, 3, 1, 1)) / torch.tensor(STD).view(1, 3, 1, 1)


def main():
    depth = int(sys.argv[1])
    train_limit = int(sys.argv[2]) if len(sys.argv) > 2 else 0
    test_limit = int(sys.argv[3]) if len(sys.argv) > 3 else 0
    mirror = os.environ.get("CANDLELIT_DATA_MIRROR", "../shared/data")
    data = fashion_mnist(mirror)
    train = data["x_train"][:train_limit] if train_limit else data["x_train"]
    test = data["x_test"][:test_limit] if test_limit else data["x_test"]
    model = ResNet(depth)
    saved = torch.load(os.path.join(mirror, "pretrained/resnet-cifar10", FILES[depth]), map_location="cpu",
                       weights_only=False)["state_dict"]
    model.load_state_dict({k.removeprefix("module."): v for k, v in saved.items()})
    model.eval()
    started = time.perf_counter()
    with torch.no_grad():
        # Preparation inside the timing, as the notebook's loader prepares each image in the timed loop.
        feats = [model.features(prepared(part[i:i + 250])) for part in (train, test) for i in range(0, len(part), 250)]
    seconds = time.perf_counter() - started
    images = len(train) + len(test)
    first_test = feats[(len(train) + 249) // 250][0, :6].tolist()
    print(json.dumps({"depth": depth, "images": images, "seconds": seconds, "images_per_second": images / seconds,
                      "threads": torch.get_num_threads(), "first_test_features": [round(v, 4) for v in first_test]}))


if __name__ == "__main__":
    main()
