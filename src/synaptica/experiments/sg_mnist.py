"""sg-mnist: surrogate-gradient training of a LIF network on digits.

A feed-forward ``n_in-hidden-10`` LIF network (``recurrent = true``: recurrent hidden
layer) is trained by backpropagation through time with surrogate gradients (Neftci,
Mostafa & Zenke 2019) on Poisson-encoded images (spike probability per step = pixel
intensity, ``n_steps`` steps), loss = cross-entropy on output spike counts. The class is
the output neuron with most spikes.

Data as in ``stdp-digits``: ``data = "digits"`` (scikit-learn's 8x8 digits, shuffled with
the seed, 1500 train / 297 test) or an MNIST IDX folder, e.g. ``../shared/data/mnist``
(the 10,000-image test split: first 8,000 train, last 2,000 test).
``mode = "online"`` trains with the memory-lean OTTT rule instead of BPTT.
"""
from __future__ import annotations

import time

import numpy as np

from synaptica.config import MAX_SEED, Field, check_memory, check_work, first_problem
from synaptica.experiments.base import Experiment, ExperimentResult, ProgressCallback

SCHEMA = {
    "data": Field(str, "digits", "'digits' (scikit-learn 8x8) or a folder with MNIST IDX files"),
    "hidden": Field(int, 512, "hidden LIF neurons", minimum=1, maximum=10**5),
    "recurrent": Field(bool, False, "recurrent hidden layer"),
    "epochs": Field(int, 15, "passes through the training images", minimum=1, maximum=10**4),
    "n_steps": Field(int, 25, "time steps per image", minimum=1, maximum=10**5),
    "batch_size": Field(int, 128, "images per update", minimum=1, maximum=10**6),
    # Adam moves each weight by about lr per step: beyond 10 no run can mean anything
    "lr": Field(float, 1e-3, "Adam learning rate", minimum=0.0, maximum=10.0, exclusive_minimum=True),
    "beta": Field(float, 0.9, "membrane decay per step", minimum=0.0, maximum=1.0, exclusive_minimum=True),
    "learn_neurons": Field(bool, False, "learn per-neuron beta and threshold"),
    "surrogate": Field(str, "arctan", "fast_sigmoid | arctan | triangle | exponential | straight_through"),
    "mode": Field(str, "bptt", "bptt (through time) or online (memory-lean OTTT)"),
    "n_train": Field(int, 0, "training images (0: 1500 digits, 8000 MNIST)", minimum=0, maximum=10**7),
    "n_test": Field(int, 0, "test images (0: the rest of the digits, 2000 MNIST)", minimum=0, maximum=10**7),
    "seed": Field(int, 1, "random seed (weights, order, spikes)", minimum=0, maximum=MAX_SEED),
}

# float32 tensors kept per neuron and step for the backward pass (input, membrane,
# spike, surrogate derivative), and multiply-adds per weight and sample step (forward,
# two backward): the terms of the estimates below.
SAVED_PER_NEURON_STEP = 4
PASSES = 3


def _check_budget(p: dict) -> str | None:
    """Refuse trainings whose memory (BPTT keeps every step of a batch) or multiply-adds
    (epochs x images x steps x weights) exceed the limits; MNIST sizes for a folder."""
    n_in, n_train = (64, 1500) if p["data"] == "digits" else (784, 8000)
    hidden, steps = p["hidden"], p["n_steps"]
    weights = float(n_in) * hidden + hidden * 10 + (float(hidden) * hidden if p["recurrent"] else 0.0)
    kept_steps = steps if p["mode"] == "bptt" else 1
    batch = min(p["batch_size"], p["n_train"] or n_train)
    activations = float(batch) * kept_steps * (n_in + hidden + 10) * SAVED_PER_NEURON_STEP * 4
    samples = p["epochs"] * (p["n_train"] or n_train)
    return first_problem(
        check_memory("n_steps", f"batch_size = {batch} x n_steps = {steps} steps x {n_in + hidden + 10} neurons "
                     f"(hidden = {hidden})", activations + weights * 4 * 4),
        check_work("epochs", f"epochs x {p['n_train'] or n_train} images x n_steps = {steps} x {weights:.3g} weights",
                   samples * steps * weights * PASSES),
    )


def _check(p: dict) -> str | None:
    from synaptica.primitives.surrogate import SURROGATE_IDS
    from synaptica.training.trainer import MODES

    if p["surrogate"] not in SURROGATE_IDS:
        return f"key 'surrogate': must be one of {sorted(SURROGATE_IDS)}, got {p['surrogate']!r}"
    if p["mode"] not in MODES:
        return f"key 'mode': must be one of {list(MODES)}, got {p['mode']!r}"
    if p["beta"] >= 1.0:
        return "key 'beta': must be below 1"
    return None


def run_sg_mnist(p: dict, progress: ProgressCallback | None = None, checkpoint=None) -> ExperimentResult:
    import torch

    from synaptica.experiments.stdp_digits import load_split
    from synaptica.training import SpikingMLP
    from synaptica.training.trainer import Trainer, poisson_encode

    x_train, y_train, x_test, y_test, _, _ = load_split({**p, "max_rate_hz": 0.0, "norm_total": 0.0})
    torch.manual_seed(p["seed"])
    sizes = [x_train.shape[1], p["hidden"], 10]
    neuron = dict(beta=p["beta"], surrogate=p["surrogate"], learn_beta=p["learn_neurons"],
                  learn_threshold=p["learn_neurons"])
    model = SpikingMLP(sizes, recurrent=p["recurrent"], **neuron)
    # the checkpoint is tied to every parameter (data, sizes, beta, surrogate...), not only the trainer's
    trainer = Trainer(model, lr=p["lr"], n_steps=p["n_steps"], batch_size=p["batch_size"], mode=p["mode"],
                      seed=p["seed"], settings={"experiment": "sg-mnist", **p})
    t0 = time.perf_counter()
    trainer.fit(x_train, y_train, epochs=p["epochs"], checkpoint=checkpoint, progress=progress)
    train_s = time.perf_counter() - t0
    test_accuracy = trainer.score(x_test, y_test)

    # hidden-layer raster of the first 20 test images, one step = 1 ms, images back to back
    with torch.no_grad():
        spikes = poisson_encode(torch.as_tensor(x_test[:20], dtype=torch.float32), p["n_steps"],
                                torch.Generator().manual_seed(p["seed"]))
        model.keep_hidden = True
        model(spikes)
        hidden = model.hidden_spikes[0].permute(1, 0, 2).reshape(-1, p["hidden"])  # (images*T, hidden)
    step, neuron_id = np.nonzero(hidden.numpy())
    last = trainer.history[-1]
    metrics = {
        "test_accuracy": test_accuracy, "train_accuracy": last["train_accuracy"], "final_loss": last["loss"],
        "n_train": len(x_train), "n_test": len(x_test), "epochs": p["epochs"],
        "hidden_spikes_per_neuron_step": float(hidden.mean()),
        "trainable_parameters": sum(q.numel() for q in model.parameters() if q.requires_grad),
        "train_s": train_s,
        "train_samples_per_s": (p["epochs"] * len(x_train)) / train_s if train_s > 0 else 0.0,
    }
    return ExperimentResult(step.astype(float), neuron_id.astype(np.int64), p["hidden"],
                            float(hidden.shape[0]), metrics, groups={"hidden": (0, p["hidden"])})


EXPERIMENT = Experiment(
    name="sg-mnist",
    summary="surrogate-gradient LIF network (784-512-10 or recurrent) on 8x8 digits or MNIST",
    schema=SCHEMA,
    run=run_sg_mnist,
    checks=(_check, _check_budget),
)
