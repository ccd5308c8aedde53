"""Figures of a spike recording (matplotlib, Agg canvas, no pyplot).

Every plot function draws either into a new figure on its own Agg canvas (nothing touches
pyplot's global figure list or the selected backend: safe in tests, threads and headless
machines) or, given ``ax=``, into the caller's Axes; it returns the Figure it drew on
and saves it to ``path`` when one is given, in the format named by the path's suffix
(``.png``, ``.pdf``, ``.svg``, ...; any other suffix raises :class:`FigureFormatError`).
A figure of several panels takes ``ax=`` as a sequence of that many Axes.
"""
from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import StrMethodFormatter

from .analysis.stats import firing_rates, isi_cv, population_rate

__all__ = ["FIGURE_FORMATS", "FigureFormatError", "figure_format", "plot_isi_cv_histogram", "plot_raster_with_rate",
           "plot_rate_histogram", "plot_receptive_fields", "short_ticks", "time_unit"]

Groups = Mapping[str, tuple[int, int]]
AxesArg = Axes | Sequence[Axes] | np.ndarray | None
MAX_DOTS = 20_000
_DPI = 120
# suffix -> matplotlib format; what the Agg canvas writes without extra programs (no pgf/LaTeX)
FIGURE_FORMATS = {"png": "png", "pdf": "pdf", "svg": "svg", "eps": "eps", "ps": "ps", "jpg": "jpeg",
                  "jpeg": "jpeg", "tif": "tiff", "tiff": "tiff"}


class FigureFormatError(ValueError):
    """A figure path whose suffix names no format this module writes."""


def figure_format(path: str | Path) -> str:
    """The matplotlib format named by ``path``'s suffix; :class:`FigureFormatError` otherwise."""
    path = Path(path)
    suffix = path.suffix.lower().lstrip(".")
    if suffix not in FIGURE_FORMATS:
        known = ", ".join("." + s for s in FIGURE_FORMATS)
        raise FigureFormatError(f"{path}: cannot tell a figure format from the suffix "
                                f"{path.suffix or '(none)'!r}; use one of {known}")
    return FIGURE_FORMATS[suffix]


def _new_figure(width: float, height: float, left: float = 0.1, *, layout: str | None = None) -> Figure:
    """A figure (inches) on its own Agg canvas. Without ``layout``: fixed margins, the
    fastest; ``layout="constrained"`` makes room for every label and colour bar."""
    fig = Figure(figsize=(width, height), dpi=_DPI, layout=layout)
    FigureCanvasAgg(fig)
    if layout is None:
        fig.subplots_adjust(left=left, right=0.97, bottom=0.13, top=0.92, hspace=0.08)
    return fig


def _save(fig: Figure, path: str | Path) -> Path:
    """Save ``fig`` in the format of ``path``'s suffix (checked before anything is drawn)."""
    path = Path(path)
    fig.savefig(path, format=figure_format(path))
    return path


def _root_figure(ax: Axes) -> Figure:
    figure = ax.figure
    while not isinstance(figure, Figure):  # an Axes of a SubFigure: save the whole figure
        figure = figure.figure
    return figure


def _panels(ax: AxesArg, shape: tuple[int, int], size: tuple[float, float], what: str,
            **subplots: object) -> tuple[Figure, np.ndarray]:
    """The figure and the ``shape`` grid of Axes to draw into: the caller's ``ax`` (one
    Axes, or ``shape[0] * shape[1]`` of them in row order) or a new constrained-layout
    figure of ``size`` inches. ``what`` names the panels for the error message."""
    count = shape[0] * shape[1]
    if ax is None:
        fig = _new_figure(*size, layout="constrained")
        return fig, np.asarray(fig.subplots(*shape, squeeze=False, **subplots), dtype=object)
    items = [ax] if isinstance(ax, Axes) else list(np.ravel(np.asarray(ax, dtype=object)))
    given = np.empty(len(items), dtype=object)
    given[:] = items
    if given.size != count or not all(isinstance(a, Axes) for a in given):
        kinds = sorted({type(a).__name__ for a in given})
        raise ValueError(f"ax: this figure draws {count} panel(s) ({what}) and needs as many matplotlib Axes, "
                         f"got {given.size} object(s) of type {', '.join(kinds) or 'none'}")
    return _root_figure(given[0]), given.reshape(shape)


def _finish(fig: Figure, path: str | Path | None) -> Figure:
    if path is not None:
        _save(fig, path)
    return fig


def time_unit(span_s: float) -> tuple[float, str]:
    """(factor from seconds, unit) for a time axis spanning ``span_s`` seconds: seconds from
    2 s on, else milliseconds, so that tick labels keep at most 4 digits below ~3 hours."""
    return (1.0, "s") if span_s >= 2.0 else (1000.0, "ms")


def short_ticks(axis) -> None:
    """Tick labels as short decimals (``%g``: 0.5, 20, 1e+04), never a fixed 6-digit form."""
    axis.set_major_formatter(StrMethodFormatter("{x:g}"))


def _check_path(path: str | Path | None) -> None:
    if path is not None:  # refuse a bad suffix before the (slow) drawing
        figure_format(path)


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
    path: str | Path | None = None,
    groups: Groups | None = None,
    bin_ms: float | None = None,
    max_dots: int = MAX_DOTS,
    *,
    ax: AxesArg = None,
) -> Figure:
    """Raster (top) and population rate in Hz (bottom) on a shared time axis.

    times_ms: (n_spikes,) spike times in ms from the record's start; ids: (n_spikes,) neuron
    indices; duration_ms: the record's length. The time axis is in s from 2 s on, else ms.
    At most ``max_dots`` spikes are drawn (every k-th neuron is shown when there are more);
    the rate always uses every spike. ``groups`` colours named neuron ranges. ``ax``: two
    Axes (raster, rate) to draw into instead of a new figure.
    """
    _check_path(path)
    times = np.asarray(times_ms, dtype=np.float64)
    ids = np.asarray(ids).astype(np.int64, copy=False)
    groups = dict(groups or {})
    fig, axes = _panels(ax, (2, 1), (8.0, 5.0), "raster, population rate", sharex=True,
                        gridspec_kw={"height_ratios": [3, 1]})
    raster, rate_ax = axes[0, 0], axes[1, 0]
    factor, unit = time_unit(duration_ms / 1000.0)
    per_ms = factor / 1000.0  # the axis unit per ms

    shown_t, shown_i, stride = _subsample(times, ids, max_dots)
    labels = _group_of(shown_i, groups)
    names = list(groups) + ["other"]
    for index, name in enumerate(names):
        mask = labels == index
        if mask.any() or (index < len(groups)):
            raster.plot(shown_t[mask] * per_ms, shown_i[mask], linestyle="none", marker=".", markersize=1.5,
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
        rate_ax.stairs(rate, edges * per_ms, color="k", linewidth=0.8)
    rate_ax.set_xlim(0, (duration_ms if duration_ms > 0 else 1) * per_ms)
    rate_ax.set_xlabel(f"time ({unit})")
    rate_ax.set_ylabel(f"rate (Hz)\n{bin_ms:g} ms bins")
    for panel in (raster, rate_ax):
        short_ticks(panel.xaxis)
    return _finish(fig, path)


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
    path: str | Path | None = None,
    groups: Groups | None = None,
    bins: int = 40,
    *,
    ax: Axes | None = None,
) -> Figure:
    """Histogram of per-neuron mean firing rates (Hz) of ``ids`` (n_spikes,) over
    ``duration_ms``, one colour per group."""
    _check_path(path)
    rates = firing_rates(ids, n_neurons, duration_ms)
    fig, axes = _panels(ax, (1, 1), (6.0, 3.5), "rate histogram")
    _histogram_by_group(axes[0, 0], rates, dict(groups or {}), bins, "firing rate (Hz)", quantum=1000.0 / duration_ms)
    axes[0, 0].set_title("per-neuron firing rate", fontsize=9)
    return _finish(fig, path)


def plot_isi_cv_histogram(
    times_ms: np.ndarray,
    ids: np.ndarray,
    n_neurons: int,
    path: str | Path | None = None,
    groups: Groups | None = None,
    min_spikes: int = 3,
    bins: int = 40,
    *,
    ax: Axes | None = None,
) -> Figure:
    """Histogram of per-neuron ISI CV for neurons with ``>= min_spikes`` spikes
    (``times_ms``, ``ids``: (n_spikes,), ms and neuron indices)."""
    _check_path(path)
    cv = isi_cv(times_ms, ids, n_neurons, min_spikes=min_spikes)
    fig, axes = _panels(ax, (1, 1), (6.0, 3.5), "ISI CV histogram")
    _histogram_by_group(axes[0, 0], cv, dict(groups or {}), bins, "CV of inter-spike intervals")
    axes[0, 0].set_title(f"ISI CV (neurons with >= {min_spikes} spikes)", fontsize=9)
    return _finish(fig, path)


def plot_receptive_fields(weights: np.ndarray, image_shape: tuple[int, int], path: str | Path | None = None,
                          labels: np.ndarray | None = None, max_fields: int = 400, *,
                          ax: Axes | None = None) -> Figure:
    """Each column of ``weights`` (n_pixels, n_neurons) as an image in a grid, labelled
    with the neuron's assigned class when ``labels`` is given (-1: none)."""
    _check_path(path)
    n = min(weights.shape[1], max_fields)
    cols = int(np.ceil(np.sqrt(n)))
    rows = int(np.ceil(n / cols))
    h, w = image_shape
    grid = np.full((rows * (h + 1) - 1, cols * (w + 1) - 1), np.nan)
    for k in range(n):
        r, c = divmod(k, cols)
        grid[r * (h + 1): r * (h + 1) + h, c * (w + 1): c * (w + 1) + w] = weights[:, k].reshape(h, w)
    fig, axes = _panels(ax, (1, 1), (7.0, 7.0 * grid.shape[0] / grid.shape[1] + 0.4), "receptive fields")
    panel = axes[0, 0]
    panel.imshow(grid, cmap="hot_r", interpolation="nearest")
    panel.set_xticks([]), panel.set_yticks([])
    if labels is not None and cols <= 20:
        for k in range(n):
            r, c = divmod(k, cols)
            if labels[k] >= 0:
                panel.text(c * (w + 1), r * (h + 1), str(labels[k]), color="tab:blue", fontsize=6, va="top")
    panel.set_title(f"learned input weights of {n} neurons" + (" (labels: assigned class)" if labels is not None else ""))
    return _finish(fig, path)
