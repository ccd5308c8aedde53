"""delay-motifs: detect planted spatio-temporal spike motifs with learned synaptic delays.

Seeds: heterogeneous delays make a neuron a detector of a temporal order, as in models
of motion direction selectivity (a delay line aligns the inputs of one direction only);
delays are learned by gradient as in DCLS (Hammouamri, Khalfaoui-Hassani & Masquelier,
ICLR 2024, :mod:`synaptica.training.delays`). The data are synthetic: the paper's claim
(learned delays beat SNNs without delays at equal or fewer parameters) is measured on
SHD, SSC and GSC, which are not available here.

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
motif class, ``max_delay`` taps) into detectors with membrane time constant ``tau_m_steps``,
and a learned constant logit for "none". ``readout``: "fired", LIF detectors (threshold 1,
reset by subtraction), logit ``fired_logit`` for each detector that fired after the
warm-up, 0 otherwise, prediction the detector that fired (the one with more spikes if
several), "none" if none fired; "max_membrane", non-spiking leaky detectors, logit the peak
membrane after the warm-up; "sum_softmax" (DCLS's output layer and loss), non-spiking
detectors, a softmax over the classes at every step after the warm-up, summed over time,
into the cross-entropy. Cross-entropy, Adam. The kernel width sigma shrinks geometrically
from ``max_delay / 2`` to ``sigma_end`` over the first ``anneal_fraction`` of training; the
rest runs with ``final_phase`` kernels. ``protocol = "paper"`` trains as the DCLS authors'
code does (``PAPER_SETTINGS``: Gaussian kernels normalised to sum 1, sigma down to 0.23
over the first quarter of the epochs, updated once per epoch, then soft kernels; weights
Adam lr 1e-3 with a one-cycle schedule up to 5e-3 and weight decay 1e-5; delays Adam lr
0.1, cosine; per-epoch schedules; the "sum_softmax" readout; delays rounded at test).
``"tuned"``: the keys (defaults: peak-normalised kernels, sigma 0.3 reached at 3/4 of
training, then straight-through rounded kernels, cosine schedules per step, lr 0.01 and
0.2, the "fired" readout).

Baselines, trained alike (same trials, loss, optimiser, schedule, seeds; ``MODELS``):
"fixed_delays" (random delays never trained: DCLS's ``snn_delays_lr0`` control),
"no_delays" (one tap), and two networks with temporal memory at the learned-delay model's
parameter count (:mod:`synaptica.experiments.delay_baselines`): "recurrent_lif" (recurrent
LIF hidden layer) and "adaptive_lif" (adaptive-threshold LIF hidden layer), each feeding
the same detectors and readout; ``baseline_hidden`` > 0 overrides their width. The
raster shows the learned-delay detectors as LIF neurons (threshold 1) whatever the readout.

Metrics (means over ``n_seeds`` seeds ``seed, seed+1, ...``; ``*_std`` is the sample std):
``accuracy_learned_delays`` (test, smooth kernels at sigma_end, the trained weights),
``accuracy_rounded`` (delays rounded to whole steps, one-hot taps),
``accuracy_<model>`` for the baselines, ``train_accuracy_<model>`` (training trials:
under-fitting or over-fitting), ``params_<model>`` (trainable numbers: weights, learned
delays, the "none" logit), ``hidden_<model>``, ``chance``; ``order_accuracy_<model>``:
among motif trials whose motif pair was identified, the fraction told apart from the
time-reversed twin (0.5 is guessing). Recovery of the planted delays: a detector aligns
its motif when the rounded delays satisfy ``d_i + latency_i = c``; ``delay_error_steps``
is the mean ``|d_i + latency_i - c|`` over EVERY motif synapse of every detector, ``c``
the median alignment (the best constant), ``delay_within_1_step`` the fraction within
one step; ``delay_error_random_steps`` and ``delay_within_1_step_random`` the same for the fixed
random delays (no recovery). ``delay_error_strong_steps`` and ``delay_within_1_step_strong``: the same
over the strong excitatory motif synapses only (weight at least ``strong_fraction`` of
the detector's largest), ``strong_motif_synapses`` their fraction (the others mostly turn
inhibitory: a veto of the reversed twin, whose delay need not align).
"""
from __future__ import annotations

import math
import time
from functools import partial
from pathlib import Path

import numpy as np

from synaptica.config import MAX_SEED, Field, check_memory, check_work, first_problem
from synaptica.experiments.base import Experiment, ExperimentResult, ProgressCallback

READOUTS = ("fired", "max_membrane", "sum_softmax")

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
    "protocol": Field(str, "paper", "'paper': DCLS's delay training (PAPER_SETTINGS, per-epoch schedules, weight "
                      "decay); 'tuned': the kernel and optimiser keys below", choices=("paper", "tuned")),
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
    "tau_hidden_steps": Field(float, 10.0, "membrane time constant of the memory baselines' hidden neurons (steps)",
                              minimum=0.0, maximum=1e6, exclusive_minimum=True),
    "tau_adapt_steps": Field(float, 20.0, "threshold-adaptation time constant of the adaptive LIF baseline (steps)",
                             minimum=0.0, maximum=1e6, exclusive_minimum=True),
    "adapt_strength": Field(float, 1.0, "threshold rise per spike of the adaptive LIF baseline (resting threshold 1)",
                            minimum=0.0, maximum=100.0),
    "baseline_hidden": Field(int, 0, "hidden units of the memory baselines; 0: the most whose weights do not "
                             "exceed the learned-delay model's weights and delays (parameter-matched)", minimum=0,
                             maximum=4096),
    "readout": Field(str, "fired", "detector readout: 'fired' (spiking detectors, did each fire), 'max_membrane' "
                     "(non-spiking leaky detectors, peak membrane) or 'sum_softmax' (DCLS: softmax per step, summed "
                     "over time)", choices=READOUTS),
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

# protocol = "paper": the delay training of the DCLS authors' code (Hammouamri et al. 2024,
# github.com/Thvnvtos/SNN-delays, best_config_SHD.py): Gaussian kernel normalised to sum 1,
# sigma from max_delay / 2 down to 0.23 geometrically over the first quarter of the epochs
# (once per epoch) and kept there (soft kernels), Adam with lr 1e-3 for the weights
# (one-cycle schedule up to 5e-3, per epoch, weight decay 1e-5) and 100 x that for the
# delays (cosine, per epoch); delays rounded to whole steps at test
PAPER_SETTINGS = {"kernel": "gaussian", "normalise": "sum", "sigma_end": 0.23, "anneal_fraction": 0.25,
                  "final_phase": "soft", "lr": 1e-3, "lr_delays": 0.1, "readout": "sum_softmax"}
PAPER_MAX_LR_FACTOR = 5.0
PAPER_WEIGHT_DECAY = 1e-5


def settings(p: dict) -> dict:
    """``p`` with the keys the protocol fixes (``PAPER_SETTINGS`` when "paper")."""
    return {**p, **PAPER_SETTINGS} if p.get("protocol", "paper") == "paper" else dict(p)


def _check_protocol(p: dict) -> str | None:
    """Under protocol "paper", a key the paper fixes may not be set to a third value (it
    would be ignored silently)."""
    if p["protocol"] != "paper":
        return None
    for key, value in PAPER_SETTINGS.items():
        if p[key] not in (value, SCHEMA[key].default):
            return (f"key '{key}': protocol = 'paper' fixes it to {value!r} (DCLS); "
                    f"set protocol = 'tuned' to use {p[key]!r}")
    return None


# bytes per trial, step and input of the generated trials (float64 uniforms drawn, float32
# spikes kept); float32 values per detector, step and trial kept for the backward pass;
# multiply-adds per weight tap and trial step (forward, two backward) for the two models
# with max_delay taps (learned and fixed delays), plus one for the three others (one tap,
# or hidden layers of about as many weights as the delay model's weights and delays)
TRIAL_BYTES = 12
SAVED_PER_DETECTOR_STEP = 6
PASSES = 3 * 3


def _check_budget(p: dict) -> str | None:
    """Refuse trial sets or batches over the memory limit and trainings (seeds x epochs x
    trials x steps x inputs x detectors x taps) over the work limit."""
    steps, n_inputs, detectors = p["n_steps"], p["n_inputs"], 2 * p["n_motifs"]
    trials = max(p["n_train"], p["n_test"])
    batch = min(p["batch_size"], p["n_train"])
    data_bytes = float(steps) * trials * n_inputs * TRIAL_BYTES
    saved = n_inputs + (detectors + p["baseline_hidden"]) * SAVED_PER_DETECTOR_STEP
    batch_bytes = float(batch) * (steps + p["max_delay"]) * saved * 4
    taps = float(n_inputs) * detectors * p["max_delay"]
    hidden = p["baseline_hidden"]  # two memory baselines, a recurrent one the larger
    baseline_weights = float(hidden) * (2 * n_inputs + hidden + 2 * detectors)
    updates = p["n_seeds"] * p["epochs"] * float(p["n_train"]) * steps * (taps * PASSES + baseline_weights * 3)
    return first_problem(
        check_memory("n_steps", f"n_steps = {steps} x {trials} trials x n_inputs = {n_inputs} inputs",
                     data_bytes + batch_bytes + taps * 4 * 4),
        check_work("epochs", f"n_seeds x epochs x n_train = {p['n_train']} trials x n_steps = {steps} "
                   f"x {taps:.3g} weight taps", updates),
    )


def _check_sizes(p: dict) -> str | None:
    p = settings(p)
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


MODELS = ("learned_delays", "fixed_delays", "no_delays", "recurrent_lif", "adaptive_lif")
PHASES = {"learned_delays": "learned-delay training", "fixed_delays": "fixed-random-delay training",
          "no_delays": "no-delay training", "recurrent_lif": "recurrent-LIF training",
          "adaptive_lif": "adaptive-LIF training"}


class Detector:
    """One of ``MODELS`` -> LIF detectors, with the "none" logit; see the module doc.
    ``kind`` True/False: "learned_delays"/"no_delays"."""

    def __init__(self, p: dict, n_detectors: int, kind: str | bool, generator) -> None:
        import torch

        from synaptica.experiments.delay_baselines import MemoryDetectors, matched_hidden
        from synaptica.training.delays import DelayedLinear
        from synaptica.training.layers import LIFNeurons

        q = settings(p)
        kind = {True: "learned_delays", False: "no_delays"}.get(kind, kind)
        if kind not in MODELS:
            raise ValueError(f"Detector: kind must be one of {MODELS}, got {kind!r}")
        self.kind, self.learn_delays = kind, kind == "learned_delays"
        self.layer = self.net = None
        beta = math.exp(-1.0 / q["tau_m_steps"])
        with torch.random.fork_rng():
            torch.manual_seed(int(generator.integers(2**31)))
            if kind in ("learned_delays", "fixed_delays", "no_delays"):
                k = 1 if kind == "no_delays" else q["max_delay"]  # one tap: every delay fixed at 0
                self.layer = DelayedLinear(q["n_inputs"], n_detectors, k, kernel=q["kernel"], normalise=q["normalise"],
                                           learn_delays=self.learn_delays, name="detectors")
                if kind == "fixed_delays":  # DCLS's 'snn_delays_lr0': random delays, never trained
                    self.layer.round_delays()
                self.neurons = LIFNeurons(n_detectors, beta=beta)
            else:
                budget = 2 * q["n_inputs"] * n_detectors  # the learned-delay model's weights and delays
                hidden = q["baseline_hidden"] or matched_hidden(kind, q["n_inputs"], n_detectors, budget)
                self.net = MemoryDetectors(kind, q["n_inputs"], n_detectors, hidden, beta, q["tau_hidden_steps"],
                                           q["tau_adapt_steps"], q["adapt_strength"])
                self.hidden_units = hidden
        self.none_logit = torch.nn.Parameter(torch.tensor(0.5))
        self.scale, self.readout = q["fired_logit"], q["readout"]
        self.warmup = q["max_delay"]

    def weights(self) -> list:
        """Trainable tensors other than the delays: the synaptic weights, then the "none" logit."""
        if self.net is not None:
            return [w for w in self.net.parameters() if w.requires_grad] + [self.none_logit]
        return [self.layer.weight, self.none_logit]

    def n_parameters(self) -> int:
        """Trainable numbers: weights, learned delays and the "none" logit."""
        delays = self.layer.delay.numel() if self.learn_delays else 0
        return sum(w.numel() for w in self.weights()) + delays

    def current(self, x):
        """Input current of the detectors (T, B, n_detectors)."""
        return self.net.current(x) if self.net is not None else self.layer(x)

    def spikes(self, x):
        """Spikes of the LIF detectors (threshold 1) on :meth:`current`."""
        spikes, _ = self.neurons(self.current(x)) if self.net is None else (self.net(x), None)
        return spikes

    def membrane(self, x):
        """Membrane of non-spiking leaky detectors (no threshold, same time constant)."""
        import torch
        import torch.nn.functional as F

        beta = self.neurons.beta() if self.net is None else self.net.neurons.beta()  # (n_detectors,)
        current = self.current(x)
        n_steps, n = current.shape[0], current.shape[2]
        # v_t = sum_k beta^k I_{t-k}: a causal convolution per detector (no reset, no threshold)
        decay = beta.to(current.dtype).unsqueeze(1) ** torch.arange(n_steps, dtype=current.dtype)
        signal = F.pad(current.permute(1, 2, 0), (n_steps - 1, 0))
        return F.conv1d(signal, decay.flip(-1).unsqueeze(1), groups=n).permute(2, 0, 1)

    def logits(self, x):
        """Class scores (B, 1 + n_detectors) for the cross-entropy and a tie-breaker (B, n_detectors)."""
        import torch

        # steps of the warm-up are not counted: there the longer delays have seen less
        # background than the shorter ones, and the loss would favour long delays for that
        none = self.none_logit.expand(x.shape[1], 1)
        if self.readout == "fired":
            spikes = self.spikes(x)[self.warmup:]
            # "did the detector fire" (1 - prod(1 - s_t)), not the spike count: a count rewards
            # spreading the inputs' arrivals over several steps (more spikes than one
            # coincidence gives), which is the opposite of aligning them
            fired = 1.0 - torch.prod(1.0 - spikes, 0)
            return torch.cat([none, self.scale * fired], 1), spikes.sum(0)
        v = self.membrane(x)[self.warmup:]
        if self.readout == "max_membrane":
            scores = torch.cat([none, v.max(0).values], 1)
        else:  # DCLS 'sum': per-step softmax over the classes, summed over time (fed to the cross-entropy as is)
            steps = torch.cat([none.expand(v.shape[0], -1, 1), v], 2)
            scores = torch.softmax(steps, 2).sum(0)
        return scores, torch.zeros_like(scores[:, 1:])

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


def _schedules(optimisers: list, q: dict, steps_per_epoch: int) -> tuple[list, bool]:
    """Learning-rate schedules and whether they step per epoch. "paper" (DCLS code): weights
    one-cycle up to 5 lr, delays cosine, both per epoch; "tuned": cosine per optimiser step."""
    import torch

    if q["protocol"] == "paper":
        scheds = [torch.optim.lr_scheduler.OneCycleLR(optimisers[0], max_lr=PAPER_MAX_LR_FACTOR * q["lr"],
                                                      total_steps=q["epochs"])]
        scheds += [torch.optim.lr_scheduler.CosineAnnealingLR(o, q["epochs"]) for o in optimisers[1:]]
        return scheds, True
    return [torch.optim.lr_scheduler.CosineAnnealingLR(o, q["epochs"] * steps_per_epoch) for o in optimisers], False


def train(model: Detector, x, labels, p: dict, generator, tick) -> None:
    import torch
    import torch.nn.functional as F

    from synaptica.experiments.finite import require_finite_loss, require_finite_parameters
    from synaptica.training.delays import annealed_sigma

    q = settings(p)
    phase = PHASES[model.kind]
    paper = q["protocol"] == "paper"
    params = model.weights()
    optimisers = [torch.optim.Adam(params, lr=q["lr"], weight_decay=PAPER_WEIGHT_DECAY if paper else 0.0)]
    if model.learn_delays:
        params = params + [model.layer.delay]
        optimisers.append(torch.optim.Adam([model.layer.delay], lr=q["lr_delays"]))
    n, batch = x.shape[1], q["batch_size"]
    steps_per_epoch = math.ceil(n / batch)
    total = q["epochs"] * steps_per_epoch
    schedules, per_epoch = _schedules(optimisers, q, steps_per_epoch)
    # sigma: geometric from max_delay / 2 to sigma_end over the first anneal_fraction of
    # training ("paper": once per epoch, as the DCLS code does)
    sigma_start = q["max_delay"] / 2.0
    for epoch in range(q["epochs"]):
        order = torch.as_tensor(generator.permutation(n))
        for i in range(steps_per_epoch):
            if model.learn_delays:
                done, span = (epoch, q["anneal_fraction"] * q["epochs"]) if per_epoch else \
                    (epoch * steps_per_epoch + i, q["anneal_fraction"] * total)
                progress = min(done / max(span, 1), 1.0)
                model.layer.set_sigma(annealed_sigma(progress, sigma_start, q["sigma_end"]))
                if progress >= 1.0:
                    model.layer.set_mode(q["final_phase"])
            index = order[i * batch:(i + 1) * batch]
            loss = F.cross_entropy(model.logits(x[:, index])[0], labels[index])
            require_finite_loss(loss, experiment="delay-motifs", phase=phase, epoch=epoch, step=i)
            for optimiser in optimisers:
                optimiser.zero_grad()
            loss.backward()
            for optimiser in optimisers:
                optimiser.step()
            if not per_epoch:
                for schedule in schedules:
                    schedule.step()
            if model.learn_delays:
                model.layer.clamp_delays_()
            tick()
        if per_epoch:
            for schedule in schedules:
                schedule.step()
        require_finite_parameters(params, experiment="delay-motifs", phase=phase, epoch=epoch)


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


def order_accuracy(model: Detector, x, labels) -> float:
    """Among motif trials whose motif pair was identified, the fraction told apart from
    the time-reversed twin (0.5 is guessing; NaN if no pair was identified)."""
    motif = labels > 0
    pred = model.predict(x[:, motif])
    same_pair = (pred > 0) & ((pred - 1) // 2 == (labels[motif] - 1) // 2)
    if not same_pair.any():
        return float("nan")
    return float((pred[same_pair] == labels[motif][same_pair]).float().mean())


def recovery_metrics(weight: np.ndarray, delays: np.ndarray, inputs: np.ndarray, latencies: np.ndarray,
                     strong_fraction: float) -> dict[str, float]:
    """Delay error over every motif synapse (the headline) and over the strong excitatory ones."""
    every = np.abs(delay_recovery(weight, delays, inputs, latencies, 0.0, positive=False)["offsets"])
    strong = delay_recovery(weight, delays, inputs, latencies, strong_fraction)
    offsets = np.abs(strong["offsets"])
    return {"delay_error_steps": float(np.mean(every)), "delay_within_1_step": float(np.mean(every <= 1)),
            "delay_error_strong_steps": float(np.mean(offsets)),
            "delay_within_1_step_strong": float(np.mean(offsets <= 1)),
            "strong_motif_synapses": strong["strong_fraction"]}


def run_seed(p: dict, seed: int, tick) -> dict:
    import torch

    rng = np.random.default_rng(seed)
    inputs, latencies = make_motifs(rng, p)
    x_train, y_train, _ = make_trials(rng, p["n_train"], inputs, latencies, p)
    x_test, y_test, _ = make_trials(rng, p["n_test"], inputs, latencies, p)
    x_train, x_test = torch.from_numpy(x_train), torch.from_numpy(x_test)
    y_train, y_test = torch.from_numpy(y_train), torch.from_numpy(y_test)

    out: dict[str, float] = {}
    models = {}
    for kind in MODELS:  # every model from the same trials, its own initialisation from the seed's stream
        t0 = time.perf_counter()
        models[kind] = model = Detector(p, len(inputs), kind, rng)
        train(model, x_train, y_train, p, rng, tick)
        out[f"train_s_{kind}"] = time.perf_counter() - t0
        out[f"params_{kind}"] = model.n_parameters()
        if model.net is not None:
            out[f"hidden_{kind}"] = model.hidden_units
    delayed = models["learned_delays"]
    delayed.layer.set_mode("soft")
    out["accuracy_learned_delays"] = delayed.accuracy(x_test, y_test)
    delayed.layer.round_delays()
    out["accuracy_rounded"] = delayed.accuracy(x_test, y_test)
    with torch.no_grad():  # motif vs its reversed twin, among motif trials: timing only
        for kind, model in models.items():
            if kind != "learned_delays":
                out[f"accuracy_{kind}"] = model.accuracy(x_test, y_test)
            out[f"train_accuracy_{kind}"] = model.accuracy(x_train, y_train)  # fit, against under-training
            out[f"order_accuracy_{kind}"] = order_accuracy(model, x_test, y_test)
    weight = delayed.layer.weight.detach().numpy()
    delays = delayed.layer.delay.detach().numpy()
    out.update(recovery_metrics(weight, delays, inputs, latencies, p["strong_fraction"]))
    fixed = models["fixed_delays"].layer  # the same error for random delays: the level of no recovery
    random = recovery_metrics(fixed.weight.detach().numpy(), fixed.delay.detach().numpy(), inputs, latencies,
                              p["strong_fraction"])
    out["delay_error_random_steps"] = random["delay_error_steps"]
    out["delay_within_1_step_random"] = random["delay_within_1_step"]
    with torch.no_grad():
        raster_out = delayed.spikes(x_test[:, :8]).numpy()
    pairs = delay_recovery(weight, delays, inputs, latencies, p["strong_fraction"])["pairs"]
    return {"seed": seed, "metrics": out, "weight": weight, "delays": delays, "inputs": inputs,
            "latencies": latencies, "pairs": pairs, "raster_in": x_test[:, :8].numpy(),
            "raster_out": raster_out}


ACCURACIES = [("accuracy_rounded", "learned delays (rounded)"), ("accuracy_fixed_delays", "fixed random delays"),
              ("accuracy_no_delays", "no delays"), ("accuracy_recurrent_lif", "recurrent LIF"),
              ("accuracy_adaptive_lif", "adaptive LIF")]


def summarise(per_seed: list[dict]) -> dict[str, float]:
    """Means over seeds, ``<name>_std`` (sample std, 0 for one seed), and the main numbers
    per seed as ``<name>_seed<seed>``."""
    metrics: dict[str, float] = {"n_seeds": len(per_seed)}
    for key in per_seed[0]["metrics"]:
        values = np.array([s["metrics"][key] for s in per_seed], dtype=float)
        metrics[key] = float(np.nanmean(values)) if np.isfinite(values).any() else float("nan")
        metrics[f"{key}_std"] = float(np.nanstd(values, ddof=1)) if np.isfinite(values).sum() > 1 else 0.0
    for s in per_seed:
        for key in [k for k, _ in ACCURACIES] + ["accuracy_learned_delays", "delay_error_steps"]:
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
                   label=f"seed {s['seed']}: error {s['metrics']['delay_error_strong_steps']:.2f} steps")
    span = np.arange(p["max_latency"] + 1)
    ax.plot(span, span, "k--", lw=0.8, label="perfect recovery")
    ax.set_xlabel("planted latency (steps)")
    ax.set_ylabel("c - learned delay, rounded (steps)")
    ax.set_title("strong excitatory motif synapses of every detector", fontsize=8)
    ax.legend(fontsize=7)
    _save(fig, path)


def plot_accuracy(metrics: dict, p: dict, chance: float, path: Path) -> None:
    """Test accuracy per seed of every model (``ACCURACIES``)."""
    from synaptica.plotting import _new_figure, _save

    fig = _new_figure(7.0, 3.6)
    fig.subplots_adjust(top=0.82)
    ax = fig.add_subplot(1, 1, 1)
    seeds = [p["seed"] + k for k in range(int(metrics["n_seeds"]))]
    n, width = len(seeds), 0.8 / len(ACCURACIES)
    for b, (key, label) in enumerate(ACCURACIES):
        values = [metrics[f"{key}_seed{seed}"] for seed in seeds]
        ax.bar(np.arange(n) + (b - (len(ACCURACIES) - 1) / 2) * width, values, width, label=label)
    ax.axhline(chance, color="k", ls=":", lw=0.8, label="chance")
    ax.set_xticks(range(n), [f"seed {seed}" for seed in seeds])
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("test accuracy")
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, 1.25), ncol=3, frameon=False)
    _save(fig, path)


def run_delay_motifs(p: dict, progress: ProgressCallback | None = None) -> ExperimentResult:
    total = p["n_seeds"] * len(MODELS) * p["epochs"] * math.ceil(p["n_train"] / p["batch_size"])
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
    checks=(_check_protocol, _check_sizes, _check_budget),
)
