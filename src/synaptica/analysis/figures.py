"""PNG figures of an analysis (``synaptica analyze`` and the analysis experiments).

Each function takes computed results (arrays), never a record to re-analyse, and saves
one PNG. Built on the Agg canvas helpers of :mod:`synaptica.plotting` (no pyplot).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..plotting import _new_figure, _save

__all__ = ["plot_avalanches", "plot_connectivity", "plot_correlograms", "plot_distribution", "plot_states"]


def plot_distribution(values: np.ndarray, path: str | Path, *, xlabel: str, title: str, log_x: bool = False,
                      bins: int = 50) -> Path:
    """A histogram of finite ``values`` (log-spaced bins when ``log_x``)."""
    values = np.asarray(values, dtype=np.float64)
    values = values[np.isfinite(values)]
    fig = _new_figure(5.0, 3.5, left=0.15)
    ax = fig.subplots()
    if values.size:
        if log_x and np.any(values > 0):
            values = values[values > 0]
            edges = np.geomspace(values.min(), values.max() * 1.0001, bins + 1)
            ax.set_xscale("log")
        else:
            edges = bins
        ax.hist(values, bins=edges, color="C0")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("count")
    ax.set_title(f"{title} (n = {values.size})", fontsize=9)
    return _save(fig, path)


def plot_correlograms(counts: np.ndarray, lags_s: np.ndarray, path: str | Path, *, max_units: int = 12) -> Path:
    """Grid of cross-correlograms for the first ``max_units`` units (autocorrelograms on the
    diagonal, with the zero-lag bin removed there). ``counts``: (n, n, n_lags)."""
    n = min(counts.shape[0], max_units)
    fig = _new_figure(1.3 * n + 1, 1.1 * n + 1, left=0.06)
    fig.subplots_adjust(wspace=0.1, hspace=0.1)
    axes = np.atleast_2d(fig.subplots(n, n, sharex=True, squeeze=False))
    lags_ms = np.asarray(lags_s) * 1000.0
    width = lags_ms[1] - lags_ms[0] if lags_ms.size > 1 else 1.0
    for i in range(n):
        for j in range(n):
            ax = axes[i, j]
            row = counts[i, j].astype(np.float64)
            if i == j:
                row = row.copy()
                row[lags_ms.size // 2] = 0.0
            ax.bar(lags_ms, row, width=width, color="k" if i == j else "C0", linewidth=0)
            ax.set_yticks([])
            if i < n - 1:
                ax.tick_params(labelbottom=False)
            if j == 0:
                ax.set_ylabel(str(i), fontsize=7)
            if i == 0:
                ax.set_title(str(j), fontsize=7)
    axes[-1, n // 2].set_xlabel("lag (ms)")
    fig.suptitle(f"correlograms of units 0..{n - 1} (row: reference unit)", fontsize=9)
    return _save(fig, path)


def plot_avalanches(sizes: np.ndarray, durations: np.ndarray, path: str | Path, *,
                    size_fit: tuple[float, float] | None = None,
                    duration_fit: tuple[float, float] | None = None) -> Path:
    """Complementary cumulative distributions of avalanche sizes and durations (log-log), with
    fitted power laws ``(alpha, xmin)`` drawn from ``xmin`` on."""
    fig = _new_figure(9.0, 3.5, left=0.08)
    fig.subplots_adjust(wspace=0.3)
    for ax, values, fit, label in zip(fig.subplots(1, 2), (sizes, durations), (size_fit, duration_fit),
                                      ("size (spikes)", "duration (bins)")):
        values = np.sort(np.asarray(values, dtype=np.float64))
        if values.size:
            ccdf = 1.0 - np.arange(values.size) / values.size
            ax.loglog(values, ccdf, ".", markersize=2, color="C0", label="data")
            if fit is not None and np.isfinite(fit[0]):
                alpha, xmin = fit
                tail = values[values >= xmin]
                if tail.size:
                    x = np.geomspace(xmin, values.max(), 50)
                    fraction = tail.size / values.size
                    ax.loglog(x, fraction * (x / xmin) ** (1.0 - alpha), "r-", linewidth=1,
                              label=f"power law, alpha = {alpha:.2f}")
            ax.legend(fontsize=8)
        ax.set_xlabel(f"avalanche {label}")
        ax.set_ylabel("P(X >= x)")
    return _save(fig, path)


def plot_connectivity(matrices: dict[str, np.ndarray], path: str | Path) -> Path:
    """Side-by-side directed connectivity matrices ``[post, pre]`` (e.g. "true", "GLM")."""
    fig = _new_figure(4.2 * len(matrices) + 0.5, 4.0, left=0.06)
    fig.subplots_adjust(wspace=0.25)
    axes = np.atleast_1d(fig.subplots(1, len(matrices)))
    for ax, (title, matrix) in zip(axes, matrices.items()):
        matrix = np.asarray(matrix, dtype=np.float64)
        scale = np.nanmax(np.abs(matrix)) or 1.0
        image = ax.imshow(matrix, cmap="RdBu_r", vmin=-scale, vmax=scale, interpolation="nearest")
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("presynaptic unit")
        ax.set_ylabel("postsynaptic unit")
        fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    return _save(fig, path)


def plot_states(times_s: np.ndarray, inferred: np.ndarray, path: str | Path, *,
                true: np.ndarray | None = None, probabilities: np.ndarray | None = None) -> Path:
    """Inferred hidden state over time (and the true one, and the posterior of each state)."""
    rows = 1 + (probabilities is not None)
    fig = _new_figure(9.0, 1.8 * rows + 0.6, left=0.08)
    axes = np.atleast_1d(fig.subplots(rows, 1, sharex=True))
    axes[0].step(times_s, inferred, where="post", color="C0", linewidth=1, label="inferred")
    if true is not None:
        axes[0].step(times_s, np.asarray(true) + 0.08, where="post", color="k", linewidth=0.8, alpha=0.7,
                     label="true")
    axes[0].set_ylabel("state")
    axes[0].legend(fontsize=8, loc="upper right")
    if probabilities is not None:
        for k in range(probabilities.shape[1]):
            axes[1].plot(times_s, probabilities[:, k], linewidth=0.8, label=f"state {k}")
        axes[1].set_ylabel("posterior")
        axes[1].legend(fontsize=8, loc="upper right")
    axes[-1].set_xlabel("time (s)")
    return _save(fig, path)
