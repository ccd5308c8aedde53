"""Spiking reservoir: the liquid state machine, simulated by the engine.

After Maass, Natschlager & Markram 2002, "Real-time computing without stable states: a
new framework for neural computation based on perturbations", Neural Computation 14:
2531-2560. ``n_units`` neurons (any model of :mod:`synaptica.neurons`; default the LIF
below) sit on the integer points of a column of 3 x 3 x ceil(n/9) (15 x 3 x 3 for the
paper's 135); ``excitatory_fraction`` of them, chosen at random, are excitatory (E), the
rest inhibitory (I). Each ordered pair (a, b), a != b, is connected with probability::

    p(a, b) = C[type(a) type(b)] * exp(-(D(a, b) / lambda)^2)

(D the Euclidean distance in grid units; C_EE = 0.3, C_EI = 0.2, C_IE = 0.4, C_II = 0.1,
lambda = 2, as in the paper). Synaptic strengths are gamma distributed (shape 2, CV 0.71)
with means ``weights[type]`` in the unit of the receptor (pA for current-based models);
Dale's law holds through the engine's ``sign`` constraint: E cells excite (first
receptor), I cells inhibit (second receptor). Delays: 1.5 ms for E -> E, 0.8 ms
otherwise (rounded to whole steps of ``dt``). The paper's synapses are also dynamic
(Markram et al. 1998); these are static.

Default neuron (the paper's, in this library's units): LIF with tau_m = 30 ms, threshold
15 mV above rest, reset 13.5 mV above rest, refractory 3 ms (E) / 2 ms (I), exponential
synaptic currents tau_exc = 3 ms, tau_inh = 6 ms, r_m = 0.1 GOhm (1 pA -> 0.1 mV), and a
constant background current ``background_pA`` (135 pA -> 13.5 mV, as the paper's 13.5 nA
through 1 MOhm) that keeps cells just below threshold.

Input: the run advances in bins of ``bin_ms`` ms, one per input time step u[t]:

* ``input_mode="current"``: the current W_in^T u[t] (pA; W_in (n_inputs, n_units), each
  entry nonzero with probability ``input_fraction``, uniform in [-input_weight, input_weight])
  is injected throughout bin t;
* ``input_mode="rates"``: u[t] >= 0 are Poisson rates (Hz) of ``n_inputs`` input neurons
  during bin t (drawn from the liquid's seed and the run's ``seed``);
* ``input_mode="spikes"``: u[t] are spike counts (integers >= 0, at most the steps per bin)
  of the input neurons in bin t, spread evenly over the bin.

In the spiking modes each input neuron excites a fraction ``input_fraction`` of the
liquid with gamma-distributed weights of mean ``input_weight``. Sequences of a batch
(batch, T, n_inputs) run one after another as engine trials: state, pending synaptic
input and features restart with every sequence. ``run`` returns the features of
:mod:`synaptica.reservoir.features` at the end of every bin.
"""
from __future__ import annotations

import math
import warnings
from typing import Any, Mapping

import numpy as np
import torch

from synaptica.reservoir._inputs import as_sequences, finite_float, positive_int
from synaptica.reservoir.features import BinLayout, SpikeTrace

__all__ = ["Liquid", "LiquidWarning", "INPUT_MODES"]

INPUT_MODES = ("current", "rates", "spikes")
CONNECTION_PROBABILITY = {"EE": 0.3, "EI": 0.2, "IE": 0.4, "II": 0.1}   # Maass et al. 2002
DEFAULT_WEIGHTS = {"EE": 60.0, "EI": 120.0, "IE": 190.0, "II": 190.0}  # magnitudes, receptor unit
DELAYS_MS = {"EE": 1.5, "EI": 0.8, "IE": 0.8, "II": 0.8}
GAMMA_SHAPE = 2.0


def default_neuron(n_units: int, excitatory: np.ndarray):
    """The paper's LIF in this library's units (see module doc)."""
    from synaptica.neurons import LIF

    return LIF(tau_m=30.0, tau_exc=3.0, tau_inh=6.0, v_rest=-65.0, v_th=-50.0, v_reset=-51.5, r_m=0.1,
               t_ref=np.where(excitatory, 3.0, 2.0))


class Liquid:
    """Liquid state machine on the engine (see module doc).

    Args:
        n_units: liquid size (default 135, the paper's column).
        n_inputs: input channels.
        input_mode: "current", "rates" or "spikes".
        model: a :class:`~synaptica.neurons.base.NeuronModel` for all cells (default the
            paper's LIF); its parameters may be arrays (n_units,).
        excitatory_fraction: fraction of E cells (0.8).
        weights: mean synaptic strength per connection type "EE", "EI", "IE", "II"
            (pre-post), magnitudes in the receptor unit; missing keys take the defaults.
        connection_scale: multiplies every C of the connection probability.
        lambda_: length constant of the connection probability (grid units).
        input_fraction: probability that an input channel reaches a given cell.
        input_weight: pA per unit input ("current"), or mean weight of an input spike.
        background_pA: constant current into every cell (pA).
        bin_ms: duration of one input time step (ms), a whole number of ``dt``.
        dt: engine step (ms).
        features: a feature of :mod:`synaptica.reservoir.features` (default SpikeTrace(30 ms)).
        seed: seeds the wiring, weights and (with the run's seed) input spikes.
        dtype: of the engine state.
    """

    def __init__(self, n_units: int = 135, n_inputs: int = 1, input_mode: str = "current", model=None,
                 excitatory_fraction: float = 0.8, weights: Mapping[str, float] | None = None,
                 connection_scale: float = 1.0, lambda_: float = 2.0, input_fraction: float = 0.3,
                 input_weight: float = 100.0, background_pA: float = 135.0, bin_ms: float = 20.0,
                 dt: float = 0.5, features=None, seed: int = 0, dtype: torch.dtype = torch.float32) -> None:
        self.n_units = positive_int(n_units, "Liquid: n_units")
        self.n_inputs = positive_int(n_inputs, "Liquid: n_inputs")
        if input_mode not in INPUT_MODES:
            raise ValueError(f"Liquid: input_mode must be one of {INPUT_MODES}, got {input_mode!r}")
        self.input_mode = input_mode
        self.dt = finite_float(dt, "Liquid: dt", 0.0, math.inf, low_open=True)
        self.bin_ms = finite_float(bin_ms, "Liquid: bin_ms", 0.0, math.inf, low_open=True)
        self.steps_per_bin = int(round(self.bin_ms / self.dt))
        if self.steps_per_bin < 1 or abs(self.steps_per_bin * self.dt - self.bin_ms) > 1e-9 * self.bin_ms:
            raise ValueError(f"Liquid: bin_ms={bin_ms} must be a whole number of steps dt={dt}")
        fraction = finite_float(excitatory_fraction, "Liquid: excitatory_fraction", 0.0, 1.0)
        scale = finite_float(connection_scale, "Liquid: connection_scale", 0.0)
        lambda_ = finite_float(lambda_, "Liquid: lambda_", 0.0, math.inf, low_open=True)
        self.input_fraction = finite_float(input_fraction, "Liquid: input_fraction", 0.0, 1.0, low_open=True)
        self.input_weight = finite_float(input_weight, "Liquid: input_weight", 0.0)
        self.background_pA = finite_float(background_pA, "Liquid: background_pA")
        unknown = sorted(set(weights or {}) - set(DEFAULT_WEIGHTS))
        if unknown:
            raise ValueError(f"Liquid: unknown connection type(s) {unknown} in weights; use {sorted(DEFAULT_WEIGHTS)}")
        self.weights = {k: finite_float(v, f"Liquid: weights[{k!r}]", 0.0)
                        for k, v in {**DEFAULT_WEIGHTS, **(weights or {})}.items()}
        self.features = features if features is not None else SpikeTrace(30.0)
        self.seed, self.dtype = int(seed), dtype
        rng = np.random.default_rng(seed)
        n = self.n_units
        self.excitatory = np.zeros(n, dtype=bool)
        self.excitatory[rng.permutation(n)[:int(round(fraction * n))]] = True
        self.model = model if model is not None else default_neuron(n, self.excitatory)
        self.conductance = self.model.receptors[0].startswith("g_")
        self.synapses = self._wire(rng, scale, lambda_)
        if input_mode == "current":
            mask = rng.random((self.n_inputs, n)) < self.input_fraction
            self.W_in = rng.uniform(-self.input_weight, self.input_weight, (self.n_inputs, n)) * mask
        else:
            pre, post = np.nonzero(rng.random((self.n_inputs, n)) < self.input_fraction)
            self.input_synapses = (pre, post, self._gamma(rng, self.input_weight, pre.size))

    @property
    def n_features(self) -> int:
        return self.n_units

    @staticmethod
    def _gamma(rng: np.random.Generator, mean: float, size: int) -> np.ndarray:
        return rng.gamma(GAMMA_SHAPE, mean / GAMMA_SHAPE, size)

    def _wire(self, rng: np.random.Generator, scale: float, lambda_: float) -> dict[str, tuple]:
        """Synapses per connection type: (pre, post, magnitude, delay ms)."""
        n = self.n_units
        grid = np.stack(np.unravel_index(np.arange(n), (math.ceil(n / 9), 3, 3)), axis=1).astype(float)
        squared = sum((grid[:, None, k] - grid[None, :, k]) ** 2 for k in range(3))   # exact: integer coordinates
        closeness = np.exp(-(np.sqrt(squared) / lambda_) ** 2)
        cells = {"E": np.flatnonzero(self.excitatory), "I": np.flatnonzero(~self.excitatory)}
        draw = rng.random((n, n))
        synapses = {}
        for key in ("EE", "EI", "IE", "II"):   # only the block of this pre/post type: same draws, a quarter of the work
            rows, cols = cells[key[0]], cells[key[1]]
            block = np.ix_(rows, cols)
            chosen = draw[block] < scale * CONNECTION_PROBABILITY[key] * closeness[block]
            chosen &= rows[:, None] != cols[None, :]
            i, j = np.nonzero(chosen)
            pre, post = rows[i], cols[j]
            synapses[key] = (pre, post, self._gamma(rng, self.weights[key], pre.size), DELAYS_MS[key])
        return synapses

    def _input_spikes(self, u: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
        """Spike steps and channel ids for inputs u (bins, n_inputs) in mode rates/spikes."""
        m = self.steps_per_bin
        if np.any(u < 0):
            raise ValueError(f"Liquid.run: input_mode={self.input_mode!r} needs inputs >= 0")
        if self.input_mode == "rates":
            probability = u * self.dt * 1e-3
            if np.any(probability > 1):
                raise ValueError(f"Liquid.run: rates up to {u.max():g} Hz exceed one spike per step dt={self.dt} ms")
            rng = np.random.default_rng([self.seed, seed])
            # draw in blocks of bins (about 4M numbers each) so that the uniform draws never need
            # len(u) x m x n_inputs doubles at once (MNIST: 8000 x 250 x 784 would be 12.5 GB);
            # the generator's stream is the same as one draw of the whole array
            block = max(1, (1 << 22) // max(1, m * self.n_inputs))
            steps, ids = [], []
            for start in range(0, len(u), block):
                chunk = probability[start:start + block]
                raster = rng.random((len(chunk), m, self.n_inputs)) < chunk[:, None, :]
                bins, offsets, channel = np.nonzero(raster)
                steps.append((bins + start) * m + offsets)
                ids.append(channel)
            if not steps:
                return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
            return np.concatenate(steps), np.concatenate(ids)
        if np.any(u != np.round(u)) or np.any(u > m):
            raise ValueError(f"Liquid.run: input_mode='spikes' needs integer spike counts per bin in 0..{m} "
                             f"(steps per bin)")
        counts = u.astype(np.int64)
        bins, ids = np.nonzero(counts)
        k = counts[bins, ids]
        first = np.repeat(np.cumsum(k) - k, k)
        j = np.arange(k.sum()) - first                            # index of each spike within its bin
        kk = np.repeat(k, k)
        return np.repeat(bins, k) * m + ((j + 0.5) * m / kk).astype(np.int64), np.repeat(ids, k)

    def build(self, inputs: Any, seed: int = 0):
        """The engine network for ``inputs`` (as :meth:`run`): (network, liquid population,
        spike monitor, bin layout). Exposed so that a run can be inspected or extended."""
        from synaptica.engine.network import Network

        sequences, _ = as_sequences(inputs, self.n_inputs, "Liquid.run")
        u = np.asarray(sequences.cpu() if torch.is_tensor(sequences) else sequences, dtype=np.float64)
        n_sequences, n_bins = u.shape[:2]
        layout = BinLayout(n_sequences, n_bins, self.steps_per_bin, self.dt)
        flat = u.reshape(-1, self.n_inputs)
        net = Network(dt=self.dt, batch_size=1, seed=self.seed, dtype=self.dtype)
        liquid = net.add_population(self.n_units, self.model, name="liquid")
        receptors = self.model.receptors
        for key, (pre, post, magnitude, delay) in self.synapses.items():
            if pre.size == 0:
                continue
            inhibitory = key[0] == "I"
            signed = -magnitude if inhibitory and not self.conductance else magnitude
            net.connect(liquid, liquid, pre_index=pre, post_index=post, weight=signed,
                        delay=max(delay, self.dt), sign="inhibitory" if inhibitory else "excitatory",
                        target=receptors[1 if inhibitory and len(receptors) > 1 else 0], name=f"liquid {key}")
        if self.input_mode == "current":
            net.add_current(liquid, np.repeat(flat @ self.W_in, self.steps_per_bin, axis=0), name="input current")
        else:
            steps, ids = self._input_spikes(flat, seed)
            source = net.add_spike_generator(self.n_inputs, steps * self.dt, ids, name="input")
            pre, post, magnitude = self.input_synapses
            # signed input weights (e.g. Ivanov & Michmizos 2021's +-w) split by Dale's law into
            # an excitatory and an inhibitory projection; gamma-drawn weights are all >= 0
            negative = magnitude < 0
            if np.any(~negative):
                net.connect(source, liquid, pre_index=pre[~negative], post_index=post[~negative],
                            weight=magnitude[~negative], sign="excitatory", target=receptors[0], name="input->liquid")
            if np.any(negative):
                net.connect(source, liquid, pre_index=pre[negative], post_index=post[negative],
                            weight=magnitude[negative] if not self.conductance else -magnitude[negative],
                            sign="inhibitory", target=receptors[1 if len(receptors) > 1 else 0],
                            name="input->liquid inhibitory")
        with torch.no_grad():   # constant, so it is no state that trials reset
            liquid.i_ext.fill_(self.background_pA)
        net.set_trials(n_bins * self.bin_ms)
        monitor = net.monitor_spikes(liquid)
        return net, liquid, monitor, layout

    def run(self, inputs: Any, seed: int = 0) -> np.ndarray:
        """Features for inputs (T, n_inputs) or (batch, T, n_inputs): (T, n_features) or
        (batch, T, n_features), float64. ``seed`` varies the Poisson input draws
        (``input_mode="rates"``) between runs; the liquid itself stays the same. The engine
        network of the run stays in ``last_network`` (e.g. for its spike monitor)."""
        _, batched = as_sequences(inputs, self.n_inputs, "Liquid.run")
        net, liquid, monitor, layout = self.build(inputs, seed)
        net.run(layout.n_bins * self.steps_per_bin * self.dt)
        self.last_network = net
        self._check_activity(liquid, monitor, layout)
        states = self.features.transform(np.asarray(monitor.steps), np.asarray(monitor.ids, dtype=np.int64),
                                         self.n_units, layout)
        return states if batched else states[0]

    def _check_activity(self, liquid, monitor, layout: BinLayout) -> None:
        for name, value in liquid.state.items():
            if value.is_floating_point() and not bool(torch.isfinite(value).all()):
                raise ValueError(f"Liquid.run: the neuron state {name!r} became NaN or infinite (the simulation "
                                 f"diverged at dt={self.dt} ms); lower the weights or dt")
        if len(monitor.steps) == 0:
            duration = layout.n_bins * self.bin_ms
            warnings.warn(f"Liquid.run: none of the {self.n_units} neurons fired in {duration:g} ms of input: the liquid "
                          "is dead and every feature is zero; raise input_weight, the weights or background_pA",
                          LiquidWarning, stacklevel=3)


class LiquidWarning(UserWarning):
    """A liquid run whose features carry no information (no spike)."""
