"""delay-motifs: detect planted spatio-temporal spike motifs with learned synaptic delays.

Seeds: heterogeneous delays make a neuron a detector of a temporal order, as in models
of motion direction selectivity (a delay line aligns the inputs of one direction only);
delays are learned by gradient as in DCLS (Hammouamri, Khalfaoui-Hassani & Masquelier,
ICLR 2024, :mod:`synaptica.training.delays`).

Data (one trial = ``n_steps`` steps of ``n_inputs`` spike trains): Poisson background
(``background_hz``, one step = ``step_ms``) and, in all but the "none" class, one planted
motif at a random onset. A motif is ``motif_size`` inputs that fire once each with
distinct latencies from 0 to ``max_latency`` steps (optional ``jitter``). There are
``n_motifs`` motifs, each with its time-reversed twin: the same inputs in the reverse
order (the two directions of a motion), so a motif and its twin differ in timing only.
Classes: 0 = none, then ``2m + 1`` = motif m and ``2m + 2`` = its reverse.

Model: :class:`~synaptica.training.delays.DelayedLinear` (``n_inputs`` -> one detector per
motif class, ``max_delay`` taps) into :class:`~synaptica.training.layers.LIFNeurons`.
Logits: ``count_scale`` x spike count per detector, and a learned constant logit for
"none" (ties go to "none", so a trial where no detector fires is "none"). Cross-entropy,
Adam; the kernel width sigma is annealed from ``max_delay / 2`` to ``sigma_end``.
Baseline: the same layer and neurons with one tap (all delays fixed at 0).

Metrics (means over ``n_seeds`` seeds ``seed, seed+1, ...``; ``*_std`` is the sample std):
``accuracy_learned_delays`` (test, smooth kernels at the final sigma),
``accuracy_rounded`` (delays rounded to whole steps, one-hot taps),
``accuracy_no_delays`` (baseline), ``chance``, and the recovery of the planted delays:
for each detector, the motif inputs with a strong excitatory weight (at least
``strong_fraction`` of the detector's largest weight) should have rounded delays that
align the motif, ``d_i + latency_i = c``; ``delay_error_steps`` is the mean
``|d_i + latency_i - c|`` with ``c`` the median alignment (the best constant),
``delay_within_1_step`` the fraction within one step, ``strong_motif_synapses`` the
fraction of motif synapses that are strong.
"""
from __future__ import annotations

import math
import time
from functools import partial
from pathlib import Path

import numpy as np

from synaptica.config import Field
from synaptica.experiments.base import Experiment, ExperimentResult, ProgressCallback

SCHEMA = {
    "n_inputs": Field(int, 30, "input spike trains", minimum=2),
    "n_steps": Field(int, 60, "steps per trial", minimum=2),
    "step_ms": Field(float, 1.0, "duration of a step (ms), for rates and the raster", minimum=0.0,
                     exclusive_minimum=True),
    "background_hz": Field(float, 10.0, "Poisson background rate of every input (Hz)", minimum=0.0),
    "n_motifs": Field(int, 2, "motifs; each also appears time-reversed, as its own class", minimum=1),
    "motif_size": Field(int, 6, "inputs in a motif", minimum=2),
    "max_latency": Field(int, 15, "latency span of a motif (steps)", minimum=1),
    "jitter": Field(int, 0, "uniform jitter of each motif spike (+- steps)", minimum=0),
    "distractors": Field(float, 0.5, "fraction of 'none' trials holding a motif's inputs in a shuffled order",
                         minimum=0.0, maximum=1.0),
    "max_delay": Field(int, 20, "delay taps K (delays 0..K-1 steps)", minimum=2),
    "kernel": Field(str, "gaussian", "delay kernel", choices=("gaussian", "triangle")),
    "sigma_end": Field(float, 0.5, "final kernel width (steps)", minimum=0.0, exclusive_minimum=True),
    "anneal_fraction": Field(float, 0.75, "fraction of training over which sigma shrinks to sigma_end",
                             minimum=0.0, maximum=1.0),
    "tau_m_steps": Field(float, 2.0, "detector membrane time constant (steps)", minimum=0.0,
                         exclusive_minimum=True),
    "count_scale": Field(float, 2.0, "logit per output spike", minimum=0.0, exclusive_minimum=True),
    "n_train": Field(int, 1000, "training trials", minimum=1),
    "n_test": Field(int, 500, "test trials", minimum=1),
    "epochs": Field(int, 20, "passes through the training trials", minimum=1),
    "batch_size": Field(int, 50, "trials per optimiser step", minimum=1),
    "lr": Field(float, 0.01, "Adam learning rate of the weights", minimum=0.0, exclusive_minimum=True),
    "lr_delays": Field(float, 0.2, "Adam learning rate of the delays (steps)", minimum=0.0),
    "strong_fraction": Field(float, 0.5, "weight (fraction of a detector's largest) of a 'strong' synapse",
                             minimum=0.0, maximum=1.0),
    "n_seeds": Field(int, 3, "independent repetitions (motifs, data, initialisation)", minimum=1),
    "seed": Field(int, 1, "first seed", minimum=0),
}


def _check_sizes(p: dict) -> str | None:
    if p["motif_size"] > p["n_inputs"]:
        return f"key 'motif_size': {p['motif_size']} inputs, but there are only n_inputs = {p['n_inputs']}"
    if p["motif_size"] > p["max_latency"] + 1:
        return f"key 'motif_size': {p['motif_size']} distinct latencies do not fit in 0..max_latency = {p['max_latency']}"
    if p["max_delay"] < p["max_latency"] + 1:
        return f"key 'max_delay': must be > max_latency ({p['max_latency']}) to align a motif, got {p['max_delay']}"
    if p["n_steps"] < p["max_delay"] + p["jitter"] + 1:
        return f"key 'n_steps': must exceed max_delay + jitter ({p['max_delay'] + p['jitter']}), got {p['n_steps']}"
    return None


def make_motifs(rng: np.random.Generator, p: dict) -> tuple[np.ndarray, np.ndarray]:
    """``inputs (C-1, motif_size)`` and ``latencies (C-1, motif_size)`` of every motif class
    (class c >= 1 is row c-1): motif m then its time-reversed twin."""
    inputs, latencies = [], []
    for _ in range(p["n_motifs"]):
        chosen = rng.choice(p["n_inputs"], p["motif_size"], replace=False)
        inner = rng.choice(np.arange(1, p["max_latency"]), p["motif_size"] - 2, replace=False)
        lat = rng.permutation(np.concatenate([[0, p["max_latency"]], inner]))  # span exactly max_latency
        inputs += [chosen, chosen]
        latencies += [lat, p["max_latency"] - lat]
    return np.array(inputs), np.array(latencies)


def make_trials(rng: np.random.Generator, n: int, inputs: np.ndarray, latencies: np.ndarray,
                p: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``spikes (T, n, n_inputs)`` float32 0/1, ``labels (n,)``, motif ``onsets (n,)``
    (-1: background only; a "none" trial with a distractor has its onset)."""
    n_steps, n_classes = p["n_steps"], len(inputs) + 1
    rate = p["background_hz"] * p["step_ms"] / 1000.0
    spikes = (rng.random((n_steps, n, p["n_inputs"])) < rate).astype(np.float32)
    labels = rng.integers(0, n_classes, n)
    # latest onset that leaves the detector max_delay steps to answer inside the trial
    onsets = rng.integers(p["jitter"], n_steps - p["max_delay"] + 1, n)
    distractor = (labels == 0) & (rng.random(n) < p["distractors"])
    onsets[(labels == 0) & ~distractor] = -1
    for trial in np.flatnonzero((labels > 0) | distractor):
        if labels[trial] > 0:
            c, lat = labels[trial] - 1, latencies[labels[trial] - 1]
        else:  # the inputs of a random motif, its latencies shuffled: same spikes, wrong timing
            c = rng.integers(len(inputs))
            lat = rng.permutation(latencies[c])
        times = onsets[trial] + lat + rng.integers(-p["jitter"], p["jitter"] + 1, len(lat))
        spikes[np.clip(times, 0, n_steps - 1), trial, inputs[c]] = 1.0
    return spikes, labels, onsets


class Detector:
    """DelayedLinear -> LIF detectors, with the "none" logit; see the module doc."""

    def __init__(self, p: dict, n_detectors: int, learn_delays: bool, generator) -> None:
        import torch

        from synaptica.training.delays import DelayedLinear
        from synaptica.training.layers import LIFNeurons

        k = p["max_delay"] if learn_delays else 1  # one tap: every delay fixed at 0
        with torch.random.fork_rng():
            torch.manual_seed(int(generator.integers(2**31)))
            self.layer = DelayedLinear(p["n_inputs"], n_detectors, k, kernel=p["kernel"], name="detectors")
        self.neurons = LIFNeurons(n_detectors, beta=math.exp(-1.0 / p["tau_m_steps"]))
        self.none_logit = torch.nn.Parameter(torch.tensor(0.5))
        self.scale = p["count_scale"]
        self.learn_delays = learn_delays

    def spikes(self, x):
        current = self.layer(x)
        spikes, _ = self.neurons(current)
        return spikes

    def logits(self, x):
        import torch

        counts = self.spikes(x).sum(0)
        return torch.cat([self.none_logit.expand(x.shape[1], 1), self.scale * counts], 1)

    def accuracy(self, x, labels) -> float:
        import torch

        with torch.no_grad():
            return float((self.logits(x).argmax(1) == labels).float().mean())


def train(model: Detector, x, labels, p: dict, generator, tick) -> None:
    import torch
    import torch.nn.functional as F

    from synaptica.training.delays import annealed_sigma

    groups = [{"params": [model.layer.weight, model.none_logit], "lr": p["lr"]}]
    if model.learn_delays:
        groups.append({"params": [model.layer.delay], "lr": p["lr_delays"]})
    optimiser = torch.optim.Adam(groups)
    n, batch = x.shape[1], p["batch_size"]
    steps_per_epoch = math.ceil(n / batch)
    total = p["epochs"] * steps_per_epoch
    sigma_start = p["max_delay"] / 2.0
    for epoch in range(p["epochs"]):
        order = torch.as_tensor(generator.permutation(n))
        for i in range(steps_per_epoch):
            done = epoch * steps_per_epoch + i
            if model.learn_delays:
                progress = min(done / max(p["anneal_fraction"] * total, 1), 1.0)
                model.layer.set_sigma(annealed_sigma(progress, sigma_start, p["sigma_end"]))
            index = order[i * batch:(i + 1) * batch]
            loss = F.cross_entropy(model.logits(x[:, index]), labels[index])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            if model.learn_delays:
                model.layer.clamp_delays_()
            tick()


def delay_recovery(weight: np.ndarray, delays: np.ndarray, inputs: np.ndarray, latencies: np.ndarray,
                   strong_fraction: float) -> dict:
    """Alignment of the rounded delays of each detector's strong motif synapses.

    ``weight``, ``delays``: (n_detectors, n_inputs); detector j detects motif class j + 1,
    whose ``inputs[j]`` fire at ``latencies[j]``. Returns the per-synapse arrival offsets
    ``d_i + latency_i - c_j`` and the latency/relative-delay pairs for the figure."""
    offsets, pairs, n_strong, n_total = [], [], 0, 0
    for j in range(len(inputs)):
        w = weight[j, inputs[j]]
        strong = w >= strong_fraction * max(weight[j].max(), 1e-12)
        strong &= w > 0
        n_total += len(w)
        n_strong += int(strong.sum())
        if not strong.any():
            continue
        arrival = np.round(delays[j, inputs[j]][strong]) + latencies[j][strong]
        c = np.median(arrival)
        offsets.append(arrival - c)
        pairs.append(np.stack([latencies[j][strong], c - np.round(delays[j, inputs[j]][strong])], 1))
    offsets = np.concatenate(offsets) if offsets else np.array([np.nan])
    return {"offsets": offsets, "pairs": np.concatenate(pairs) if pairs else np.zeros((0, 2)),
            "strong_fraction": n_strong / max(n_total, 1)}


def run_seed(p: dict, seed: int, tick) -> dict:
    import torch

    rng = np.random.default_rng(seed)
    inputs, latencies = make_motifs(rng, p)
    x_train, y_train, _ = make_trials(rng, p["n_train"], inputs, latencies, p)
    x_test, y_test, onsets = make_trials(rng, p["n_test"], inputs, latencies, p)
    x_train, x_test = torch.from_numpy(x_train), torch.from_numpy(x_test)
    y_train, y_test = torch.from_numpy(y_train), torch.from_numpy(y_test)

    t0 = time.perf_counter()
    delayed = Detector(p, len(inputs), True, rng)
    train(delayed, x_train, y_train, p, rng, tick)
    t1 = time.perf_counter()
    plain = Detector(p, len(inputs), False, rng)
    train(plain, x_train, y_train, p, rng, tick)
    t2 = time.perf_counter()

    out = {"accuracy_learned_delays": delayed.accuracy(x_test, y_test)}
    delayed.layer.round_delays()
    out["accuracy_rounded"] = delayed.accuracy(x_test, y_test)
    out["accuracy_no_delays"] = plain.accuracy(x_test, y_test)
    motif = y_test > 0
    with torch.no_grad():  # motif vs its reversed twin, among motif trials: timing only
        for name, model in (("learned_delays", delayed), ("no_delays", plain)):
            pred = model.logits(x_test[:, motif]).argmax(1)
            same_pair = (pred > 0) & ((pred - 1) // 2 == (y_test[motif] - 1) // 2)
            out[f"order_accuracy_{name}"] = float((pred[same_pair] == y_test[motif][same_pair]).float().mean()) \
                if same_pair.any() else float("nan")
    weight = delayed.layer.weight.detach().numpy()
    delays = delayed.layer.delay.detach().numpy()
    recovery = delay_recovery(weight, delays, inputs, latencies, p["strong_fraction"])
    out["delay_error_steps"] = float(np.mean(np.abs(recovery["offsets"])))
    out["delay_within_1_step"] = float(np.mean(np.abs(recovery["offsets"]) <= 1))
    out["strong_motif_synapses"] = recovery["strong_fraction"]
    out["train_s_delays"], out["train_s_no_delays"] = t1 - t0, t2 - t1
    with torch.no_grad():
        raster_out = delayed.spikes(x_test[:, :8]).numpy()
    return {"metrics": out, "weight": weight, "delays": delays, "inputs": inputs, "latencies": latencies,
            "pairs": recovery["pairs"], "raster_in": x_test[:, :8].numpy(), "raster_out": raster_out,
            "labels": y_test[:8].numpy()}


def summarise(per_seed: list[dict]) -> dict[str, float]:
    """Means over seeds, ``<name>_std`` (sample std, 0 for one seed), and per-seed values."""
    metrics: dict[str, float] = {"n_seeds": len(per_seed)}
    for key in per_seed[0]["metrics"]:
        values = np.array([s["metrics"][key] for s in per_seed], dtype=float)
        metrics[key] = float(np.nanmean(values))
        metrics[f"{key}_std"] = float(np.nanstd(values, ddof=1)) if len(values) > 1 else 0.0
    for k, s in enumerate(per_seed):
        for key in ("accuracy_learned_delays", "accuracy_rounded", "accuracy_no_delays", "delay_error_steps"):
            metrics[f"{key}_seed{k}"] = s["metrics"][key]
    return metrics


def plot_delays(per_seed: list[dict], p: dict, path: Path) -> None:
    """Left: first seed's rounded delays (detectors x inputs; weak synapses blank) with the
    planted alignment ``c - latency`` written on the motif inputs. Right: all seeds'
    strong motif synapses, planted latency against ``c - learned delay`` (ideal: y = x)."""
    from synaptica.plotting import _new_figure, _save

    first = per_seed[0]
    weight, delays, inputs, latencies = first["weight"], first["delays"], first["inputs"], first["latencies"]
    fig = _new_figure(11.0, 4.2, left=0.07)
    ax = fig.add_subplot(1, 2, 1)
    strong = weight >= p["strong_fraction"] * weight.max(1, keepdims=True)
    image = ax.imshow(np.where(strong, np.round(delays), np.nan), aspect="auto", cmap="viridis",
                      vmin=0, vmax=p["max_delay"] - 1, interpolation="nearest")
    fig.colorbar(image, ax=ax, label="learned delay (steps)")
    for j in range(len(inputs)):
        arrival = np.round(delays[j, inputs[j]]) + latencies[j]
        c = np.median(arrival[strong[j, inputs[j]]]) if strong[j, inputs[j]].any() else np.median(arrival)
        for i, lat in zip(inputs[j], latencies[j]):
            ax.text(i, j, f"{c - lat:.0f}", ha="center", va="center", fontsize=6, color="red")
    names = [f"motif {m}{' rev' if r else ''}" for m in range(p["n_motifs"]) for r in (0, 1)]
    ax.set_yticks(range(len(names)), names, fontsize=7)
    ax.set_xlabel("input")
    ax.set_title("learned delays (colour; strong synapses), planted alignment c - latency (red)", fontsize=8)
    ax = fig.add_subplot(1, 2, 2)
    for k, s in enumerate(per_seed):
        jitter = (k - (len(per_seed) - 1) / 2) * 0.15
        ax.scatter(s["pairs"][:, 0] + jitter, s["pairs"][:, 1], s=12, alpha=0.7,
                   label=f"seed {p['seed'] + k}: error {s['metrics']['delay_error_steps']:.2f} steps")
    span = np.arange(p["max_latency"] + 1)
    ax.plot(span, span, "k--", lw=0.8, label="perfect alignment")
    ax.set_xlabel("planted latency (steps)")
    ax.set_ylabel("c - learned delay, rounded (steps)")
    ax.set_title("strong motif synapses of every detector", fontsize=8)
    ax.legend(fontsize=7)
    _save(fig, path)


def plot_accuracy(metrics: dict, p: dict, chance: float, path: Path) -> None:
    """Test accuracy per seed: learned delays (smooth), rounded, no delays."""
    from synaptica.plotting import _new_figure, _save

    fig = _new_figure(6.0, 3.5)
    ax = fig.add_subplot(1, 1, 1)
    keys = [("accuracy_learned_delays", "learned delays"), ("accuracy_rounded", "rounded to steps"),
            ("accuracy_no_delays", "no delays")]
    n = int(metrics["n_seeds"])
    for b, (key, label) in enumerate(keys):
        values = [metrics[f"{key}_seed{k}"] for k in range(n)]
        ax.bar(np.arange(n) + (b - 1) * 0.27, values, 0.27, label=label)
    ax.axhline(chance, color="k", ls=":", lw=0.8, label="chance")
    ax.set_xticks(range(n), [f"seed {p['seed'] + k}" for k in range(n)])
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("test accuracy")
    ax.legend(fontsize=7, loc="lower right")
    _save(fig, path)


def run_delay_motifs(p: dict, progress: ProgressCallback | None = None) -> ExperimentResult:
    total = p["n_seeds"] * 2 * p["epochs"] * math.ceil(p["n_train"] / p["batch_size"])
    done = [0]

    def tick() -> None:
        done[0] += 1
        if progress is not None:
            progress(done[0], total)

    per_seed = [run_seed(p, p["seed"] + k, tick) for k in range(p["n_seeds"])]
    metrics = summarise(per_seed)
    chance = 1.0 / (2 * p["n_motifs"] + 1)
    metrics["chance"] = chance

    # raster: the first seed's first 8 test trials, inputs then detectors (rounded delays)
    first = per_seed[0]
    joined = np.concatenate([first["raster_in"], first["raster_out"]], 2)  # (T, 8, n_in + n_det)
    trial, step, neuron = np.nonzero(joined.transpose(1, 0, 2))
    times = (trial * p["n_steps"] + step) * p["step_ms"]
    order = np.argsort(times, kind="stable")
    n_in, n_det = p["n_inputs"], joined.shape[2] - p["n_inputs"]
    figures = {"delays.png": partial(plot_delays, per_seed, p),
               "accuracy.png": partial(plot_accuracy, metrics, p, chance)}
    return ExperimentResult(times[order].astype(float), neuron[order].astype(np.int64), n_in + n_det,
                            8 * p["n_steps"] * p["step_ms"], metrics,
                            groups={"inputs": (0, n_in), "detectors": (n_in, n_in + n_det)}, figures=figures)


EXPERIMENT = Experiment(
    name="delay-motifs",
    summary="learn synaptic delays (DCLS) to detect planted spike motifs and their time-reversed twins",
    schema=SCHEMA,
    run=run_delay_motifs,
    checks=(_check_sizes,),
)
