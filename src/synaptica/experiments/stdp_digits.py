"""stdp-digits: unsupervised STDP learning of digits, Diehl & Cook (2015).

P. U. Diehl and M. Cook, Front. Comput. Neurosci. 9:99 (2015); code
github.com/peter-u-diehl/stdp-mnist (Brian 1). The network of
:mod:`synaptica.models.diehl_cook` learns from unlabelled images (one 350 ms Poisson
presentation each, learning after every spike); then, with plasticity frozen, each
excitatory neuron is labelled with the class it responds to most on the training
images, and held-out images are classified by the labelled neurons' votes.

``protocol = "paper"`` (default) follows the authors' code: images that evoke fewer than
5 excitatory spikes are shown again with the input raised by 31.875 Hz per retry (their
loop has no limit; here up to ``PAPER_MAX_RETRIES``), and the threshold's time constant
(1e7 ms) is scaled by present_ms / (present_ms + 150) so theta decays as much per image
as over their 350 ms + 150 ms rest. ``"legacy"``: this experiment's first version (3
retries, no rest scaling). ``spike_block_ms`` > 0 forbids a second excitatory spike
within that time while v integrates (50 ms is how the Brian2 ports read the authors'
``timer``; in their Brian 1 code it acts for one 0.5 ms step, i.e. not at all:
bench/peers/dc_brian1_timer.py runs it). Departures in both protocols: the state is
reset between images instead of a 150 ms rest; input delays are one step instead of
uniform 0-10 ms (a constant delay of a stationary Poisson train is again a Poisson train
of the same rate; only the first 10 ms of each image differ); retries follow a chunk of
images instead of coming at once.

Learning curve: training runs in chunks; after each of ``curve_points`` checkpoints
(n_train / 2**k images, k = curve_points-1 .. 0) the frozen network is labelled on the
first ``curve_label_images`` training images and tested on the test set
(``accuracy_after_<n>_images``). The headline ``accuracy`` labels on all training images.

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

# keys of stdp-digits only (sym-stdp-digits shares SCHEMA)
DC_SCHEMA = {
    **SCHEMA,
    "protocol": Field(str, "paper", "'paper': the authors' code (retries until 5 spikes, theta decay over the 150 ms "
                      "rest); 'legacy': this experiment's first version", choices=("paper", "legacy")),
    "spike_block_ms": Field(float, 0.0, "no second excitatory spike within this time, v integrating (0: only the "
                            "5 ms refractory, as the authors' Brian 1 code; 50: the Brian2 ports' reading)",
                            minimum=0.0, maximum=1e4),
    "curve_points": Field(int, 3, "learning-curve evaluations (after n_train / 2**k images; 0: none)", minimum=0,
                          maximum=10),
    "curve_label_images": Field(int, 2000, "training images that label the neurons at each curve point", minimum=1,
                                maximum=10**7),
}

REST_MS = 150.0          # the authors' rest between images (theta decays during it)
PAPER_MAX_RETRIES = 20   # the authors retry without limit (20 retries: a white pixel at 701 Hz)
UNSTRUCTURED_CORR = 0.5  # receptive field whose best correlation with a class-mean image is below this

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
    n_train = p["n_train"] or DEFAULTS[kind]["n_train"]
    curve = p.get("curve_points", 0) * (min(p.get("curve_label_images", 0), n_train) + (p["n_test"] or n_test))
    images = (p["epochs"] + 1) * n_train + (p["n_test"] or n_test) + curve
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


def curve_stops(n_train: int, points: int) -> list[int]:
    """Training-image counts of the learning-curve evaluations: n_train / 2**k, k = points-1 .. 0."""
    return sorted({max(1, n_train >> k) for k in range(points)})


def train_label_test(model, p: dict, data: tuple, progress, checkpoint, supervised: bool,
                     curve: list[int] | tuple = (), curve_label_images: int = 0):
    """Train for ``epochs`` (with the labels as teacher targets if ``supervised``), label the
    excitatory neurons on the training images, present the test images (all frozen).

    ``curve``: training-image counts of the first epoch after which the frozen network is
    labelled on the first ``curve_label_images`` training images and tested (metrics
    ``accuracy_after_<n>_images``); the first epoch's training spike counts are kept in
    ``model.train_counts``. Returns the result skeleton (test-phase raster, receptive-field
    figure, common metrics) and the test-phase spike counts of every count monitor, by name."""
    from synaptica.plotting import plot_receptive_fields

    x_train, y_train, x_test, y_test, shape, d = data
    n_label = min(curve_label_images, len(x_train))
    spikes = model.net.monitor_spikes(model.exc)
    phases = Phases(model, p, (p["epochs"] + 1) * len(x_train) + len(x_test) + len(curve) * (n_label + len(x_test)),
                    progress, checkpoint)
    curve_metrics, first_epoch, curve_s = {}, [], 0.0
    t0 = time.perf_counter()
    for epoch in range(p["epochs"]):
        stops = list(curve) if epoch == 0 and curve else [len(x_train)]
        start = 0
        for stop in stops:
            name = f"train{epoch}" if stops == [len(x_train)] else f"train{epoch}-{stop}"
            counts = phases.run(x_train[start:stop], True, name, targets=y_train[start:stop] if supervised else None)
            if epoch == 0:
                first_epoch.append(counts)
            start = stop
            if curve and epoch == 0:
                tc = time.perf_counter()
                model.assign_labels(phases.run(x_train[:n_label], False, f"curve-label-{stop}"), y_train[:n_label])
                guess = model.predict(phases.run(x_test, False, f"curve-test-{stop}"))
                curve_metrics[f"accuracy_after_{stop}_images"] = float(np.mean(guess == y_test))
                curve_s += time.perf_counter() - tc
        if start < len(x_train):
            counts = phases.run(x_train[start:], True, f"train{epoch}-rest", targets=y_train[start:] if supervised else None)
            if epoch == 0:
                first_epoch.append(counts)
    model.train_counts = np.concatenate(first_epoch) if first_epoch else None
    t1 = time.perf_counter()
    label_counts = phases.run(x_train, False, "label")
    model.label_pass_counts, model.label_pass_boost = label_counts, model.last_boost.copy()
    model.assign_labels(label_counts, y_train)
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
        "train_images_per_s": p["epochs"] * len(x_train) / (t1 - t0 - curve_s),
        "train_s": t1 - t0 - curve_s, "curve_s": curve_s, "label_and_test_s": t2 - t1, **curve_metrics,
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


def protocol_settings(p: dict) -> dict:
    """DiehlCookConfig keys set by the protocol and the spike block."""
    settings = {"spike_block_ms": p["spike_block_ms"]}
    if p["protocol"] == "paper":
        settings.update(max_retries=PAPER_MAX_RETRIES, tau_theta=1e7 * p["present_ms"] / (p["present_ms"] + REST_MS))
    return settings


def receptive_field_structure(weights: np.ndarray, images: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Each neuron's best Pearson correlation between its input weights and a class-mean image."""
    means = np.stack([images[labels == k].mean(0) for k in np.unique(labels)])
    w = weights - weights.mean(0)
    m = (means - means.mean(1, keepdims=True)).T
    norms = np.linalg.norm(w, axis=0)[:, None] * np.linalg.norm(m, axis=0)[None, :]
    return (w.T @ m / np.maximum(norms, 1e-12)).max(1)


def analysis_metrics(model, data: tuple, test_counts: np.ndarray) -> tuple[dict, np.ndarray]:
    """Per-class recall, threshold spread, receptive-field structure and how the neurons fired
    in training (spikes per image in which they fired: potentiation needs a second spike
    within ~40 ms, the post2 trace); also the confusion matrix (rows: true class)."""
    x_train, y_train, _, y_test = data[:4]
    guess = model.predict(test_counts)
    confusion = np.zeros((10, 10), dtype=np.int64)
    np.add.at(confusion, (y_test, guess), 1)
    theta = model.exc.theta.detach().cpu().numpy().reshape(-1, model.config.n_exc).mean(0)
    corr = receptive_field_structure(model.weights, x_train, y_train)
    loose = corr < UNSTRUCTURED_CORR
    out = {f"recall_class_{k}": float(confusion[k, k] / max(confusion[k].sum(), 1)) for k in range(10)}
    out.update(theta_mv_p10=float(np.percentile(theta, 10)), theta_mv_median=float(np.median(theta)),
               theta_mv_p90=float(np.percentile(theta, 90)), rf_class_corr_median=float(np.median(corr)),
               unstructured_fraction=float(loose.mean()),
               neurons_per_class_min=int(np.bincount(model.labels[model.labels >= 0], minlength=10).min()))
    counts = getattr(model, "train_counts", None)
    if counts is not None:
        fired = counts > 0
        per_active = counts.sum(0) / np.maximum(fired.sum(0), 1)
        out.update(train_spikes_unstructured=float(counts[:, loose].sum(0).mean()) if loose.any() else 0.0,
                   train_spikes_structured=float(counts[:, ~loose].sum(0).mean()) if (~loose).any() else 0.0,
                   spikes_per_active_image_unstructured=float(per_active[loose].mean()) if loose.any() else 0.0,
                   spikes_per_active_image_structured=float(per_active[~loose].mean()) if (~loose).any() else 0.0)
    out.update({f"neurons_labelled_as_{k}": int(np.sum(model.labels == k)) for k in range(10)})
    labels = model.labels.copy()
    model.labels = np.where(loose, -1, labels)          # the vote of the structured neurons alone
    out["accuracy_structured_vote"] = float(np.mean(model.predict(test_counts) == y_test)) if (~loose).any() else 0.0
    # retried images are counted at raised input rates; labels from first-try images only
    boost, plain = model.label_pass_boost, model.label_pass_boost == 1.0
    out.update(retried_label_images=float(np.mean(boost > 1.0)), retried_test_images=float(np.mean(model.last_boost > 1.0)),
               mean_boost_retried_label_images=float(boost[~plain].mean()) if (~plain).any() else 1.0)
    model.assign_labels(model.label_pass_counts[plain], y_train[plain])
    out["accuracy_labels_from_first_tries"] = float(np.mean(model.predict(test_counts) == y_test))
    model.labels, model.rf_class_corr = labels, corr
    return out, confusion


def _figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    return fig, fig.add_subplot()


def plot_confusion(confusion: np.ndarray, path) -> None:
    """Test-set confusion matrix (counts; rows true class, columns answer)."""
    fig, ax = _figure(5.0, 4.4)
    image = ax.imshow(confusion, cmap="Blues")
    for (i, j), n in np.ndenumerate(confusion):
        ax.text(j, i, str(n), ha="center", va="center", fontsize=7,
                color="white" if n > confusion.max() / 2 else "black")
    ax.set(xlabel="answer", ylabel="true class", xticks=range(10), yticks=range(10),
           title=f"test confusion (accuracy {np.trace(confusion) / confusion.sum():.3f})")
    fig.colorbar(image, ax=ax, shrink=0.8)
    fig.savefig(path)


def plot_theta(theta: np.ndarray, corr: np.ndarray, cut: float, path) -> None:
    """Distribution of the learned thresholds theta (mV), split by receptive-field structure."""
    fig, ax = _figure(5.0, 3.2)
    bins = np.linspace(theta.min(), theta.max() + 1e-9, 25)
    ax.hist([theta[corr >= cut], theta[corr < cut]], bins=bins, stacked=True,
            label=[f"structured (class corr >= {cut})", f"unstructured (< {cut})"])
    ax.set(xlabel="theta after training (mV)", ylabel="neurons", title="adaptive thresholds")
    ax.legend(fontsize=7)
    fig.savefig(path)


def plot_curve(curve: list[tuple[int, float]], final: float, path) -> None:
    """Test accuracy against training images seen (labels from a fixed subset)."""
    fig, ax = _figure(5.0, 3.2)
    n, acc = zip(*curve)
    ax.plot(n, acc, "o-", label="labelled on the curve subset")
    ax.plot([n[-1]], [final], "s", label="labelled on all training images")
    ax.set(xscale="log", xlabel="training images", ylabel="test accuracy", ylim=(0, 1),
           title="learning curve")
    ax.legend(fontsize=7)
    fig.savefig(path)


def run_stdp_digits(p: dict, progress: ProgressCallback | None = None, checkpoint=None) -> ExperimentResult:
    from synaptica.models.diehl_cook import DiehlCookConfig, DiehlCookNetwork

    data = load_split(p)
    model = DiehlCookNetwork(DiehlCookConfig(**model_config(p, data), **protocol_settings(p)))
    stops = curve_stops(len(data[0]), p["curve_points"])
    result, test_counts = train_label_test(model, p, data, progress, checkpoint, supervised=False,
                                           curve=stops, curve_label_images=p["curve_label_images"])
    # the raster shows the first test pass; spikes of retried test images come after it
    first_pass = result.spike_times_ms < result.duration_ms
    result.spike_times_ms, result.spike_ids = result.spike_times_ms[first_pass], result.spike_ids[first_pass]
    extra, confusion = analysis_metrics(model, data, test_counts[model.counts.name])
    result.metrics.update(extra, paper_protocol=p["protocol"] == "paper", spike_block_ms=p["spike_block_ms"])
    curve = [(n, result.metrics[f"accuracy_after_{n}_images"]) for n in stops]
    theta = model.exc.theta.detach().cpu().numpy().reshape(-1, p["n_exc"]).mean(0)
    corr = model.rf_class_corr
    result.figures.update({
        "confusion.png": lambda path: plot_confusion(confusion, path),
        "theta.png": lambda path: plot_theta(theta, corr, UNSTRUCTURED_CORR, path),
        **({"accuracy_vs_images.png": lambda path: plot_curve(curve, result.metrics["accuracy"], path)} if curve else {}),
    })
    return result


EXPERIMENT = Experiment(
    name="stdp-digits",
    summary="Diehl & Cook (2015) unsupervised STDP network learning digits (8x8 digits or MNIST)",
    schema=DC_SCHEMA,
    run=run_stdp_digits,
    checks=(check_budget,),
)
