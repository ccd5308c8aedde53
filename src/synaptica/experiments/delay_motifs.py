"""delay-motifs: detect planted spatio-temporal spike motifs with learned synaptic delays.

Seeds: heterogeneous delays make a neuron a detector of a temporal order, as in models
of motion direction selectivity (a delay line aligns the inputs of one direction only);
delays are learned by gradient as in DCLS (Hammouamri, Khalfaoui-Hassani & Masquelier,
ICLR 2024, :mod:`synaptica.training.delays`).

Data (one trial = ``n_steps`` steps of ``n_inputs`` spike trains): Poisson background
(``background_hz``, one step = ``step_ms``) and, in all but the "none" class, one planted
motif at a random onset after a warm-up of ``max_delay`` steps. A motif is
``motif_size`` inputs that fire once each with distinct latencies from 0 to
``max_latency`` steps (optional ``jitter``). There are ``n_motifs`` motifs, each with its
time-reversed twin: the same inputs in the reverse order (the two directions of a
motion), so a motif and its twin differ in timing only. Classes: 0 = none, then
``2m + 1`` = motif m and ``2m + 2`` = its reverse. A fraction ``distractors`` of the
"none" trials holds a motif's inputs with their latencies shuffled (same spikes, wrong
timing; never the motif's or its twin's order).

Model: :class:`~synaptica.training.delays.DelayedLinear` (``n_inputs`` -> one detector per
motif class, ``max_delay`` taps) into :class:`~synaptica.training.layers.LIFNeurons`
(membrane time constant ``tau_m_steps``, threshold 1, reset by subtraction). Logits:
``fired_logit`` for each detector that fired after the warm-up, 0 for one that did not,
and a learned constant logit for "none"; cross-entropy, Adam with cosine-decayed learning
rates. The prediction is the detector that fired (the one with more spikes if several),
"none" if none fired. The kernel width sigma shrinks geometrically from ``max_delay / 2``
to ``sigma_end`` over the first ``anneal_fraction`` of training; the rest runs with
``final_phase`` kernels ("straight_through": the rounded delays forward, as at test).
Baseline: the same layer and neurons with one tap (all delays fixed at 0), trained alike.

Metrics (means over ``n_seeds`` seeds ``seed, seed+1, ...``; ``*_std`` is the sample std):
``accuracy_learned_delays`` (test, smooth kernels at sigma_end, the trained weights),
``accuracy_rounded`` (delays rounded to whole steps, one-hot taps),
``accuracy_no_delays`` (baseline), ``chance``; ``order_accuracy_*``: among motif trials
whose motif pair was identified, the fraction told apart from the time-reversed twin
(0.5 is guessing); and the recovery of the planted delays:
for each detector, the motif inputs with a strong excitatory weight (at least
``strong_fraction`` of the detector's largest weight) should have rounded delays that
align the motif, ``d_i + latency_i = c``; ``delay_error_steps`` is the mean
``|d_i + latency_i - c|`` with ``c`` the median alignment (the best constant),
``delay_within_1_step`` the fraction within one step, ``strong_motif_synapses`` the
fraction of motif synapses that are strong (the others mostly turn inhibitory: a veto
of the reversed twin), ``delay_error_all_steps`` the same error over every motif synapse.
"""
from __future__ import annotations

import math
import time
from functools import partial
from pathlib import Path

import numpy as np

from synaptica.config import MAX_SEED, Field, check_memory, check_work, first_problem
from synaptica.experiments.base import Experiment, ExperimentResult, ProgressCallback

SCHEMA = {
    "n_inputs": Field(int, 30, "input spike trains", minimum=2, maximum=10**5),
    "n_steps": Field(int, 60, "steps per trial", minimum=2, maximum=10**6),
    "step_ms": Field(float, 1.0, "duration of a step (ms), for rates and the raster", minimum=1e-6, maximum=1000.0),
    "background_hz": Field(float, 10.0, "Poisson background rate of every input (Hz)", minimum=0.0, maximum=1e4),
    "n_motifs": Field(int, 2, "motifs; each also appears time-reversed, as its own class", minimum=1, maximum=1000),
    "motif_size": Field(int, 6, "inputs in a motif", minimum=2, maximum=10**5),
    "max_latency": Field(int, 15, "latency span of a motif (steps)", minimum=1, maximum=10**5),
    "jitter": Field(int, 0, "uniform jitter of each motif spike (+- steps)", minimum=0, maximum=10**5),
    "distractors": Field(float, 0.5, "fraction of 'none' trials holding a motif's inputs in a shuffled order",
                         minimum=0.0, maximum=1.0),
    "max_delay": Field(int, 20, "delay taps K (delays 0..K-1 steps)", minimum=2, maximum=10**5),
    "kernel": Field(str, "gaussian", "delay kernel", choices=("gaussian", "triangle")),
    "normalise": Field(str, "peak", "kernel normalisation: 'peak' (height 1) or 'sum' (DCLS)",
                       choices=("peak", "sum")),
    "sigma_end": Field(float, 0.3, "final kernel width (steps)", minimum=0.0, maximum=1e5, exclusive_minimum=True),
    "anneal_fraction": Field(float, 0.75, "fraction of training over which sigma shrinks to sigma_end",
                             minimum=0.0, maximum=1.0),
    "final_phase": Field(str, "straight_through", "kernels after the annealing: 'soft' (sigma_end) or "
                         "'straight_through' (rounded delays forward, soft gradient)",
                         choices=("soft", "straight_through")),
    "tau_m_steps": Field(float, 2.0, "detector membrane time constant (steps)", minimum=0.0, maximum=1e6,
                         exclusive_minimum=True),
    # softmax saturates long before: a larger logit only invites overflow
    "fired_logit": Field(float, 2.0, "logit of a detector that fired", minimum=0.0, maximum=100.0,
                         exclusive_minimum=True),
    "n_train": Field(int, 1000, "training trials", minimum=1, maximum=10**7),
    "n_test": Field(int, 500, "test trials", minimum=1, maximum=10**7),
    "epochs": Field(int, 30, "passes through the training trials", minimum=1, maximum=10**4),
    "batch_size": Field(int, 50, "trials per optimiser step", minimum=1, maximum=10**6),
    # Adam moves each parameter by about lr per step: beyond these no training can mean anything
    "lr": Field(float, 0.01, "Adam learning rate of the weights", minimum=0.0, maximum=10.0, exclusive_minimum=True),
    "lr_delays": Field(float, 0.2, "Adam learning rate of the delays (steps)", minimum=0.0, maximum=1000.0),
    "strong_fraction": Field(float, 0.5, "weight (fraction of a detector's largest) of a 'strong' synapse",
                             minimum=0.0, maximum=1.0),
    "n_seeds": Field(int, 3, "independent repetitions (motifs, data, initialisation)", minimum=1, maximum=1000),
    "seed": Field(int, 1, "first seed", minimum=0, maximum=MAX_SEED),
}

# bytes per trial, step and input of the generated trials (float64 uniforms drawn, float32
# spikes kept); float32 values per detector, step and trial kept for the backward pass;
# multiply-adds per weight tap and trial step (forward, two backward; two models)
TRIAL_BYTES = 12
SAVED_PER_DETECTOR_STEP = 6
PASSES = 3 * 2


def _check_budget(p: dict) -> str | None:
    """Refuse trial sets or batches over the memory limit and trainings (seeds x epochs x
    trials x steps x inputs x detectors x taps) over the work limit."""
    steps, n_inputs, detectors = p["n_steps"], p["n_inputs"], 2 * p["n_motifs"]
    trials = max(p["n_train"], p["n_test"])
    batch = min(p["batch_size"], p["n_train"])
    data_bytes = float(steps) * trials * n_inputs * TRIAL_BYTES
    batch_bytes = float(batch) * (steps + p["max_delay"]) * (n_inputs + detectors * SAVED_PER_DETECTOR_STEP) * 4
    taps = float(n_inputs) * detectors * p["max_delay"]
    updates = p["n_seeds"] * p["epochs"] * float(p["n_train"]) * steps * taps * PASSES
    return first_problem(
        check_memory("n_steps", f"n_steps = {steps} x {trials} trials x n_inputs = {n_inputs} inputs",
                     data_bytes + batch_bytes + taps * 4 * 4),
        check_work("epochs", f"n_seeds x epochs x n_train = {p['n_train']} trials x n_steps = {steps} "
                   f"x {taps:.3g} weight taps", updates),
    )


def _check_sizes(p: dict) -> str | None:
    if p["motif_size"] > p["n_inputs"]:
        return f"key 'motif_size': {p['motif_size']} inputs, but there are only n_inputs = {p['n_inputs']}"
    if p["motif_size"] > p["max_latency"] + 1:
        return f"key 'motif_size': {p['motif_size']} distinct latencies do not fit in 0..max_latency = {p['max_latency']}"
    if p["distractors"] > 0 and p["motif_size"] < 3:
        return "key 'distractors': needs motif_size >= 3 (two inputs have no order other than the motif's and its twin's)"
    if p["kernel"] == "triangle" and p["sigma_end"] < 1.0:
        return f"key 'sigma_end': the triangle kernel needs sigma_end >= 1, got {p['sigma_end']}"
    if p["max_delay"] < p["max_latency"] + 1:
        return f"key 'max_delay': must be > max_latency ({p['max_latency']}) to align a motif, got {p['max_delay']}"
    if p["n_steps"] < 2 * p["max_delay"] + p["jitter"]:
        return (f"key 'n_steps': must be at least 2 max_delay + jitter ({2 * p['max_delay'] + p['jitter']}: "
                f"a warm-up, then room for a motif and the answer), got {p['n_steps']}")
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
    # motifs start after the warm-up (so every tap sees input) and leave the detector
    # max_delay steps to answer inside the trial
    onsets = rng.integers(p["max_delay"] + p["jitter"], n_steps - p["max_delay"] + 1, n)
    distractor = (labels == 0) & (rng.random(n) < p["distractors"])
    onsets[(labels == 0) & ~distractor] = -1
    for trial in np.flatnonzero((labels > 0) | distractor):
        if labels[trial] > 0:
            c, lat = labels[trial] - 1, latencies[labels[trial] - 1]
        else:  # the inputs of a random motif, its latencies shuffled: same spikes, wrong timing
            c = rng.integers(len(inputs))
            lat = rng.permutation(latencies[c])
            while np.array_equal(lat, latencies[c]) or np.array_equal(lat, p["max_latency"] - latencies[c]):
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
            self.layer = DelayedLinear(p["n_inputs"], n_detectors, k, kernel=p["kernel"],
                                       normalise=p["normalise"], name="detectors")
        self.neurons = LIFNeurons(n_detectors, beta=math.exp(-1.0 / p["tau_m_steps"]))
        self.none_logit = torch.nn.Parameter(torch.tensor(0.5))
        self.scale = p["fired_logit"]
        self.learn_delays = learn_delays
        self.warmup = p["max_delay"]

    def spikes(self, x):
        current = self.layer(x)
        spikes, _ = self.neurons(current)
        return spikes

    def logits(self, x):
        import torch

        # spikes of the warm-up are not counted: there the longer delays have seen less
        # background than the shorter ones, and the loss would favour long delays for that
        spikes = self.spikes(x)[self.warmup:]
        # "did the detector fire" (1 - prod(1 - s_t)), not the spike count: a count rewards
        # spreading the inputs' arrivals over several steps (more spikes than one
        # coincidence gives), which is the opposite of aligning them
        fired = 1.0 - torch.prod(1.0 - spikes, 0)
        logits = torch.cat([self.none_logit.expand(x.shape[1], 1), self.scale * fired], 1)
        return logits, spikes.sum(0)

    def predict(self, x):
        """Class per trial: the detector that fired (ties: the one with more spikes), or
        0 ("none") if no detector fired."""
        import torch

        with torch.no_grad():
            logits, counts = self.logits(x)
            logits[:, 1:] += 1e-3 * counts
            return logits.argmax(1)

    def accuracy(self, x, labels) -> float:
        import torch

        with torch.no_grad():
            return float((self.predict(x) == labels).float().mean())


def train(model: Detector, x, labels, p: dict, generator, tick) -> None:
    import torch
    import torch.nn.functional as F

    from synaptica.experiments.finite import require_finite_loss, require_finite_parameters
    from synaptica.training.delays import annealed_sigma

    phase = "learned-delay training" if model.learn_delays else "no-delay training"
    groups = [{"params": [model.layer.weight, model.none_logit], "lr": p["lr"]}]
    if model.learn_delays:
        groups.append({"params": [model.layer.delay], "lr": p["lr_delays"]})
    optimiser = torch.optim.Adam(groups)
    n, batch = x.shape[1], p["batch_size"]
    steps_per_epoch = math.ceil(n / batch)
    total = p["epochs"] * steps_per_epoch
    # cosine decay of both learning rates (as in DCLS): late delay updates become fine
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, total)
    sigma_start = p["max_delay"] / 2.0
    for epoch in range(p["epochs"]):
        order = torch.as_tensor(generator.permutation(n))
        for i in range(steps_per_epoch):
            done = epoch * steps_per_epoch + i
            if model.learn_delays:
                progress = min(done / max(p["anneal_fraction"] * total, 1), 1.0)
                model.layer.set_sigma(annealed_sigma(progress, sigma_start, p["sigma_end"]))
                if progress >= 1.0:
                    model.layer.set_mode(p["final_phase"])
            index = order[i * batch:(i + 1) * batch]
            loss = F.cross_entropy(model.logits(x[:, index])[0], labels[index])
            require_finite_loss(loss, experiment="delay-motifs", phase=phase, epoch=epoch, step=i)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            schedule.step()
            if model.learn_delays:
                model.layer.clamp_delays_()
            tick()
        require_finite_parameters([g for group in groups for g in group["params"]], experiment="delay-motifs",
                                  phase=phase, epoch=epoch)


def strong_synapses(weight: np.ndarray, fraction: float) -> np.ndarray:
    """(n_detectors, n_inputs) bool: excitatory and at least ``fraction`` of the detector's
    largest weight."""
    return (weight > 0) & (weight >= fraction * np.maximum(weight.max(1, keepdims=True), 1e-12))


def delay_recovery(weight: np.ndarray, delays: np.ndarray, inputs: np.ndarray, latencies: np.ndarray,
                   strong_fraction: float, positive: bool = True) -> dict:
    """Alignment of the rounded delays of each detector's strong motif synapses.

    ``weight``, ``delays``: (n_detectors, n_inputs); detector j detects motif class j + 1,
    whose ``inputs[j]`` fire at ``latencies[j]``. Returns the per-synapse arrival offsets
    ``d_i + latency_i - c_j`` and the latency/relative-delay pairs for the figure.
    ``positive=False`` takes every motif synapse instead of the strong excitatory ones."""
    offsets, pairs, n_strong, n_total = [], [], 0, 0
    for j in range(len(inputs)):
        w = weight[j, inputs[j]]
        strong = strong_synapses(weight, strong_fraction)[j, inputs[j]] if positive else np.ones(len(w), bool)
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
    x_test, y_test, _ = make_trials(rng, p["n_test"], inputs, latencies, p)
    x_train, x_test = torch.from_numpy(x_train), torch.from_numpy(x_test)
    y_train, y_test = torch.from_numpy(y_train), torch.from_numpy(y_test)

    t0 = time.perf_counter()
    delayed = Detector(p, len(inputs), True, rng)
    train(delayed, x_train, y_train, p, rng, tick)
    t1 = time.perf_counter()
    plain = Detector(p, len(inputs), False, rng)
    train(plain, x_train, y_train, p, rng, tick)
    t2 = time.perf_counter()

    delayed.layer.set_mode("soft")
    out = {"accuracy_learned_delays": delayed.accuracy(x_test, y_test)}
    delayed.layer.round_delays()
    out["accuracy_rounded"] = delayed.accuracy(x_test, y_test)
    out["accuracy_no_delays"] = plain.accuracy(x_test, y_test)
    motif = y_test > 0
    with torch.no_grad():  # motif vs its reversed twin, among motif trials: timing only
        for name, model in (("learned_delays", delayed), ("no_delays", plain)):
            pred = model.predict(x_test[:, motif])
            same_pair = (pred > 0) & ((pred - 1) // 2 == (y_test[motif] - 1) // 2)
            out[f"order_accuracy_{name}"] = float((pred[same_pair] == y_test[motif][same_pair]).float().mean()) \
                if same_pair.any() else float("nan")
    weight = delayed.layer.weight.detach().numpy()
    delays = delayed.layer.delay.detach().numpy()
    recovery = delay_recovery(weight, delays, inputs, latencies, p["strong_fraction"])
    out["delay_error_steps"] = float(np.mean(np.abs(recovery["offsets"])))
    everything = delay_recovery(weight, delays, inputs, latencies, 0.0, positive=False)
    out["delay_error_all_steps"] = float(np.mean(np.abs(everything["offsets"])))
    out["delay_within_1_step"] = float(np.mean(np.abs(recovery["offsets"]) <= 1))
    out["strong_motif_synapses"] = recovery["strong_fraction"]
    out["train_s_delays"], out["train_s_no_delays"] = t1 - t0, t2 - t1
    with torch.no_grad():
        raster_out = delayed.spikes(x_test[:, :8]).numpy()
    return {"seed": seed, "metrics": out, "weight": weight, "delays": delays, "inputs": inputs,
            "latencies": latencies, "pairs": recovery["pairs"], "raster_in": x_test[:, :8].numpy(),
            "raster_out": raster_out}


def summarise(per_seed: list[dict]) -> dict[str, float]:
    """Means over seeds, ``<name>_std`` (sample std, 0 for one seed), and the main numbers
    per seed as ``<name>_seed<seed>``."""
    metrics: dict[str, float] = {"n_seeds": len(per_seed)}
    for key in per_seed[0]["metrics"]:
        values = np.array([s["metrics"][key] for s in per_seed], dtype=float)
        metrics[key] = float(np.nanmean(values))
        metrics[f"{key}_std"] = float(np.nanstd(values, ddof=1)) if len(values) > 1 else 0.0
    for s in per_seed:
        for key in ("accuracy_learned_delays", "accuracy_rounded", "accuracy_no_delays", "delay_error_steps"):
            metrics[f"{key}_seed{s['seed']}"] = s["metrics"][key]
    return metrics


def plot_delays(per_seed: list[dict], p: dict, path: Path) -> None:
    """Left: the first seed's learned delays, rounded (detectors x inputs; colour where the
    synapse is strong and excitatory, grey otherwise); on each motif input the learned
    delay (black) over the planted one (red), ``c - latency`` with ``c`` the detector's
    alignment. Right: every seed's strong motif synapses, planted latency against
    ``c - learned delay`` (perfect recovery: the diagonal)."""
    from matplotlib import colormaps

    from synaptica.plotting import _new_figure, _save

    first = per_seed[0]
    weight, delays, inputs, latencies = first["weight"], first["delays"], first["inputs"], first["latencies"]
    rounded = np.round(delays)
    fig = _new_figure(12.0, 4.4, left=0.07)
    ax = fig.add_subplot(1, 2, 1)
    strong = strong_synapses(weight, p["strong_fraction"])
    cmap = colormaps["viridis"].with_extremes(bad="0.85")
    image = ax.imshow(np.where(strong, rounded, np.nan), aspect="auto", cmap=cmap, vmin=0,
                      vmax=p["max_delay"] - 1, interpolation="nearest")
    fig.colorbar(image, ax=ax, label="learned delay, rounded (steps)")
    for j in range(len(inputs)):
        on_motif = strong[j, inputs[j]]
        arrival = rounded[j, inputs[j]] + latencies[j]
        c = np.median(arrival[on_motif] if on_motif.any() else arrival)
        for i, lat in zip(inputs[j], latencies[j]):
            ax.text(i, j - 0.15, f"{rounded[j, i]:.0f}", ha="center", va="center", fontsize=6, color="k")
            ax.text(i, j + 0.2, f"{c - lat + 0.0:g}", ha="center", va="center", fontsize=6, color="red")
    names = [f"motif {m}{' rev' if r else ''}" for m in range(p["n_motifs"]) for r in (0, 1)]
    ax.set_yticks(range(len(names)), names, fontsize=7)
    ax.set_xlabel("input")
    ax.set_title(f"seed {p['seed']}: learned (black) and planted (red) delays on the motif inputs; "
                 "grey: not strong-excitatory", fontsize=8)
    ax = fig.add_subplot(1, 2, 2)
    for k, s in enumerate(per_seed):
        offset = (k - (len(per_seed) - 1) / 2) * 0.15  # side by side, not on top of each other
        ax.scatter(s["pairs"][:, 0] + offset, s["pairs"][:, 1], s=12, alpha=0.7,
                   label=f"seed {s['seed']}: error {s['metrics']['delay_error_steps']:.2f} steps")
    span = np.arange(p["max_latency"] + 1)
    ax.plot(span, span, "k--", lw=0.8, label="perfect recovery")
    ax.set_xlabel("planted latency (steps)")
    ax.set_ylabel("c - learned delay, rounded (steps)")
    ax.set_title("strong excitatory motif synapses of every detector", fontsize=8)
    ax.legend(fontsize=7)
    _save(fig, path)


def plot_accuracy(metrics: dict, p: dict, chance: float, path: Path) -> None:
    """Test accuracy per seed: learned delays (smooth), rounded, no delays."""
    from synaptica.plotting import _new_figure, _save

    fig = _new_figure(6.0, 3.5)
    fig.subplots_adjust(top=0.86)
    ax = fig.add_subplot(1, 1, 1)
    keys = [("accuracy_learned_delays", "learned delays"), ("accuracy_rounded", "rounded to steps"),
            ("accuracy_no_delays", "no delays")]
    seeds = [p["seed"] + k for k in range(int(metrics["n_seeds"]))]
    n = len(seeds)
    for b, (key, label) in enumerate(keys):
        values = [metrics[f"{key}_seed{seed}"] for seed in seeds]
        ax.bar(np.arange(n) + (b - 1) * 0.27, values, 0.27, label=label)
    ax.axhline(chance, color="k", ls=":", lw=0.8, label="chance")
    ax.set_xticks(range(n), [f"seed {seed}" for seed in seeds])
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("test accuracy")
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, 1.13), ncol=4, frameon=False)
    _save(fig, path)


def run_delay_motifs(p: dict, progress: ProgressCallback | None = None) -> ExperimentResult:
    total = p["n_seeds"] * 2 * p["epochs"] * math.ceil(p["n_train"] / p["batch_size"])
    done = [0]

    def tick() -> None:
        done[0] += 1
        if progress is not None:
            progress(done[0], total)

    import torch

    # the tensors here are tiny (a few detectors, batches of 50): threads only add
    # synchronisation (measured: 3x the CPU time with 2 threads), so run on one
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        per_seed = [run_seed(p, p["seed"] + k, tick) for k in range(p["n_seeds"])]
    finally:
        torch.set_num_threads(threads)
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
    checks=(_check_sizes, _check_budget),
)
