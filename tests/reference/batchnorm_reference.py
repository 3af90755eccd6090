"""Reference numbers for tests/train_modules.rs: PyTorch's BatchNorm1d/2d in train and eval mode.

Run with bench/torch-venv's Python:  $(bench/torch-venv) tests/reference/batchnorm_reference.py
It prints Rust constants; paste them into tests/train_modules.rs (CI does not need torch).
"""
import torch

A = [[1.0, -2.0, 0.5], [3.0, 0.0, -1.5], [-0.5, 4.0, 2.0], [2.0, 1.0, 0.0]]
B = [[0.0, 1.0, 1.0], [1.0, -1.0, 3.0], [2.0, 2.0, -2.0]]
C = [[1.5, 0.5, -0.5], [-1.0, 2.0, 0.25]]
IMAGES = [[[[float((n * 8 + c * 4 + i) % 5) - 1.5 * c for i in range(2)] for _ in range(1)] for c in range(2)] for n in range(3)]
# IMAGES: 3 images, 2 channels, 1x2 pixels (shape (3, 2, 1, 2)), values spread per channel.


def flat(t):
    return t.detach().flatten().tolist()


def arr(name, values):
    print(f"const {name}: [f32; {len(values)}] = [" + ", ".join(f"{v:.8e}" for v in values) + "];")


bn = torch.nn.BatchNorm1d(3)
with torch.no_grad():
    bn.weight.copy_(torch.tensor([1.0, 0.5, 2.0]))
    bn.bias.copy_(torch.tensor([0.0, 0.1, -0.2]))
bn.train()
arr("BN1_TRAIN_A", flat(bn(torch.tensor(A))))
arr("BN1_TRAIN_B", flat(bn(torch.tensor(B))))
arr("BN1_RUNNING_MEAN", flat(bn.running_mean))
arr("BN1_RUNNING_VAR", flat(bn.running_var))
bn.eval()
arr("BN1_EVAL_C", flat(bn(torch.tensor(C))))

bn2 = torch.nn.BatchNorm2d(2)
x = torch.tensor(IMAGES)
assert x.shape == (3, 2, 1, 2)
arr("BN2_INPUT", flat(x))
bn2.train()
arr("BN2_TRAIN", flat(bn2(x)))
arr("BN2_RUNNING_MEAN", flat(bn2.running_mean))
arr("BN2_RUNNING_VAR", flat(bn2.running_var))
bn2.eval()
arr("BN2_EVAL", flat(bn2(x)))
