"""Branching ratio: the naive estimators and multistep regression (Wilting & Priesemann 2018).

In a driven branching process each active unit activates on average ``m`` units in the
next time step and an external drive adds ``h`` activations, so the population activity
obeys ``E[A(t+1) | A(t)] = m A(t) + h``. The naive estimators read ``m`` off one step:

* ``"ratio"``: the mean of ``A(t+1) / A(t)`` over bins with ``A(t) > 0``; biased upwards
  by the drive (``+ h E[1/A]``) even when every unit is observed;
* ``"regression"``: the least-squares slope of ``A(t+1)`` on ``A(t)``; unbiased when every
  unit is observed.

Both are biased towards 0 under subsampling: observing a fraction of the units scales every
lagged regression slope by the same unknown factor ``b < 1``, ``r_k = b m^k``. Multistep
regression (MR; Wilting J, Priesemann V (2018) Nat. Commun. 9:2325) fits ``r_k = b m^k``
over ``k = 1..kmax`` and so recovers ``m`` (and ``b``) from a subsample; the intrinsic
timescale is ``tau = -dt / ln m``. The slopes use the "stationary mean" definition of the
paper (each slope is ``Cov(A(t), A(t+k)) / Var(A(t))`` with the means pooled over trials).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numba
import numpy as np
from scipy import optimize
from sklearn.base import BaseEstimator

from ._estimator import count_tags, population_input
from .avalanches import population_activity
from ..record import SpikeRecord

__all__ = ["branching_ratio_naive", "regression_slopes", "mr_estimate", "MRResult", "MultistepRegression",
           "simulate_branching_network", "BranchingError"]


class BranchingError(ValueError):
    """Bad input to a branching-ratio estimator (the message names the problem)."""


def _activity(activity: np.ndarray, min_len: int) -> np.ndarray:
    a = np.asarray(activity, dtype=np.float64)
    if a.ndim == 1:
        a = a[None, :]
    if a.ndim != 2:
        raise BranchingError(f"activity must be 1-D (n_bins,) or 2-D (n_trials, n_bins), got shape {a.shape}")
    if not np.all(np.isfinite(a)):
        raise BranchingError("activity contains NaN or infinity")
    if a.shape[1] < min_len:
        raise BranchingError(f"activity has {a.shape[1]} bins; at least {min_len} are needed")
    return a


def branching_ratio_naive(activity: np.ndarray, method: str = "ratio") -> float:
    """One-step estimate of the branching ratio from population activity.

    activity: (n_bins,) or (n_trials, n_bins) spike counts per bin (summed over units).
    method:   ``"ratio"``: mean of ``A(t+1)/A(t)`` over bins with ``A(t) > 0`` (pairs never
              straddle trials); ``"regression"``: the slope ``r_1`` of :func:`regression_slopes`.
    """
    a = _activity(activity, 2)
    if method == "regression":
        return float(regression_slopes(a, 1)[0])
    if method != "ratio":
        raise BranchingError(f"method must be 'ratio' or 'regression', got {method!r}")
    now, nxt = a[:, :-1].ravel(), a[:, 1:].ravel()
    active = now > 0
    if not active.any():
        raise BranchingError("activity is zero everywhere: no ancestors to count descendants of")
    return float(np.mean(nxt[active] / now[active]))


def regression_slopes(activity: np.ndarray, kmax: int) -> np.ndarray:
    """Slopes ``r_k`` of the linear regression of ``A(t+k)`` on ``A(t)``, k = 1..kmax: (kmax,).

    "Stationary mean" slopes (Wilting & Priesemann 2018, Methods): with trials i, lagged
    windows ``x = A_i[:-k]``, ``y = A_i[k:]`` and their per-trial means ``mx_i``, ``my_i``,
    ``r_k = (<x y> - <mx><my>) / (<x^2> - <mx>^2)`` after pooling the means over trials
    (for one trial it is ``Cov(x, y) / Var(x)``).
    """
    if int(kmax) != kmax or kmax < 1:
        raise BranchingError(f"kmax must be a positive integer, got {kmax}")
    kmax = int(kmax)
    a = _activity(activity, kmax + 2)
    n_bins = a.shape[1]
    total = a.sum(axis=1)
    cum, cum_sq = np.cumsum(a, axis=1), np.cumsum(a * a, axis=1)
    slopes = np.empty(kmax)
    for k in range(1, kmax + 1):  # kmax passes of O(n_trials * n_bins) each
        length = n_bins - k
        mx = cum[:, length - 1] / length  # mean of A[:, :-k]
        my = (total - cum[:, k - 1]) / length  # mean of A[:, k:]
        xx = cum_sq[:, length - 1] / length
        xy = np.einsum("ij,ij->i", a[:, :-k], a[:, k:]) / length
        mxk, myk = mx.mean(), my.mean()
        cov = np.mean(xy - mx * myk - my * mxk) + mxk * myk
        var = np.mean(xx - 2 * mx * mxk) + mxk * mxk
        if not var > 0:
            raise BranchingError("activity is constant: its variance is zero, slopes are undefined")
        slopes[k - 1] = cov / var
    return slopes


@dataclass(frozen=True)
class MRResult:
    """Multistep-regression fit ``r_k = b m^k``.

    m:      branching ratio (dimensionless).
    tau:    intrinsic timescale ``-dt / ln m`` in the unit of ``dt`` (inf for m >= 1).
    b:      subsampling amplitude (1 when fully sampled, in expectation).
    steps:  (kmax,) lags k; slopes: (kmax,) regression slopes r_k; dt: bin size.
    """

    m: float
    tau: float
    b: float
    steps: np.ndarray
    slopes: np.ndarray
    dt: float

    def predict(self, steps: np.ndarray) -> np.ndarray:
        """Fitted slopes ``b m^k`` at lags ``steps``."""
        return self.b * self.m ** np.asarray(steps, dtype=np.float64)


def _fit_exponential(steps: np.ndarray, slopes: np.ndarray) -> tuple[float, float]:
    """Unweighted least squares of ``r_k = b m^k``, started from a log-linear fit."""
    positive = slopes > 0
    if positive.sum() >= 2:
        slope, intercept = np.polyfit(steps[positive], np.log(slopes[positive]), 1)
        start = [math.exp(intercept), math.exp(min(slope, 0.0))]
    else:
        start = [max(slopes[0], 1e-3), 0.5]
    start[1] = min(max(start[1], 1e-6), 1.5)
    (b, m), _ = optimize.curve_fit(lambda k, b, m: b * m ** k, steps, slopes, p0=start,
                                   bounds=([0.0, 0.0], [np.inf, 2.0]), ftol=1e-12, xtol=1e-12, gtol=1e-12,
                                   max_nfev=10000)
    return float(b), float(m)


def mr_estimate(activity: np.ndarray, kmax: int, dt: float = 1.0) -> MRResult:
    """Multistep-regression estimate (Wilting & Priesemann 2018) of the branching ratio.

    activity: (n_bins,) or (n_trials, n_bins) population spike counts in bins of ``dt``.
    kmax:     largest lag in bins; the paper advises several timescales (kmax >~ 3 tau / dt)
              and it must be well below the recording length.
    dt:       bin size (s), only used to express ``tau``.
    """
    if not dt > 0:
        raise BranchingError(f"dt must be > 0, got {dt}")
    slopes = regression_slopes(activity, kmax)
    steps = np.arange(1, len(slopes) + 1, dtype=np.float64)
    b, m = _fit_exponential(steps, slopes)
    tau = -dt / math.log(m) if 0 < m < 1 else math.inf
    return MRResult(m=m, tau=tau, b=b, steps=steps.astype(np.int64), slopes=slopes, dt=float(dt))


class MultistepRegression(BaseEstimator):
    """Branching ratio of population activity by multistep regression (MR).

    Wilting J, Priesemann V (2018) "Inferring collective dynamical states from widely
    unobserved systems", Nat. Commun. 9:2325. MR fits ``r_k = b m^k`` to the lagged
    regression slopes and so stays unbiased when only a fraction of the units is observed,
    where the one-step estimate ``r_1 = b m`` is not.

    Parameters
    ----------
    bin_size : float
        Time step in s (W&P use 4 ms). For a :class:`SpikeRecord` the population activity is
        the spike count per bin; for an array input (population counts ``(n_bins,)`` or
        counts per unit ``(n_bins, n_units)``) it is the step of the given bins.
    kmax : int
        Largest lag in bins (advice: several intrinsic timescales).

    Attributes (after ``fit``)
    --------------------------
    branching_ratio_ : float, m.  timescale_ : float, tau = -bin_size / ln m in s.
    amplitude_ : float, b.  steps_ : (kmax,) lags.  slopes_ : (kmax,) r_k.
    naive_branching_ratio_ : float, r_1 (the one-step regression estimate).
    n_features_in_ : int, units (1 for population counts).
    """

    def __init__(self, bin_size: float = 0.004, kmax: int = 40):
        self.bin_size = bin_size
        self.kmax = kmax

    def __sklearn_tags__(self):
        return count_tags(super().__sklearn_tags__())

    def fit(self, X: SpikeRecord | np.ndarray, y: None = None) -> "MultistepRegression":
        """Fit on a :class:`SpikeRecord`, on population activity ``(n_bins,)`` or on counts
        per unit ``(n_bins, n_units)`` (summed over units). Activity of several trials
        ``(n_trials, n_bins)`` goes to :func:`mr_estimate`. ``y`` is ignored."""
        if isinstance(self.bin_size, bool) or not isinstance(self.bin_size, (int, float, np.number)) \
                or not self.bin_size > 0:
            raise BranchingError(f"bin_size must be > 0 s, got {self.bin_size!r}")
        if isinstance(X, SpikeRecord):
            self.n_features_in_ = X.n_units
            activity = population_activity(X, self.bin_size)
        else:
            min_bins = int(self.kmax) + 2 if isinstance(self.kmax, (int, np.integer)) and self.kmax > 0 else 1
            activity = population_input(self, X, BranchingError, ensure_min_samples=min_bins)
            if np.min(_activity(activity, 1)) < 0:
                raise BranchingError("activity must be non-negative (spike counts per bin)")
        result = mr_estimate(activity, self.kmax, dt=self.bin_size)
        self.branching_ratio_ = result.m
        self.timescale_ = result.tau
        self.amplitude_ = result.b
        self.steps_ = result.steps
        self.slopes_ = result.slopes
        self.naive_branching_ratio_ = float(result.slopes[0])
        return self


@numba.njit(cache=True)
def _simulate(n_units: int, m: float, h: float, n_steps: int, start: int, seed: int):
    np.random.seed(seed)
    capacity = max(1024, int(1.2 * n_steps * (start + 1)) + 1024)
    steps = np.empty(capacity, np.int64)
    units = np.empty(capacity, np.int64)
    stamp = np.full(n_units, -1, np.int64)  # step at which each unit was last activated
    n = 0
    active = np.empty(n_units, np.int64)
    n_active = 0
    for _ in range(start):  # initial state: `start` distinct random units
        u = np.random.randint(0, n_units)
        if stamp[u] != 0:
            stamp[u] = 0
            active[n_active] = u
            n_active += 1
    for t in range(n_steps):
        if n + n_active > capacity:  # grow the output arrays
            capacity = 2 * capacity + n_active
            steps = np.concatenate((steps, np.empty(capacity - steps.size, np.int64)))
            units = np.concatenate((units, np.empty(capacity - units.size, np.int64)))
        for i in range(n_active):
            steps[n] = t
            units[n] = active[i]
            n += 1
        # offspring of all active units (a sum of Poisson(m) is Poisson(m A)) plus the drive
        n_targets = np.random.poisson(m * n_active + h) if m * n_active + h > 0 else 0
        n_next = 0
        for _ in range(n_targets):
            u = np.random.randint(0, n_units)
            if stamp[u] != t + 1:  # a unit hit twice is active once
                stamp[u] = t + 1
                active[n_next] = u
                n_next += 1
        n_active = n_next
    return steps[:n], units[:n]


def simulate_branching_network(n_units: int, m: float, h: float, n_steps: int, *, dt: float = 0.004,
                               seed: int | None = None) -> SpikeRecord:
    """Simulate a driven branching network; returns a :class:`SpikeRecord` (times in s).

    Wilting & Priesemann 2018 (Methods): ``n_units`` units; in each step of ``dt`` s every
    active unit activates Poisson(``m``) units drawn uniformly at random (annealed random
    connectivity) and the drive activates Poisson(``h``) more; a unit activated at least once
    is active (one spike) in the next step. While ``A << n_units`` the population activity is
    a branching process with ``E[A(t+1) | A(t)] = m A(t) + h``, stationary mean
    ``h / (1 - m)`` and intrinsic timescale ``-dt / ln m``. The run starts at the stationary
    mean (rounded) for ``m < 1``, from silence otherwise. Spike ``(t, unit)`` is at time
    ``t * dt``; the record spans ``[0, n_steps * dt]``. Subsample with ``record.select(units)``.
    """
    if n_units < 1 or n_steps < 1:
        raise BranchingError(f"n_units and n_steps must be >= 1, got {n_units} and {n_steps}")
    if not (m >= 0 and h >= 0 and math.isfinite(m) and math.isfinite(h)):
        raise BranchingError(f"m and h must be finite and >= 0, got m={m}, h={h}")
    if not dt > 0:
        raise BranchingError(f"dt must be > 0 s, got {dt}")
    start = int(round(min(h / (1 - m), n_units))) if m < 1 else 0
    seed = int(np.random.default_rng(seed).integers(2**31 - 1))
    steps, units = _simulate(int(n_units), float(m), float(h), int(n_steps), start, seed)
    if steps.size == 0:
        raise BranchingError(f"the simulation produced no spikes (m={m}, h={h}, {n_steps} steps)")
    return SpikeRecord(steps * dt, units, int(n_units), 0.0, n_steps * dt,
                       source=f"branching network (m={m}, h={h})")
