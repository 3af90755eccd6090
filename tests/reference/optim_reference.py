"""Reference numbers for tests/train_optim.rs: PyTorch's optimizers and learning-rate schedulers on a fixed problem.

Run with bench/torch-venv's Python:  $(bench/torch-venv) tests/reference/optim_reference.py
It prints Rust constants; paste them into tests/train_optim.rs (CI does not need torch).
"""
import torch

torch.set_default_dtype(torch.float32)
W0 = [[0.5, -1.0, 0.25], [1.5, 0.3, -0.7]]
B0 = [0.1, -0.2]
X = [[1.0, 2.0, -1.0], [0.5, -0.3, 0.8], [-1.2, 0.4, 0.9], [2.0, 1.0, 0.0]]
Y = [[1.0, 0.0], [0.0, 1.0], [0.5, -0.5], [2.0, 1.0]]
STEPS = 5

OPTIMIZERS = {
    "SGD": lambda p: torch.optim.SGD(p, lr=0.1),
    "SGD_MOMENTUM": lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, dampening=0.1, weight_decay=0.01),
    "SGD_NESTEROV": lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01),
    "ADAM": lambda p: torch.optim.Adam(p, lr=0.05, weight_decay=0.01),
    "ADAM_AMSGRAD": lambda p: torch.optim.Adam(p, lr=0.05, betas=(0.8, 0.99), amsgrad=True),
    "ADAMW": lambda p: torch.optim.AdamW(p, lr=0.05, weight_decay=0.1),
    "RMSPROP": lambda p: torch.optim.RMSprop(p, lr=0.01),
    "RMSPROP_CENTERED": lambda p: torch.optim.RMSprop(
        p, lr=0.01, alpha=0.9, momentum=0.5, centered=True, weight_decay=0.01
    ),
}


def rust_array(name, rows):
    print(f"const {name}: [[f32; {len(rows[0])}]; {len(rows)}] = [")
    for row in rows:
        print("    [" + ", ".join(f"{v:.8e}" for v in row) + "],")
    print("];")


x, y = torch.tensor(X), torch.tensor(Y)
for name, make in OPTIMIZERS.items():
    w = torch.tensor(W0, requires_grad=True)
    b = torch.tensor(B0, requires_grad=True)
    opt = make([w, b])
    rows = []
    for _ in range(STEPS):
        opt.zero_grad()
        loss = ((x @ w.T + b - y) ** 2).mean()
        loss.backward()
        opt.step()
        rows.append(w.detach().flatten().tolist() + b.detach().tolist())
    rust_array(name, rows)

EPOCHS = 12
METRICS = [1.0, 0.8, 0.81, 0.8, 0.79999, 0.7, 0.71, 0.72, 0.73, 0.74, 0.75, 0.76]


def lrs(make_scheduler, metric=False):
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    sched = make_scheduler(opt)
    out = []
    for epoch in range(EPOCHS):
        opt.step()
        out.append(opt.param_groups[0]["lr"])
        sched.step(METRICS[epoch]) if metric else sched.step()
    return out


S = torch.optim.lr_scheduler
SCHEDULES = {
    "STEP_LR": lrs(lambda o: S.StepLR(o, step_size=3, gamma=0.5)),
    "EXPONENTIAL_LR": lrs(lambda o: S.ExponentialLR(o, gamma=0.9)),
    "COSINE_LR": lrs(lambda o: S.CosineAnnealingLR(o, T_max=10, eta_min=0.001)),
    "LINEAR_LR": lrs(lambda o: S.LinearLR(o, start_factor=0.1, end_factor=1.0, total_iters=4)),
    "WARMUP_COSINE_LR": lrs(
        lambda o: S.SequentialLR(
            o,
            [S.LinearLR(o, start_factor=0.1, end_factor=1.0, total_iters=3), S.CosineAnnealingLR(o, T_max=8)],
            milestones=[3],
        )
    ),
    # The learning rate in force for each epoch; the metric of that epoch is given after it.
    "PLATEAU_LR": lrs(lambda o: S.ReduceLROnPlateau(o, mode="min", factor=0.5, patience=2, cooldown=1), True),
}
for name, values in SCHEDULES.items():
    print(f"const {name}: [f64; {EPOCHS}] = [" + ", ".join(f"{v:.12e}" for v in values) + "];")
