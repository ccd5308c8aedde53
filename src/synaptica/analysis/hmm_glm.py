"""Switching coupled Poisson GLMs (HMM-GLM) with the Gaussian and one-hot priors of Li et al.

Model (Li, Kim, Rodgers, Choi & Wu, "One-hot Generalized Linear Model for Switching Brain
State Discovery", ICLR 2024, arXiv:2310.15263): a hidden Markov chain ``z_t`` over
``K`` states; given ``z_t = k`` the count of neuron ``i`` in bin ``t`` is Poisson with
log-rate (per bin)

    eta[t, k, i] = intercept[k, i] + sum_{j, b} coef[k, i, j, b] * X[t, j, b],

where ``X[t, j, b]`` is neuron ``j``'s spike history filtered by raised-cosine basis
function ``b`` (:func:`synaptica.analysis.basis.history_features`, lags 1..window bins).
The paper's rate nonlinearity is a sigmoid/softplus; here it is the exponential (the
canonical Poisson link, as in :mod:`synaptica.analysis.glm`).

Priors on the coupling ``i != j`` (self-history filters are per-state and unpenalised in
every variant: they model refractoriness and bursting, not connectivity):

* ``'gaussian'``: ``coef[k] ~ N(coef_global, sigma^2)`` elementwise; the global weights are
  learned (empirical Bayes) and enter the M-step in closed form, ``coef_global = mean_k coef[k]``.
* ``'onehot'``: ``coef[k, i, j, :] = (a_exc - a_inh)[k, i, j] * strength[k, i, j] * shape[i, j, :]``,
  with ``a[k, i, j]`` a one-hot connection type over (inhibitory, none, excitatory),
  ``strength >= 0`` (softplus) and a non-negative filter shape shared across states
  (softmax over basis coefficients; the authors' reference code also shares the kernel).
  As in the paper the one-hot ``a`` is relaxed to the simplex and given a Gumbel-softmax
  (Concrete, Maddison et al. 2017, ICLR) prior ``a[k, i, j] ~ Concrete(p_global[i, j], tau)``
  whose class probabilities ``p_global`` (the state-shared connectome) are learned.
  Departures, each documented here: (1) the M-step optimises the relaxed
  ``a = softmax(logits)`` deterministically (MAP, no Gumbel sampling, so L-BFGS applies);
  (2) ``a`` is floored at 1e-3 per class, which keeps the Concrete density bounded at the
  simplex's corners (the authors' code halves extreme logits instead); (3) strengths get a
  ``Gamma(2, 1 / strength_mode)`` prior, whose zero density at 0 makes an absent
  connection come out as 'none' rather than as a signed one with a vanishing strength
  (without it, measured type accuracy on absent pairs was ~20 %); (4) the types start
  tilted towards 'none' (logit +0.5), i.e. from a sparse network. ``adjacency_`` reports
  the hard types (argmax); ``coef_`` holds the relaxed weights the likelihood was fitted with.
* ``None``: maximum likelihood, one independent GLM per state.

Fitting is (generalised) EM: the E-step is :func:`synaptica.analysis.hmm.forward_backward`,
the M-step maximises the posterior-weighted Poisson log-likelihood plus the log-prior with
torch L-BFGS (warm-started) and updates the chain in closed form. The transition matrix
has a sticky Dirichlet prior (Fox et al. 2011, Ann. Appl. Stat. 5:1020) worth
``stickiness`` x (bins per state) pseudo-counts on each self-transition: brain states are
slow, and without it EM readily settles on fast-switching solutions that explain bursts
of coupled activity instead of states. EM starts from the posteriors of a
:class:`~synaptica.analysis.hmm.PoissonHMM` fitted to counts summed over one history
window (``init='hmm'``), so it needs states that differ at least a little in their rates;
states that differ only in their interactions are refined by the GLM iterations.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator

from synaptica.analysis._threads import limit_threads
from synaptica.analysis._estimator import check_n_units, count_tags
from synaptica.analysis.hmm import HMMError, PoissonHMM, _as_counts, _require_fitted, forward_backward, viterbi

__all__ = ["HMMGLM"]

_TYPES = 3  # connection types of the one-hot prior: inhibitory, none, excitatory
_EPS = 1e-3  # floor on relaxed one-hot probabilities: bounds the Concrete density
_MAX_ETA = 20.0  # log-rate per bin cap: guards exp() against overflow in early iterations
_NONE_BIAS = 0.5  # initial logit advantage of 'none': fitting starts from a sparse network


class HMMGLM(BaseEstimator):
    """Hidden Markov model whose states are coupled Poisson GLMs (Li et al., ICLR 2024).

    Parameters
    ----------
    n_states: number of hidden states ``K``.
    prior: ``'gaussian'``, ``'onehot'`` or ``None`` (see the module docstring).
    n_basis: raised-cosine basis functions per coupling filter ``B``.
    window: history length in bins (lags 1..window).
    bin_size: bin width in s, used when fitting a SpikeRecord (counts arrays are taken as binned).
    sigma: standard deviation of the Gaussian prior (log-rate units per basis coefficient).
    tau: temperature of the one-hot prior's Concrete distribution.
    stickiness: sticky Dirichlet prior on self-transitions, as a fraction of the bins per
        state (0 gives maximum-likelihood transitions).
    strength_mode: mode of the one-hot prior's Gamma(2, 1 / strength_mode) on connection
        strengths (log-rate units).
    n_iter: maximum EM iterations; ``tol``: stop when the log posterior gains less than
        ``tol`` nats per bin in an iteration.
    mstep_iter: L-BFGS iterations per M-step; None: 20, or 50 with the one-hot prior, whose
        types and strengths move slowly (on 50 neurons, 20 found only a quarter of the
        connections that 60 found).
    init: ``'hmm'`` (posteriors of a Poisson HMM on the counts) or ``'random'``
        (a random sticky state sequence).
    random_state: seed for the initialisation.
    n_jobs: torch / BLAS threads during the fit (1 is fastest for the many small M-step
        operations unless the problem is large).

    Fitted attributes (shapes with ``K`` states, ``N`` neurons, ``B`` basis functions)
    ----------------------------------------------------------------------------------
    coef_: ``(K, N, N, B)`` basis weights ``[state, post, pre, basis]``.
    intercept_: ``(K, N)`` baseline log-rate per bin.
    connectivity_: ``(K, N, N)`` coupling filter summed over lags ``[state, post, pre]``
        (nats of log-rate per presynaptic spike; the diagonal is the self-history).
    transition_: ``(K, K)``, ``p(z_{t+1} = k | z_t = j)`` at ``[j, k]``; ``startprob_`` ``(K,)``.
    basis_: ``(window, B)``; ``loglik_``: log-likelihood of the training data (nats);
    ``history_``: log posterior (log-likelihood + log-priors, up to constants) per iteration;
    ``n_iter_``, ``converged_``.
    Gaussian prior: ``global_coef_`` ``(N, N, B)``, ``global_connectivity_`` ``(N, N)``.
    One-hot prior: ``adjacency_`` ``(K, N, N)`` in {-1, 0, 1}; ``adjacency_proba_``
    ``(K, N, N, 3)`` and ``adjacency_prior_`` ``(N, N, 3)`` over (inh, none, exc);
    ``strength_`` ``(K, N, N)``.
    """

    def __init__(self, n_states: int = 2, *, prior: str | None = "gaussian", n_basis: int = 3, window: int = 10,
                 bin_size: float | None = 0.005, sigma: float = 0.2, tau: float = 0.5, stickiness: float = 0.05,
                 strength_mode: float = 1.0,
                 n_iter: int = 50, tol: float = 1e-6, mstep_iter: int | None = None, init: str = "hmm",
                 random_state: Any = None, n_jobs: int = 1):
        self.n_states = n_states
        self.prior = prior
        self.n_basis = n_basis
        self.window = window
        self.bin_size = bin_size
        self.sigma = sigma
        self.tau = tau
        self.stickiness = stickiness
        self.strength_mode = strength_mode
        self.n_iter = n_iter
        self.tol = tol
        self.mstep_iter = mstep_iter
        self.init = init
        self.random_state = random_state
        self.n_jobs = n_jobs

    def __sklearn_tags__(self):
        return count_tags(super().__sklearn_tags__())

    # -- validation and design ------------------------------------------------------------
    def _validate(self) -> None:
        def positive_int(name):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise HMMError(f"{name} must be a positive integer, got {value!r}")

        for name in ("n_states", "n_basis", "window", "n_iter", "n_jobs"):
            positive_int(name)
        if self.mstep_iter is not None:
            positive_int("mstep_iter")
        if self.prior not in (None, "gaussian", "onehot"):
            raise HMMError(f"prior must be 'gaussian', 'onehot' or None, got {self.prior!r}")
        if self.n_basis > self.window:
            raise HMMError(f"n_basis ({self.n_basis}) cannot exceed window ({self.window} bins)")
        if not self.sigma > 0 or not self.tau > 0:
            raise HMMError(f"sigma and tau must be > 0, got {self.sigma} and {self.tau}")
        if not self.strength_mode > 0:
            raise HMMError(f"strength_mode must be > 0, got {self.strength_mode}")
        if not self.stickiness >= 0:
            raise HMMError(f"stickiness must be >= 0, got {self.stickiness}")
        if self.init not in ("hmm", "random"):
            raise HMMError(f"init must be 'hmm' or 'random', got {self.init!r}")

    def _design(self, counts: np.ndarray):
        """Flattened history features (float32 torch), counts (float64 torch) and log(y!) per
        bin, from counts ``(n_bins, n_neurons)``."""
        import torch
        from scipy.special import gammaln

        from synaptica.analysis.basis import history_features

        features = history_features(counts, self.basis_)  # (T, N, B)
        T, N = counts.shape
        return features.reshape(T, -1), torch.from_numpy(counts), gammaln(counts + 1).sum(axis=1)

    # -- parameters -----------------------------------------------------------------------
    def _init_params(self, counts: np.ndarray, posterior: np.ndarray) -> None:
        import torch

        K, N, B = self.n_states, counts.shape[1], self.n_basis
        occupancy = posterior.sum(axis=0)[:, None] + 1e-12
        mean = (posterior.T @ counts) / occupancy  # (K, N) counts per bin
        floor = max(counts.mean(), 1e-12) * 1e-3
        f64 = dict(dtype=torch.float64)
        p = {"intercept": torch.tensor(np.log(np.maximum(mean, floor)), **f64)}
        if self.prior == "onehot":
            p["self_coef"] = torch.zeros(K, N, B, **f64)
            p["adj_logits"] = torch.zeros(K, N, N, _TYPES, **f64)
            p["adj_logits"][..., 1] = _NONE_BIAS
            mode = float(self.strength_mode)  # softplus(raw) starts at the prior's mode
            p["strength_raw"] = torch.full((K, N, N), mode + math.log(-math.expm1(-mode)), **f64)
            p["shape_logits"] = torch.zeros(N, N, B, **f64)
            p["prior_logits"] = torch.zeros(N, N, _TYPES, **f64)
        else:
            p["coef"] = torch.zeros(K, N, N, B, **f64)
        for tensor in p.values():
            tensor.requires_grad_(True)
        self._params = p

    def _adjacency(self, p):
        import torch

        return _EPS + (1 - _TYPES * _EPS) * torch.softmax(p["adj_logits"], dim=-1)

    def _coef(self, p):
        """Full ``(K, N, N, B)`` weights from the free parameters."""
        import torch

        if self.prior != "onehot":
            return p["coef"]
        N = p["intercept"].shape[1]
        a = self._adjacency(p)
        signed = (a[..., 2] - a[..., 0]) * torch.nn.functional.softplus(p["strength_raw"])
        coef = signed[..., None] * torch.softmax(p["shape_logits"], dim=-1)
        eye = torch.eye(N, dtype=torch.bool)
        return torch.where(eye[None, :, :, None], p["self_coef"][:, :, None, :], coef)

    def _log_prior(self, p):
        import torch

        if self.prior is None:
            return torch.zeros((), dtype=torch.float64)
        N = p["intercept"].shape[1]
        off = ~torch.eye(N, dtype=torch.bool)
        if self.prior == "gaussian":
            coef = p["coef"][:, off]  # (K, N(N-1), B)
            return -((coef - coef.mean(dim=0)) ** 2).sum() / (2 * self.sigma**2)
        # Concrete(pi, tau) log-density of the relaxed one-hot types (Maddison et al. 2017)
        tau = self.tau
        log_a = torch.log(self._adjacency(p))[:, off]  # (K, M, 3)
        log_pi = torch.log_softmax(p["prior_logits"][off], dim=-1)  # (M, 3)
        dens = (math.lgamma(_TYPES) + (_TYPES - 1) * math.log(tau) + (log_pi - (tau + 1) * log_a).sum(-1)
                - _TYPES * torch.logsumexp(log_pi - tau * log_a, dim=-1))
        # Gamma(2, 1 / strength_mode) on strengths: zero density at 0, so that an absent
        # connection is typed 'none' rather than signed with a vanishing strength
        strength = torch.nn.functional.softplus(p["strength_raw"])[:, off]
        return dens.sum() + (torch.log(strength) - strength / self.strength_mode).sum()

    def _weights(self, p):
        """Coupling weights as a ``(N * B, K * N)`` matrix ``[(pre, basis), (state, post)]``."""
        coef = self._coef(p)  # (K, N_post, N_pre, B)
        K, N = coef.shape[:2]
        return coef.permute(2, 3, 0, 1).reshape(-1, K * N)

    def _eta(self, p, features, weights=None, exact: bool = True):
        """Log-rates ``(T, K, N)`` from float32 features ``(T, N * B)``: float64 when
        ``exact`` (E-step, scores), else float32 (the M-step's rate term, where single
        precision halves the cost of the per-bin work and the optimum barely moves)."""
        if weights is None:
            weights = self._weights(p)
        K, N = p["intercept"].shape
        drive = (features @ weights.float()).reshape(-1, K, N)
        eta = drive.double() + p["intercept"] if exact else drive + p["intercept"].float()
        return eta.clamp(max=_MAX_ETA)

    def _log_emission(self, p, features, y, log_fact) -> np.ndarray:
        import torch

        with torch.no_grad():
            eta = self._eta(p, features)
            ll = (y[:, None, :] * eta - eta.exp()).sum(-1)
        return ll.numpy() - log_fact[:, None]

    def _m_step(self, features, y, posterior: np.ndarray) -> None:
        import torch

        p = self._params
        T, N = y.shape
        K = self.n_states
        w = torch.from_numpy(posterior)
        # The term sum_t w_tk y_ti eta_tki is linear in the parameters: its sufficient
        # statistics are computed once per M-step, so each evaluation only pays for exp().
        with torch.no_grad():
            wy = (w[:, :, None] * y[:, None, :]).reshape(T, K * N)
            lin_coef = features.T.double() @ wy  # (N * B, K * N)
            lin_bias = wy.sum(0).reshape(K, N)
        w3 = w[:, :, None].float()
        params = list(p.values())
        max_iter = self.mstep_iter or (50 if self.prior == "onehot" else 20)
        optimiser = torch.optim.LBFGS(params, lr=1.0, max_iter=int(max_iter), history_size=10,
                                      tolerance_grad=1e-7, tolerance_change=1e-10, line_search_fn="strong_wolfe")

        def closure():
            optimiser.zero_grad()
            weights = self._weights(p)
            eta = self._eta(p, features, weights, exact=False)
            rate_term = (w3 * eta.exp()).sum(dim=(1, 2)).double().sum()  # float64 across bins
            ll = (lin_coef * weights).sum() + (lin_bias * p["intercept"]).sum() - rate_term
            loss = -(ll + self._log_prior(p)) / T
            loss.backward()
            return loss

        optimiser.step(closure)

    # -- EM -------------------------------------------------------------------------------
    def _initial_posterior(self, counts: np.ndarray):
        K, T = self.n_states, counts.shape[0]
        if self.init == "hmm":
            # Counts summed over blocks of one history window: within a window the coupling
            # makes counts bursty, which a per-bin Poisson HMM would mistake for states.
            block = int(self.window)
            n_blocks = T // block
            if n_blocks < 2 * K:
                raise HMMError(f"the record has {T} bins, too few to initialise {K} states "
                               f"from blocks of {block} bins")
            coarse = counts[: n_blocks * block].reshape(n_blocks, block, -1).sum(axis=1)
            hmm = PoissonHMM(K, init="kmeans", random_state=self.random_state).fit(coarse)
            coarse_post = hmm.predict_proba(coarse)
            index = np.minimum(np.arange(T) // block, n_blocks - 1)
            posterior = coarse_post[index]
            return posterior, posterior[:-1].T @ posterior[1:]
        rng = np.random.default_rng(self.random_state)
        dwell = max(2.0, T / (10.0 * K))
        switches = rng.random(T) < 1.0 / dwell
        states = np.cumsum(switches) % K
        states = (states + rng.integers(K)) % K
        posterior = np.full((T, K), 0.2 / max(K - 1, 1)) if K > 1 else np.ones((T, 1))
        posterior[np.arange(T), states] = 0.8 if K > 1 else 1.0
        pair = posterior[:-1].T @ posterior[1:]
        return posterior, pair

    def _update_chain(self, posterior: np.ndarray, pair: np.ndarray) -> None:
        K = self.n_states
        start = np.maximum(posterior[0], 1e-8)
        self.startprob_ = start / start.sum()
        # MAP under the sticky Dirichlet prior: kappa pseudo-counts on each self-transition
        trans = np.maximum(pair + self._kappa * np.eye(K), 1e-8 * max(pair.sum(), 1.0) / K)
        self.transition_ = trans / trans.sum(axis=1, keepdims=True)

    def _log_chain_prior(self) -> float:
        return float(self._kappa * np.log(np.diag(self.transition_)).sum())

    def fit(self, X: Any, y: Any = None) -> "HMMGLM":
        """Fit by EM on a SpikeRecord (binned at ``bin_size``) or counts ``(n_bins, n_neurons)``."""
        self._validate()
        with limit_threads(self.n_jobs):
            return self._fit(X)

    def _fit(self, X: Any) -> "HMMGLM":
        import torch

        from synaptica.analysis.basis import raised_cosine_basis

        counts = _as_counts(X, self.bin_size, owner="HMMGLM")
        T, N = counts.shape
        if T <= self.window:
            raise HMMError(f"the record has {T} bins (n_samples={T}), fewer than the history window ({self.window} bins)")
        check_n_units(self, N, reset=True, error=HMMError, unit="neurons")
        self.basis_ = raised_cosine_basis(int(self.n_basis), int(self.window))
        features, yt, log_fact = self._design(counts)
        self._kappa = float(self.stickiness) * T / self.n_states
        posterior, pair = self._initial_posterior(counts)
        self._init_params(counts, posterior)
        self.history_ = []
        self.converged_ = False
        for it in range(int(self.n_iter)):
            self._update_chain(posterior, pair)
            self._m_step(features, yt, posterior)
            log_e = self._log_emission(self._params, features, yt, log_fact)
            posterior, pair, loglik = forward_backward(log_e, np.log(self.startprob_), np.log(self.transition_))
            with torch.no_grad():
                objective = loglik + float(self._log_prior(self._params)) + self._log_chain_prior()
            self.history_.append(objective)
            self.n_iter_ = it + 1
            if it > 0 and abs(self.history_[-1] - self.history_[-2]) < self.tol * T:
                self.converged_ = True
                break
        self.loglik_ = loglik
        self._export()
        return self

    def _export(self) -> None:
        import torch

        p = self._params
        with torch.no_grad():
            coef = self._coef(p).numpy().copy()
            self.coef_ = coef
            self.intercept_ = p["intercept"].numpy().copy()
            self.connectivity_ = coef @ self.basis_.sum(axis=0)
            if self.prior == "gaussian":
                self.global_coef_ = coef.mean(axis=0)
                self.global_connectivity_ = self.global_coef_ @ self.basis_.sum(axis=0)
            elif self.prior == "onehot":
                a = self._adjacency(p).numpy()
                N = coef.shape[1]
                self.adjacency_proba_ = a
                self.adjacency_ = a.argmax(axis=-1) - 1
                self.adjacency_[:, np.arange(N), np.arange(N)] = 0
                self.adjacency_prior_ = torch.softmax(p["prior_logits"], dim=-1).numpy()
                self.strength_ = torch.nn.functional.softplus(p["strength_raw"]).numpy()

    # -- inference ------------------------------------------------------------------------
    def _emission_for(self, X: Any) -> np.ndarray:
        _require_fitted(self, "coef_")
        counts = _as_counts(X, self.bin_size, owner="HMMGLM")
        check_n_units(self, counts.shape[1], reset=False, error=HMMError, unit="neurons")
        features, yt, log_fact = self._design(counts)
        return self._log_emission(self._params, features, yt, log_fact)

    def score(self, X: Any, y: Any = None) -> float:
        """Log-likelihood ``log p(X)`` in nats (history before the first bin taken as silent)."""
        return forward_backward(self._emission_for(X), np.log(self.startprob_), np.log(self.transition_))[2]

    def predict_proba(self, X: Any) -> np.ndarray:
        """State posteriors ``(n_bins, n_states)``."""
        return forward_backward(self._emission_for(X), np.log(self.startprob_), np.log(self.transition_))[0]

    def predict(self, X: Any) -> np.ndarray:
        """Most probable state sequence ``(n_bins,)`` (Viterbi)."""
        return viterbi(self._emission_for(X), np.log(self.startprob_), np.log(self.transition_))[0]
