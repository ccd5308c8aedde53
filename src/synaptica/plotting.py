"""PNG figures of a spike recording (matplotlib, Agg canvas, no pyplot).

Figures are built as ``matplotlib.figure.Figure`` objects attached to an Agg canvas and
dropped after saving, so nothing touches pyplot's global figure list or the selected
backend; safe in tests, threads and headless machines.
"""
from __future__ import annotations

from pathlib import Path
from typing import Mapping

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from .analysis.stats import firing_rates, isi_cv, population_rate

__all__ = ["plot_isi_cv_histogram", "plot_raster_with_rate", "plot_rate_histogram"]

Groups = Mapping[str, tuple[int, int]]
MAX_DOTS = 20_000
_DPI = 120


def _new_figure(width: float, height: float, left: float = 0.1) -> Figure:
    """A figure on its own Agg canvas; fixed margins (a layout engine costs ~3x the time)."""
    fig = Figure(figsize=(width, height), dpi=_DPI)
    FigureCanvasAgg(fig)
    fig.subplots_adjust(left=left, right=0.97, bottom=0.13, top=0.92, hspace=0.08)
    return fig


def _save(fig: Figure, path: str | Path) -> Path:
    path = Path(path)
    fig.savefig(path, format="png")
    return path


def _group_of(ids: np.ndarray, groups: Groups) -> np.ndarray:
    """Index into ``list(groups)`` per spike, ``len(groups)`` for ungrouped neurons."""
    labels = np.full(ids.shape, len(groups), dtype=np.int64)
    for index, (start, stop) in enumerate(groups.values()):
        labels[(ids >= start) & (ids < stop) & (labels == len(groups))] = index
    return labels


def _subsample(times: np.ndarray, ids: np.ndarray, max_dots: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Keep every k-th neuron (whole trains, groups stay proportional), then thin if needed.

    Returns the kept times, ids and the neuron stride k.
    """
    if times.size <= max_dots:
        return times, ids, 1
    stride = int(np.ceil(times.size / max_dots))
    keep = ids % stride == 0
    times, ids = times[keep], ids[keep]
    if times.size > max_dots:  # a few neurons hold most spikes
        chosen = np.sort(np.random.default_rng(0).choice(times.size, max_dots, replace=False))
        times, ids = times[chosen], ids[chosen]
    return times, ids, stride


def plot_raster_with_rate(
    times_ms: np.ndarray,
    ids: np.ndarray,
    n_neurons: int,
    duration_ms: float,
    path: str | Path,
    groups: Groups | None = None,
    bin_ms: float | None = None,
    max_dots: int = MAX_DOTS,
) -> Path:
    """Raster (top) and population rate in Hz (bottom) on a shared time axis; save a PNG.

    At most ``max_dots`` spikes are drawn (every k-th neuron is shown when there are more);
    the rate always uses every spike. ``groups`` colours named neuron ranges.
    """
    times = np.asarray(times_ms, dtype=np.float64)
    ids = np.asarray(ids).astype(np.int64, copy=False)
    groups = dict(groups or {})
    fig = _new_figure(8.0, 5.0, left=0.1)
    raster, rate_ax = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1]})

    shown_t, shown_i, stride = _subsample(times, ids, max_dots)
    labels = _group_of(shown_i, groups)
    names = list(groups) + ["other"]
    for index, name in enumerate(names):
        mask = labels == index
        if mask.any() or (index < len(groups)):
            raster.plot(shown_t[mask], shown_i[mask], linestyle="none", marker=".", markersize=1.5,
                        color=f"C{index}", label=name if index < len(groups) else None, rasterized=True)
    for start, _ in list(groups.values())[1:]:
        raster.axhline(start - 0.5, color="0.6", linewidth=0.5)
    raster.set_ylim(-0.5, max(n_neurons, 1) - 0.5)
    raster.set_ylabel("neuron")
    note = f" (1 neuron in {stride} shown)" if stride > 1 else ""
    raster.set_title(f"{times.size} spikes from {n_neurons} neurons{note}", fontsize=9)
    if groups:
        raster.legend(loc="upper right", markerscale=6, fontsize=8, framealpha=0.8)

    if bin_ms is None:  # 1 ms, or coarser so that long runs get at most ~2000 bins
        bin_ms = float(max(1.0, np.ceil(duration_ms / 2000.0)))
    if n_neurons > 0 and duration_ms > 0:
        edges, rate = population_rate(times, n_neurons, duration_ms, bin_ms)
        rate_ax.stairs(rate, edges, color="k", linewidth=0.8)
    rate_ax.set_xlim(0, duration_ms if duration_ms > 0 else 1)
    rate_ax.set_xlabel("time (ms)")
    rate_ax.set_ylabel(f"rate (Hz)\n{bin_ms:g} ms bins")
    return _save(fig, path)


def _histogram_by_group(
    ax, values: np.ndarray, groups: Groups, bins: int, xlabel: str, quantum: float | None = None
) -> None:
    """Overlaid histograms per group; ``quantum``: values are multiples of it (bins align)."""
    finite = np.isfinite(values)
    if not finite.any():
        ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes)
    else:
        lo, hi = values[finite].min(), values[finite].max()
        if quantum:  # e.g. rates = spike count / duration: whole quanta per bin, centred
            width = quantum * max(1, int(np.ceil((hi - lo) / quantum / bins)))
            edges = lo - quantum / 2 + width * np.arange(int((hi - lo) // width) + 2)
        else:
            edges = np.linspace(lo, hi if hi > lo else lo + 1.0, bins + 1)
        parts = [(name, values[start:stop]) for name, (start, stop) in groups.items()] or [("all", values)]
        for index, (name, part) in enumerate(parts):
            part = part[np.isfinite(part)]
            ax.hist(part, bins=edges, histtype="stepfilled", alpha=0.5, color=f"C{index}",
                    label=f"{name} (n={part.size}, mean={part.mean() if part.size else float('nan'):.3g})")
        ax.legend(fontsize=8)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("neurons")


def plot_rate_histogram(
    ids: np.ndarray,
    n_neurons: int,
    duration_ms: float,
    path: str | Path,
    groups: Groups | None = None,
    bins: int = 40,
) -> Path:
    """Histogram of per-neuron mean firing rates (Hz), one colour per group; save a PNG."""
    rates = firing_rates(ids, n_neurons, duration_ms)
    fig = _new_figure(6.0, 3.5)
    ax = fig.subplots()
    _histogram_by_group(ax, rates, dict(groups or {}), bins, "firing rate (Hz)", quantum=1000.0 / duration_ms)
    ax.set_title("per-neuron firing rate", fontsize=9)
    return _save(fig, path)


def plot_isi_cv_histogram(
    times_ms: np.ndarray,
    ids: np.ndarray,
    n_neurons: int,
    path: str | Path,
    groups: Groups | None = None,
    min_spikes: int = 3,
    bins: int = 40,
) -> Path:
    """Histogram of per-neuron ISI CV for neurons with ``>= min_spikes`` spikes; save a PNG."""
    cv = isi_cv(times_ms, ids, n_neurons, min_spikes=min_spikes)
    fig = _new_figure(6.0, 3.5)
    ax = fig.subplots()
    _histogram_by_group(ax, cv, dict(groups or {}), bins, "CV of inter-spike intervals")
    ax.set_title(f"ISI CV (neurons with >= {min_spikes} spikes)", fontsize=9)
    return _save(fig, path)


def plot_receptive_fields(weights: np.ndarray, image_shape: tuple[int, int], path: str | Path,
                          labels: np.ndarray | None = None, max_fields: int = 400) -> Path:
    """Each column of ``weights`` (n_pixels, n_neurons) as an image in a grid, labelled
    with the neuron's assigned class when ``labels`` is given (-1: none)."""
    n = min(weights.shape[1], max_fields)
    cols = int(np.ceil(np.sqrt(n)))
    rows = int(np.ceil(n / cols))
    h, w = image_shape
    grid = np.full((rows * (h + 1) - 1, cols * (w + 1) - 1), np.nan)
    for k in range(n):
        r, c = divmod(k, cols)
        grid[r * (h + 1): r * (h + 1) + h, c * (w + 1): c * (w + 1) + w] = weights[:, k].reshape(h, w)
    fig = _new_figure(7.0, 7.0 * grid.shape[0] / grid.shape[1] + 0.4, left=0.02)
    fig.subplots_adjust(left=0.02, right=0.98, bottom=0.02, top=0.94)
    ax = fig.add_subplot(1, 1, 1)
    ax.imshow(grid, cmap="hot_r", interpolation="nearest")
    ax.set_xticks([]), ax.set_yticks([])
    if labels is not None and cols <= 20:
        for k in range(n):
            r, c = divmod(k, cols)
            if labels[k] >= 0:
                ax.text(c * (w + 1), r * (h + 1), str(labels[k]), color="tab:blue", fontsize=6, va="top")
    ax.set_title(f"learned input weights of {n} neurons" + (" (labels: assigned class)" if labels is not None else ""))
    return _save(fig, path)
