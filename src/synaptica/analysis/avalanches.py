"""Neuronal avalanches (Beggs & Plenz 2003) and their power-law statistics.

Beggs JM, Plenz D (2003) "Neuronal avalanches in neocortical circuits", J. Neurosci.
23:11167. The population's spikes are binned (by default at the mean inter-event interval
of the pooled population, as there); an avalanche is a run of consecutive bins holding at
least one spike, preceded and followed by an empty bin. Runs that touch the start or the
end of the record are not bounded by empty bins and are dropped (they may be truncated).
Size = number of spikes in the run, duration = number of bins.

At criticality sizes and durations are power laws, ``P(S) ~ S^-alpha_S`` and
``P(T) ~ T^-alpha_T``, and the mean size at a given duration scales as
``<S>(T) ~ T^gamma`` with ``gamma = (alpha_T - 1) / (alpha_S - 1)`` (Sethna, Dahmen &
Myers 2001, Nature 410:242; tested on neurons by Friedman et al. 2012, PRL 108:208102).
For a critical branching process alpha_S = 3/2, alpha_T = 2 and gamma = 2.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.base import BaseEstimator

from ._estimator import count_tags, population_input
from .powerlaw import PowerLawFit, fit_power_law
from ..record import SpikeRecord

__all__ = ["Avalanches", "AvalancheAnalysis", "AvalancheError", "find_avalanches", "mean_inter_event_interval",
           "population_activity"]


class AvalancheError(ValueError):
    """Bad input to the avalanche analysis (the message names the problem)."""


def mean_inter_event_interval(record: SpikeRecord) -> float:
    """Mean interval (s) between successive spikes of the pooled population,
    ``(t_last - t_first) / (n_spikes - 1)`` (Beggs & Plenz's default bin size)."""
    if record.n_spikes < 2:
        raise AvalancheError(f"{record.source or 'record'}: need at least 2 spikes for an inter-event interval")
    interval = (record.times[-1] - record.times[0]) / (record.n_spikes - 1)
    if not interval > 0:
        raise AvalancheError(f"{record.source or 'record'}: all spikes are simultaneous; give bin_size explicitly")
    return float(interval)


def population_activity(record: SpikeRecord, bin_size: float) -> np.ndarray:
    """Spike count of the whole population per bin: ``(n_bins,)`` int64 (record binning
    convention; no dense ``(n_bins, n_units)`` matrix is built)."""
    bins, _ = record.bin_indices(bin_size)
    return np.bincount(bins, minlength=record.n_bins(bin_size)).astype(np.int64)


@dataclass(frozen=True)
class Avalanches:
    """Avalanches found in binned population activity.

    sizes:     (n_avalanches,) int64, spikes per avalanche.
    durations: (n_avalanches,) int64, bins per avalanche.
    starts:    (n_avalanches,) int64, index of each avalanche's first bin.
    bin_size:  bin width in s (NaN when built from a bare count array without one).
    n_bins:    number of bins analysed.
    """

    sizes: np.ndarray
    durations: np.ndarray
    starts: np.ndarray
    bin_size: float
    n_bins: int

    def __len__(self) -> int:
        return int(self.sizes.size)

    @property
    def durations_s(self) -> np.ndarray:
        """Durations in s."""
        return self.durations * self.bin_size

    def mean_size_by_duration(self) -> tuple[np.ndarray, np.ndarray]:
        """``(durations, mean sizes)``: each distinct duration (bins) and the mean size of the
        avalanches that last that long."""
        durations, inverse = np.unique(self.durations, return_inverse=True)
        sums = np.bincount(inverse, weights=self.sizes)
        return durations, sums / np.bincount(inverse)


def find_avalanches(X: SpikeRecord | np.ndarray, bin_size: float | None = None) -> Avalanches:
    """Avalanches of a :class:`SpikeRecord` or of a 1-D population count array.

    X:        a record, or ``(n_bins,)`` non-negative integer counts already binned.
    bin_size: bin width in s; for a record, ``None`` means the mean inter-event interval
              (:func:`mean_inter_event_interval`); for counts it is only stored.
    """
    if isinstance(X, SpikeRecord):
        if bin_size is None:
            bin_size = mean_inter_event_interval(X)
        counts = population_activity(X, bin_size)
    else:
        counts = np.asarray(X)
        if counts.ndim != 1:
            raise AvalancheError(f"counts must be 1-D (n_bins,), got shape {counts.shape}")
        if counts.size == 0:
            raise AvalancheError("counts are empty")
        if np.issubdtype(counts.dtype, np.number) and not np.all(np.isfinite(counts)):
            raise AvalancheError("counts contain NaN or infinity")
        if not np.issubdtype(counts.dtype, np.integer):
            if not (np.issubdtype(counts.dtype, np.floating) and np.all(counts == np.round(counts))):
                raise AvalancheError(f"counts must be integers, got dtype {counts.dtype}")
        if counts.min() < 0:
            raise AvalancheError(f"counts must be >= 0, got a minimum of {counts.min()}")
        counts = counts.astype(np.int64)
        if bin_size is not None and not bin_size > 0:
            raise AvalancheError(f"bin_size must be > 0 s, got {bin_size}")
    active = np.concatenate([[0], (counts > 0).astype(np.int8), [0]])
    edges = np.diff(active)
    starts = np.flatnonzero(edges == 1)
    ends = np.flatnonzero(edges == -1)  # exclusive
    bounded = (starts > 0) & (ends < counts.size)  # an empty bin on both sides
    starts, ends = starts[bounded], ends[bounded]
    cum = np.concatenate([[0], np.cumsum(counts)])
    return Avalanches(sizes=cum[ends] - cum[starts], durations=ends - starts, starts=starts,
                      bin_size=float("nan") if bin_size is None else float(bin_size), n_bins=int(counts.size))


class AvalancheAnalysis(BaseEstimator):
    """Avalanche size and duration distributions with power-law fits and the scaling relation.

    Beggs & Plenz 2003 (avalanches), Clauset, Shalizi & Newman 2009 (discrete power-law MLE,
    KS-chosen xmin, bootstrap goodness of fit; see :mod:`synaptica.analysis.powerlaw`),
    Sethna et al. 2001 / Friedman et al. 2012 (scaling relation).

    Parameters
    ----------
    bin_size : float or None
        Bin width in s; None = mean inter-event interval of the population.
    xmin_size, xmin_duration : int or None
        Fix the lower bound of the size (spikes) / duration (bins) fit; None = KS-optimal.
    n_bootstrap : int
        Bootstrap data sets for the goodness-of-fit p-values (0 = skip).
    seed : int or None
        Seed of the bootstrap.

    Attributes (after ``fit``)
    --------------------------
    avalanches_ : Avalanches.  bin_size_ : float, s.  n_features_in_ : int, units.
    size_fit_, duration_fit_ : PowerLawFit.
    size_exponent_ (alpha_S), duration_exponent_ (alpha_T) : float.
    predicted_scaling_exponent_ : (alpha_T - 1) / (alpha_S - 1).
    scaling_exponent_ : slope of log <S>(T) against log T over durations >= the duration
        xmin (least squares over the distinct durations).
    """

    def __init__(self, bin_size: float | None = None, xmin_size: int | None = None,
                 xmin_duration: int | None = None, n_bootstrap: int = 0, seed: int | None = None):
        self.bin_size = bin_size
        self.xmin_size = xmin_size
        self.xmin_duration = xmin_duration
        self.n_bootstrap = n_bootstrap
        self.seed = seed

    def __sklearn_tags__(self):
        return count_tags(super().__sklearn_tags__())

    def fit(self, X: SpikeRecord | np.ndarray, y: None = None) -> "AvalancheAnalysis":
        """Find the avalanches and fit their distributions. ``X``: a :class:`SpikeRecord`,
        population counts ``(n_bins,)``, or counts per unit ``(n_bins, n_units)`` (summed over
        units); ``n_features_in_`` is the number of units (1 for population counts). ``y`` is
        ignored."""
        if isinstance(X, SpikeRecord):
            self.n_features_in_ = X.n_units
        else:  # a bounded avalanche needs an empty bin before and after: at least 3 bins
            X = population_input(self, X, AvalancheError, ensure_min_samples=3)
        aval = find_avalanches(X, self.bin_size)
        if len(aval) < 2:
            raise AvalancheError(f"found {len(aval)} avalanche(s): too few to fit (try another bin_size)")
        self.avalanches_ = aval
        self.bin_size_ = aval.bin_size
        self.size_fit_: PowerLawFit = fit_power_law(aval.sizes, xmin=self.xmin_size, n_bootstrap=self.n_bootstrap,
                                                    seed=self.seed)
        self.duration_fit_: PowerLawFit = fit_power_law(aval.durations, xmin=self.xmin_duration,
                                                        n_bootstrap=self.n_bootstrap, seed=self.seed)
        self.size_exponent_ = self.size_fit_.alpha
        self.duration_exponent_ = self.duration_fit_.alpha
        self.predicted_scaling_exponent_ = (self.duration_exponent_ - 1) / (self.size_exponent_ - 1)
        durations, mean_sizes = aval.mean_size_by_duration()
        keep = durations >= self.duration_fit_.xmin
        if keep.sum() >= 2:
            self.scaling_exponent_ = float(np.polyfit(np.log(durations[keep]), np.log(mean_sizes[keep]), 1)[0])
        else:
            self.scaling_exponent_ = float("nan")
        return self
