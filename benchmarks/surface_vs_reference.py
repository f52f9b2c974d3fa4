"""The 2D surface against a tight loop doing the same work, the float32 floor, and the top Hessian eigenvalue.

Per preset (mlp: 64-128-128-10 on digits; cnn and transformer: the analysis' presets), one run times,
interleaved, `--repeats` times each:
- labscope's `surface` (train loss and accuracy on `--samples` training samples, test loss and accuracy
  on the whole test set, per grid point);
- "tight loop": the same four numbers on the same samples, per point setting theta + a*d1 + b*d2 into
  the model's parameters in place (no copies) and running the model on the train and the test samples;
- "reference code" (mlp only, `--reference-code`): the pass as tomgoldstein/loss-landscape's
  `evaluation.eval_loss` makes it (a DataLoader in batches of 128, `p.data = w + d`), train set only.
It prints the medians, the range of the per-repeat ratios, max |difference| of all four numbers, and
the float32 floor: the FLOPs of the grid's forward passes (torch's FlopCounterMode, full network on
train and test samples) over the rate of a 1024x1024 matmul measured in the same run.
Hessian: plain power iteration with torch.autograd Hessian-vector products against labscope's.

    python benchmarks/surface_vs_reference.py [--presets mlp cnn transformer] [--points 51] [--repeats 5]
    python benchmarks/surface_vs_reference.py --device cuda      # on a GPU: points/s with many points per pass
    python benchmarks/surface_vs_reference.py --clock cpu        # on a loaded machine: the thread's CPU time
"""

import argparse
import statistics
import time

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset
from torch.utils.flop_counter import FlopCounterMode

from analyses.core import Context
from analyses.loss_landscape import ANALYSIS, hessian
from analyses.loss_landscape.compute import surface
from analyses.loss_landscape.data import load_split
from analyses.loss_landscape.directions import filter_normalized_direction
from analyses.loss_landscape.models import build_model
from analyses.loss_landscape.problem import Problem


@torch.no_grad()
def tight_surface(model, center, d1, d2, xs, ys, data) -> np.ndarray:
    """The same four numbers per point as labscope's surface, by the plainest fast loop."""
    (x, y), (x_test, y_test) = data
    params = dict(model.named_parameters())
    out = np.empty((len(ys), len(xs), 4))
    for j, b in enumerate(ys):
        for i, a in enumerate(xs):
            for name, p in params.items():
                torch.add(center[name], d1[name], alpha=float(a), out=p)
                p.add_(d2[name], alpha=float(b))
            logits = model(x)
            test_logits = model(x_test)
            out[j, i] = (nn.functional.cross_entropy(logits, y).item(),
                         (logits.argmax(1) == y).float().mean().item(),
                         nn.functional.cross_entropy(test_logits, y_test).item(),
                         (test_logits.argmax(1) == y_test).float().mean().item())
    for name, p in params.items():
        p.copy_(center[name])
    return out


@torch.no_grad()
def reference_code_surface(model, center, d1, d2, xs, ys, x, y) -> np.ndarray:
    loader = DataLoader(TensorDataset(x, y), batch_size=128, shuffle=False)
    criterion = nn.CrossEntropyLoss()
    losses = np.empty((len(ys), len(xs)))
    for j, b in enumerate(ys):
        for i, a in enumerate(xs):
            for name, p in model.named_parameters():
                p.data = center[name] + a * d1[name] + b * d2[name]
            total, correct, seen = 0.0, 0, 0
            for inputs, targets in loader:
                outputs = model(inputs)
                total += criterion(outputs, targets).item() * len(targets)
                correct += outputs.max(1)[1].eq(targets).sum().item()
                seen += len(targets)
            losses[j, i] = total / seen
    for name, p in model.named_parameters():
        p.data = center[name].clone()
    return losses


def reference_top_eigenvalue(model, x, y, tol=1e-4, max_iter=200, seed=0):
    params = [p for p in model.parameters()]
    v = [torch.randn(p.shape, generator=torch.Generator().manual_seed(seed)) for p in params]
    norm = torch.sqrt(sum((t ** 2).sum() for t in v))
    v = [t / norm for t in v]
    value = None
    for step in range(1, max_iter + 1):
        loss = nn.functional.cross_entropy(model(x), y)
        grads = torch.autograd.grad(loss, params, create_graph=True)
        hv = torch.autograd.grad(grads, params, grad_outputs=v)
        new = float(sum((a * b).sum() for a, b in zip(hv, v)))
        norm = torch.sqrt(sum((t ** 2).sum() for t in hv))
        v = [t / norm for t in hv]
        if value is not None and abs(new - value) <= tol * abs(value):
            return new, step
        value = new
    return value, max_iter


# Wall time by default; `--clock cpu` times this thread's CPU time (time.thread_time), which leaves out the
# time other processes hold the core: on a loaded machine wall-time ratios swung 0.6-1.7x between repeats.
CLOCK = time.perf_counter


def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def matmul_rate(size: int = 1024, repeats: int = 5, device: str = "cpu") -> float:
    """float32 FLOP/s of a large matmul on this thread count (or GPU), median of `repeats`."""
    a, b = torch.randn(size, size, device=device), torch.randn(size, size, device=device)
    a @ b
    times = []
    for _ in range(repeats):
        _sync(device)
        start = CLOCK()
        a @ b
        _sync(device)
        times.append(CLOCK() - start)
    return 2 * size ** 3 / statistics.median(times)


def forward_flops(model, x) -> int:
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(x)
    return counter.get_total_flops()


def setup(preset: str, samples: int, width: int, depth: int, device: str = "cpu"):
    """(model in eval mode, centre, d1, d2, data, problem, description) for one preset, briefly trained."""
    if preset == "mlp":
        split = load_split("digits", None, 0.25, 0)
        torch.manual_seed(0)
        model = build_model("mlp", 64, 10, width, depth)
        name = f"MLP 64-{'-'.join([str(width)] * depth)}-10"
    else:
        params = ANALYSIS.params(preset)
        split = load_split(params["dataset"], None, params["test_fraction"], 0)
        torch.manual_seed(0)
        model = build_model(params["model"], split.x_train.shape[1], split.n_classes, params["width"],
                            params["depth"], split.image_shape)
        name = f"{preset} preset (width {params['width']}, depth {params['depth']})"
    x, y = split.x_train[:samples], split.y_train[:samples]
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    for _ in range(100):  # a briefly trained model, so the Hessian is not that of a random init
        optimizer.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        optimizer.step()
    model.eval()
    center = {n: p.detach().clone() for n, p in model.named_parameters()}
    g = torch.Generator().manual_seed(1)
    d1, d2 = filter_normalized_direction(center, g), filter_normalized_direction(center, g)
    problem = Problem(split, lambda seed: model, independent_samples=True)
    data = ((x, y), (split.x_test, split.y_test))
    if device != "cpu":  # trained on the CPU (same numbers), evaluated on the device
        model.to(device)
        center, d1, d2 = ({n: t.to(device) for n, t in w.items()} for w in (center, d1, d2))
        data = tuple((a.to(device), b.to(device)) for a, b in data)
    return model, center, d1, d2, data, problem, name


def timed(f, device: str = "cpu"):
    _sync(device)
    start = CLOCK()
    out = f()
    _sync(device)
    return out, CLOCK() - start


def bench_surface(preset, points, repeats, samples, width, depth, reference_code, device="cpu") -> None:
    model, center, d1, d2, data, problem, name = setup(preset, samples, width, depth, device)
    xs = ys = np.linspace(-1, 1, points)
    n_eval = len(data[0][0]) + len(data[1][0])
    flops = forward_flops(model, torch.cat([data[0][0], data[1][0]])) * points ** 2
    labscope_s, tight_s, code_s, rates = [], [], [], []
    for _ in range(repeats):  # interleaved, so a slow phase of the machine hits both
        rates.append(matmul_rate(4096 if device == "cuda" else 1024, device=device))
        ours, t = timed(lambda: surface(model, center, [d1, d2], data, problem, xs, ys, Context()), device)
        labscope_s.append(t)
        tight, t = timed(lambda: tight_surface(model, center, d1, d2, xs, ys, data), device)
        tight_s.append(t)
        if reference_code:
            code, t = timed(lambda: reference_code_surface(model, center, d1, d2, xs, ys, *data[0]))
            code_s.append(t)
    columns = ["train_loss", "train_accuracy", "test_loss", "test_accuracy"]
    grid = np.stack([ours.pivot(index="y", columns="x", values=c).to_numpy() for c in columns], axis=-1)
    rate = statistics.median(rates)
    floor = flops / rate
    ratios = [t / o for t, o in zip(tight_s, labscope_s)]
    per_point = 1e3 / points ** 2
    med_ours, med_tight = statistics.median(labscope_s), statistics.median(tight_s)
    print(f"{name}, {sum(p.numel() for p in center.values()):,} parameters; {points}x{points} surface, "
          f"{len(data[0][0])} train + {len(data[1][0])} test samples per point, "
          f"{device if device != 'cpu' else f'{torch.get_num_threads()} thread(s)'}, {repeats} interleaved repeats, "
          f"{'CPU time' if CLOCK is time.thread_time else 'wall time'}"
          + (" (many points per forward pass: vmap)" if device == "cuda" else ""))
    print(f"  labscope   {med_ours:7.2f} s ({med_ours * per_point:.3f} ms/point, {points ** 2 / med_ours:,.0f} "
          f"points/s)")
    print(f"  tight loop {med_tight:7.2f} s ({med_tight * per_point:.3f} ms/point): same-work ratio "
          f"{med_tight / med_ours:.2f}x (per repeat {min(ratios):.2f}-{max(ratios):.2f}x)")
    # Losses agree to rounding; an accuracy can differ by one sample where rounding flips a near-tie argmax.
    flips = np.abs(grid[..., [1, 3]] - tight[..., [1, 3]]) * np.array([len(data[0][0]), len(data[1][0])])
    print(f"  max |diff| of the losses {np.abs(grid[..., [0, 2]] - tight[..., [0, 2]]).max():.1e}; accuracies "
          f"differ at {int((flips > 0.5).any(axis=-1).sum())} of {points ** 2} points, by at most "
          f"{int(round(flips.max()))} sample(s)")
    print(f"  float32 floor {floor:7.2f} s ({flops / points ** 2 / n_eval / 1e3:.1f} kFLOP/sample, matmul "
          f"{rate / 1e9:.1f} GFLOP/s, runs {min(rates) / 1e9:.1f}-{max(rates) / 1e9:.1f}): labscope at "
          f"{med_ours / floor:.2f}x the floor, tight loop at {med_tight / floor:.2f}x")
    if reference_code:
        med_code = statistics.median(code_s)
        print(f"  reference code's evaluation (train set only) {med_code:.2f} s: {med_code / med_ours:.1f}x "
              f"labscope's time, max |diff| of the train loss {np.abs(grid[..., 0] - code).max():.1e}")
    return model, center, data


def bench_hessian(model, center, x, y) -> None:
    found, t_ours = timed(lambda: hessian.top_eigenpairs(hessian.make_loss_fn(model, x, y), center, k=1,
                                                         generator=torch.Generator().manual_seed(0)))
    (ref_eig, ref_steps), t_ref = timed(lambda: reference_top_eigenvalue(model, x, y))
    ours_eig, ours_steps = found.values[0], found.iterations[0]
    print(f"top Hessian eigenvalue (relative tolerance 1e-4): reference {t_ref:.2f} s, {ref_steps} products "
          f"({ref_eig:.5f}); labscope {t_ours:.2f} s, {ours_steps} products ({ours_eig:.5f}); "
          f"ratio {t_ref / t_ours:.2f}x, per product {t_ref / ref_steps / (t_ours / ours_steps):.2f}x")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--presets", nargs="+", default=["mlp", "cnn", "transformer"])
    parser.add_argument("--points", type=int, default=51, help="grid points per axis (MLP)")
    parser.add_argument("--small-points", type=int, default=21, help="grid points per axis (CNN, transformer)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--width", type=int, default=128)
    parser.add_argument("--depth", type=int, default=2)
    parser.add_argument("--reference-code", action="store_true", help="also time the reference code's evaluation")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--clock", choices=["wall", "cpu"], default="wall",
                        help="cpu: time the thread's CPU time, for a machine other processes load (CPU device only)")
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu",
                        help="cuda: labscope evaluates many grid points per forward pass (vmap)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.clock == "cpu":
        if args.device != "cpu" or args.threads != 1:
            parser.error("--clock cpu times one CPU thread: use it with --device cpu --threads 1")
        CLOCK = time.thread_time
    for preset in args.presets:
        points = args.points if preset == "mlp" else args.small_points
        model, center, data = bench_surface(preset, points, args.repeats, args.samples, args.width, args.depth,
                                            args.reference_code and preset == "mlp", args.device)
        if preset == "mlp" and args.device == "cpu":
            bench_hessian(model, center, *data[0])
