"""One call that analyses a spike record: the metrics and figures of ``synaptica analyze``.

:func:`analyze_record` runs every analysis of the package that applies to a record:
statistics, synchrony, correlograms, criticality, complexity, functional connectivity
(coupled Poisson GLM) and, when asked, switching states (HMM-GLM). An analysis that
cannot run on this record (e.g. too few avalanches to fit) is reported under ``"skipped"``
with the reason rather than failing the whole report.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Callable

import numpy as np

from . import figures
from .avalanches import AvalancheAnalysis, mean_inter_event_interval
from .branching import MultistepRegression
from .complexity import population_complexity, spike_train_complexity
from .correlation import correlogram_lags, cross_correlograms, golomb_chi, spike_count_correlation, sttc
from ..record import SpikeRecord
from .stats import cv, cv2, fano_factor, isi, lv, rates

__all__ = ["Analysis", "analyze_record"]

MAX_CORRELOGRAM_UNITS = 12  # the correlogram figure shows at most this many units


@dataclass
class Analysis:
    """What :func:`analyze_record` found.

    metrics: nested JSON-serialisable dict (section -> name -> number, list or text).
    arrays:  larger results by name (per-unit values, matrices), for callers and tests.
    figures: file name (``*.png``) -> function writing that figure to a path.
    """

    metrics: dict[str, Any] = field(default_factory=dict)
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    figures: dict[str, Callable[[Path], Any]] = field(default_factory=dict)

    def write_figures(self, folder: Path) -> None:
        for name, write in self.figures.items():
            write(Path(folder) / name)


def _mean(values: np.ndarray) -> float | None:
    values = np.asarray(values, dtype=np.float64)
    values = values[np.isfinite(values)]
    return float(values.mean()) if values.size else None


def _off_diagonal(matrix: np.ndarray) -> np.ndarray:
    return matrix[~np.eye(matrix.shape[0], dtype=bool)]


def _statistics(record: SpikeRecord, result: Analysis, count_bin: float) -> None:
    unit_rates = rates(record)
    unit_cv, unit_cv2, unit_lv = cv(record), cv2(record), lv(record)
    unit_fano = fano_factor(record, count_bin) if record.duration >= 2 * count_bin else np.full(record.n_units, np.nan)
    intervals, _ = isi(record, flat=True)
    result.arrays.update(rates_hz=unit_rates, cv=unit_cv, cv2=unit_cv2, lv=unit_lv, fano=unit_fano)
    result.metrics["statistics"] = {
        "rate_mean_hz": _mean(unit_rates), "rate_median_hz": float(np.median(unit_rates)),
        "silent_units": int(np.sum(unit_rates == 0)),
        "cv_mean": _mean(unit_cv), "cv2_mean": _mean(unit_cv2), "lv_mean": _mean(unit_lv),
        "fano_mean": _mean(unit_fano), "fano_window_s": count_bin,
    }
    from ..plotting import plot_raster_with_rate  # plotting imports this package: import late

    result.figures["raster.png"] = partial(plot_raster_with_rate, (record.times - record.t_start) * 1000.0,
                                           record.ids, record.n_units, record.duration * 1000.0)
    result.figures["rates.png"] = partial(figures.plot_distribution, unit_rates, xlabel="firing rate (Hz)",
                                          title="rates per unit")
    result.figures["isi.png"] = partial(figures.plot_distribution, intervals * 1000.0, xlabel="inter-spike interval (ms)",
                                        title="ISIs of all units", log_x=True)
    result.figures["cv.png"] = partial(figures.plot_distribution, unit_cv, xlabel="ISI CV", title="CV per unit")


def _synchrony(record: SpikeRecord, result: Analysis, bin_size: float, max_lag: float, count_bin: float) -> None:
    max_lag_bins = max(1, int(round(max_lag / bin_size)))
    cch = cross_correlograms(record, bin_size, max_lag_bins)
    tiling = sttc(record, dt=0.005)
    counts_corr = spike_count_correlation(record, count_bin) if record.n_units > 1 else np.ones((1, 1))
    result.arrays.update(correlograms=cch, correlogram_lags_s=correlogram_lags(bin_size, max_lag_bins), sttc=tiling,
                         count_correlation=counts_corr)
    result.metrics["synchrony"] = {
        "golomb_chi": float(golomb_chi(record, bin_size)),
        "sttc_mean": _mean(_off_diagonal(tiling)) if record.n_units > 1 else None,
        "count_correlation_mean": _mean(_off_diagonal(counts_corr)) if record.n_units > 1 else None,
        "count_correlation_bin_s": count_bin, "correlogram_bin_s": bin_size, "correlogram_max_lag_s": max_lag,
    }
    result.figures["correlograms.png"] = partial(figures.plot_correlograms, cch, result.arrays["correlogram_lags_s"],
                                                 max_units=MAX_CORRELOGRAM_UNITS)


def _criticality(record: SpikeRecord, result: Analysis, bin_size: float) -> None:
    section: dict[str, Any] = {}
    # Beggs & Plenz bin at the mean inter-event interval, but never below the analysis bin:
    # a simulation's spikes sit on its time grid, and a bin finer than the grid would make
    # every step its own avalanche.
    avalanches = AvalancheAnalysis(bin_size=max(mean_inter_event_interval(record), bin_size)).fit(record)
    size_fit, duration_fit = avalanches.size_fit_, avalanches.duration_fit_
    section.update(
        avalanche_bin_s=avalanches.bin_size_, n_avalanches=len(avalanches.avalanches_),
        size_alpha=size_fit.alpha, size_xmin=size_fit.xmin, size_ks=size_fit.ks,
        duration_alpha=duration_fit.alpha, duration_xmin=duration_fit.xmin, duration_ks=duration_fit.ks,
        scaling_exponent_predicted=avalanches.predicted_scaling_exponent_,
        scaling_exponent_measured=avalanches.scaling_exponent_,
    )
    result.figures["avalanches.png"] = partial(
        figures.plot_avalanches, avalanches.avalanches_.sizes, avalanches.avalanches_.durations,
        size_fit=(size_fit.alpha, size_fit.xmin), duration_fit=(duration_fit.alpha, duration_fit.xmin))
    mr = MultistepRegression().fit(record)
    section.update(branching_ratio_mr=mr.branching_ratio_, branching_ratio_naive=mr.naive_branching_ratio_,
                   branching_timescale_s=mr.timescale_, branching_bin_s=mr.bin_size)
    result.metrics["criticality"] = section


def _complexity(record: SpikeRecord, result: Analysis, bin_size: float) -> None:
    per_unit = spike_train_complexity(record, bin_size)
    result.arrays["lz_complexity"] = per_unit
    result.metrics["complexity"] = {"lz_unit_mean": _mean(per_unit),
                                    "lz_population_patterns": float(population_complexity(record, bin_size,
                                                                                          population="patterns")),
                                    "lz_bin_s": bin_size}


def _connectivity(record: SpikeRecord, result: Analysis, bin_size: float, seed: int) -> None:
    from .glm import CoupledPoissonGLM

    start = time.perf_counter()
    glm = CoupledPoissonGLM(bin_size=bin_size).fit(record)
    significant = glm.significant_()
    np.fill_diagonal(significant, False)
    result.arrays.update(connectivity=glm.connectivity_, connectivity_p=glm.p_values_, significant=significant)
    result.metrics["connectivity"] = {
        "fit_s": time.perf_counter() - start, "bin_s": bin_size,
        "significant_edges": int(significant.sum()),
        "excitatory_edges": int((significant & (glm.connectivity_ > 0)).sum()),
        "inhibitory_edges": int((significant & (glm.connectivity_ < 0)).sum()),
        "log_likelihood_per_bin": float(glm.score(record)),
    }
    result.figures["connectivity.png"] = partial(figures.plot_connectivity,
                                                 {"GLM coupling (significant)": np.where(significant, glm.connectivity_, 0.0)})


def _states(record: SpikeRecord, result: Analysis, n_states: int, bin_size: float, prior: str | None,
            seed: int) -> None:
    from .hmm_glm import HMMGLM

    model = HMMGLM(n_states, prior=prior, bin_size=bin_size, random_state=seed).fit(record)
    probabilities = model.predict_proba(record)
    states = probabilities.argmax(axis=1)
    times = record.t_start + bin_size * np.arange(states.size)
    result.arrays.update(states=states, state_probabilities=probabilities, state_connectivity=model.connectivity_)
    result.metrics["states"] = {
        "n_states": n_states, "bin_s": bin_size, "prior": prior or "none", "log_likelihood": float(model.loglik_),
        "occupancy": np.bincount(states, minlength=n_states).astype(float).__truediv__(states.size).tolist(),
        "switches": int(np.count_nonzero(np.diff(states))),
    }
    result.figures["states.png"] = partial(figures.plot_states, times, states, probabilities=probabilities)


def analyze_record(record: SpikeRecord, *, bin_size: float = 0.001, max_lag: float = 0.05,
                   count_bin: float = 0.1, connectivity: bool = True, states: int | None = None,
                   state_bin: float = 0.005, state_prior: str | None = "onehot", seed: int = 0) -> Analysis:
    """Analyse ``record`` with every applicable method; see the module docstring.

    bin_size:  s, bins of correlograms, synchrony, complexity and the GLM.
    max_lag:   s, correlogram half-width.
    count_bin: s, window of Fano factors and spike-count correlations.
    connectivity: fit the coupled Poisson GLM (the slowest step on large records).
    states:    number of hidden states of an HMM-GLM to fit, with bins of ``state_bin`` s
               (None: no state analysis), its per-state connectivity tied by ``state_prior``
               ("onehot", "gaussian" or None; Li et al. 2024).
    """
    for name, value in (("bin_size", bin_size), ("max_lag", max_lag), ("count_bin", count_bin),
                        ("state_bin", state_bin)):
        if not (isinstance(value, (int, float)) and np.isfinite(value) and value > 0):
            raise ValueError(f"{name} must be a positive number of seconds, got {value!r}")
    if states is not None and (int(states) != states or states < 1):
        raise ValueError(f"states must be a positive integer, got {states!r}")
    result = Analysis()
    result.metrics["record"] = {"source": record.source, "n_units": record.n_units, "n_spikes": record.n_spikes,
                                "t_start_s": record.t_start, "t_stop_s": record.t_stop}
    steps: list[tuple[str, Callable[[], None]]] = [
        ("statistics", lambda: _statistics(record, result, count_bin)),
        ("synchrony", lambda: _synchrony(record, result, bin_size, max_lag, count_bin)),
        ("criticality", lambda: _criticality(record, result, bin_size)),
        ("complexity", lambda: _complexity(record, result, bin_size)),
    ]
    if connectivity:
        steps.append(("connectivity", lambda: _connectivity(record, result, bin_size, seed)))
    if states is not None:
        steps.append(("states", lambda: _states(record, result, int(states), state_bin, state_prior, seed)))
    skipped: dict[str, str] = {}
    timings: dict[str, float] = {}
    for name, step in steps:
        start = time.perf_counter()
        try:
            step()
        except ValueError as exc:  # this record does not support the analysis: say why, go on
            skipped[name] = str(exc)
        timings[name] = time.perf_counter() - start
    result.metrics["skipped"] = skipped
    result.metrics["timings_s"] = timings
    return result
