"""Figures of an analysis (``synaptica analyze`` and the analysis experiments).

Each function takes computed results (arrays), never a record to re-analyse, draws into
a new constrained-layout figure or, given ``ax=``, into the caller's Axes (a sequence of
them for a figure of several panels), returns the Figure drawn on, and saves it to
``path`` when given, in the format of the path's suffix (see :mod:`synaptica.plotting`).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from ..plotting import AxesArg, _check_path, _finish, _panels, short_ticks, time_unit

__all__ = ["plot_avalanches", "plot_connectivity", "plot_correlograms", "plot_distribution", "plot_states"]

_SMALL = 7  # points: tick labels of small multiples


def plot_distribution(values: np.ndarray, path: str | Path | None = None, *, xlabel: str, title: str,
                      log_x: bool = False, bins: int = 50, ax: Axes | None = None) -> Figure:
    """A histogram of the finite ``values`` (any shape; log-spaced bins when ``log_x``)."""
    _check_path(path)
    values = np.asarray(values, dtype=np.float64).ravel()
    values = values[np.isfinite(values)]
    fig, axes = _panels(ax, (1, 1), (5.0, 3.5), "histogram")
    panel = axes[0, 0]
    if values.size:
        if log_x and np.any(values > 0):
            values = values[values > 0]
            edges = np.geomspace(values.min(), values.max() * 1.0001, bins + 1)
            panel.set_xscale("log")
        else:
            edges = bins
        panel.hist(values, bins=edges, color="C0")
    panel.set_xlabel(xlabel)
    panel.set_ylabel("count")
    panel.set_title(f"{title} (n = {values.size})", fontsize=9)
    return _finish(fig, path)


def plot_correlograms(counts: np.ndarray, lags_s: np.ndarray, path: str | Path | None = None, *,
                      max_units: int = 12, ax: AxesArg = None) -> Figure:
    """Grid of cross-correlograms of the first ``max_units`` units (autocorrelograms on the
    diagonal, with the zero-lag bin removed there). ``counts``: (n, n, n_lags) spike counts,
    ``lags_s``: (n_lags,) lags in s. ``ax``: ``m * m`` Axes in row order (m = min(n,
    max_units)). Only the outer panels carry tick labels, three per axis (-max, 0, +max)."""
    _check_path(path)
    counts = np.asarray(counts)
    lags_s = np.asarray(lags_s, dtype=np.float64)
    if counts.ndim != 3 or counts.shape[0] != counts.shape[1] or counts.shape[2] != lags_s.size:
        raise ValueError(f"counts must be (n, n, n_lags) with n_lags = {lags_s.size} (the lags), got {counts.shape}")
    n = min(counts.shape[0], max_units)
    # no sharex: sharing among n^2 axes makes every tick or limit change visit all of them
    fig, axes = _panels(ax, (n, n), (1.1 * n + 1.2, 1.0 * n + 1.2), f"{n} x {n} correlograms")
    factor, unit = time_unit(2 * float(np.abs(lags_s).max(initial=0.0)))
    lags = lags_s * factor
    width = lags[1] - lags[0] if lags.size > 1 else 1.0
    edges = np.append(lags - width / 2, lags[-1] + width / 2) if lags.size else np.zeros(1)
    edge = float(np.abs(lags).max(initial=1.0)) or 1.0
    for i in range(n):
        for j in range(n):
            panel = axes[i, j]
            row = counts[i, j].astype(np.float64)
            if i == j:
                row = row.copy()
                row[lags.size // 2] = 0.0
            # one filled outline per panel: a bar per lag costs n^2 x n_lags patches
            panel.stairs(row, edges, fill=True, color="k" if i == j else "C0", linewidth=0)
            panel.set_yticks([])
            # three ticks, smaller labels: neighbours' labels would overlap on small panels
            panel.set_xlim(edges[0], edges[-1])
            panel.set_xticks([-edge, 0.0, edge])
            short_ticks(panel.xaxis)
            panel.tick_params(axis="x", labelsize=_SMALL, labelbottom=i == n - 1)
            if j == 0:
                panel.set_ylabel(str(i), fontsize=_SMALL)
            if i == 0:
                panel.set_title(str(j), fontsize=_SMALL)
    # on the bottom row, alternate panels drop the outer labels so adjacent ones never touch
    for j in range(1, n, 2):
        axes[n - 1, j].set_xticklabels(["", "0", ""])
    fig.supxlabel(f"lag ({unit}); column: target unit", fontsize=9)
    fig.supylabel("reference unit", fontsize=9)
    fig.suptitle(f"correlograms of units 0..{n - 1}", fontsize=9)
    return _finish(fig, path)


def plot_avalanches(sizes: np.ndarray, durations: np.ndarray, path: str | Path | None = None, *,
                    size_fit: tuple[float, float] | None = None,
                    duration_fit: tuple[float, float] | None = None, ax: AxesArg = None) -> Figure:
    """Complementary cumulative distributions of avalanche sizes (spikes) and durations
    (bins), log-log, with fitted power laws ``(alpha, xmin)`` drawn from ``xmin`` on.
    ``ax``: two Axes (sizes, durations)."""
    _check_path(path)
    fig, axes = _panels(ax, (1, 2), (9.0, 3.5), "sizes, durations")
    for panel, values, fit, label in zip(axes[0], (sizes, durations), (size_fit, duration_fit),
                                         ("size (spikes)", "duration (bins)")):
        values = np.sort(np.asarray(values, dtype=np.float64))
        if values.size:
            ccdf = 1.0 - np.arange(values.size) / values.size
            panel.loglog(values, ccdf, ".", markersize=2, color="C0", label="data")
            if fit is not None and np.isfinite(fit[0]):
                alpha, xmin = fit
                tail = values[values >= xmin]
                if tail.size:
                    x = np.geomspace(xmin, values.max(), 50)
                    fraction = tail.size / values.size
                    panel.loglog(x, fraction * (x / xmin) ** (1.0 - alpha), "r-", linewidth=1,
                                 label=f"power law, alpha = {alpha:.2f}")
            panel.legend(fontsize=8)
        panel.set_xlabel(f"avalanche {label}")
        panel.set_ylabel("P(X >= x)")
    return _finish(fig, path)


def plot_connectivity(matrices: dict[str, np.ndarray], path: str | Path | None = None, *,
                      label: str = "coupling weight", ax: AxesArg = None) -> Figure:
    """Side-by-side directed connectivity matrices ``[post, pre]`` (e.g. "true", "GLM"),
    each (n, n) with a colour bar titled ``label``. ``ax``: one Axes per matrix (the colour
    bars take space from them)."""
    _check_path(path)
    if not matrices:
        raise ValueError("matrices is empty: nothing to draw")
    fig, axes = _panels(ax, (1, len(matrices)), (4.4 * len(matrices) + 0.6, 4.0), "one per matrix")
    for panel, (title, matrix) in zip(axes[0], matrices.items()):
        matrix = np.asarray(matrix, dtype=np.float64)
        if matrix.ndim != 2:
            raise ValueError(f"matrix {title!r} must be 2-D (post, pre), got shape {matrix.shape}")
        finite = np.abs(matrix[np.isfinite(matrix)])
        scale = float(finite.max()) if finite.size and finite.max() > 0 else 1.0
        image = panel.imshow(matrix, cmap="RdBu_r", vmin=-scale, vmax=scale, interpolation="nearest")
        panel.set_title(title, fontsize=9)
        panel.set_xlabel("presynaptic unit")
        panel.set_ylabel("postsynaptic unit")
        panel.xaxis.get_major_locator().set_params(integer=True)
        panel.yaxis.get_major_locator().set_params(integer=True)
        fig.colorbar(image, ax=panel, fraction=0.046, pad=0.04, label=label)
    return _finish(fig, path)


def plot_states(times_s: np.ndarray, inferred: np.ndarray, path: str | Path | None = None, *,
                true: np.ndarray | None = None, probabilities: np.ndarray | None = None,
                ax: AxesArg = None) -> Figure:
    """Inferred hidden state (integer index) over time (and the true one, and the posterior
    of each state). ``times_s``: (n_bins,) bin starts in s; ``inferred``, ``true``:
    (n_bins,) state indices; ``probabilities``: (n_bins, n_states). ``ax``: one Axes, two
    with ``probabilities`` (states, posteriors). The state axis has integer ticks only."""
    _check_path(path)
    times_s = np.asarray(times_s, dtype=np.float64)
    inferred = np.asarray(inferred)
    if inferred.shape != times_s.shape or inferred.ndim != 1:
        raise ValueError(f"inferred must be (n_bins,) like times_s {times_s.shape}, got {inferred.shape}")
    rows = 1 + (probabilities is not None)
    fig, axes = _panels(ax, (rows, 1), (9.0, 1.8 * rows + 0.8), "states" + (", posteriors" if rows == 2 else ""),
                        sharex=True)
    axes = axes[:, 0]
    span = float(times_s.max() - times_s.min()) if times_s.size else 0.0
    factor, unit = time_unit(span)
    times = times_s * factor
    n_states = int(max(inferred.max(initial=0), -1 if true is None else np.max(true, initial=0))) + 1
    if probabilities is not None:
        n_states = max(n_states, np.asarray(probabilities).shape[1])
    axes[0].step(times, inferred, where="post", color="C0", linewidth=1, label="inferred")
    if true is not None:  # nudged up so that equal traces stay visible
        axes[0].step(times, np.asarray(true) + 0.08, where="post", color="k", linewidth=0.8, alpha=0.7,
                     label="true")
    axes[0].set_yticks(range(n_states))
    axes[0].set_ylim(-0.4, n_states - 0.6)
    axes[0].set_ylabel("state")
    axes[0].legend(fontsize=8, loc="upper right")
    if probabilities is not None:
        for k in range(np.asarray(probabilities).shape[1]):
            axes[1].plot(times, probabilities[:, k], linewidth=0.8, label=f"state {k}")
        axes[1].set_ylabel("posterior")
        axes[1].set_ylim(-0.05, 1.05)
        axes[1].legend(fontsize=8, loc="upper right")
    for panel in axes:
        short_ticks(panel.xaxis)
    axes[-1].set_xlabel(f"time ({unit})")
    return _finish(fig, path)
