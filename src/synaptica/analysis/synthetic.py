"""Simulated coupled Poisson GLM networks with known connectivity (and hidden states).

The generative model (Pillow et al. 2008, Nature 454:995; a discrete-time version of a
coupled point-process GLM) in bins of ``bin_size`` s, with ``s(t)`` the state of bin ``t``:

    log lambda_i(t) = log(baseline_hz[s(t), i] * bin_size)
                      + sum_j sum_{l=1..window} coupling[s(t), i, j] * kernel(l) * y_j(t - l)
    y_i(t) ~ Poisson(min(lambda_i(t), max_rate_hz * bin_size))

``coupling[i, j]`` (post ``i``, pre ``j``) is the peak log-rate increment that one spike of
``j`` causes in ``i``. The default ``kernel`` is an alpha function
``(tau / tau_peak) * exp(1 - tau / tau_peak)`` with its peak (= 1) at ``tau_peak = 4 ms``,
truncated at 25 ms (``DEFAULT_KERNEL``). The rate is clipped at ``max_rate_hz`` (default
500 Hz) so that a run of excitation cannot blow up; with the default networks the clip
is almost never reached. Lags before the start of the record count as silent.

The simulation runs in numba over bins, event-driven: each spike adds its filter tail to
a ring buffer of future log-rate increments of its targets only (cost ~ spikes x window x
out-degree), so a 50-neuron, 180 s, 1 ms network takes well under a second.
"""
from __future__ import annotations

import numba
import numpy as np

from ..record import SpikeRecord

__all__ = ["simulate_coupled_glm", "random_coupling", "markov_states", "alpha_kernel", "DEFAULT_KERNEL"]

#: Default coupling-filter shape: (time to peak, truncation) in seconds.
DEFAULT_KERNEL = (0.004, 0.025)


def alpha_kernel(bin_size: float = 0.001, *, tau_peak: float = DEFAULT_KERNEL[0],
                 duration: float = DEFAULT_KERNEL[1]) -> np.ndarray:
    """Peak-normalised alpha kernel over lags ``1 .. round(duration / bin_size)`` bins.

    Element ``l - 1`` is ``(l * bin_size / tau_peak) * exp(1 - l * bin_size / tau_peak)``.
    """
    if not (bin_size > 0 and tau_peak > 0 and duration >= bin_size):
        raise ValueError(f"need bin_size > 0, tau_peak > 0 and duration >= bin_size, got "
                         f"{bin_size}, {tau_peak}, {duration}")
    lags = np.arange(1, int(round(duration / bin_size)) + 1) * bin_size / tau_peak
    return lags * np.exp(1.0 - lags)


def random_coupling(n_units: int, density: float = 0.1, scale: float = 1.0, seed: int = 0, *,
                    excitatory_fraction: float = 0.5, refractory: float = 0.0) -> np.ndarray:
    """Sparse signed coupling ``(n_units, n_units)`` [post i, pre j].

    Exactly ``round(density * n_units * (n_units - 1))`` off-diagonal pairs are connected,
    chosen uniformly; each is excitatory with probability ``excitatory_fraction`` and has
    magnitude ``scale * U(0.5, 1.5)`` (bounded away from zero so every edge is real).
    The diagonal is ``-refractory`` (0 by default: no self-coupling; a positive value gives
    every unit a self-inhibitory, refractory-like history filter).
    """
    if n_units < 1:
        raise ValueError(f"n_units must be >= 1, got {n_units}")
    if not 0.0 <= density <= 1.0:
        raise ValueError(f"density must lie in [0, 1], got {density}")
    if not 0.0 <= excitatory_fraction <= 1.0:
        raise ValueError(f"excitatory_fraction must lie in [0, 1], got {excitatory_fraction}")
    rng = np.random.default_rng(seed)
    off = np.flatnonzero(~np.eye(n_units, dtype=bool))
    chosen = rng.choice(off, size=int(round(density * off.size)), replace=False)
    sign = np.where(rng.random(chosen.size) < excitatory_fraction, 1.0, -1.0)
    coupling = np.zeros(n_units * n_units)
    coupling[chosen] = sign * scale * rng.uniform(0.5, 1.5, chosen.size)
    coupling = coupling.reshape(n_units, n_units)
    np.fill_diagonal(coupling, -float(refractory))
    return coupling


def markov_states(n_bins: int, n_states: int, mean_dwell_bins: float, seed: int = 0) -> np.ndarray:
    """``(n_bins,)`` int64 state sequence of a Markov chain.

    The initial state is uniform; each bin the chain stays with probability
    ``1 - 1 / mean_dwell_bins`` (geometric dwell times with that mean) and otherwise jumps
    to one of the other states uniformly.
    """
    if n_bins < 1 or n_states < 1:
        raise ValueError(f"n_bins and n_states must be >= 1, got {n_bins} and {n_states}")
    if not mean_dwell_bins >= 1:
        raise ValueError(f"mean_dwell_bins must be >= 1, got {mean_dwell_bins}")
    rng = np.random.default_rng(seed)
    if n_states == 1:
        return np.zeros(n_bins, dtype=np.int64)
    # enough dwell periods to cover n_bins with overwhelming probability, topped up if not
    dwells = np.empty(0, dtype=np.int64)
    while dwells.sum() < n_bins:
        more = int(2 * n_bins / mean_dwell_bins) + 16
        dwells = np.concatenate([dwells, rng.geometric(1.0 / mean_dwell_bins, size=more)])
    jumps = rng.integers(1, n_states, size=dwells.size)  # offset to a *different* state
    states = (rng.integers(n_states) + np.concatenate([[0], np.cumsum(jumps[1:])])) % n_states
    return np.repeat(states, dwells)[:n_bins].astype(np.int64)


@numba.njit(cache=True)
def _simulate(log_base, filters, indptr, targets, states, max_count, seed):  # pragma: no cover - numba
    """log_base (S, N) per-bin log rate; filters (S, nnz, W) filter of each (pre j -> target)
    entry in CSR order (``indptr`` over pre j, ``targets`` = post i); states (T,).
    Returns spike (bins, ids) with repeats for counts > 1."""
    np.random.seed(seed)
    n_states, n_units = log_base.shape
    window = filters.shape[2]
    n_bins = states.shape[0]
    ring = np.zeros((window + 1, n_units))
    cap = 1024
    out_bins = np.empty(cap, dtype=np.int64)
    out_ids = np.empty(cap, dtype=np.int64)
    n_out = 0
    for t in range(n_bins):
        row = t % (window + 1)
        s = states[t]
        for i in range(n_units):
            lam = np.exp(log_base[s, i] + ring[row, i])
            ring[row, i] = 0.0
            if lam > max_count:
                lam = max_count
            k = np.random.poisson(lam)
            for _ in range(k):
                if n_out == cap:
                    cap *= 2
                    nb = np.empty(cap, dtype=np.int64)
                    ni = np.empty(cap, dtype=np.int64)
                    nb[:n_out] = out_bins[:n_out]
                    ni[:n_out] = out_ids[:n_out]
                    out_bins, out_ids = nb, ni
                out_bins[n_out] = t
                out_ids[n_out] = i
                n_out += 1
            if k > 0:
                # the spike's filter tail: bins t+1..t+window, each with that bin's state
                for lag in range(1, window + 1):
                    tt = t + lag
                    if tt >= n_bins:
                        break
                    st = states[tt]
                    r = tt % (window + 1)
                    for e in range(indptr[i], indptr[i + 1]):
                        ring[r, targets[e]] += k * filters[st, e, lag - 1]
    return out_bins[:n_out], out_ids[:n_out]


def simulate_coupled_glm(coupling: np.ndarray, baseline_hz: np.ndarray, duration: float, *,
                         bin_size: float = 0.001, basis: np.ndarray | None = None,
                         states: np.ndarray | None = None, seed: int = 0,
                         max_rate_hz: float = 500.0, t_start: float = 0.0) -> SpikeRecord:
    """Simulate a coupled Poisson GLM network (see the module docstring for the model).

    coupling:    ``(n_units, n_units)`` [post i, pre j] log-rate increments at the filter
                 peak, or ``(n_states, n_units, n_units)`` with ``states``. With a 2-D
                 ``basis`` ``(window, n_basis)``, a trailing ``n_basis`` axis of basis weights
                 instead (filter ``h_ij = basis @ coupling[..., i, j, :]``).
    baseline_hz: ``(n_units,)`` or ``(n_states, n_units)`` rate in Hz with no input.
    duration:    s; there are ``floor(duration / bin_size)`` bins.
    basis:       None for the default alpha kernel, a ``(window,)`` filter shape over lags
                 1..window bins, or a ``(window, n_basis)`` basis (see ``coupling``).
    states:      ``(n_bins,)`` int state of each bin (selects coupling and baseline).
    Returns a :class:`SpikeRecord` over ``[t_start, t_start + duration]``; each spike sits at
    a uniform random time inside the middle 90 % of its bin, so re-binning at ``bin_size``
    gives back the simulated counts exactly.
    """
    coupling = np.asarray(coupling, dtype=np.float64)
    baseline = np.asarray(baseline_hz, dtype=np.float64)
    if not bin_size > 0:
        raise ValueError(f"bin_size must be > 0 s, got {bin_size}")
    if not duration > 0:
        raise ValueError(f"duration must be > 0 s, got {duration}")
    if not max_rate_hz > 0:
        raise ValueError(f"max_rate_hz must be > 0, got {max_rate_hz}")
    n_bins = int(np.floor(duration / bin_size * (1 + 1e-9)))
    if n_bins < 1:
        raise ValueError(f"duration {duration} s is shorter than one bin ({bin_size} s)")
    if basis is None:
        basis = alpha_kernel(bin_size)
    basis = np.asarray(basis, dtype=np.float64)
    if basis.ndim not in (1, 2) or basis.shape[0] < 1:
        raise ValueError(f"basis must be (window,) or (window, n_basis), got shape {basis.shape}")
    weighted = basis.ndim == 2  # coupling carries basis weights on a trailing axis
    core = coupling[..., 0] if weighted else coupling
    if weighted and coupling.shape[-1] != basis.shape[1]:
        raise ValueError(f"coupling's last axis ({coupling.shape[-1]}) must match the basis' "
                         f"{basis.shape[1]} functions")
    if core.ndim == 2:
        coupling = coupling[None]
    elif core.ndim != 3:
        raise ValueError(f"coupling must be (n_units, n_units) or (n_states, n_units, n_units), got {coupling.shape}")
    n_states, n_units = coupling.shape[0], coupling.shape[1]
    if coupling.shape[2] != n_units:
        raise ValueError(f"coupling must be square in its unit axes, got {coupling.shape}")
    if not np.all(np.isfinite(coupling)):
        raise ValueError("coupling contains NaN or infinity")
    if baseline.ndim == 1:
        baseline = np.broadcast_to(baseline, (n_states, baseline.shape[0]))
    if baseline.shape != (n_states, n_units):
        raise ValueError(f"baseline_hz must be ({n_units},) or ({n_states}, {n_units}), got {np.shape(baseline_hz)}")
    if not np.all(np.isfinite(baseline)) or np.any(baseline <= 0):
        raise ValueError("baseline_hz must be finite and > 0")
    if states is None:
        if n_states != 1:
            raise ValueError(f"coupling has {n_states} states: pass states (one int per bin)")
        states = np.zeros(n_bins, dtype=np.int64)
    states = np.asarray(states)
    if states.shape != (n_bins,):
        raise ValueError(f"states must have one entry per bin ({n_bins},), got shape {states.shape}")
    if not np.issubdtype(states.dtype, np.integer) or states.min() < 0 or states.max() >= n_states:
        raise ValueError(f"states must be integers in [0, {n_states})")

    # filters[s, i, j, lag]; keep only (pre j -> post i) pairs coupled in some state
    if weighted:
        filters = np.einsum("sijk,lk->sijl", coupling, basis)
    else:
        filters = coupling[..., None] * basis
    post, pre = np.nonzero(np.any(filters != 0, axis=(0, 3)))
    order = np.lexsort((post, pre))
    post, pre = post[order], pre[order]
    indptr = np.concatenate([[0], np.cumsum(np.bincount(pre, minlength=n_units))]).astype(np.int64)
    table = np.ascontiguousarray(filters[:, post, pre, :])
    bins, ids = _simulate(np.log(baseline * bin_size), table, indptr, post.astype(np.int64),
                          states.astype(np.int64), max_rate_hz * bin_size, int(seed))
    rng = np.random.default_rng(seed)
    times = t_start + (bins + rng.uniform(0.05, 0.95, bins.size)) * bin_size
    order = np.argsort(times, kind="stable")
    return SpikeRecord(times[order], ids[order], n_units, t_start, t_start + duration,
                       source="simulate_coupled_glm")
