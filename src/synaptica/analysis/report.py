"""One call that analyses a spike record: the metrics and figures of ``synaptica analyze``.

:func:`analyze_record` runs every analysis of the package that applies to a record:
statistics, synchrony, correlograms, criticality, complexity, functional connectivity
(coupled Poisson GLM) and, when asked, switching states (HMM-GLM). An analysis that
cannot run on this record is reported under ``"skipped"`` with the reason rather than
failing the whole report. The documented reasons are the analyses' own "this data does
not support the method" errors: too few spikes, bins or avalanches for the criticality
fits (AvalancheError, PowerLawError, BranchingError), a sequence too short for
Lempel-Ziv complexity (ComplexityError), a GLM or HMM-GLM that cannot be fitted to these
counts (GLMError, HMMError), a synchrony measure undefined for constant traces
(SynchronyUndefinedError). Any other exception in a stage is an internal error and
raises :class:`AnalysisStageError` naming the stage. ``progress`` is told when each
stage starts and ends (name, stages done, stages in all, seconds).

:meth:`Analysis.write` saves everything beside the metrics: the figures (PNG), the
arrays in one ``analysis.npz`` (plain numeric arrays, no pickle; :data:`ARRAY_DOCS`
describes each) and ``report.html``, one self-contained page of the metrics, the arrays'
shapes and the figures embedded as base64 PNG (:mod:`synaptica.analysis.report_html`).

Before any stage runs the options are checked against the record (every bin must fit
in the record, the correlogram half-width must be shorter than it:
:class:`AnalysisOptionError`) and the memory the analyses would need is estimated
(:func:`memory_estimate`); more than the machine has available raises
:class:`RecordTooLargeError` naming the field (``n_units``, or the window ``t_start`` /
``t_stop`` with the bin option) and the estimate, before anything large is allocated.
"""
from __future__ import annotations

import math
import os
import sys
import time
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Callable

import numpy as np

from . import figures
from .avalanches import AvalancheAnalysis, AvalancheError, mean_inter_event_interval
from .branching import BranchingError, MultistepRegression
from .complexity import ComplexityError, population_complexity, spike_train_complexity
from .correlation import (
    SynchronyUndefinedError,
    correlogram_lags,
    cross_correlograms,
    golomb_chi,
    spike_count_correlation,
    sttc,
)
from .powerlaw import PowerLawError
from ..record import SpikeRecord
from .stats import cv, cv2, fano_factor, isi, lv, rates

__all__ = ["ARRAYS_FILE", "ARRAY_DOCS", "REPORT_FILE", "Analysis", "AnalysisOptionError", "AnalysisStageError",
           "RecordTooLargeError", "analyze_record", "available_memory", "memory_estimate"]

MAX_CORRELOGRAM_UNITS = 12  # the correlogram figure shows at most this many units
GLM_BASIS = 4  # raised-cosine functions per coupling filter of CoupledPoissonGLM (its default)
STATE_BASIS = 3  # the same for the HMM-GLM
_GIB = 2.0 ** 30
ARRAYS_FILE = "analysis.npz"
REPORT_FILE = "report.html"
# every array an analysis may hold: name -> what it is (shape, units); n: units, L: lags
ARRAY_DOCS = {
    "rates_hz": "(n,) mean firing rate of each unit, Hz",
    "cv": "(n,) coefficient of variation of each unit's inter-spike intervals (NaN: < 3 spikes)",
    "cv2": "(n,) mean CV2 of consecutive intervals (Holt et al. 1996)",
    "lv": "(n,) local variation LV (Shinomoto et al. 2003)",
    "fano": "(n,) Fano factor of spike counts in count_bin windows",
    "correlograms": "(n, n, L) spike counts of unit j at lag tau after a spike of unit i",
    "correlogram_lags_s": "(L,) lags of the correlograms, s",
    "sttc": "(n, n) spike time tiling coefficient (Cutts & Eglen 2014), dt = 5 ms",
    "count_correlation": "(n, n) Pearson correlation of spike counts in count_bin windows",
    "avalanche_sizes": "(n_avalanches,) spikes per avalanche",
    "avalanche_durations": "(n_avalanches,) bins per avalanche",
    "lz_complexity": "(n,) normalised LZ76 complexity of each unit's binarised train (bin_size bins)",
    "connectivity": "(n, n) coupled Poisson GLM coupling [post, pre]: its filter summed over lags (log-rate units)",
    "connectivity_p": "(n, n) Wald-test p-value of each coupling (diagonal: the unit's own history)",
    "significant": "(n, n) bool, p-value significant at 0.05 with Benjamini-Hochberg FDR, diagonal False",
    "states": "(n_state_bins,) most probable hidden state per state_bin bin (int)",
    "state_probabilities": "(n_state_bins, n_states) posterior probability of each state",
    "state_connectivity": "(n_states, n, n) HMM-GLM coupling [state, post, pre]",
}


class AnalysisOptionError(ValueError):
    """An option of :func:`analyze_record` does not suit the record; ``option`` is its name
    (``"bin_size"``, ``"max_lag"``, ``"count_bin"``, ``"state_bin"`` or ``"states"``), the
    message starts with it."""

    def __init__(self, option: str, message: str) -> None:
        super().__init__(message)
        self.option = option


class RecordTooLargeError(ValueError):
    """Analysing the record would need more memory than is available. ``field`` names the
    record's field that makes it so, ``option`` the bin option when a larger bin would help
    (else None)."""

    def __init__(self, message: str, field: str, option: str | None = None) -> None:
        super().__init__(message)
        self.field, self.option = field, option


class AnalysisStageError(RuntimeError):
    """A stage of the analysis failed for none of the documented reasons: an internal error."""

    def __init__(self, stage: str, error: BaseException) -> None:
        text = " ".join(str(error).split())
        super().__init__(f"analysis stage '{stage}' failed: {type(error).__name__}: {text}")
        self.stage = stage


def _not_applicable() -> tuple[type[Exception], ...]:
    """The errors by which an analysis says the record does not support it (a skip)."""
    errors: list[type[Exception]] = [AvalancheError, BranchingError, PowerLawError, ComplexityError,
                                     SynchronyUndefinedError]
    for module, name in (("synaptica.analysis.glm", "GLMError"), ("synaptica.analysis.hmm", "HMMError")):
        if module in sys.modules:  # imported only when the stage ran: no torch import here
            errors.append(getattr(sys.modules[module], name))
    return tuple(errors)


def available_memory() -> int | None:
    """Bytes of memory available to a new allocation (Linux MemAvailable), else None."""
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, AttributeError):
        return None


def _bins(duration: float, bin_size: float) -> float:
    """Whole bins of ``bin_size`` in ``duration`` (the record's convention), as a float:
    no overflow for absurd values."""
    return math.floor(duration / bin_size * (1 + 1e-8)) if duration / bin_size < 1e300 else math.inf


def memory_estimate(record: SpikeRecord, *, bin_size: float, max_lag: float, count_bin: float,
                    connectivity: bool, states: int | None, state_bin: float) -> dict[str, float]:
    """Rough upper bound, in bytes, of the memory :func:`analyze_record` needs.

    ``"units"``: per-unit arrays and the ``n_units x n_units`` matrices kept in the
    result (correlograms with ``2 max_lag / bin_size + 1`` lags, STTC, count correlation).
    ``"bin_size"`` / ``"count_bin"`` / ``"state_bin"``: the largest binned working set
    of the stages using that bin (boolean unit x bin patterns and per-bin sequences of
    the complexity stage, the GLM's dense rates, the HMM-GLM's history features).
    """
    n = float(record.n_units)
    bins = _bins(record.duration, bin_size)
    lags = 2 * round(max_lag / bin_size) + 1
    estimate = {"units": 8 * 32 * n + 8 * n * n * (lags + 8),
                "bin_size": bins * (n + 8 * 12) + (8 * (2 * bins * n + 2 * GLM_BASIS ** 2 * n * n) if connectivity else 0),
                "count_bin": 8 * 4 * _bins(record.duration, count_bin)}
    if states is not None:
        state_bins = _bins(record.duration, state_bin)
        estimate["state_bin"] = 8 * (state_bins * (n * (STATE_BASIS + 2) + 4 * states) + states * states
                                     + 3 * states * STATE_BASIS * n * n)
    return estimate


def _size(n_bytes: float) -> str:
    if not math.isfinite(n_bytes):
        return "an unbounded amount"
    for unit, scale in (("TiB", 2.0 ** 40), ("GiB", _GIB), ("MiB", 2.0 ** 20)):
        if n_bytes >= scale:
            return f"{n_bytes / scale:.3g} {unit}"
    return f"{n_bytes / 1024:.3g} KiB"


def _check_options(record: SpikeRecord, bin_size: float, max_lag: float, count_bin: float, states: int | None,
                   state_bin: float) -> None:
    for name, value in (("bin_size", bin_size), ("max_lag", max_lag), ("count_bin", count_bin),
                        ("state_bin", state_bin)):
        if isinstance(value, bool) or not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
            raise AnalysisOptionError(name, f"{name} must be a positive number of seconds, got {value!r}")
    if states is not None and (isinstance(states, bool) or not isinstance(states, (int, np.integer)) or states < 1):
        raise AnalysisOptionError("states", f"states must be a positive integer, got {states!r}")
    bins = [("bin_size", bin_size), ("count_bin", count_bin)] + ([("state_bin", state_bin)] if states else [])
    for name, value in bins:
        if _bins(record.duration, value) < 1:
            raise AnalysisOptionError(name, f"{name} = {value:g} s is longer than the record "
                                            f"({record.duration:g} s, t_start to t_stop)")
    if max(1, round(max_lag / bin_size)) >= _bins(record.duration, bin_size):
        raise AnalysisOptionError("max_lag", f"max_lag = {max_lag:g} s is not shorter than the record "
                                             f"({record.duration:g} s); the correlograms need lags within it")


def _check_memory(record: SpikeRecord, estimate: dict[str, float], options: dict[str, float]) -> None:
    available = available_memory()
    total = estimate["units"] + max(v for k, v in estimate.items() if k != "units")
    if available is None or total <= available:
        return
    where = f"{record.source}: " if record.source else ""
    largest = max(estimate, key=lambda k: estimate[k])
    if largest == "units":
        raise RecordTooLargeError(
            f"{where}field 'n_units' = {record.n_units}: the analysis would need about {_size(total)} (per-unit "
            f"arrays and {record.n_units} x {record.n_units} pairwise matrices), more than the "
            f"{_size(available)} of memory available", "n_units")
    bins = _bins(record.duration, options[largest])
    raise RecordTooLargeError(
        f"{largest} = {options[largest]:g} s over the record's window (fields 't_start' = {record.t_start:g}, "
        f"'t_stop' = {record.t_stop:g} s) is {bins:.3g} bins x {record.n_units} units: "
        f"about {_size(total)}, more than the {_size(available)} of memory available; a larger bin needs less",
        "t_stop", largest)


@dataclass
class Analysis:
    """What :func:`analyze_record` found.

    metrics: nested JSON-serialisable dict (section -> name -> number, list or text).
    arrays:  larger results by name (per-unit values, matrices; see :data:`ARRAY_DOCS`).
    figures: file name (``*.png``) -> function writing that figure to a path.
    """

    metrics: dict[str, Any] = field(default_factory=dict)
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    figures: dict[str, Callable[[Path], Any]] = field(default_factory=dict)

    def write_figures(self, folder: Path) -> list[Path]:
        """Write every figure into ``folder``; return their paths."""
        paths = []
        for name, write in self.figures.items():
            write(Path(folder) / name)
            paths.append(Path(folder) / name)
        return paths

    def write_arrays(self, folder: Path) -> Path:
        """Save :attr:`arrays` to ``folder/analysis.npz`` (numeric and bool arrays only, so
        that ``np.load(path, allow_pickle=False)`` reads it)."""
        arrays = {name: np.asarray(value) for name, value in self.arrays.items()}
        odd = [name for name, value in arrays.items() if value.dtype.kind not in "biuf"]
        if odd:  # an object array would need pickle to load: a bug of the stage that made it
            raise TypeError(f"arrays {odd} are not numeric and cannot be saved without pickle")
        path = Path(folder) / ARRAYS_FILE
        np.savez_compressed(path, **arrays)
        return path

    def write(self, folder: Path, progress: Callable[[str], None] | None = None) -> list[Path]:
        """Write the figures, ``analysis.npz`` and ``report.html`` into ``folder`` (the
        caller writes metrics.json); ``progress(step)`` is told before each of the three."""
        from .report_html import write_report

        for step in ("figures", "arrays", "report"):
            if progress:
                progress(step)
            if step == "figures":
                figure_paths = self.write_figures(folder)
            elif step == "arrays":
                arrays_path = self.write_arrays(folder)
            else:
                report_path = write_report(self.metrics, self.arrays, figure_paths, Path(folder) / REPORT_FILE, ARRAY_DOCS)
        return [*figure_paths, arrays_path, report_path]


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
    result.arrays.update(avalanche_sizes=np.asarray(avalanches.avalanches_.sizes),
                         avalanche_durations=np.asarray(avalanches.avalanches_.durations))
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
                   state_bin: float = 0.005, state_prior: str | None = "onehot", seed: int = 0,
                   progress: Callable[[str, int, int, float | None], None] | None = None) -> Analysis:
    """Analyse ``record`` with every applicable method; see the module docstring.

    bin_size:  s, bins of correlograms, synchrony, complexity and the GLM.
    max_lag:   s, correlogram half-width.
    count_bin: s, window of Fano factors and spike-count correlations.
    connectivity: fit the coupled Poisson GLM (the slowest step on large records).
    states:    number of hidden states of an HMM-GLM to fit, with bins of ``state_bin`` s
               (None: no state analysis), its per-state connectivity tied by ``state_prior``
               ("onehot", "gaussian" or None; Li et al. 2024).
    progress:  called as ``progress(stage, done, total, None)`` when a stage starts and
               ``progress(stage, done, total, seconds)`` when it has ended (run or skipped),
               ``done`` counting the stages ended.

    Raises :class:`AnalysisOptionError` (an option does not suit the record),
    :class:`RecordTooLargeError` (not enough memory; raised before any stage runs) and
    :class:`AnalysisStageError` (a stage failed for none of the documented reasons).
    """
    _check_options(record, bin_size, max_lag, count_bin, states, state_bin)
    estimate = memory_estimate(record, bin_size=bin_size, max_lag=max_lag, count_bin=count_bin,
                               connectivity=connectivity, states=states, state_bin=state_bin)
    _check_memory(record, estimate, {"bin_size": bin_size, "count_bin": count_bin, "state_bin": state_bin})
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
    for index, (name, step) in enumerate(steps):
        if progress:
            progress(name, index, len(steps), None)
        start = time.perf_counter()
        try:
            step()
        except Exception as exc:
            if not isinstance(exc, _not_applicable()):
                raise AnalysisStageError(name, exc) from exc
            skipped[name] = str(exc)  # this record does not support the analysis: say why, go on
        timings[name] = time.perf_counter() - start
        if progress:
            progress(name, index + 1, len(steps), timings[name])
    result.metrics["skipped"] = skipped
    result.metrics["timings_s"] = timings
    return result
