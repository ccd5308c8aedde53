"""brain-modes: switch a frozen network into a new mode by neuron thresholds and gains.

After Ghasemlou (2026), "Dopamine: Brain Modes, Not Brains" (arXiv:2602.11726). A rate
MLP (ReLU hidden layers) is pretrained on a 50/50 mixture of upright and rotated digits
(``angle_deg``, default 45 degrees, rotated with ``scipy.ndimage.rotate``); its weights are
then frozen and only a *mode* is learned for rotated digits: per hidden neuron a
threshold and a positive gain, ``y = g * gate(z - theta) * (z - theta)``, with a sigmoid
gate of temperature ``tau`` (annealed from ``temperature`` to ``temperature_end``) during
training and a binary gate at evaluation (:class:`synaptica.training.modes.NeuronModulation`).
That is ``2 x sum(hidden)`` trainable numbers. The mode's loss is cross-entropy plus
``gate_cost`` times the mean gate value (a price on participating neurons; 0 turns it off).
It is compared, on the same rotated
training images, with LoRA adapters on every frozen layer (rank ``lora_rank``; 0 picks the
largest rank whose parameter count does not exceed the mode's, at least 1) and with
fine-tuning every weight. The base is pretrained for a fixed budget (``epochs_base``,
default 20) rather than to convergence: a base that already masters both orientations
leaves nothing for any adaptation to gain.

Why a rate network and not a spiking one: the question is what per-neuron excitability
alone can do to a fixed circuit; a threshold-linear unit has exactly the two parameters
in question, and the whole study (3 seeds, four trainings each) runs in seconds.

Data: ``data = "digits"`` (scikit-learn's 8x8 digits, shuffled anew for every seed;
``n_train`` default 1200, the rest test) or a folder with MNIST in IDX format (first
``n_train`` default 8000 train, last ``n_test`` default 2000 test, the same split for
every seed). Pretraining sees each
training image once, a random half of them rotated; adaptation sees every training image
rotated; tests use the held-out images in both orientations.

Metrics (means over ``n_seeds`` seeds ``seed, seed+1, ...``, with ``*_std`` the sample std):
``rotated_accuracy_{base,mode,lora,finetune}``, ``upright_accuracy_*`` (with the
adaptation switched on: forgetting), ``trainable_params_*``, ``active_fraction_{base,mode}``
(fraction of hidden-neuron x rotated-test-image pairs whose gate is open, i.e. whose
activation is non-zero; base gate = ReLU's ``z > 0``), ``silent_fraction_{base,mode}``
(hidden neurons open on under 1% of rotated test images), ``gate_hardening_agreement``
(predictions of the sigmoid gate at the final temperature equal to the binary gate's).
Switching a mode (or a LoRA adapter) off restores the base network exactly; fine-tuning
has no base left to return to. ``spikes.npz``/``raster.png`` hold the mode's gate openings
on the rotated test images of the first seed, one 1 ms bin per image (a rate network has
no spikes; this is the "which neurons fire" record). Training runs on one thread: the
matrices are tiny and a wider thread pool costs more than it computes.
"""
from __future__ import annotations

import copy
import time
from functools import partial
from pathlib import Path

import numpy as np
import torch

from synaptica.config import MAX_SEED, ConfigError, Field, check_memory, check_work, first_problem
from synaptica.experiments.base import Experiment, ExperimentResult, ProgressCallback

METHODS = ("base", "mode", "lora", "finetune")

SCHEMA = {
    "data": Field(str, "digits", "'digits' (scikit-learn 8x8) or a folder with MNIST IDX files"),
    "n_train": Field(int, 0, "training images (0: 1200 digits, 8000 MNIST)", minimum=0, maximum=10**7),
    "n_test": Field(int, 0, "test images (0: the rest of the digits, 2000 MNIST)", minimum=0, maximum=10**7),
    "angle_deg": Field(float, 45.0, "rotation of the second mode (degrees)", minimum=-180.0, maximum=180.0),
    "hidden": Field(list[int], [64, 64], "hidden layer sizes (ReLU units)", minimum=1, maximum=10**5, max_length=64),
    "epochs_base": Field(int, 20, "pretraining epochs on the upright/rotated mixture", minimum=1, maximum=10**4),
    "epochs_adapt": Field(int, 40, "adaptation epochs on rotated images (mode, LoRA, fine-tuning)", minimum=1,
                          maximum=10**4),
    "batch_size": Field(int, 128, "minibatch size", minimum=1, maximum=10**6),
    # Adam moves each parameter by about lr per step: beyond 10 no training can mean anything
    "lr_base": Field(float, 3e-3, "Adam learning rate, pretraining", minimum=0.0, maximum=10.0, exclusive_minimum=True),
    "lr_mode": Field(float, 3e-2, "Adam learning rate, thresholds and gains", minimum=0.0, maximum=10.0,
                     exclusive_minimum=True),
    "lr_lora": Field(float, 1e-2, "Adam learning rate, LoRA adapters", minimum=0.0, maximum=10.0,
                     exclusive_minimum=True),
    "lr_finetune": Field(float, 1e-3, "Adam learning rate, full fine-tuning", minimum=0.0, maximum=10.0,
                         exclusive_minimum=True),
    "lora_rank": Field(int, 0, "LoRA rank on every layer (0: largest with no more parameters than the mode)",
                       minimum=0, maximum=10**5),
    "temperature": Field(float, 0.5, "initial sigmoid-gate temperature (pre-activation units)",
                         minimum=0.0, maximum=1000.0, exclusive_minimum=True),
    "temperature_end": Field(float, 0.05, "final gate temperature (geometric annealing)",
                             minimum=0.0, maximum=1000.0, exclusive_minimum=True),
    "gate_cost": Field(float, 0.5, "penalty per unit of mean gate value while learning the mode (sparsity)",
                       minimum=0.0, maximum=1000.0),
    "n_seeds": Field(int, 3, "independent repetitions (data split, initialisation, order)", minimum=1, maximum=1000),
    "seed": Field(int, 1, "first seed", minimum=0, maximum=MAX_SEED),
}

DEFAULT_SPLIT = {"digits": (1200, 0), "mnist": (8000, 2000)}


def _check_hidden(p: dict) -> str | None:
    return None if p["hidden"] else "key 'hidden': needs at least one hidden layer (a mode modulates hidden neurons)"


def _check_rank(p: dict) -> str | None:
    if p["hidden"] and p["lora_rank"] > min(p["hidden"] + [10]):
        return (f"key 'lora_rank': at most the smallest layer width ({min(p['hidden'] + [10])}, "
                f"counting the 10 outputs), got {p['lora_rank']}")
    return None


# multiply-adds per weight and sample (forward, two backward), and float32 copies of each
# weight held while training (value, gradient, two Adam moments): the terms of the estimates
PASSES = 3
COPIES_PER_WEIGHT = 4


def _check_budget(p: dict) -> str | None:
    """Refuse MLPs whose weights exceed the memory limit and studies whose multiply-adds
    (seeds x epochs x images x weights) exceed the work limit; MNIST sizes for a folder."""
    if not p["hidden"]:
        return None
    n_in, n_train = (64, DEFAULT_SPLIT["digits"][0]) if p["data"] == "digits" else (784, DEFAULT_SPLIT["mnist"][0])
    widths = [n_in, *p["hidden"], 10]
    weights = float(sum(a * b for a, b in zip(widths, widths[1:])))
    batch = min(p["batch_size"], p["n_train"] or n_train)
    activations = float(batch) * sum(widths) * 4 * 4
    epochs = p["epochs_base"] + 3 * p["epochs_adapt"]  # pretraining, then mode, LoRA, fine-tuning
    samples = p["n_seeds"] * epochs * (p["n_train"] or n_train)
    return first_problem(
        check_memory("hidden", f"hidden = {p['hidden']} ({weights:.3g} weights)",
                     weights * 4 * COPIES_PER_WEIGHT + activations),
        check_work("epochs_adapt", f"n_seeds x (epochs_base + 3 epochs_adapt) x {p['n_train'] or n_train} images "
                   f"x {weights:.3g} weights", samples * weights * PASSES),
    )


def _check_temperatures(p: dict) -> str | None:
    if p["temperature_end"] > p["temperature"]:
        return (f"key 'temperature_end': annealing lowers the temperature, so it must be <= temperature "
                f"({p['temperature']}), got {p['temperature_end']}")
    return None


# ---------------------------------------------------------------------------------- data

def rotate_images(images: np.ndarray, shape: tuple[int, int], angle_deg: float) -> np.ndarray:
    """Rotate flattened images ``(n, h*w)`` in [0, 1] by ``angle_deg`` about their centre
    (bilinear, same frame, corners filled with 0); returns ``(n, h*w)`` in [0, 1]."""
    from scipy.ndimage import rotate

    if images.ndim != 2 or images.shape[1] != shape[0] * shape[1]:
        raise ValueError(f"rotate_images: expected images of shape (n, {shape[0] * shape[1]}), got {images.shape}")
    stack = images.reshape(-1, *shape)
    turned = rotate(stack, angle_deg, axes=(1, 2), reshape=False, order=1, mode="constant", cval=0.0)
    return np.clip(turned, 0.0, 1.0).reshape(images.shape)


def load_modes_data(p: dict, seed: int) -> dict[str, np.ndarray]:
    """Arrays for one seed: ``x_pre, y_pre`` (mixture), ``x_adapt, y_adapt`` (rotated train),
    ``x_up, x_rot, y_test`` (held-out images upright and rotated); images ``(n, pixels)``."""
    from synaptica.datasets import load_images

    try:
        images, labels, shape = load_images(p["data"])
    except ValueError as error:
        raise ConfigError(f"key 'data': {error}") from None
    kind = "digits" if p["data"] == "digits" else "mnist"
    rng = np.random.default_rng(seed)
    n_train = p["n_train"] or DEFAULT_SPLIT[kind][0]
    n_test = p["n_test"] or DEFAULT_SPLIT[kind][1] or len(images) - n_train
    if n_train + n_test > len(images) or n_test < 1:
        raise ConfigError(f"keys 'n_train', 'n_test': {n_train} + {n_test} images, the data has {len(images)}")
    order = rng.permutation(len(images)) if kind == "digits" else np.arange(len(images))
    train, test = order[:n_train], order[len(images) - n_test:]
    x_train, y_train = images[train], labels[train]
    x_train_rot = rotate_images(x_train, shape, p["angle_deg"])
    rotated = np.zeros(n_train, dtype=bool)
    rotated[rng.permutation(n_train)[: n_train // 2]] = True  # exactly half of the mixture is rotated
    return {
        "x_pre": np.where(rotated[:, None], x_train_rot, x_train), "y_pre": y_train,
        "x_adapt": x_train_rot, "y_adapt": y_train,
        "x_up": images[test], "x_rot": rotate_images(images[test], shape, p["angle_deg"]), "y_test": labels[test],
    }


# --------------------------------------------------------------------------------- model

class MLP(torch.nn.Module):
    """Linear layers with ReLU between them, or with a mode's modulated neurons.

    ``forward(x (B, in), modes=None) -> (logits (B, out), gates: list of (B, n_l))``;
    ``modes``: one :class:`NeuronModulation` per hidden layer, or None for plain ReLU
    (whose gate is ``z > 0``). Gates are in [0, 1]: sigmoid values while a mode trains,
    0/1 for ReLU and hardened modes.
    """

    def __init__(self, linears) -> None:
        super().__init__()
        self.linears = torch.nn.ModuleList(linears)

    def forward(self, x: torch.Tensor, modes=None) -> tuple[torch.Tensor, list[torch.Tensor]]:
        n_in = self.linears[0].in_features
        if x.ndim != 2 or x.shape[1] != n_in:
            raise ValueError(f"MLP: expected input of shape (batch, {n_in}), got {tuple(x.shape)}")
        gates = []
        for i, layer in enumerate(self.linears[:-1]):
            z = layer(x)
            if modes is None:
                x = torch.relu(z)
                gates.append((z > 0).to(z.dtype))
            else:
                x = modes[i](z)
                gates.append(modes[i].gate(z))
        return self.linears[-1](x), gates


def make_mlp(sizes: list[int], generator: torch.Generator) -> MLP:
    """A ReLU :class:`MLP` ``sizes[0] -> ... -> sizes[-1]``, weights and biases uniform in
    +-1/sqrt(fan_in) drawn from ``generator`` (PyTorch's default bound, but reproducible)."""
    linears = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        layer = torch.nn.Linear(n_in, n_out)
        bound = 1.0 / n_in ** 0.5
        with torch.no_grad():
            layer.weight.copy_((2 * torch.rand(n_out, n_in, generator=generator) - 1) * bound)
            layer.bias.copy_((2 * torch.rand(n_out, generator=generator) - 1) * bound)
        linears.append(layer)
    return MLP(linears)


def fit(parameters, loss_of, x, y, epochs: int, lr: float, batch_size: int, generator, phase: str,
        on_epoch=None) -> None:
    """Adam on ``loss_of(x_batch, y_batch) -> scalar loss`` over shuffled minibatches.

    A non-finite loss or parameter stops training with NonFiniteError (a FloatingPointError)
    naming ``phase``, epoch and step."""
    from synaptica.experiments.finite import require_finite_loss, require_finite_parameters

    parameters = [q for q in parameters if q.requires_grad]
    optimiser = torch.optim.Adam(parameters, lr=lr)
    n = x.shape[0]
    for epoch in range(epochs):
        if on_epoch is not None:
            on_epoch(epoch)
        order = torch.randperm(n, generator=generator)
        for step, start in enumerate(range(0, n, batch_size)):
            idx = order[start:start + batch_size]
            loss = loss_of(x[idx], y[idx])
            require_finite_loss(loss, experiment="brain-modes", phase=phase, epoch=epoch, step=step)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
        require_finite_parameters(parameters, experiment="brain-modes", phase=phase, epoch=epoch)


def cross_entropy(model: MLP, x: torch.Tensor, y: torch.Tensor, modes=None, gate_cost: float = 0.0) -> torch.Tensor:
    """Cross-entropy of ``model(x, modes)`` plus ``gate_cost`` times the mean gate value
    (the expected fraction of participating neurons: a price on activity, as spikes cost energy)."""
    logits, gates = model(x, modes)
    loss = torch.nn.functional.cross_entropy(logits, y)
    if gate_cost:
        loss = loss + gate_cost * torch.cat(gates, dim=1).mean()
    return loss


def _evaluate(model, x, y, modes=None) -> tuple[float, np.ndarray, list]:
    """Accuracy, predictions and gate-open masks, with any mode hardened to binary gates."""
    if modes is not None:
        for m in modes:
            m.harden(True)
    with torch.no_grad():
        logits, gates = model(x, modes)
    if modes is not None:
        for m in modes:
            m.harden(False)
    prediction = logits.argmax(1)
    return float((prediction == y).double().mean()), prediction.numpy(), [g.numpy() > 0.5 for g in gates]


def run_seed(p: dict, seed: int, progress=None) -> dict:
    """Pretrain, freeze, adapt three ways; return per-seed numbers and arrays for figures."""
    from synaptica.training.modes import LoRALinear, NeuronModulation, count_trainable, lora_rank_for_budget

    d = {k: torch.as_tensor(v, dtype=torch.float32 if k.startswith("x") else torch.int64)
         for k, v in load_modes_data(p, seed).items()}
    # one generator per phase: changing one method's settings leaves the others' draws alone
    gens = [torch.Generator().manual_seed(8 * seed + k) for k in range(4)]
    sizes = [d["x_pre"].shape[1], *p["hidden"], 10]
    tick = progress or (lambda: None)

    base = make_mlp(sizes, gens[0])
    fit(base.parameters(), partial(cross_entropy, base), d["x_pre"], d["y_pre"], p["epochs_base"], p["lr_base"],
        p["batch_size"], gens[0], "pretraining")
    for q in base.parameters():
        q.requires_grad_(False)
    tick()

    # mode: thresholds and gains only; the base weights stay frozen
    modes = torch.nn.ModuleList(NeuronModulation(n, p["temperature"], name=f"hidden{i + 1}")
                                for i, n in enumerate(p["hidden"]))
    n_epochs = p["epochs_adapt"]
    ratio = p["temperature_end"] / p["temperature"]

    def anneal(epoch: int) -> None:
        tau = p["temperature"] * ratio ** (epoch / max(n_epochs - 1, 1))
        for m in modes:
            m.temperature = tau

    fit(modes.parameters(), partial(cross_entropy, base, modes=modes, gate_cost=p["gate_cost"]), d["x_adapt"],
        d["y_adapt"], n_epochs, p["lr_mode"], p["batch_size"], gens[1], "mode", on_epoch=anneal)
    tick()

    # LoRA on every frozen layer
    layer_shapes = [(a, b) for a, b in zip(sizes[:-1], sizes[1:])]
    rank = p["lora_rank"] or lora_rank_for_budget(layer_shapes, count_trainable(modes))
    lora = copy.deepcopy(base)
    lora.linears = torch.nn.ModuleList(LoRALinear(layer, rank, generator=gens[2]) for layer in lora.linears)
    fit(lora.parameters(), partial(cross_entropy, lora), d["x_adapt"], d["y_adapt"], n_epochs, p["lr_lora"],
        p["batch_size"], gens[2], "lora")
    tick()

    finetune = copy.deepcopy(base)
    for q in finetune.parameters():
        q.requires_grad_(True)
    fit(finetune.parameters(), partial(cross_entropy, finetune), d["x_adapt"], d["y_adapt"], n_epochs,
        p["lr_finetune"], p["batch_size"], gens[3], "fine-tuning")
    tick()

    out: dict = {"lora_rank": rank}
    runs = {"base": (base, None), "mode": (base, modes), "lora": (lora, None), "finetune": (finetune, None)}
    for name, (model, m) in runs.items():
        out[f"rotated_accuracy_{name}"], prediction, gates = _evaluate(model, d["x_rot"], d["y_test"], m)
        out[f"upright_accuracy_{name}"] = _evaluate(model, d["x_up"], d["y_test"], m)[0]
        if name in ("base", "mode"):
            open_ = np.concatenate(gates, axis=1)  # (images, hidden neurons)
            out[f"active_fraction_{name}"] = float(open_.mean())
            out[f"silent_fraction_{name}"] = float((open_.mean(0) < 0.01).mean())
            out[f"gates_{name}"] = open_
        if name == "mode":
            hard_prediction = prediction
    out["trainable_params_base"] = 0  # frozen
    out["trainable_params_mode"] = count_trainable(modes)
    out["trainable_params_lora"] = count_trainable(lora)
    out["trainable_params_finetune"] = count_trainable(finetune)
    with torch.no_grad():  # the sigmoid gate at the last training temperature vs the binary gate
        smooth_prediction = base(d["x_rot"], modes)[0].argmax(1).numpy()
    out["gate_hardening_agreement"] = float(np.mean(smooth_prediction == hard_prediction))
    out["thresholds"] = [m.threshold().detach().numpy() for m in modes]
    out["gains"] = [m.gain().detach().numpy() for m in modes]
    return out


# ------------------------------------------------------------------------------ reporting

def summarise(per_seed: list[dict]) -> dict[str, float]:
    """Flat metrics: the mean of every per-seed number and ``<name>_std`` (sample std, 0 for one seed)."""
    metrics: dict[str, float] = {"n_seeds": len(per_seed)}
    for key, value in per_seed[0].items():
        if not isinstance(value, (int, float)):
            continue
        values = np.array([s[key] for s in per_seed], dtype=float)
        metrics[key] = float(values.mean())
        if key.startswith(("rotated_", "upright_", "active_", "silent_", "gate_")):
            metrics[f"{key}_std"] = float(values.std(ddof=1)) if len(values) > 1 else 0.0
    return metrics


def plot_brain_modes(metrics: dict, first: dict, hidden: list[int], path: Path) -> None:
    """Accuracies per method (rotated, upright; mean +- std), gate-open fractions per
    layer (base vs mode) and the first seed's learned thresholds against gains."""
    from synaptica.plotting import _new_figure, _save

    fig = _new_figure(13.0, 4.2, left=0.06)
    fig.subplots_adjust(wspace=0.3, bottom=0.2)
    ax = fig.add_subplot(1, 3, 1)
    x = np.arange(len(METHODS))
    for k, (view, colour) in enumerate((("rotated", "tab:red"), ("upright", "tab:blue"))):
        ax.bar(x + (k - 0.5) * 0.38, [metrics[f"{view}_accuracy_{m}"] for m in METHODS], 0.38,
               yerr=[metrics[f"{view}_accuracy_{m}_std"] for m in METHODS], color=colour, capsize=3,
               label=f"{view} test")
    ax.set_xticks(x, [f"{m}\n{int(metrics[f'trainable_params_{m}'])} params" for m in METHODS], fontsize=8)
    lowest = min(metrics[f"{v}_accuracy_{m}"] for v in ("rotated", "upright") for m in METHODS)
    for i, m in enumerate(METHODS):
        ax.text(i - 0.19, 1.0, f"{metrics[f'rotated_accuracy_{m}']:.3f}", ha="center", va="bottom", fontsize=7,
                color="tab:red")
    ax.set_ylabel("accuracy")
    ax.set_ylim(max(0.0, np.floor(10 * lowest - 1) / 10), 1.04)
    ax.legend(loc="lower left", fontsize=8)
    ax.set_title(f"after adapting to rotated digits ({int(metrics['n_seeds'])} seeds)", fontsize=9)

    ax = fig.add_subplot(1, 3, 2)
    edges = np.cumsum([0, *hidden])
    layers = np.arange(len(hidden))
    for k, (name, colour) in enumerate((("base", "grey"), ("mode", "tab:green"))):
        gates = first[f"gates_{name}"]
        ax.bar(layers + (k - 0.5) * 0.38, [gates[:, a:b].mean() for a, b in zip(edges[:-1], edges[1:])], 0.38,
               color=colour, label=name)
    ax.set_xticks(layers, [f"hidden {i + 1}" for i in layers])
    ax.set_ylabel("gate-open fraction (rotated test)")
    ax.legend(fontsize=8)
    ax.set_title("active neurons (first seed)", fontsize=9)

    ax = fig.add_subplot(1, 3, 3)
    for i, (theta, gain) in enumerate(zip(first["thresholds"], first["gains"])):
        ax.scatter(theta, gain, s=10, alpha=0.7, label=f"hidden {i + 1}")
    ax.axvline(0.0, color="k", lw=0.5)
    ax.axhline(1.0, color="k", lw=0.5)
    ax.set_xlabel("threshold (base: 0)")
    ax.set_ylabel("gain (base: 1)")
    ax.legend(fontsize=8)
    ax.set_title("learned mode (first seed)", fontsize=9)
    _save(fig, path)


def run_brain_modes(p: dict, progress: ProgressCallback | None = None) -> ExperimentResult:
    t0 = time.perf_counter()
    total, done = 4 * p["n_seeds"], [0]

    def tick() -> None:
        done[0] += 1
        if progress is not None:
            progress(done[0], total)

    from synaptica.analysis._threads import limit_threads

    with limit_threads(1):  # tiny matrices: waking a wider thread pool costs more than it computes
        per_seed = [run_seed(p, p["seed"] + k, tick) for k in range(p["n_seeds"])]
    metrics = summarise(per_seed)
    metrics["run_s"] = time.perf_counter() - t0
    first = per_seed[0]
    images, ids = np.nonzero(first["gates_mode"])
    n_images = first["gates_mode"].shape[0]
    edges = np.cumsum([0, *p["hidden"]])
    groups = {f"hidden{i + 1}": (int(a), int(b)) for i, (a, b) in enumerate(zip(edges[:-1], edges[1:]))}
    figures = {"brain_modes.png": partial(plot_brain_modes, metrics, first, p["hidden"])}
    return ExperimentResult(images.astype(float) + 0.5, ids.astype(np.int64), int(edges[-1]), float(n_images),
                            metrics, groups=groups, figures=figures)


EXPERIMENT = Experiment(
    name="brain-modes",
    summary="frozen MLP switched to rotated digits by per-neuron thresholds and gains vs LoRA and fine-tuning",
    schema=SCHEMA,
    run=run_brain_modes,
    checks=(_check_hidden, _check_rank, _check_temperatures, _check_budget),
)
