"""Hidden Markov models of binned spike counts: forward-backward, Viterbi and a Poisson HMM.

The inference routines work on any emission model: they take the log-likelihood of every
bin under every state, ``log_emission`` of shape ``(n_bins, n_states)``, so the switching
GLM of :mod:`synaptica.analysis.hmm_glm` shares them. Both are compiled with numba and run
in float64; the forward-backward pass is the scaled one (Rabiner 1989, Proc. IEEE 77:257),
with each bin's log-emissions shifted by their maximum before exponentiation so that no
bin underflows whatever the number of neurons.
"""
from __future__ import annotations

from typing import Any

import numba
import numpy as np
from scipy.special import gammaln
from sklearn.base import BaseEstimator
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_is_fitted

from ._estimator import as_counts_array, check_n_units, count_tags

__all__ = ["forward_backward", "viterbi", "PoissonHMM", "HMMError", "HMMNotFittedError"]


class HMMError(ValueError):
    """Bad input to a hidden Markov model; the message names the problem."""


class HMMNotFittedError(HMMError, NotFittedError):
    """A hidden Markov model was used before ``fit`` (scikit-learn's ``NotFittedError`` too)."""


def _require_fitted(model: Any, attribute: str) -> None:
    try:
        check_is_fitted(model, attribute)
    except NotFittedError as exc:
        raise HMMNotFittedError(f"this {type(model).__name__} is not fitted yet: call fit first") from exc


# -- inference ----------------------------------------------------------------------------
@numba.njit(cache=True)
def _forward_backward(log_emission, start, transition):
    n_bins, n_states = log_emission.shape
    shift = np.empty(n_bins)
    emission = np.empty((n_bins, n_states))
    for t in range(n_bins):
        m = log_emission[t, 0]
        for k in range(1, n_states):
            if log_emission[t, k] > m:
                m = log_emission[t, k]
        shift[t] = m
        for k in range(n_states):
            emission[t, k] = np.exp(log_emission[t, k] - m)
    alpha = np.empty((n_bins, n_states))
    scale = np.empty(n_bins)
    for t in range(n_bins):
        total = 0.0
        for k in range(n_states):
            if t == 0:
                prior = start[k]
            else:
                prior = 0.0
                for j in range(n_states):
                    prior += alpha[t - 1, j] * transition[j, k]
            alpha[t, k] = prior * emission[t, k]
            total += alpha[t, k]
        if not total > 0.0:
            return alpha, np.zeros((n_states, n_states)), -np.inf, t
        scale[t] = total
        for k in range(n_states):
            alpha[t, k] /= total
    beta = np.ones((n_bins, n_states))
    pair = np.zeros((n_states, n_states))
    weighted = np.empty(n_states)
    for t in range(n_bins - 2, -1, -1):
        for k in range(n_states):
            weighted[k] = emission[t + 1, k] * beta[t + 1, k] / scale[t + 1]
        for j in range(n_states):
            acc = 0.0
            for k in range(n_states):
                term = transition[j, k] * weighted[k]
                acc += term
                pair[j, k] += alpha[t, j] * term
            beta[t, j] = acc
    posterior = alpha * beta
    for t in range(n_bins):
        total = 0.0
        for k in range(n_states):
            total += posterior[t, k]
        for k in range(n_states):
            posterior[t, k] /= total
    loglik = 0.0
    for t in range(n_bins):
        loglik += np.log(scale[t]) + shift[t]
    return posterior, pair, loglik, -1


@numba.njit(cache=True)
def _viterbi(log_emission, log_start, log_transition):
    n_bins, n_states = log_emission.shape
    best = log_start + log_emission[0]
    back = np.zeros((n_bins, n_states), dtype=np.int64)
    new = np.empty(n_states)
    for t in range(1, n_bins):
        for k in range(n_states):
            arg = 0
            top = best[0] + log_transition[0, k]
            for j in range(1, n_states):
                value = best[j] + log_transition[j, k]
                if value > top:
                    top, arg = value, j
            back[t, k] = arg
            new[k] = top + log_emission[t, k]
        best[:] = new
    path = np.empty(n_bins, dtype=np.int64)
    path[-1] = np.argmax(best)
    for t in range(n_bins - 1, 0, -1):
        path[t - 1] = back[t, path[t]]
    return path, best.max()


def _check_chain(log_emission: Any, log_start: Any, log_transition: Any):
    log_emission = np.ascontiguousarray(log_emission, dtype=np.float64)
    log_start = np.ascontiguousarray(log_start, dtype=np.float64)
    log_transition = np.ascontiguousarray(log_transition, dtype=np.float64)
    if log_emission.ndim != 2 or log_emission.shape[0] < 1 or log_emission.shape[1] < 1:
        raise HMMError(f"log_emission must be (n_bins, n_states) with n_bins >= 1, got shape {log_emission.shape}")
    n_states = log_emission.shape[1]
    if log_start.shape != (n_states,):
        raise HMMError(f"log_start must have shape ({n_states},), got {log_start.shape}")
    if log_transition.shape != (n_states, n_states):
        raise HMMError(f"log_transition must have shape ({n_states}, {n_states}), got {log_transition.shape}")
    if np.isnan(log_emission).any() or np.isposinf(log_emission).any():
        raise HMMError("log_emission contains NaN or +inf")
    return log_emission, log_start, log_transition


def forward_backward(log_emission: Any, log_start: Any, log_transition: Any) -> tuple[np.ndarray, np.ndarray, float]:
    """State posteriors of a hidden Markov chain given per-bin emission log-likelihoods.

    log_emission:   ``(n_bins, n_states)``, ``log p(x_t | z_t = k)``.
    log_start:      ``(n_states,)``, ``log p(z_0 = k)``.
    log_transition: ``(n_states, n_states)``, ``log p(z_{t+1} = k | z_t = j)`` at ``[j, k]``.

    Returns ``(posterior, pair_sum, loglik)``: ``posterior[t, k] = p(z_t = k | x)``
    ``(n_bins, n_states)``; ``pair_sum[j, k] = sum_t p(z_t = j, z_{t+1} = k | x)``
    ``(n_states, n_states)``, the expected transition counts of Baum-Welch; and the
    marginal log-likelihood ``log p(x)`` (nats). Raises :class:`HMMError` when the data
    are impossible under the chain (zero probability at some bin).
    """
    log_emission, log_start, log_transition = _check_chain(log_emission, log_start, log_transition)
    posterior, pair, loglik, failed = _forward_backward(log_emission, np.exp(log_start), np.exp(log_transition))
    if failed >= 0:
        raise HMMError(f"the observations have zero probability under the model (at bin {failed})")
    return posterior, pair, float(loglik)


def viterbi(log_emission: Any, log_start: Any, log_transition: Any) -> tuple[np.ndarray, float]:
    """Most probable state sequence (Viterbi 1967): ``(path (n_bins,) int64, its joint log-probability)``.

    Arguments as in :func:`forward_backward`. Ties go to the lowest state index.
    """
    log_emission, log_start, log_transition = _check_chain(log_emission, log_start, log_transition)
    path, logp = _viterbi(log_emission, log_start, log_transition)
    return path, float(logp)


# -- Poisson HMM --------------------------------------------------------------------------
def _as_counts(X: Any, bin_size: float | None, what: str = "X", owner: str = "PoissonHMM") -> np.ndarray:
    """Binned counts ``(n_bins, n_units)`` float64 from a SpikeRecord or a counts array."""
    from synaptica.record import SpikeRecord

    if isinstance(X, SpikeRecord):
        if bin_size is None:
            raise HMMError(f"{what} is a SpikeRecord: set bin_size (s) to bin it")
        return X.bin(bin_size).astype(np.float64)
    return as_counts_array(X, HMMError, what=what, owner=owner)


def _log_normalise(p: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore"):
        return np.log(p)


def _sticky(n_states: int, stay: float = 0.9) -> np.ndarray:
    if n_states == 1:
        return np.ones((1, 1))
    leave = (1 - stay) / (n_states - 1)
    return np.full((n_states, n_states), leave) + np.eye(n_states) * (stay - leave)


class PoissonHMM(BaseEstimator):
    """Hidden Markov model with independent Poisson spike counts in each state.

    Each bin's count vector ``x_t`` ``(n_units,)`` is Poisson with state-dependent means
    ``rates_[z_t]`` (spikes per bin); ``z_t`` is a Markov chain with initial
    probabilities ``startprob_`` and transitions ``transmat_[j, k] = p(k | j)``. Fitted by
    Baum-Welch EM (Baum et al. 1970, Ann. Math. Stat. 41:164; Rabiner 1989) with the
    shared :func:`forward_backward`; the M-step is the closed-form maximum-likelihood one,
    the same as ``hmmlearn.hmm.PoissonHMM`` with its default (flat) priors.

    Parameters
    ----------
    n_states: number of hidden states.
    n_iter: maximum EM iterations (E-steps).
    tol: stop when an iteration raises the log-likelihood by less than ``tol`` nats.
    init: ``'kmeans'`` (k-means on counts summed over blocks holding ~10 population
        spikes each, so that clusters see rates rather than single spikes) or
        ``'random'`` (gamma-distributed rates around the mean count). The chain starts
        uniform with a sticky transition matrix (0.9 on the diagonal).
    bin_size: bin width in s, required when data are given as a SpikeRecord.
    start_init, transition_init, rates_init: explicit initial ``startprob_`` ``(K,)``,
        ``transmat_`` ``(K, K)`` and ``rates_`` ``(K, n_units)``; each overrides ``init``.
    random_state: seed for ``init`` and :meth:`sample`.

    Fitted attributes: ``startprob_``, ``transmat_``, ``rates_`` (counts per bin),
    ``loglik_history_`` (log-likelihood at each E-step), ``n_iter_``, ``converged_``,
    ``n_features_in_``.
    """

    def __init__(self, n_states: int = 2, *, n_iter: int = 100, tol: float = 1e-3, init: str = "kmeans",
                 bin_size: float | None = None, start_init: Any = None, transition_init: Any = None,
                 rates_init: Any = None, random_state: Any = None):
        self.n_states = n_states
        self.n_iter = n_iter
        self.tol = tol
        self.init = init
        self.bin_size = bin_size
        self.start_init = start_init
        self.transition_init = transition_init
        self.rates_init = rates_init
        self.random_state = random_state

    def __sklearn_tags__(self):
        return count_tags(super().__sklearn_tags__())

    # -- fitting --------------------------------------------------------------------------
    def _initialise(self, counts: np.ndarray) -> None:
        K, (T, N) = self.n_states, counts.shape
        rng = np.random.default_rng(self.random_state)
        mean = counts.mean(axis=0)
        if self.init == "kmeans":
            from sklearn.cluster import KMeans

            population = max(counts.sum() / T, 1e-12)
            block = int(np.clip(np.ceil(10.0 / population), 1, max(1, T // (4 * K))))
            n_blocks = T // block
            if n_blocks < K:
                raise HMMError(f"too few bins (n_samples={T}) to initialise {K} states by k-means")
            blocks = counts[: n_blocks * block].reshape(n_blocks, block, N).sum(axis=1)
            seed = int(rng.integers(2**31 - 1))
            km = KMeans(n_clusters=K, n_init=10, random_state=seed).fit(blocks)
            rates = km.cluster_centers_ / block
            rates = rates[np.argsort(rates.sum(axis=1))]  # states ordered by population rate
        elif self.init == "random":
            var = max(counts.var(), 1e-12)
            grand = max(counts.mean(), 1e-12)
            rates = rng.gamma(grand**2 / var, var / grand, size=(K, N))
        else:
            raise HMMError(f"init must be 'kmeans' or 'random', got {self.init!r}")
        self.rates_ = np.maximum(rates, 1e-3 * max(mean.mean(), 1e-12))
        self.startprob_ = np.full(K, 1.0 / K)
        self.transmat_ = _sticky(K)
        for name, attr, shape in (("start_init", "startprob_", (K,)), ("transition_init", "transmat_", (K, K)),
                                  ("rates_init", "rates_", (K, N))):
            value = getattr(self, name)
            if value is None:
                continue
            value = np.array(value, dtype=np.float64)
            if value.shape != shape:
                raise HMMError(f"{name} must have shape {shape}, got {value.shape}")
            if np.any(value < 0) or not np.all(np.isfinite(value)):
                raise HMMError(f"{name} must be finite and non-negative")
            setattr(self, attr, value)
        if not np.isclose(self.startprob_.sum(), 1.0) or not np.allclose(self.transmat_.sum(axis=1), 1.0):
            raise HMMError("start_init must sum to 1 and every row of transition_init must sum to 1")

    def _log_emission(self, counts: np.ndarray) -> np.ndarray:
        # log Poisson pmf summed over units; a zero rate with a zero count contributes 0
        log_rates = np.log(np.maximum(self.rates_, np.finfo(np.float64).tiny))
        return counts @ log_rates.T - self.rates_.sum(axis=1) - gammaln(counts + 1).sum(axis=1, keepdims=True)

    def _chain(self):
        return _log_normalise(self.startprob_), _log_normalise(self.transmat_)

    def fit(self, X: Any, y: Any = None) -> "PoissonHMM":
        """Fit by Baum-Welch on a SpikeRecord (binned at ``bin_size``) or counts ``(n_bins, n_units)``."""
        if int(self.n_states) != self.n_states or self.n_states < 1:
            raise HMMError(f"n_states must be a positive integer, got {self.n_states}")
        if int(self.n_iter) != self.n_iter or self.n_iter < 1:
            raise HMMError(f"n_iter must be a positive integer, got {self.n_iter}")
        counts = _as_counts(X, self.bin_size)
        check_n_units(self, counts.shape[1], reset=True, error=HMMError)
        self._initialise(counts)
        self.loglik_history_ = []
        self.converged_ = False
        for it in range(int(self.n_iter)):
            posterior, pair, loglik = forward_backward(self._log_emission(counts), *self._chain())
            self.loglik_history_.append(loglik)
            self.n_iter_ = it + 1
            # M-step: expected start, transition counts and per-state mean counts
            self.startprob_ = posterior[0] / posterior[0].sum()
            with np.errstate(invalid="ignore"):
                trans = pair / pair.sum(axis=1, keepdims=True)
            self.transmat_ = np.where(np.isfinite(trans), trans, self.transmat_)
            occupancy = posterior.sum(axis=0)
            with np.errstate(invalid="ignore"):
                rates = (posterior.T @ counts) / occupancy[:, None]
            self.rates_ = np.where(np.isfinite(rates), rates, self.rates_)
            if len(self.loglik_history_) > 1 and self.loglik_history_[-1] - self.loglik_history_[-2] < self.tol:
                self.converged_ = True
                break
        return self

    # -- inference ------------------------------------------------------------------------
    def _fitted_counts(self, X: Any) -> np.ndarray:
        _require_fitted(self, "rates_")
        counts = _as_counts(X, self.bin_size)
        check_n_units(self, counts.shape[1], reset=False, error=HMMError)
        return counts

    def score(self, X: Any, y: Any = None) -> float:
        """Log-likelihood ``log p(X)`` in nats (summed over bins)."""
        counts = self._fitted_counts(X)
        return forward_backward(self._log_emission(counts), *self._chain())[2]

    def predict_proba(self, X: Any) -> np.ndarray:
        """State posteriors ``(n_bins, n_states)``."""
        counts = self._fitted_counts(X)
        return forward_backward(self._log_emission(counts), *self._chain())[0]

    def predict(self, X: Any) -> np.ndarray:
        """Most probable state sequence ``(n_bins,)`` (Viterbi)."""
        counts = self._fitted_counts(X)
        return viterbi(self._log_emission(counts), *self._chain())[0]

    def sample(self, n_bins: int, random_state: Any = None) -> tuple[np.ndarray, np.ndarray]:
        """Draw ``(counts (n_bins, n_units) int64, states (n_bins,) int64)`` from the fitted model."""
        _require_fitted(self, "rates_")
        if int(n_bins) != n_bins or n_bins < 1:
            raise HMMError(f"n_bins must be a positive integer, got {n_bins}")
        rng = np.random.default_rng(self.random_state if random_state is None else random_state)
        K = self.n_states
        states = np.empty(int(n_bins), dtype=np.int64)
        states[0] = rng.choice(K, p=self.startprob_)
        cumulative = np.cumsum(self.transmat_, axis=1)
        draws = rng.random(int(n_bins))
        for t in range(1, int(n_bins)):  # inherently sequential, K-way search per bin
            states[t] = min(int(np.searchsorted(cumulative[states[t - 1]], draws[t], side="right")), K - 1)
        counts = rng.poisson(self.rates_[states])
        return counts.astype(np.int64), states
