"""Diehl & Cook (2015): unsupervised digit recognition with STDP.

P. U. Diehl and M. Cook, "Unsupervised learning of digit recognition using
spike-timing-dependent plasticity", Front. Comput. Neurosci. 9:99 (2015).

Poisson inputs (one per pixel, rate proportional to intensity) drive ``n_exc``
conductance-based excitatory neurons with adaptive thresholds
(:class:`~synaptica.neurons.AdaptiveLIFConductance`) through all-to-all synapses that
learn by :class:`~synaptica.plasticity.DiehlCookSTDP`; each excitatory neuron excites
one inhibitory neuron, which inhibits all other excitatory neurons (soft
winner-take-all by lateral inhibition). Each image is one trial of ``present_ms``; at
its start the state is reset (the paper lets it decay for 150 ms instead), thresholds
theta are kept, and each excitatory neuron's incoming weights are normalised to sum to
``norm_total`` (78 for 784 inputs). After training, each neuron is labelled with the
class it responds to most; an image is classified as the class whose neurons respond
most on average.

Differences from the paper's code, kept deliberately: state reset instead of the 150 ms
rest; a fixed one-step (0.5 ms) delay instead of random 0-10 ms input delays. Images
that evoke fewer than ``min_spikes`` excitatory spikes are shown again with the rates
raised by ``max_rate_hz / 2`` per retry (the paper raises the intensity by the same
step), up to ``max_retries`` times; the paper retries at once, here the retries follow
the pass through all images (one compiled run per pass).

Batched mode (``batch_size`` > 1): that many copies of the network run side by side on
different images and learn one shared weight matrix; each copy's weight changes are
applied with factor 1 / batch_size (averaged updates), which is not the same learning as
the paper's sequential presentation. Each copy has its own thresholds during a pass,
which are then replaced by their mean. With learning frozen the copies are exactly
independent networks, so evaluation in batches gives the sequential result.
"""
from __future__ import annotations

from dataclasses import dataclass
import hashlib
from typing import Any, Callable, Mapping

import numpy as np
import torch

from synaptica.engine.network import Network
from synaptica.models.motifs import lateral_inhibition
from synaptica.neurons import AdaptiveLIFConductance, LIFConductance
from synaptica.neurons.base import Parameter
from synaptica.neurons.lif import lif_fire
from synaptica.neurons.lif_conductance import lif_conductance_membrane
from synaptica.plasticity import DiehlCookSTDP
from synaptica.primitives import maximum, where

Progress = Callable[[int, int], None]

BLOCKED_THRESHOLD_MV = 1e9  # threshold while a neuron may not fire (no membrane reaches it)


def spike_block_coefficients(dt, t_block):
    return {"block_steps": (t_block / dt + 0.5) // 1.0}


def spike_block_update(v, g_exc, g_inh, refractory, theta, block, i_ext, dt, tau_m, r_m, e_exc, e_inh,
                       decay_exc, decay_inh, v_rest, v_reset, v_th, refractory_steps, subtract,
                       decay_adapt, theta_jump, block_steps):
    v, refractory = lif_conductance_membrane(v, g_exc, g_inh, refractory, i_ext, dt, tau_m, r_m, e_exc,
                                             e_inh, v_rest)
    theta = theta * decay_adapt
    block = maximum(block - 1.0, 0.0)
    threshold = where(block > 0.0, BLOCKED_THRESHOLD_MV, v_th + theta)
    v, refractory, s = lif_fire(v, refractory, threshold, v_reset, refractory_steps, subtract)
    block = where(s > 0.0, block_steps, block)
    return v, g_exc * decay_exc, g_inh * decay_inh, refractory, theta + theta_jump * s, block, s


class SpikeBlockLIFConductance(AdaptiveLIFConductance):
    """:class:`~synaptica.neurons.AdaptiveLIFConductance` that may not fire again for
    ``t_block`` ms after a spike, while v is clamped only for ``t_ref`` and integrates
    its input afterwards (ms, mV, nS).

    This is the reading of the ``timer`` variable in Diehl & Cook's Brian code that the
    Brian2 ports took (``dtimer/dt = 0.1 : second``, threshold only when timer > 5 ms,
    so a 50 ms block). In the authors' Brian 1 code, ``dtimer/dt = 100.0 : ms`` is in
    SI units (100 s per s, 50 ms per 0.5 ms step), so there the timer passes 5 ms one
    step after the spike and only the 5 ms refractory period acts (``t_block = 0``).
    """

    state = ("v", "g_exc", "g_inh", "refractory", "theta", "block")
    parameters = {
        **AdaptiveLIFConductance.parameters,
        "t_block": Parameter(50.0, "ms", non_negative=True, help="time after a spike before the next one"),
    }
    coefficients_function = staticmethod(spike_block_coefficients)
    update_function = staticmethod(spike_block_update)
    helpers = (lif_conductance_membrane, lif_fire)

    def initial_state(self):
        return {**super().initial_state(), "block": 0.0}


@dataclass
class DiehlCookConfig:
    """Parameters (paper values for MNIST; ms, mV, nS, Hz)."""

    n_input: int = 784
    n_exc: int = 100
    dt: float = 0.5
    present_ms: float = 350.0
    max_rate_hz: float = 63.75        # pixel intensity 1.0 (255) -> 63.75 Hz
    norm_total: float = 78.0          # sum of each excitatory neuron's input weights
    w_init_max: float = 0.3           # initial input weights uniform in [0, w_init_max)
    nu_pre: float = 1e-4
    nu_post: float = 1e-2
    w_max: float = 1.0
    w_exc_inh: float = 10.4
    w_inh_exc: float = 17.0
    theta_jump: float = 0.05          # mV per spike
    tau_theta: float = 1e7            # ms
    min_spikes: int = 5
    max_retries: int = 3
    spike_block_ms: float = 0.0       # > 0: no second excitatory spike within this time (SpikeBlockLIFConductance)
    batch_size: int = 1               # > 1: copies learning shared weights (averaged updates)
    seed: int = 0


# Diehl & Cook's excitatory membrane (ms, mV, conductances in units of the leak)
EXC_NEURON = dict(tau_m=100.0, v_rest=-65.0, v_reset=-65.0, v_th=-52.0, e_exc=0.0, e_inh=-100.0, tau_exc=1.0,
                  tau_inh=2.0, r_m=1.0)


class DiehlCookNetwork:
    """The network, trained and evaluated trial by trial in single compiled runs."""

    def __init__(self, config: DiehlCookConfig) -> None:
        c = self.config = config
        net = self.net = Network(dt=c.dt, batch_size=c.batch_size, seed=c.seed, dtype=torch.float64)
        self.inputs = net.add_poisson(c.n_input, 0.0, name="input")
        self.exc_model = self.make_exc_model()
        self.exc = net.add_population(c.n_exc, self.exc_model, name="exc")
        inh_model = LIFConductance(tau_m=10.0, v_rest=-60.0, v_reset=-45.0, v_th=-40.0, e_exc=0.0, e_inh=-85.0,
                                   tau_exc=1.0, tau_inh=2.0, t_ref=2.0, r_m=1.0)
        self.rule = self.make_rule()
        w0 = net.rng.uniform(0.0, c.w_init_max, (c.n_input, c.n_exc))
        self.input_exc = net.connect(self.inputs, self.exc, weight=w0, target="g_exc", plasticity=self.rule,
                                     name="input->exc")
        self.inh = lateral_inhibition(net, self.exc, inh_model, c.w_exc_inh, c.w_inh_exc, name="inh")
        net.set_trials(c.present_ms, keep=("theta",))
        self.counts = net.monitor_counts(self.exc)
        self.labels: np.ndarray | None = None

    def make_exc_model(self):
        """The excitatory neuron (subclasses swap it): the authors' adaptive-threshold
        conductance LIF, optionally with the Brian2 ports' spike block."""
        c = self.config
        exc = dict(EXC_NEURON, t_ref=5.0, tau_adapt=c.tau_theta, theta_jump=c.theta_jump)
        if c.spike_block_ms > 0:
            return SpikeBlockLIFConductance(**exc, t_block=c.spike_block_ms)
        return AdaptiveLIFConductance(**exc)

    def make_rule(self):
        """The input-to-excitatory learning rule (subclasses swap it)."""
        c = self.config
        return DiehlCookSTDP(nu_pre=c.nu_pre, nu_post=c.nu_post, w_min=0.0, w_max=c.w_max, normalize=c.norm_total)

    @property
    def weights(self) -> np.ndarray:
        """(n_input, n_exc) learned input weights."""
        return self.input_exc.weights.detach().cpu().numpy().copy()

    def present(self, images: np.ndarray, learn: bool, progress: Progress | None = None,
                checkpoint=None, tag: str = "", targets: np.ndarray | None = None,
                settings: Mapping[str, Any] | None = None) -> np.ndarray:
        """Show ``images`` ((n, n_input) in [0, 1]) one per trial; return spike counts (n, n_exc).

        ``learn=False`` freezes the weights and thresholds (the paper's test phase);
        ``targets`` (n,) are class labels for networks with a teacher (subclasses).
        With ``checkpoint`` (a path prefix) each pass saves to and resumes from its own
        file ``<checkpoint>.<tag>-pass.npz`` (``-retry<k>`` for retries), tied to the run's
        ``settings`` (every parameter that changes the result) and ``tag`` (the phase)."""
        images = np.asarray(images, dtype=float)
        if images.ndim != 2 or images.shape[1] != self.config.n_input:
            raise ValueError(f"DiehlCookNetwork: images must be (n, {self.config.n_input}), got {images.shape}")
        if not np.all(np.isfinite(images)) or images.min() < 0 or images.max() > 1:
            raise ValueError("DiehlCookNetwork: image intensities must lie in [0, 1]")
        self.set_learning(learn)
        self.exc_model.values["theta_jump"] = self.config.theta_jump if learn else 0.0
        self.exc_model.values["tau_adapt"] = self.config.tau_theta if learn else 1e300
        targets = np.full(len(images), -1) if targets is None else np.asarray(targets)
        run = dict(settings or {}, model=type(self).__name__, phase=tag, learn=learn)
        counts = self._run(images, targets, np.ones(len(images)), progress, checkpoint, run, "pass")
        self.last_counts = counts
        boost = np.ones(len(images))
        for retry in range(1, self.config.max_retries + 1):
            weak = np.flatnonzero(counts[self.counts.name].sum(1) < self.config.min_spikes)
            if weak.size == 0:
                break
            boost[weak] += 0.5
            again = self._run(images[weak], targets[weak], boost[weak], None, checkpoint, run, f"retry{retry}")
            for name, rows in again.items():
                counts[name][weak] = rows
        self.last_boost = boost            # input-rate factor of each image's counted presentation
        return counts[self.counts.name]

    def set_learning(self, learn: bool) -> None:
        self.rule.values["learning_rate"] = 1.0 if learn else 0.0

    def set_inputs(self, images: np.ndarray, targets: np.ndarray, boost: np.ndarray, first_trial: int) -> None:
        """Input rates of the trials from ``first_trial`` on (subclasses add a teacher)."""
        rates = np.minimum(images * self.config.max_rate_hz * boost[:, None], 0.5e3 / self.config.dt)
        self.inputs.set_rates(self.as_trials(rates), first_trial=first_trial)

    def as_trials(self, rows: np.ndarray) -> np.ndarray:
        """Per-image rows (n, k) as a (trials, batch, k) table, image i in trial i // batch."""
        batch = self.net.batch_size
        trials = -(-len(rows) // batch)
        table = np.zeros((trials * batch, rows.shape[1]))
        table[: len(rows)] = rows
        return table.reshape(trials, batch, rows.shape[1])

    def _run(self, images, targets, boost, progress, checkpoint, settings: dict, part: str) -> dict[str, np.ndarray]:
        """Present once; spike counts (n, neurons) of every count monitor, by monitor name."""
        first, batch = self.net.trial, self.net.batch_size
        trials = -(-len(images) // batch)
        self.set_inputs(images, targets, boost, first)
        name = "".join(c if c.isalnum() or c in "_-" else "-" for c in f"{settings['phase']}-{part}")
        path = None if checkpoint is None else f"{checkpoint}.{name}.npz"
        # which images, at which boost, are shown is part of the run: a retry of other images is another run
        shown = {"part": part, "images": _digest(images), "boost": _digest(boost), "targets": _digest(targets)}
        self.net.run(trials * self.config.present_ms, progress=progress, checkpoint=path,
                     checkpoint_tag={**settings, **shown},
                     chunk_steps=int(round(50 * self.config.present_ms / self.config.dt)))
        if batch > 1 and self.rule.values["learning_rate"] > 0:
            # the copies' thresholds drifted apart; they continue from their mean
            self.exc.state["theta"][:] = self.exc.state["theta"].mean(0, keepdim=True)
        return {mon.name: mon.counts[first:first + trials].reshape(trials * batch, -1)[: len(images)].copy()
                for mon in self.net.count_monitors}

    def assign_labels(self, counts: np.ndarray, labels: np.ndarray, n_classes: int = 10) -> np.ndarray:
        """Label each neuron with the class of highest mean response (-1: never fired)."""
        means = np.stack([counts[labels == k].mean(0) if np.any(labels == k) else np.zeros(counts.shape[1])
                          for k in range(n_classes)])
        self.labels = np.where(means.max(0) > 0, means.argmax(0), -1)
        return self.labels

    def predict(self, counts: np.ndarray, n_classes: int = 10) -> np.ndarray:
        """Class with the highest mean response of its labelled neurons (Diehl & Cook's vote)."""
        if self.labels is None:
            raise ValueError("DiehlCookNetwork.predict: call assign_labels first")
        scores = np.full((counts.shape[0], n_classes), -1.0)
        for k in range(n_classes):
            members = self.labels == k
            if members.any():
                scores[:, k] = counts[:, members].mean(1)
        return scores.argmax(1)


def _digest(values: np.ndarray) -> str:
    """A short fingerprint of an array's bytes (what a checkpoint's run was shown)."""
    array = np.ascontiguousarray(values)
    return hashlib.sha1(str(array.dtype).encode() + str(array.shape).encode() + array.tobytes()).hexdigest()[:16]
