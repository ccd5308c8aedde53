"""Coupled Poisson GLM of a population's spike trains: functional connectivity with significance.

Model (Truccolo et al. 2005, J Neurophysiol 93:1074; Pillow et al. 2008, Nature 454:995), in
bins of ``bin_size`` s, for post unit ``i``, pre unit ``j`` (``j = i``: the unit's own history):

    eta_i(t) = b_i + sum_j sum_{l=1..W} h_ij(l) y_j(t - l),   h_ij(l) = sum_k w_ijk phi_k(l)
    y_i(t) ~ Poisson(exp(eta_i(t)))      (expected count per bin; rate in Hz = exp(eta) / bin_size)

with the raised-cosine basis ``phi`` of :mod:`synaptica.analysis.basis` over lags 1..W bins.
The objective is the Poisson negative log-likelihood summed over units and *averaged* over
bins, plus the penalty on the coupling weights ``w`` (never on the intercepts):

    l2:    alpha / 2 * sum w_ijk^2
    l1:    alpha * sum |w_ijk|
    group: alpha * sqrt(n_basis) * sum_ij ||w_ij.||_2     (Yuan & Lin 2006; one group per filter)

This is NeMoS's convention (``PopulationGLM``: sum over neurons of the mean over samples;
Ridge = 0.5 * strength * sum of squares), so ``alpha`` equals NeMoS's ``regularizer_strength``.

The design matrix (bins x units x n_basis) is never built. The linear predictor is a sum
over presynaptic spikes of filter tails, so the loss and its gradient are computed by numba
kernels over spikes (:mod:`.glm_kernels`, cost ~ spikes x W x units per pass) inside a
custom ``torch.autograd.Function``; the optimisers are torch's (L-BFGS full batch, Adam on
minibatches of consecutive bins) or FISTA for the non-smooth penalties. Memory is
O(units^2 x W) plus the spikes, whatever the length of the record. ``backend="torch"``
computes the same loss from small dense feature blocks per time chunk, on any device.

The optimisers work in whitened coordinates: the history features are centred and whitened
with their covariance (obtained exactly from the spike cross-products at lags below W, never
from the features) and each postsynaptic unit is scaled by its rate, so that the Hessian is
close to the identity and L-BFGS needs ~15-20 passes over the data. For l1 / group the
whitening is a scalar per presynaptic unit, which keeps the proximal steps closed-form.

Significance: a Wald test per filter, ``w_ij^T F_ij w_ij ~ chi2(n_basis)`` under
``w_ij = 0``, with the Fisher information block of the filter (intercept profiled out),
corrected to first order for the filter's correlation with i's other regressors (see
``CoupledPoissonGLM._fisher_blocks``).
"""
from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numba
import numpy as np
import torch
from scipy import special, stats
from scipy import sparse as sp
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from . import glm_kernels as K
from ._estimator import as_counts_array, check_n_units, count_tags
from ._threads import limit_threads
from .basis import raised_cosine_basis
from ..record import SpikeRecord

__all__ = ["CoupledPoissonGLM", "GLMError"]

_PENALTIES = (None, "l2", "l1", "group")
_SOLVERS = ("auto", "lbfgs", "proximal", "adam")
_DEFAULT_MAX_ITER = {"lbfgs": 500, "proximal": 1000, "adam": 60}
_FISHER_EXACT_BUDGET = 2e10  # multiply-adds above which fisher="auto" takes the factorised form


class GLMError(ValueError):
    """Bad parameters or data for :class:`CoupledPoissonGLM`."""


# -- data ----------------------------------------------------------------------------------
@dataclass
class _Spikes:
    """Binned spikes, sparse: one (bin, unit) entry per spike, sorted by bin (int32)."""
    bins: np.ndarray
    ids: np.ndarray
    n_bins: int
    n_units: int
    weights: np.ndarray  # (n_bins,) float64, or empty for unit weights

    def counts_per_unit(self) -> np.ndarray:
        w = self.weights[self.bins] if self.weights.size else None
        return np.bincount(self.ids, weights=w, minlength=self.n_units).astype(np.float64)


def _as_spikes(data: Any, bin_size: float, what: str) -> _Spikes:
    """A SpikeRecord (binned at ``bin_size``) or binned counts ``(n_bins, n_units)``."""
    if isinstance(data, SpikeRecord):
        return _bin_record(data, bin_size)
    if isinstance(data, torch.Tensor):
        data = data.to_dense().cpu().numpy() if data.layout != torch.strided else data.detach().cpu().numpy()
    counts = as_counts_array(data, GLMError, what=what, owner="CoupledPoissonGLM", accept_sparse=True)
    shape = counts.shape
    if sp.issparse(counts):
        coo = counts.tocoo()
        rows, cols, vals = coo.row, coo.col, coo.data
    else:
        rows, cols = np.nonzero(counts)
        vals = counts[rows, cols]
    reps = vals.astype(np.int64)
    order = np.lexsort((cols, rows))
    bins = np.repeat(np.asarray(rows)[order], reps[order]).astype(_index_dtype(shape[0]))
    ids = np.repeat(np.asarray(cols)[order], reps[order]).astype(np.int32)
    return _Spikes(bins, ids, int(shape[0]), int(shape[1]), np.empty(0))


def _bin_record(record: SpikeRecord, bin_size: float, block: int = 1 << 20) -> _Spikes:
    """``record.bin_indices(bin_size)`` (the same arithmetic) in blocks of spikes, straight
    into int32 arrays, so that long records need no float64 / int64 temporaries."""
    n_bins = record.n_bins(bin_size)
    dtype = _index_dtype(n_bins)
    bins = np.empty(record.n_spikes, dtype=dtype)
    for a in range(0, record.n_spikes, block):
        bins[a:a + block] = np.floor((record.times[a:a + block] - record.t_start) / bin_size + 1e-9)
    n_keep = int(np.searchsorted(bins, n_bins))  # bins are sorted: the dropped ones are last
    return _Spikes(bins[:n_keep].copy() if n_keep < bins.size else bins, record.ids[:n_keep].astype(np.int32),
                   n_bins, record.n_units, np.empty(0))


def _index_dtype(n_bins: int):
    """Bin indices as int32 (half the memory of the spike list) unless the record is longer."""
    return np.int32 if n_bins < 2 ** 31 - 2 ** 20 else np.int64


# -- loss engines --------------------------------------------------------------------------
class _Engine:
    """Sum over bins [t0, t1) and units of the Poisson NLL (without log y!) and its gradient
    with respect to the weights ``W (N, N, B)`` and intercepts ``b (N,)`` (float64 numpy)."""

    def __init__(self, spikes: _Spikes, basis: np.ndarray, backend: str, dtype: torch.dtype,
                 device: torch.device, n_jobs: int):
        self.spikes, self.basis, self.backend = spikes, basis, backend
        self.dtype, self.device, self.n_jobs = dtype, device, n_jobs
        self.np_dtype = np.float32 if dtype == torch.float32 else np.float64
        window, n_units = basis.shape[0], spikes.n_units
        # kernel chunks of ~1M predictor entries: long enough that a unit spikes several times
        # per chunk (its filter rows are reused while cached), short enough for the L3 cache
        self.chunk = int(max(window, min(4096, (1 << 20) // n_units)))
        self.pool = ThreadPoolExecutor(n_jobs) if n_jobs > 1 and backend == "numba" else None
        self._tables, self._grads = None, []
        if backend == "torch":
            self.t_bins = torch.as_tensor(spikes.bins.astype(np.int64), device=device)
            self.t_ids = torch.as_tensor(spikes.ids.astype(np.int64), device=device)
            self.t_weights = torch.as_tensor(spikes.weights, dtype=dtype, device=device)
            self.t_basis = torch.as_tensor(basis, dtype=dtype, device=device)
            self.t_chunk = int(max(window, min(16384, (1 << 22) // (n_units * basis.shape[1]))))

    def close(self) -> None:
        self._tables, self._grads = None, []
        if self.pool is not None:
            self.pool.shutdown()
            self.pool = None

    def _ranges(self, t0: int, t1: int) -> list[tuple[int, int]]:
        n = self.n_jobs if self.pool is not None else 1
        n = max(1, min(n, (t1 - t0) // self.chunk))
        edges = [t0 + (t1 - t0) * k // n for k in range(n + 1)]
        return [(edges[k], edges[k + 1]) for k in range(n)]

    def nll_grad(self, W: np.ndarray, b: np.ndarray, t0: int, t1: int, want_grad: bool = True):
        if self.backend == "torch":
            return self._nll_grad_torch(W, b, t0, t1, want_grad)
        s = self.spikes
        n, window = s.n_units, self.basis.shape[0]
        ranges = self._ranges(t0, t1)
        # the (N, W, N) filter tables and per-thread gradient accumulators are kept between
        # calls: reallocating tens of MB per minibatch (N = 500) only fragments the heap
        if self._tables is None:
            self._tables = (np.empty((n, window, n)), np.empty((n, window, n), dtype=self.np_dtype))
        while len(self._grads) < len(ranges):
            self._grads.append(np.empty((n, window, n)))
        H64, H = self._tables
        np.einsum("ijk,lk->jli", W, self.basis, out=H64)
        H[...] = H64
        b64 = np.ascontiguousarray(b, dtype=np.float64)
        bw = b64.astype(self.np_dtype)

        def run(k):
            dH = self._grads[k]
            if want_grad:
                dH.fill(0.0)
            db = np.zeros(n)
            loss = K.nll_grad(s.bins, s.ids, H, H64, bw, b64, s.weights, ranges[k][0], ranges[k][1], self.chunk,
                              want_grad, dH, db)
            return loss, db

        parts = list(self.pool.map(run, range(len(ranges)))) if len(ranges) > 1 else [run(0)]
        loss = math.fsum(p[0] for p in parts)
        db = sum(p[1] for p in parts)
        gW = None
        if want_grad:
            total = self._grads[0]
            for k in range(1, len(ranges)):
                total += self._grads[k]
            gW = np.einsum("jli,lk->ijk", total, self.basis)
        return loss, gW, db

    def _chunk(self, c0: int, c1: int, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
        """Counts ``(C, N)`` and history features ``(C, N * B)`` of bins [c0, c1) on the
        device, the features scattered from the spikes of bins [c0 - W, c1 - 1)."""
        window, n_basis = self.t_basis.shape
        n, C = self.spikes.n_units, c1 - c0
        lo, mid, hi = np.searchsorted(self.spikes.bins, [c0 - window, c0, c1])
        counts = torch.zeros(C, n, dtype=dtype, device=self.device)
        counts.index_put_((self.t_bins[mid:hi] - c0, self.t_ids[mid:hi]),
                          torch.ones(hi - mid, dtype=dtype, device=self.device), accumulate=True)
        lags = torch.arange(1, window + 1, device=self.device)
        rows = (self.t_bins[lo:hi, None] - c0 + lags[None, :]).reshape(-1)  # spike x lag
        cols = self.t_ids[lo:hi, None].expand(-1, window).reshape(-1)
        values = self.t_basis.to(dtype).expand(hi - lo, -1, -1).reshape(-1, n_basis)
        keep = (rows >= 0) & (rows < C)
        features = torch.zeros(C, n, n_basis, dtype=dtype, device=self.device)
        features.index_put_((rows[keep], cols[keep]), values[keep], accumulate=True)
        return counts, features.reshape(C, n * n_basis)

    def _nll_grad_torch(self, W, b, t0, t1, want_grad):
        n = self.spikes.n_units
        Wm = torch.as_tensor(W.reshape(n, -1), dtype=self.dtype, device=self.device)
        bt = torch.as_tensor(b, dtype=self.dtype, device=self.device)
        loss = torch.zeros((), dtype=torch.float64, device=self.device)
        gW = torch.zeros(n, Wm.shape[1], dtype=torch.float64, device=self.device)
        gb = torch.zeros(n, dtype=torch.float64, device=self.device)
        with torch.no_grad():
            for c0 in range(t0, t1, self.t_chunk):
                c1 = min(c0 + self.t_chunk, t1)
                y, X = self._chunk(c0, c1, self.dtype)
                eta = X @ Wm.T + bt
                mu = torch.exp(eta)
                if self.t_weights.numel():
                    w = self.t_weights[c0:c1, None]
                    mu, y = mu * w, y * w
                loss += (mu.sum(dtype=torch.float64) - (y.double() * eta.double()).sum())
                G = mu - y
                gb += G.sum(0, dtype=torch.float64)
                if want_grad:
                    gW += (G.T @ X).double()
        gW = gW.reshape(W.shape).cpu().numpy() if want_grad else None
        return float(loss), gW, gb.cpu().numpy()

    def linear_predictor(self, W: np.ndarray, b: np.ndarray) -> np.ndarray:
        """eta (n_bins, N) float64."""
        s = self.spikes
        if self.backend == "torch":
            Wm = torch.as_tensor(W.reshape(s.n_units, -1), dtype=torch.float64, device=self.device)
            bt = torch.as_tensor(b, dtype=torch.float64, device=self.device)
            out = np.empty((s.n_bins, s.n_units))
            with torch.no_grad():
                for c0 in range(0, s.n_bins, self.t_chunk):
                    c1 = min(c0 + self.t_chunk, s.n_bins)
                    X = self._chunk(c0, c1, torch.float64)[1]
                    out[c0:c1] = (X @ Wm.T + bt).cpu().numpy()
            return out
        H = np.ascontiguousarray(np.einsum("ijk,lk->jli", W, self.basis))
        out = np.empty((s.n_bins, s.n_units))
        b = np.ascontiguousarray(b, dtype=np.float64)

        def run(lo_hi):
            K.linear_predictor(s.bins, s.ids, H, b, lo_hi[0], lo_hi[1], out[lo_hi[0]:lo_hi[1]])

        ranges = self._ranges(0, s.n_bins)
        list(self.pool.map(run, ranges)) if len(ranges) > 1 else run(ranges[0])
        return out


class _PoissonNLL(torch.autograd.Function):
    """Poisson NLL (sum over bins [t0, t1) and units) of weights ``(N, N, B)`` and intercepts
    ``(N,)``; loss and gradient come from the engine in one pass over the spikes."""

    @staticmethod
    def forward(ctx, weights, intercept, engine, t0, t1):
        want = any(ctx.needs_input_grad[:2])
        loss, gW, gb = engine.nll_grad(weights.detach().cpu().double().numpy(),
                                       intercept.detach().cpu().double().numpy(), t0, t1, want)
        if want:
            ctx.save_for_backward(torch.as_tensor(gW, dtype=weights.dtype, device=weights.device),
                                  torch.as_tensor(gb, dtype=intercept.dtype, device=intercept.device))
        return torch.tensor(loss, dtype=weights.dtype, device=weights.device)

    @staticmethod
    def backward(ctx, grad):
        gW, gb = ctx.saved_tensors
        return grad * gW, grad * gb, None, None, None


def poisson_nll(weights: torch.Tensor, intercept: torch.Tensor, engine: _Engine, t0: int, t1: int) -> torch.Tensor:
    """Differentiable Poisson NLL over bins [t0, t1) (see :class:`_PoissonNLL`)."""
    return _PoissonNLL.apply(weights, intercept, engine, t0, t1)


def _small_algebra(cfg: dict):
    """Thread counts during a fit. With the numba backend the heavy work runs in the kernels
    on their own threads; what is left for torch and BLAS is small (parameters, B x B and
    NB x NB matrices), where their thread pools only add wake-up latency (milliseconds per
    call on a busy machine), so both are held to one thread. With the torch backend they
    get ``n_jobs`` threads."""
    return limit_threads(1 if cfg["backend"] == "numba" else cfg["n_jobs"])


def _sqrt_batched(m: np.ndarray) -> np.ndarray:
    """Symmetric square roots of a stack of PSD matrices (negative eigenvalues clipped)."""
    evals, evecs = np.linalg.eigh(0.5 * (m + np.swapaxes(m, -1, -2)))
    return (evecs * np.sqrt(np.clip(evals, 0, None))[..., None, :]) @ np.swapaxes(evecs, -1, -2)


def _pinv_batched(m: np.ndarray, rcond: float = 1e-10) -> np.ndarray:
    """Pseudo-inverses of a stack of symmetric PSD matrices."""
    evals, evecs = np.linalg.eigh(0.5 * (m + np.swapaxes(m, -1, -2)))
    keep = evals > rcond * np.maximum(evals.max(axis=-1, keepdims=True), 1e-300)
    inv = np.where(keep, 1.0 / np.where(keep, evals, 1.0), 0.0)
    return (evecs * inv[..., None, :]) @ np.swapaxes(evecs, -1, -2)


def _inv_sqrt(matrix: np.ndarray, rcond: float = 1e-10) -> np.ndarray:
    """Symmetric inverse square root of a PSD matrix; directions with eigenvalues below
    ``rcond`` times the largest are dropped (pseudo-inverse)."""
    evals, evecs = np.linalg.eigh(0.5 * (matrix + matrix.T))
    keep = evals > rcond * max(evals.max(), 1e-300)
    inv = np.where(keep, 1.0 / np.sqrt(np.where(keep, evals, 1.0)), 0.0)
    return (evecs * inv) @ evecs.T


# -- the estimator -------------------------------------------------------------------------
class CoupledPoissonGLM(BaseEstimator):
    """Coupled Poisson GLM with basis-function coupling filters (see the module docstring).

    Parameters
    ----------
    n_basis: raised-cosine basis functions per filter.
    window: filter length in s (``round(window / bin_size)`` bins, lags 1..W).
    bin_size: bin width in s.
    penalty: None, ``"l2"``, ``"l1"`` or ``"group"`` (one group per (post, pre) filter).
    alpha: penalty strength (same scale as NeMoS's ``regularizer_strength``).
    solver: ``"lbfgs"`` (full batch, smooth penalties), ``"proximal"`` (FISTA with
        backtracking and adaptive restart; any penalty), ``"adam"`` (minibatches of
        ``batch_bins`` consecutive bins; proximal step for l1/group) or ``"auto"``
        (lbfgs for None/l2, proximal for l1/group).
    batch_bins: minibatch length in bins for ``"adam"``.
    max_iter: iterations (lbfgs, proximal) or epochs (adam); None: 500, 1000, 60.
    tol: stop when the largest gradient entry in the whitened coordinates, where one unit is
        about one standard error times sqrt(n_bins), is below ``tol / sqrt(n_bins)``: the
        optimisation error is then about ``tol`` standard errors.
    device, dtype: where and in which precision the per-bin predictor and ``exp`` are
        computed: ``"float32"`` (default) or ``"float64"`` (torch or NumPy dtypes work too;
        a string keeps the parameter printable for scikit-learn); sums of the loss and gradient are always float64, and
        the ``y * eta`` term is evaluated in float64 from spike pairs.
    backend: ``"numba"`` (spike-driven kernels, CPU), ``"torch"`` (dense features per time
        chunk, any device) or ``"auto"`` (numba on CPU).
    fisher: Fisher information blocks for the Wald tests: ``"exact"``
        (sum_t mu_i(t) x_j(t) x_j(t)^T at the fit, one pass over the (bin, pre) pairs with a
        presynaptic spike in the window), ``"factorised"`` (n_bins * mean count of i *
        conditional covariance of j's features: mu_i taken as constant, as it is under the
        null if i does not co-vary with j; no pass over the data) or ``"auto"`` (exact
        unless it would take more than 2e10 multiply-adds).
    learning_rate: Adam's initial step in whitened units (cosine-decayed to 1e-3 of it over
        the epochs); None: 0.003.
    n_jobs: threads for the numba kernels, or torch's threads with the torch backend
        (None: numba's thread count).
    random_state: seed of the minibatch order.

    Fitted attributes
    -----------------
    intercept_ (N,): log expected count per bin at no input (``exp(b) / bin_size`` Hz).
    coef_ (N, N, B): basis weights [post i, pre j, k]; the diagonal is each unit's own history.
    basis_ (W, B): the basis over lags 1..W bins. coupling_filters_ (N, N, W): ``h_ij(l)``, the
        log-rate increment at lag ``l`` caused by one spike of ``j``.
    connectivity_ (N, N): directed strength, the sum of ``h_ij`` over its lags (signed).
    p_values_ (N, N): Wald test of ``w_ij = 0`` (chi-square, df = n_basis; the diagonal
        tests the unit's own history filter). The Fisher block has i's intercept profiled
        out and i's other filters to first order only (slightly anti-conservative when the
        units are strongly correlated); penalised fits are tested as if unpenalised
        (conservative, by the shrinkage). Filters that are exactly zero get p = 1.
    wald_statistics_ (N, N), fisher_method_: the statistics and the Fisher form used.
    n_features_in_: number of units (scikit-learn's name; ``n_units_`` is the same).
    n_iter_, converged_, objective_: solver iterations (epochs for adam), whether the gradient
        criterion was met, the final objective.
    """

    def __init__(self, n_basis: int = 4, window: float = 0.025, bin_size: float = 0.001,
                 penalty: str | None = None, alpha: float = 0.0, solver: str = "auto",
                 batch_bins: int = 20000, max_iter: int | None = None, tol: float = 0.1,
                 device: str | torch.device = "cpu", dtype: Any = "float32", backend: str = "auto",
                 fisher: str = "auto", learning_rate: float | None = None, n_jobs: int | None = None,
                 random_state: int | None = 0):
        self.n_basis = n_basis
        self.window = window
        self.bin_size = bin_size
        self.penalty = penalty
        self.alpha = alpha
        self.solver = solver
        self.batch_bins = batch_bins
        self.max_iter = max_iter
        self.tol = tol
        self.device = device
        self.dtype = dtype
        self.backend = backend
        self.fisher = fisher
        self.learning_rate = learning_rate
        self.n_jobs = n_jobs
        self.random_state = random_state

    def __sklearn_tags__(self):
        return count_tags(super().__sklearn_tags__(), sparse=True)

    # -- validation ------------------------------------------------------------------
    def _settings(self) -> dict:
        def number(name, value, lo, strict=True):
            if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
                    or not np.isfinite(value) or (value <= lo if strict else value < lo):
                raise GLMError(f"{name} must be a number {'>' if strict else '>='} {lo}, got {value!r}")
            return value

        number("bin_size", self.bin_size, 0)
        number("window", self.window, 0)
        number("alpha", self.alpha, 0, strict=False)
        number("tol", self.tol, 0)
        for name in ("n_basis", "batch_bins"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise GLMError(f"{name} must be an integer >= 1, got {value!r}")
        window_bins = int(round(self.window / self.bin_size))
        if window_bins < 1:
            raise GLMError(f"window ({self.window} s) is shorter than one bin ({self.bin_size} s)")
        if self.n_basis > window_bins:
            raise GLMError(f"n_basis ({self.n_basis}) cannot exceed the window ({window_bins} bins)")
        if self.penalty not in _PENALTIES:
            raise GLMError(f"penalty must be one of {_PENALTIES}, got {self.penalty!r}")
        if self.solver not in _SOLVERS:
            raise GLMError(f"solver must be one of {_SOLVERS}, got {self.solver!r}")
        solver = self.solver
        if solver == "auto":
            solver = "proximal" if self.penalty in ("l1", "group") else "lbfgs"
        if solver == "lbfgs" and self.penalty in ("l1", "group"):
            raise GLMError(f"penalty {self.penalty!r} is not smooth: use solver='proximal' or 'adam'")
        max_iter = _DEFAULT_MAX_ITER[solver] if self.max_iter is None else self.max_iter
        if isinstance(max_iter, bool) or not isinstance(max_iter, (int, np.integer)) or max_iter < 1:
            raise GLMError(f"max_iter must be an integer >= 1 or None, got {self.max_iter!r}")
        dtype = {"float32": torch.float32, "float64": torch.float64}.get(self.dtype, self.dtype) \
            if isinstance(self.dtype, str) else self.dtype
        dtype = {np.float32: torch.float32, np.float64: torch.float64}.get(dtype, dtype)
        if dtype not in (torch.float32, torch.float64):
            raise GLMError(f"dtype must be float32 or float64, got {self.dtype!r}")
        try:
            device = torch.device(self.device)
        except (RuntimeError, TypeError) as exc:
            raise GLMError(f"device {self.device!r} is not a torch device") from exc
        if self.backend not in ("auto", "numba", "torch"):
            raise GLMError(f"backend must be 'auto', 'numba' or 'torch', got {self.backend!r}")
        backend = self.backend if self.backend != "auto" else ("numba" if device.type == "cpu" else "torch")
        if backend == "numba" and device.type != "cpu":
            raise GLMError(f"the numba backend runs on the CPU only, got device {device}")
        if self.fisher not in ("auto", "exact", "factorised"):
            raise GLMError(f"fisher must be 'auto', 'exact' or 'factorised', got {self.fisher!r}")
        lr = 0.003 if self.learning_rate is None else number("learning_rate", self.learning_rate, 0)
        n_jobs = numba.get_num_threads() if self.n_jobs is None else self.n_jobs
        if isinstance(n_jobs, bool) or not isinstance(n_jobs, (int, np.integer)) or n_jobs < 1:
            raise GLMError(f"n_jobs must be an integer >= 1 or None, got {self.n_jobs!r}")
        return dict(window_bins=window_bins, solver=solver, max_iter=int(max_iter), dtype=dtype, device=device,
                    backend=backend, lr=float(lr), n_jobs=int(n_jobs))

    def _check_data(self, data: Any, what: str) -> _Spikes:
        check_is_fitted(self, "coef_")
        spikes = _as_spikes(data, self.bin_size, what)
        check_n_units(self, spikes.n_units, reset=False, error=GLMError)
        return spikes

    def _engine(self, spikes: _Spikes, cfg: dict) -> _Engine:
        return _Engine(spikes, self.basis_, cfg["backend"], cfg["dtype"], cfg["device"], cfg["n_jobs"])

    # -- fitting -----------------------------------------------------------------------
    def fit(self, record: SpikeRecord | Any, y: None = None, sample_weight: np.ndarray | None = None) -> "CoupledPoissonGLM":
        """Fit to a :class:`SpikeRecord` (binned at ``bin_size``) or binned counts
        ``(n_bins, n_units)``. ``sample_weight``: optional ``(n_bins,)`` non-negative weight of
        each bin in the likelihood (e.g. state posteriors in an EM M-step); the loss is still
        divided by n_bins. ``y`` is ignored (scikit-learn signature)."""
        cfg = self._settings()
        spikes = _as_spikes(record, self.bin_size, "fit")
        if spikes.n_bins <= cfg["window_bins"]:
            raise GLMError(f"fit: the data has {spikes.n_bins} bins (n_samples={spikes.n_bins}), "
                           f"not more than the window ({cfg['window_bins']} bins)")
        if sample_weight is not None:
            weights = np.asarray(sample_weight, dtype=np.float64)
            if weights.shape != (spikes.n_bins,) or not np.all(np.isfinite(weights)) or np.any(weights < 0):
                raise GLMError(f"sample_weight must be ({spikes.n_bins},) finite and >= 0, got shape {weights.shape}")
            if not weights.sum() > 0:
                raise GLMError("sample_weight: all weights are zero, no bin is left to fit")
            spikes.weights = np.ascontiguousarray(weights)
        self.basis_ = raised_cosine_basis(self.n_basis, cfg["window_bins"])
        self.n_units_ = spikes.n_units
        check_n_units(self, spikes.n_units, reset=True, error=GLMError)
        self.window_bins_ = cfg["window_bins"]
        engine = self._engine(spikes, cfg)
        try:
            with _small_algebra(cfg):
                W, b, cov = self._solve(engine, spikes, cfg)
            self.coef_, self.intercept_ = W, b
            self.coupling_filters_ = np.einsum("ijk,lk->ijl", W, self.basis_)
            self.connectivity_ = self.coupling_filters_.sum(axis=2)
            with _small_algebra(cfg):
                self.p_values_ = self._wald(engine, spikes, W, b, cov)
        finally:
            engine.close()
        return self

    def _moments(self, spikes: _Spikes) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Mean count per bin of each unit (weighted by ``sample_weight``), and the mean
        ``(N, B)`` and covariance ``(N, B, N, B)`` of the history features over bins,
        obtained exactly (up to the first ``W`` bins) from the spike cross-products at lags
        below ``W`` instead of from the features themselves."""
        n, T = spikes.n_units, spikes.n_bins
        total_w = spikes.weights.sum() if spikes.weights.size else T
        mbar = spikes.counts_per_unit() / max(total_w, 1e-300)
        basis = self.basis_
        window = basis.shape[0]
        R = K.cross_products(spikes.bins, spikes.ids, n, window) / T  # (d, j, m): y_j(u) y_m(u + d)
        # psi[d][k, q] = sum over lags l - l' = d of phi_k(l) phi_q(l'), for d = 0..W-1 and -d
        pos = np.stack([basis[d:].T @ basis[:window - d] for d in range(window)])
        neg = np.stack([basis[:window - d].T @ basis[d:] for d in range(1, window)])
        second = np.einsum("djm,dkq->jkmq", R, pos) + np.einsum("dmj,dkq->jkmq", R[1:], neg)
        mean = (np.bincount(spikes.ids, minlength=n) / T)[:, None] * basis.sum(axis=0)[None, :]
        cov = second - mean[:, :, None, None] * mean[None, None, :, :]
        return mbar, mean, cov

    def _solve(self, engine: _Engine, spikes: _Spikes, cfg: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Fit; returns the weights (N, N, B), intercepts (N,) and the feature covariance."""
        n, B, T = spikes.n_units, self.n_basis, spikes.n_bins
        mbar, mean, cov = self._moments(spikes)
        floor = 0.5 / T  # a silent unit still gets a finite scale
        b0 = np.log(np.maximum(mbar, floor))
        r = 1.0 / np.sqrt(np.maximum(mbar, floor))
        scale = None
        if self.penalty in ("l1", "group"):
            # a scalar per presynaptic unit keeps the l1 / group proximal steps closed-form
            var = np.einsum("jkjk->j", cov) / B
            d = np.where(var > 1e-12 * max(var.max(), 1e-300), 1.0 / np.sqrt(np.maximum(var, 1e-300)), 0.0)
            A = np.kron(np.diag(d), np.eye(B))
            scale = torch.as_tensor(r[:, None] * d[None, :])  # W_ij = scale_ij * V_ij
        else:  # whiten all features together (covariance^-1/2, pseudo-inverse on silent units)
            A = _inv_sqrt(cov.reshape(n * B, n * B))
        f64 = dict(dtype=torch.float64)
        A_t, r_t = torch.as_tensor(A, **f64), torch.as_tensor(r, **f64)
        m_t, b0_t = torch.as_tensor(mean, **f64), torch.as_tensor(b0, **f64)
        alpha, penalty = float(self.alpha), self.penalty

        def unpack(theta):
            c, V = theta[:n], theta[n:].reshape(n, n * B)
            W = ((V @ A_t) * r_t[:, None]).reshape(n, n, B)
            b = b0_t + r_t * c - torch.einsum("ijk,jk->i", W, m_t)
            return W, b

        def objective(theta, t0=0, t1=T):
            W, b = unpack(theta)
            loss = poisson_nll(W, b, engine, t0, t1) / (t1 - t0)
            if penalty == "l2" and alpha > 0:
                loss = loss + 0.5 * alpha * (W * W).sum()
            return loss

        theta = torch.zeros(n + n * n * B, **f64)
        tol_grad = float(self.tol) / math.sqrt(T)
        solver = cfg["solver"]
        if solver == "lbfgs":
            theta, n_iter, converged, value = self._lbfgs(objective, theta, cfg["max_iter"], tol_grad)
        elif solver == "proximal":
            theta, n_iter, converged, value = self._fista(objective, theta, n, scale, cfg["max_iter"], tol_grad)
        else:
            theta, n_iter, converged, value = self._adam(objective, theta, n, scale, T, cfg)
        self.n_iter_, self.converged_, self.objective_ = n_iter, converged, value
        with torch.no_grad():
            W, b = unpack(theta)
        return W.numpy().copy(), b.numpy().copy(), cov

    @staticmethod
    def _lbfgs(objective, theta, max_iter, tol_grad):
        theta = theta.clone().requires_grad_(True)
        opt = torch.optim.LBFGS([theta], lr=1.0, max_iter=max_iter, max_eval=int(max_iter * 1.5),
                                tolerance_grad=tol_grad, tolerance_change=1e-14, history_size=20,
                                line_search_fn="strong_wolfe")
        last = {}

        def closure():
            opt.zero_grad()
            loss = objective(theta)
            loss.backward()
            last.update(loss=float(loss.detach()), grad=float(theta.grad.abs().max()))
            return loss

        opt.step(closure)
        n_iter = int(opt.state[opt._params[0]].get("n_iter", 0))
        return theta.detach(), n_iter, last["grad"] <= tol_grad, last["loss"]

    def _prox(self, theta, step, n, scale):
        """Proximal map of ``step * penalty`` in the scaled coordinates ``W_ij = scale_ij V_ij``
        (l1 / group; identity otherwise). ``step``: a float or per-coordinate steps (Adam's
        metric; a group then uses its mean step)."""
        if self.penalty not in ("l1", "group") or self.alpha == 0:
            return theta
        B = self.n_basis
        V = theta[n:].reshape(n, n, B)
        if not isinstance(step, float):
            step = step.reshape(n, n, B)
        if self.penalty == "l1":
            thr = float(self.alpha) * scale[:, :, None] * step
            V = torch.sign(V) * torch.clamp(V.abs() - thr, min=0)
        else:
            group_step = step if isinstance(step, float) else step.mean(2)
            thr = float(self.alpha) * math.sqrt(B) * scale * group_step
            V = V * torch.clamp(1 - thr / torch.clamp(V.norm(dim=2), min=1e-300), min=0)[:, :, None]
        return torch.cat([theta[:n], V.reshape(-1)])

    def _fista(self, objective, theta, n, scale, max_iter, tol_grad):
        """FISTA (Beck & Teboulle 2009) with backtracking and adaptive restart (O'Donoghue &
        Candes 2015) on the smooth loss, proximal steps for l1 / group."""
        def value_grad(x):
            x = x.clone().requires_grad_(True)
            loss = objective(x)
            (g,) = torch.autograd.grad(loss, x)
            return float(loss.detach()), g

        def value(x):
            with torch.no_grad():
                return float(objective(x))

        x, y, t, L = theta, theta.clone(), 1.0, 1.0
        fy, gy = value_grad(y)
        converged, it = False, 0
        for it in range(1, max_iter + 1):
            while True:
                x_new = self._prox(y - gy / L, 1.0 / L, n, scale)
                d = x_new - y
                f_new = value(x_new)
                if f_new <= fy + float((gy * d).sum()) + 0.5 * L * float((d * d).sum()) + 1e-14 * abs(fy):
                    break
                L *= 2.0
            step_norm = L * float(d.abs().max())  # gradient mapping
            if float(((y - x_new) * (x_new - x)).sum()) > 0:  # momentum points uphill: restart
                t, y_next = 1.0, x_new
            else:
                t_new = 0.5 * (1 + math.sqrt(1 + 4 * t * t))
                y_next = x_new + ((t - 1) / t_new) * (x_new - x)
                t = t_new
            x = x_new
            if step_norm < tol_grad:
                converged = True
                break
            y = y_next
            fy, gy = value_grad(y)
            L = max(L / 1.5, 1e-6)
        return x, it, converged, value(x)

    def _adam(self, objective, theta, n, scale, T, cfg):
        """Adam (Kingma & Ba 2015) on minibatches of ``batch_bins`` consecutive bins, in a
        random order each epoch, cosine-decayed step; for l1 / group a proximal step in
        Adam's diagonal metric after each update."""
        theta = theta.clone().requires_grad_(True)
        lr0 = cfg["lr"]
        opt = torch.optim.Adam([theta], lr=lr0)
        size = min(int(self.batch_bins), T)
        starts = np.arange(0, T, size)
        rng = np.random.default_rng(self.random_state)
        epochs = cfg["max_iter"]
        total, step = epochs * starts.size, 0
        for _ in range(epochs):
            for s in rng.permutation(starts):
                lr = lr0 * (1e-3 + (1 - 1e-3) * 0.5 * (1 + math.cos(math.pi * step / max(total - 1, 1))))
                for group in opt.param_groups:
                    group["lr"] = lr
                opt.zero_grad()
                objective(theta, int(s), int(min(s + size, T))).backward()
                opt.step()
                step += 1
                if self.penalty in ("l1", "group") and self.alpha > 0:
                    state = opt.state[theta]
                    denom = (state["exp_avg_sq"] / (1 - 0.999 ** float(state["step"]))).sqrt() + 1e-8
                    with torch.no_grad():
                        theta.copy_(self._prox(theta, (lr / denom)[n:], n, scale))
        theta.grad = None
        loss = objective(theta)  # one more pass over all bins: the final value and gradient
        (g,) = torch.autograd.grad(loss, theta)
        converged = bool(g.abs().max() <= float(self.tol) / math.sqrt(T)) and self.penalty not in ("l1", "group")
        return theta.detach(), epochs, converged, float(loss.detach())

    # -- significance --------------------------------------------------------------------
    def _exact_fisher(self, engine: _Engine, spikes: _Spikes, W: np.ndarray, b: np.ndarray) -> np.ndarray:
        """(N, N, B, B): ``F_ij = sum_t mu_i(t) (x_j(t) - xbar_ij)(x_j(t) - xbar_ij)^T`` at the
        fit, xbar_ij the mu_i-weighted mean (the Schur complement of i's intercept)."""
        n, B, T = spikes.n_units, self.n_basis, spikes.n_bins
        H = np.ascontiguousarray(np.einsum("ijk,lk->jli", W, self.basis_))
        b = np.ascontiguousarray(b, dtype=np.float64)

        def run(lo_hi):
            sums = np.zeros(n), np.zeros((n, B, n)), np.zeros((n, B, B, n))
            K.fisher_sums(spikes.bins, spikes.ids, self.basis_, H, b, spikes.weights, lo_hi[0], lo_hi[1],
                          engine.chunk, *sums)
            return sums

        ranges = engine._ranges(0, T)
        parts = list(engine.pool.map(run, ranges)) if len(ranges) > 1 else [run(ranges[0])]
        s0 = sum(p[0] for p in parts)
        s1 = np.transpose(sum(p[1] for p in parts), (2, 0, 1))  # (i, j, k)
        upper = np.transpose(sum(p[2] for p in parts), (3, 0, 1, 2))  # (i, j, k, q), k <= q filled
        s2 = upper + np.swapaxes(np.triu(np.ones((B, B)), 1) * upper, 2, 3)
        return s2 - s1[:, :, :, None] * s1[:, :, None, :] / np.maximum(s0, 1e-300)[:, None, None, None]

    def _fisher_blocks(self, engine: _Engine, spikes: _Spikes, W: np.ndarray, b: np.ndarray,
                       cov: np.ndarray) -> np.ndarray:
        """(N, N, B, B) Fisher information of each filter w_ij, with i's intercept and, to
        first order, i's other filters profiled out.

        ``exact``: the exact block :meth:`_exact_fisher`, corrected for the correlation of j's
        features with all the other regressors of i as ``F^1/2 G_j F^1/2`` with
        ``G_j = C_jj^-1/2 ((C^-1)_jj)^-1 C_jj^-1/2`` from the feature covariance ``C``
        (``G_j = I`` when j's features are uncorrelated with the others).
        ``factorised``: ``n_bins * mean count of i * ((C^-1)_jj)^-1``, i.e. mu_i taken as
        constant, which it is under the null hypothesis if i's rate does not co-vary with j.
        """
        n, B, T = spikes.n_units, self.n_basis, spikes.n_bins
        method = self.fisher
        if method == "auto":  # the exact sums visit the (bin, pre) pairs with a spike in the window
            active = 1.0 - np.exp(-np.bincount(spikes.ids, minlength=n) / T * self.basis_.shape[0])
            cost = T * active.sum() * n * (B + B * (B + 1) / 2)
            method = "exact" if cost <= _FISHER_EXACT_BUDGET else "factorised"
        self.fisher_method_ = method
        # covariance of each unit's features conditional on all the other features
        root = _inv_sqrt(cov.reshape(n * B, n * B))
        precision = (root @ root).reshape(n, B, n, B)
        cond = _pinv_batched(np.einsum("jkjq->jkq", precision))
        if method == "factorised":
            total_w = spikes.weights.sum() if spikes.weights.size else T
            mbar = spikes.counts_per_unit() / max(total_w, 1e-300)
            return total_w * mbar[:, None, None, None] * cond[None]
        F = self._exact_fisher(engine, spikes, W, b)
        root_c = _pinv_batched(_sqrt_batched(np.einsum("jkjq->jkq", cov)))
        G = root_c @ cond @ root_c  # (N, B, B)
        root_f = _sqrt_batched(F)
        return root_f @ G[None] @ root_f

    def _wald(self, engine: _Engine, spikes: _Spikes, W: np.ndarray, b: np.ndarray, cov: np.ndarray) -> np.ndarray:
        F = self._fisher_blocks(engine, spikes, W, b, cov)
        F = 0.5 * (F + np.swapaxes(F, 2, 3))
        evals = np.linalg.eigvalsh(F)
        df = (evals > 1e-10 * np.maximum(evals.max(axis=2, keepdims=True), 1e-300)).sum(axis=2)
        stat = np.einsum("ijk,ijkq,ijq->ij", W, F, W)
        self.wald_statistics_ = stat
        p = stats.chi2.sf(np.maximum(stat, 0), np.maximum(df, 1))
        p[(df == 0) | np.all(W == 0, axis=2)] = 1.0
        return p

    def significant_(self, alpha: float = 0.05, correction: str | None = "fdr_bh") -> np.ndarray:
        """(N, N) bool: connections j -> i significant at level ``alpha`` over the N(N-1)
        off-diagonal tests, with Benjamini-Hochberg FDR control (``"fdr_bh"``),
        ``"bonferroni"`` or no correction (None). The diagonal (own history) is False."""
        check_is_fitted(self, "p_values_")
        if not 0 < alpha < 1:
            raise GLMError(f"alpha must lie in (0, 1), got {alpha}")
        n = self.n_units_
        off = ~np.eye(n, dtype=bool)
        p = self.p_values_[off]
        if correction is None:
            keep = p <= alpha
        elif correction == "bonferroni":
            keep = p * p.size <= alpha
        elif correction == "fdr_bh":
            order = np.argsort(p)
            passed = p[order] <= alpha * np.arange(1, p.size + 1) / p.size
            keep = np.zeros(p.size, dtype=bool)
            if passed.any():
                keep[order[: np.flatnonzero(passed).max() + 1]] = True
        else:
            raise GLMError(f"correction must be 'fdr_bh', 'bonferroni' or None, got {correction!r}")
        out = np.zeros((n, n), dtype=bool)
        out[off] = keep
        return out

    # -- prediction ----------------------------------------------------------------------
    def predict(self, record: SpikeRecord | Any) -> np.ndarray:
        """Expected spike counts per bin ``(n_bins, n_units)`` given the record's own history
        (one-step-ahead, conditionally on the observed spikes)."""
        spikes = self._check_data(record, "predict")
        cfg = self._settings()
        engine = self._engine(spikes, cfg)
        try:
            return np.exp(engine.linear_predictor(self.coef_, self.intercept_))
        finally:
            engine.close()

    def score(self, record: SpikeRecord | Any, y: None = None) -> float:
        """Mean Poisson log-likelihood per bin (nats per bin, summed over units, including
        the ``-log y!`` term) of the record under the fitted model; higher is better."""
        spikes = self._check_data(record, "score")
        cfg = self._settings()
        cfg["dtype"] = torch.float64
        engine = self._engine(spikes, cfg)
        try:
            nll, _, _ = engine.nll_grad(self.coef_, self.intercept_, 0, spikes.n_bins, want_grad=False)
        finally:
            engine.close()
        _, counts = np.unique(spikes.bins.astype(np.int64) * spikes.n_units + spikes.ids, return_counts=True)
        return float(-(nll + special.gammaln(counts + 1.0).sum()) / spikes.n_bins)
