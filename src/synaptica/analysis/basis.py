"""Temporal basis functions for spike-history filters, and the dense history features.

A coupling filter from unit j to unit i is ``h_ij(tau) = sum_k w_ijk phi_k(tau)`` over lags
``tau = 1 .. window`` bins (the current bin is never its own input). The raised-cosine
basis on a log-stretched time axis follows Pillow et al. 2008 (Nature 454:995): fine
resolution at short lags, broad bumps at long ones.
"""
from __future__ import annotations

import numpy as np

__all__ = ["raised_cosine_basis", "history_features"]


def raised_cosine_basis(n_basis: int, window: int, *, log_offset: float = 1.0) -> np.ndarray:
    """``(window, n_basis)`` raised-cosine bumps over lags 1..window bins (row ``l`` is lag ``l + 1``).

    Bump centres are evenly spaced on ``log(lag + log_offset)`` from lag 1 to ``window``,
    each bump spanning two centre spacings (so neighbours overlap by half). Columns are
    scaled to unit maximum. ``log_offset`` > 0 sets how strongly time is stretched
    (large values approach a linear spacing).
    """
    if n_basis < 1 or window < 1:
        raise ValueError(f"n_basis and window must be >= 1, got {n_basis} and {window}")
    if n_basis > window:
        raise ValueError(f"n_basis ({n_basis}) cannot exceed the window ({window} bins)")
    if not log_offset > 0:
        raise ValueError(f"log_offset must be > 0, got {log_offset}")
    lags = np.arange(1, window + 1, dtype=np.float64)
    stretched = np.log(lags + log_offset)
    if n_basis == 1:
        return np.ones((window, 1))
    lo, hi = stretched[0], stretched[-1]
    spacing = (hi - lo) / (n_basis - 1)
    centres = lo + spacing * np.arange(n_basis)
    phase = np.clip((stretched[:, None] - centres[None, :]) * np.pi / (2 * spacing), -np.pi, np.pi)
    basis = 0.5 * (1 + np.cos(phase))
    return basis / basis.max(axis=0, keepdims=True)


def history_features(counts, basis):
    """Dense basis-filtered spike history: ``X[t, j, k] = sum_l basis[l, k] * counts[t - 1 - l, j]``.

    counts: ``(n_bins, n_units)`` array or tensor; basis: ``(window, n_basis)``.
    Returns a float32 torch tensor ``(n_bins, n_units, n_basis)``; lags before the start
    of the record count as silent. Memory is ``n_bins * n_units * n_basis`` floats: for
    long records use the sparse path of :class:`synaptica.analysis.glm.CoupledPoissonGLM`.
    """
    import torch

    counts = torch.as_tensor(counts, dtype=torch.float32)
    basis = torch.as_tensor(np.asarray(basis), dtype=torch.float32)
    if counts.ndim != 2:
        raise ValueError(f"counts must be (n_bins, n_units), got shape {tuple(counts.shape)}")
    if basis.ndim != 2:
        raise ValueError(f"basis must be (window, n_basis), got shape {tuple(basis.shape)}")
    n_bins, n_units = counts.shape
    window, n_basis = basis.shape
    signal = counts.T.reshape(n_units, 1, n_bins)
    # conv1d is a correlation: weight index l multiplies input t - window + l after left
    # padding by `window`; flipping puts lag 1 next to the output bin, and the last
    # output (which would see the current bin) is dropped.
    kernel = basis.flip(0).T.reshape(n_basis, 1, window)
    padded = torch.nn.functional.pad(signal, (window, 0))
    out = torch.nn.functional.conv1d(padded, kernel)[:, :, :n_bins]  # (n_units, n_basis, n_bins)
    return out.permute(2, 0, 1).contiguous()
