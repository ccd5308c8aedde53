"""stdp-digits: unsupervised STDP learning of digits, Diehl & Cook (2015).

The network of :mod:`synaptica.models.diehl_cook` learns from unlabelled images (one
350 ms Poisson presentation each, learning after every spike); then, with plasticity
frozen, each excitatory neuron is labelled with the class it responds to most on the
training images, and held-out images are classified by the labelled neurons' votes.

Data: ``data = "digits"`` uses scikit-learn's bundled 8x8 digits (1797 images, shuffled
with the seed; ``n_train`` for training and labelling, the rest for testing). Any other
value is a folder with MNIST in IDX format (e.g. the 10,000-image test split: first
``n_train`` images train, the next ``n_test`` test). Rates and the weight-normalisation
total default (value 0) to the paper's for 28x28 MNIST (63.75 Hz, 78) and to values
tuned for the 64 inputs of the 8x8 digits (255 Hz, 10).
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from synaptica.config import MAX_SEED, ConfigError, Field, check_memory, check_work, first_problem
from synaptica.experiments.base import Experiment, ExperimentResult, ProgressCallback

SCHEMA = {
    "data": Field(str, "digits", "'digits' (scikit-learn 8x8) or a folder with MNIST IDX files"),
    "n_exc": Field(int, 100, "excitatory neurons", minimum=1, maximum=10**5),
    "epochs": Field(int, 1, "passes through the training images", minimum=1, maximum=10**4),
    "n_train": Field(int, 0, "training images (0: 1500 digits, 8000 MNIST)", minimum=0, maximum=10**7),
    "n_test": Field(int, 0, "test images (0: the rest of the digits, 2000 MNIST)", minimum=0, maximum=10**7),
    "max_rate_hz": Field(float, 0.0, "input rate of a full-intensity pixel (0: dataset default)", minimum=0.0,
                         maximum=1e4),
    "norm_total": Field(float, 0.0, "sum of each neuron's input weights (0: dataset default)", minimum=0.0,
                        maximum=1e6),
    "present_ms": Field(float, 350.0, "presentation time per image (ms)", minimum=0.0, maximum=1e5,
                        exclusive_minimum=True),
    "dt_ms": Field(float, 0.5, "time step (ms)", minimum=1e-6, maximum=100.0),
    "seed": Field(int, 1, "random seed (initial weights, input spikes, digit order)", minimum=0, maximum=MAX_SEED),
}

DEFAULTS = {"digits": dict(n_train=1500, n_test=0, max_rate_hz=255.0, norm_total=10.0),
            "mnist": dict(n_train=8000, n_test=2000, max_rate_hz=63.75, norm_total=78.0)}

BYTES_PER_SYNAPSE = 20  # CUBA's measured peak memory per synapse, rounded up (BENCHMARKS.md, bench/cuba.py)


def check_budget(p: dict) -> str | None:
    """Refuse networks (n_input x n_exc + n_exc^2 synapses) over the memory limit and runs
    over the work limit: per step every neuron updates and every input spike reaches
    n_exc synapses (MNIST sizes and rates when ``data`` is a folder)."""
    kind = "digits" if p["data"] == "digits" else "mnist"
    n_input, n_test = (64, 297) if kind == "digits" else (784, DEFAULTS["mnist"]["n_test"])
    n_exc, rate_hz = p["n_exc"], p["max_rate_hz"] or DEFAULTS[kind]["max_rate_hz"]
    synapses = float(n_input) * n_exc + float(n_exc) * n_exc
    images = (p["epochs"] + 1) * (p["n_train"] or DEFAULTS[kind]["n_train"]) + (p["n_test"] or n_test)
    steps = p["present_ms"] / p["dt_ms"]
    per_step = n_input + 2 * n_exc + n_input * min(1.0, rate_hz * p["dt_ms"] / 1000) * n_exc
    return first_problem(
        check_memory("n_exc", f"n_exc = {n_exc} neurons ({synapses:.3g} synapses)", synapses * BYTES_PER_SYNAPSE),
        check_work("present_ms", f"{images} image presentations x present_ms / dt_ms = {steps:.3g} steps "
                   f"x {per_step:.3g} updates", images * steps * per_step),
    )


def load_split(p: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, tuple[int, int], dict]:
    """Training and test images and labels, image shape, and the resolved dataset defaults."""
    from synaptica.datasets import load_images

    try:
        images, labels, shape = load_images(p["data"])
    except ValueError as error:
        raise ConfigError(f"key 'data': {error}") from None
    kind = "digits" if p["data"] == "digits" else "mnist"
    resolved = {k: (p[k] or v) for k, v in DEFAULTS[kind].items()}
    if kind == "digits":
        order = np.random.default_rng(p["seed"]).permutation(len(images))
        images, labels = images[order], labels[order]
    n_train = resolved["n_train"]
    n_test = resolved["n_test"] or len(images) - n_train
    if n_train + n_test > len(images) or n_test < 1:
        raise ConfigError(f"keys 'n_train', 'n_test': {n_train} + {n_test} images, the data has {len(images)}")
    test = slice(n_train, n_train + n_test)
    return images[:n_train], labels[:n_train], images[test], labels[test], shape, resolved


class Phases:
    """Runs an image-presenting model through named phases with one overall progress bar;
    each phase checkpoints to its own file (removed by :meth:`finish`)."""

    def __init__(self, model, p: dict, total_images: int, progress: ProgressCallback | None, checkpoint) -> None:
        self.model, self.p, self.progress, self.checkpoint = model, p, progress, checkpoint
        self.steps_per_image = int(round(p["present_ms"] / p["dt_ms"]))
        self.total, self.done = total_images * self.steps_per_image, 0

    def _progress(self, steps: int, _total: int) -> None:
        if self.progress is not None:
            self.progress(self.done + steps, self.total)

    def run(self, images: np.ndarray, learn: bool, name: str, targets: np.ndarray | None = None) -> np.ndarray:
        counts = self.model.present(images, learn, self._progress, self.checkpoint, name, targets=targets,
                                    settings=self.p)
        self.done += len(images) * self.steps_per_image
        return counts

    def finish(self) -> None:
        if self.checkpoint is not None:
            for path in Path(self.checkpoint).parent.glob(Path(self.checkpoint).name + ".*.npz"):
                path.unlink()


def train_label_test(model, p: dict, data: tuple, progress, checkpoint, supervised: bool):
    """Train for ``epochs`` (with the labels as teacher targets if ``supervised``), label the
    excitatory neurons on the training images, present the test images (all frozen).

    Returns the result skeleton (test-phase raster, receptive-field figure, common
    metrics) and the test-phase spike counts of every count monitor, by name."""
    from synaptica.plotting import plot_receptive_fields

    x_train, y_train, x_test, y_test, shape, d = data
    spikes = model.net.monitor_spikes(model.exc)
    phases = Phases(model, p, (p["epochs"] + 1) * len(x_train) + len(x_test), progress, checkpoint)
    t0 = time.perf_counter()
    for epoch in range(p["epochs"]):
        phases.run(x_train, True, f"train{epoch}", targets=y_train if supervised else None)
    t1 = time.perf_counter()
    model.assign_labels(phases.run(x_train, False, "label"), y_train)
    test_start_ms = model.net.step * p["dt_ms"]
    exc_counts = phases.run(x_test, False, "test")
    test_counts = dict(model.last_counts)
    t2 = time.perf_counter()
    phases.finish()

    keep = spikes.times_ms >= test_start_ms
    weights, labels = model.weights, model.labels
    metrics = {
        "accuracy": float(np.mean(model.predict(exc_counts) == y_test)),
        "n_train": len(x_train), "n_test": len(x_test), "epochs": p["epochs"], "n_exc": p["n_exc"],
        "max_rate_hz": d["max_rate_hz"], "norm_total": d["norm_total"],
        "exc_spikes_per_test_image": float(exc_counts.sum(1).mean()),
        "neurons_labelled": int(np.sum(labels >= 0)),
        "mean_theta_mv": float(model.exc.theta.mean()),
        "train_images_per_s": p["epochs"] * len(x_train) / (t1 - t0),
        "train_s": t1 - t0, "label_and_test_s": t2 - t1,
    }
    figures = {"receptive_fields.png": lambda path: plot_receptive_fields(weights, shape, path, labels)}
    result = ExperimentResult(spikes.times_ms[keep] - test_start_ms, spikes.neuron_ids[keep].astype(np.int64),
                              p["n_exc"], len(x_test) * p["present_ms"], metrics, figures=figures)
    return result, test_counts


def model_config(p: dict, data: tuple) -> dict:
    """Network parameters shared by the digit experiments, from parameters and data."""
    x_train, d = data[0], data[5]
    return dict(n_input=x_train.shape[1], n_exc=p["n_exc"], dt=p["dt_ms"], present_ms=p["present_ms"],
                max_rate_hz=d["max_rate_hz"], norm_total=d["norm_total"], seed=p["seed"])


def run_stdp_digits(p: dict, progress: ProgressCallback | None = None, checkpoint=None) -> ExperimentResult:
    from synaptica.models.diehl_cook import DiehlCookConfig, DiehlCookNetwork

    data = load_split(p)
    model = DiehlCookNetwork(DiehlCookConfig(**model_config(p, data)))
    result, _ = train_label_test(model, p, data, progress, checkpoint, supervised=False)
    return result


EXPERIMENT = Experiment(
    name="stdp-digits",
    summary="Diehl & Cook (2015) unsupervised STDP network learning digits (8x8 digits or MNIST)",
    schema=SCHEMA,
    run=run_stdp_digits,
    checks=(check_budget,),
)
