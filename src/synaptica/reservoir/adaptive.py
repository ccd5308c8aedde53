"""Excitatory-inhibitory rate reservoir whose neurons adapt their inhibition toward target rates.

After Srinivasan, Plenz & Girvan 2025, "Boosting reservoir computing with brain-inspired
adaptive dynamics", arXiv:2504.12480 (Nature Communications 2025). Time is counted in steps;
a rate r is dimensionless in (0, 1) (a firing probability per step).

Network (Dale's law: every weight below is >= 0; rows are postsynaptic, columns presynaptic)::

    r[t] = sigmoid(c (W_E r[t-1] - W_I r[t-1] + W_in u[t] - theta))             (1)

N units, a fraction f_E excitatory. Every unit receives k_E = round(f_E k) excitatory and
k_I = k - k_E inhibitory synapses from distinct random presynaptic units (no self-synapse),
|Normal(mu, cv mu)| with mu_E = 1 / k_E and mu_I = beta / k_I, so a unit's mean excitatory
and inhibitory input are r_E and beta r_I: ``balance`` beta = 1 is balanced, beta > 1
over-inhibited. beta is the reservoir's one global knob (the "globally tuned RC").
W_in (N, n_inputs): a fraction ``input_fraction`` of the units receive the input, weights
uniform in [-input_scaling, input_scaling].

Local adaptation (the paper's inhibitory plasticity): while the input runs, every inhibitory
synapse onto unit i moves with i's deviation from its target rate rho_i::

    W_I[i, j] <- W_I[i, j] + delta (r_i[t] - rho_i)     for each inhibitory synapse j -> i   (2)

kept >= 0 (Dale's law). A unit above its target gains inhibition, one below loses it. Since
every inhibitory synapse onto i moves by the same amount, the state of the rule is one
offset per unit: W_I = W_I(0) + diag(a) M_I, with M_I the 0/1 inhibitory connectivity and
a (N,) the accumulated updates. Its fixed point has <r_i>_t = rho_i. Targets are homogeneous
(rho_i = rho) or heterogeneous (rho_i drawn from a Beta distribution of mean rho and
standard deviation ``spread``, see :func:`target_rates`).

Closed form (the paper's "one-step design"): a unit resting at r_i = rho_i under a constant
input u_bar and network rates rho needs the offset::

    a_i = [(W_E rho)_i - (W_I(0) rho)_i + (W_in u_bar)_i - theta - logit(rho_i) / c] / (M_I rho)_i     (3)

(:meth:`AdaptiveEIReservoir.one_step_offsets`); with constant input, a stable fixed point of
(1) and (2) is exactly (3). What departs from the paper (whose full methods were not
available to us) is listed in :mod:`synaptica.experiments.adaptive_reservoir`.

:func:`check_states` guards a readout against reservoirs that carry no signal: NaN states
raise, all-constant states (dead or saturated units) raise, a majority of constant units warns.
"""
from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import scipy.sparse

from synaptica.reservoir._inputs import as_sequences, finite_float, positive_int

__all__ = ["AdaptiveEIReservoir", "target_rates", "check_states", "sigmoid"]


def sigmoid(x: np.ndarray) -> np.ndarray:
    """1 / (1 + exp(-x)) without overflow for any finite x."""
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def target_rates(n_units: int, mean: float, spread: float = 0.0, seed: int = 0) -> np.ndarray:
    """Target rates rho (n_units,) in (0, 1): all ``mean`` if ``spread`` is 0, else i.i.d.
    Beta with that mean and standard deviation ``spread`` (< sqrt(mean (1 - mean)))."""
    n_units = positive_int(n_units, "target_rates: n_units")
    mean = finite_float(mean, "target_rates: mean", 0.0, 1.0, low_open=True)
    if mean >= 1.0:
        raise ValueError(f"target_rates: mean must lie in (0, 1), got {mean!r}")
    spread = finite_float(spread, "target_rates: spread", 0.0)
    if spread == 0.0:
        return np.full(n_units, mean)
    variance_limit = mean * (1.0 - mean)
    if spread ** 2 >= variance_limit:
        raise ValueError(f"target_rates: spread {spread:g} is too large for mean {mean:g}: a rate in (0, 1) "
                         f"needs spread < sqrt(mean (1 - mean)) = {math.sqrt(variance_limit):.4g}")
    concentration = variance_limit / spread ** 2 - 1.0
    rates = np.random.default_rng(seed).beta(mean * concentration, (1.0 - mean) * concentration, n_units)
    return np.clip(rates, 1e-6, 1.0 - 1e-6)


def check_states(states: Any, name: str, min_std: float = 1e-6) -> np.ndarray:
    """``states`` (T, F) as float64 if a readout can use them, else a clear error.

    NaN or infinity raises; every feature constant over time (std < ``min_std``: a dead or
    saturated reservoir) raises, naming the mean rate; more than half constant warns."""
    states = np.asarray(states, dtype=np.float64)
    if states.ndim != 2 or min(states.shape) < 1:
        raise ValueError(f"{name}: states must have shape (T, n_features), got {states.shape}")
    if not np.all(np.isfinite(states)):
        bad = np.argwhere(~np.isfinite(states))[0]
        raise ValueError(f"{name}: the reservoir state is NaN or infinite (first at step {bad[0]}, unit {bad[1]})")
    constant = states.std(axis=0) < min_std
    if constant.all():
        mean = float(states.mean())
        kind = "dead (rates near 0)" if mean < 0.05 else "saturated (rates near 1)" if mean > 0.95 else "frozen"
        raise ValueError(f"{name}: every unit's state is constant over time ({kind}, mean {mean:.3g}): the "
                         "readout would see no signal; lower the steepness or the balance, or raise input_scaling")
    if constant.mean() > 0.5:
        warnings.warn(f"{name}: {int(constant.sum())} of {constant.size} units are constant over time "
                      "(dead or saturated); the readout sees few features", RuntimeWarning, stacklevel=2)
    return states


def _logit(p: np.ndarray) -> np.ndarray:
    return np.log(p) - np.log1p(-p)


class AdaptiveEIReservoir:
    """Dale's-law sigmoid rate reservoir with local inhibitory adaptation (see module doc).

    Args:
        n_units: N.
        n_inputs: input dimension.
        in_degree: k, synapses onto every unit (k_E excitatory, k_I inhibitory).
        excitatory_fraction: f_E in (0, 1).
        weight_cv: coefficient of variation of the weights (the standard deviation / mean).
        balance: beta, the global scale of inhibition (1: balanced mean input).
        steepness: c of the sigmoid (per unit of input).
        threshold: theta.
        input_fraction: fraction of units that receive the input.
        input_scaling: W_in uniform in [-input_scaling, input_scaling] on those units.
        seed: seeds every weight.
    """

    def __init__(self, n_units: int = 500, n_inputs: int = 1, in_degree: int = 50, excitatory_fraction: float = 0.8,
                 weight_cv: float = 0.2, balance: float = 1.0, steepness: float = 10.0, threshold: float = 0.0,
                 input_fraction: float = 0.3, input_scaling: float = 0.5, leak_rate: float = 1.0,
                 seed: int = 0) -> None:
        name = "AdaptiveEIReservoir"
        self.n_units = positive_int(n_units, f"{name}: n_units")
        self.n_inputs = positive_int(n_inputs, f"{name}: n_inputs")
        k = positive_int(in_degree, f"{name}: in_degree")
        f_e = finite_float(excitatory_fraction, f"{name}: excitatory_fraction", 0.0, 1.0, low_open=True)
        cv = finite_float(weight_cv, f"{name}: weight_cv", 0.0)
        self.balance = finite_float(balance, f"{name}: balance", 0.0)
        self.steepness = finite_float(steepness, f"{name}: steepness", 0.0, low_open=True)
        self.threshold = finite_float(threshold, f"{name}: threshold")
        input_fraction = finite_float(input_fraction, f"{name}: input_fraction", 0.0, 1.0)
        self.leak_rate = finite_float(leak_rate, f"{name}: leak_rate", 0.0, 1.0, low_open=True)
        input_scaling = finite_float(input_scaling, f"{name}: input_scaling", 0.0)
        n = self.n_units
        n_exc = int(round(f_e * n))
        k_exc = int(round(f_e * k))
        k_inh = k - k_exc
        if not (1 <= n_exc < n) or k_exc < 1 or k_inh < 1:
            raise ValueError(f"{name}: excitatory_fraction {f_e:g} of n_units {n} and in_degree {k} leaves a "
                             "population or a synapse type empty")
        if k_exc > n_exc - 1 or k_inh > n - n_exc - 1:
            raise ValueError(f"{name}: in_degree {k} needs {k_exc} excitatory and {k_inh} inhibitory presynaptic "
                             f"units, but there are {n_exc} and {n - n_exc}: lower in_degree or raise n_units")
        rng = np.random.default_rng(seed)
        self.excitatory = np.zeros(n, dtype=bool)
        self.excitatory[:n_exc] = True
        self.W_exc, _ = self._synapses(rng, np.arange(n_exc), k_exc, 1.0 / k_exc, cv)
        self.W_inh0, self.inh_mask = self._synapses(rng, np.arange(n_exc, n), k_inh, self.balance / k_inh, cv)
        receives = rng.random(n) < input_fraction
        self.W_in = rng.uniform(-input_scaling, input_scaling, (n, self.n_inputs)) * receives[:, None]
        masked = np.where(self.inh_mask > 0, self.W_inh0, np.inf)
        self.offset_floor = -np.min(masked, axis=1)       # keeps every inhibitory weight >= 0
        self.offset = np.zeros(n)                          # a (N,): the adaptation's state
        self.last_state: np.ndarray | None = None

    def _synapses(self, rng: np.random.Generator, pool: np.ndarray, k: int, mean: float,
                  cv: float) -> tuple[np.ndarray, np.ndarray]:
        """Weights (N, N) and 0/1 connectivity: k presynaptic units from ``pool`` per unit."""
        n = self.n_units
        weights, mask = np.zeros((n, n)), np.zeros((n, n))
        for post in range(n):
            pre = rng.choice(pool[pool != post], size=k, replace=False)
            mask[post, pre] = 1.0
            weights[post, pre] = np.abs(rng.normal(mean, cv * mean, k))
        return weights, mask

    @property
    def n_features(self) -> int:
        return self.n_units

    @property
    def W_inh(self) -> np.ndarray:
        """The current inhibitory weights W_I(0) + diag(a) M_I (N, N), all >= 0."""
        return self.W_inh0 + self.offset[:, None] * self.inh_mask

    def recurrent_matrix(self) -> np.ndarray:
        """W_E - W_I (N, N) with the current adaptation."""
        return self.W_exc - self.W_inh

    def reset_adaptation(self) -> None:
        self.offset = np.zeros(self.n_units)

    def _initial(self, initial_state: Any, batch: int) -> np.ndarray:
        if initial_state is None:
            return np.full((batch, self.n_units), 0.5)
        x0 = np.asarray(initial_state, dtype=np.float64)
        if x0.shape not in ((self.n_units,), (batch, self.n_units)) or not np.all(np.isfinite(x0)):
            raise ValueError(f"AdaptiveEIReservoir: initial_state must be finite, shape ({self.n_units},) or "
                             f"({batch}, {self.n_units}), got {x0.shape}")
        return np.broadcast_to(x0, (batch, self.n_units)).copy()

    def run(self, inputs: Any, initial_state: Any = None) -> np.ndarray:
        """States r[1..T] for inputs u[1..T] with the weights frozen: (T, N) for inputs
        (T, n_inputs), (batch, T, N) for (batch, T, n_inputs). r[0] is 0.5 everywhere by default."""
        sequences, batched = as_sequences(inputs, self.n_inputs, "AdaptiveEIReservoir.run")
        u = np.asarray(sequences, dtype=np.float64)
        batch, n_steps, _ = u.shape
        # sigmoid(x) = 1/2 + tanh(x/2)/2: the loop works on half-scaled inputs, W sparse (k per row)
        half = 0.5 * self.steepness
        drive = half * (u @ self.W_in.T - self.threshold)                  # (batch, T, N)
        weights = scipy.sparse.csr_array(half * self.recurrent_matrix())
        start, alpha = self._initial(initial_state, batch), self.leak_rate
        states = np.empty((batch, n_steps, self.n_units))
        for b in range(batch):       # one sequence at a time: sparse matrix-vector products are the fastest
            r, out, inp = start[b], states[b], drive[b]
            for t in range(n_steps):
                r = (1.0 - alpha) * r + 0.5 * alpha * (1.0 + np.tanh(weights @ r + inp[t]))
                out[t] = r
        self.last_state = states[:, -1].copy()
        return states if batched else states[0]

    def adapt(self, inputs: Any, targets: Any, learning_rate: float = 1e-3, initial_state: Any = None) -> np.ndarray:
        """Run inputs (T, n_inputs) while rule (2) moves the inhibitory offsets toward the
        targets rho (scalar or (N,)); returns the states r[1..T] (T, N). The offsets stay
        in ``offset``; ``run`` then uses them frozen."""
        sequences, batched = as_sequences(inputs, self.n_inputs, "AdaptiveEIReservoir.adapt")
        if batched and sequences.shape[0] != 1:
            raise ValueError("AdaptiveEIReservoir.adapt: adapts on one sequence (T, n_inputs) at a time")
        rho = np.broadcast_to(np.asarray(targets, dtype=np.float64), (self.n_units,))
        if not np.all((rho > 0) & (rho < 1)):
            raise ValueError("AdaptiveEIReservoir.adapt: target rates must lie in (0, 1)")
        delta = finite_float(learning_rate, "AdaptiveEIReservoir.adapt: learning_rate", 0.0, 1.0, low_open=True)
        u = np.asarray(sequences[0], dtype=np.float64)
        half = 0.5 * self.steepness
        drive = half * (u @ self.W_in.T - self.threshold)
        fixed = scipy.sparse.csr_array(half * (self.W_exc - self.W_inh0))
        mask = scipy.sparse.csr_array(self.inh_mask)
        r = self._initial(initial_state, 1)[0]
        states = np.empty((len(u), self.n_units))
        a, alpha = self.offset.copy(), self.leak_rate
        for t in range(len(u)):
            r = (1.0 - alpha) * r + 0.5 * alpha * (1.0 + np.tanh(fixed @ r - half * a * (mask @ r) + drive[t]))
            a = np.maximum(a + delta * (r - rho), self.offset_floor)
            states[t] = r
        self.offset, self.last_state = a, r[None]
        return states

    def one_step_offsets(self, targets: Any, mean_input: Any = None) -> np.ndarray:
        """Offsets a (N,) of closed form (3) for rates rho under the constant input u_bar
        (zeros by default), clipped at Dale's floor. Does not change ``offset``."""
        rho = np.broadcast_to(np.asarray(targets, dtype=np.float64), (self.n_units,))
        if not np.all((rho > 0) & (rho < 1)):
            raise ValueError("AdaptiveEIReservoir.one_step_offsets: target rates must lie in (0, 1)")
        u_bar = np.zeros(self.n_inputs) if mean_input is None else np.asarray(mean_input, dtype=np.float64)
        excess = self.W_exc @ rho - self.W_inh0 @ rho + self.W_in @ u_bar - self.threshold - _logit(rho) / self.steepness
        return np.maximum(excess / (self.inh_mask @ rho), self.offset_floor)
