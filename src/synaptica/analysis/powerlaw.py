"""Discrete power-law fits by maximum likelihood (Clauset, Shalizi & Newman 2009).

Clauset A, Shalizi CR, Newman MEJ (2009) "Power-law distributions in empirical data",
SIAM Review 51:661. For integer data ``x >= xmin`` the model is

    p(x) = x**-alpha / zeta(alpha, xmin),        zeta = Hurwitz zeta,

fitted by the exact discrete MLE (eq. 3.5: the likelihood is maximised numerically, not by
the continuous approximation ``1 + n / sum(log(x / (xmin - 1/2)))``). ``xmin`` is the
candidate (an observed value) that minimises the Kolmogorov-Smirnov distance between the
data above it and the fitted model (sec. 3.3); the standard error is the inverse square
root of the Fisher information, eq. 3.6; the goodness-of-fit p-value comes from the
semi-parametric bootstrap of sec. 4.1; alternatives are compared with Vuong's normalised
log-likelihood ratio test (sec. 5.1).

KS distance: ``D = max_{x >= xmin} |S(x) - P(x)|`` over every integer ``x``, with ``S`` and
``P`` the empirical and model CDFs ``Pr(X <= x)``. As both are step functions this is the
larger of the differences just at and just below each observed value. (The ``powerlaw``
package, Alstott et al. 2014, evaluates only ``Pr(X < x)`` at observed values, so its D is
never larger than this one.)

All heavy loops (one MLE and one KS distance per candidate ``xmin``) run in numba, with a
Hurwitz zeta of our own (Euler-Maclaurin summation) because scipy's is not callable there.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numba
import numpy as np
from scipy import optimize, special

__all__ = ["PowerLawFit", "LikelihoodRatio", "fit_power_law", "sample_discrete_power_law",
           "compare_power_law", "PowerLawError"]

ALPHA_MIN, ALPHA_MAX = 1.0 + 1e-9, 20.0  # search interval of the MLE for alpha
# B_2j / (2j)! for j = 1..7: the Euler-Maclaurin correction coefficients.
_EM = np.array([1 / 12, -1 / 720, 1 / 30240, -1 / 1209600, 1 / 47900160, -691 / 1307674368000,
                1 / 74724249600])


class PowerLawError(ValueError):
    """The data cannot be fitted by a discrete power law (the message says why)."""


@numba.njit(cache=True)
def _zeta(s: float, q: float) -> float:
    """Hurwitz zeta sum_{k>=0} (q + k)**-s for s > 1, q > 0, to ~1e-14 relative.

    Sum directly up to w = q + n >= 10 + s, then Euler-Maclaurin: integral, half term and
    seven Bernoulli corrections (the remainder is below 1e-14 once w >= 10 + s)."""
    q = float(q)  # an integer q would make w * w overflow in int64
    n = max(0, int(math.ceil(10.0 + s - q)))
    total = 0.0
    for k in range(n):
        total += (q + k) ** -s
    w = q + n
    total += w ** (1.0 - s) / (s - 1.0) + 0.5 * w ** -s
    rising = s  # s (s+1) ... (s+2j-2)
    power = w ** (-s - 1.0)  # w ** (-s - 2j + 1)
    inv_w2 = 1.0 / (w * w)
    for j in range(7):
        total += _EM[j] * rising * power
        rising *= (s + 2 * j + 1) * (s + 2 * j + 2)
        power *= inv_w2
    return total


@numba.njit(cache=True)
def _mle_alpha(mean_log: float, xmin: float) -> float:
    """Maximise the per-sample log-likelihood -alpha*mean_log - log zeta(alpha, xmin) by
    golden-section search on [ALPHA_MIN, ALPHA_MAX]; it is concave in alpha (log zeta is a
    log-sum-exp of linear functions of alpha), so the search finds the global maximum."""
    lo, hi = ALPHA_MIN, ALPHA_MAX
    g = 0.6180339887498949
    a = hi - g * (hi - lo)
    b = lo + g * (hi - lo)
    fa = -a * mean_log - math.log(_zeta(a, xmin))
    fb = -b * mean_log - math.log(_zeta(b, xmin))
    while hi - lo > 1e-10:
        if fa > fb:
            hi, b, fb = b, a, fa
            a = hi - g * (hi - lo)
            fa = -a * mean_log - math.log(_zeta(a, xmin))
        else:
            lo, a, fa = a, b, fb
            b = lo + g * (hi - lo)
            fb = -b * mean_log - math.log(_zeta(b, xmin))
    return 0.5 * (lo + hi)


@numba.njit(cache=True)
def _ks(values: np.ndarray, counts: np.ndarray, start: int, n_tail: int, alpha: float) -> float:
    """KS distance between the data values[start:] (unique, with counts) and the power law
    with exponent alpha starting at values[start] (see the module docstring)."""
    z0 = _zeta(alpha, values[start])
    cum = 0
    d = 0.0
    for k in range(start, values.size):
        u = values[k]
        z_next = _zeta(alpha, u + 1.0)  # Pr(X >= u + 1) * z0
        model_le = 1.0 - z_next / z0
        model_lt = 1.0 - (z_next + u ** -alpha) / z0
        data_lt = cum / n_tail
        cum += counts[k]
        data_le = cum / n_tail
        d = max(d, abs(data_le - model_le), abs(data_lt - model_lt))
    return d


@numba.njit(cache=True)
def _scan(values: np.ndarray, counts: np.ndarray, first: int, last: int):
    """MLE alpha and KS distance for every candidate xmin = values[j], j in [first, last]."""
    tail_n = np.cumsum(counts[::-1])[::-1]
    tail_log = np.cumsum((counts * np.log(values))[::-1])[::-1]
    m = last - first + 1
    alphas = np.empty(m)
    dists = np.empty(m)
    for i in range(m):
        j = first + i
        alphas[i] = _mle_alpha(tail_log[j] / tail_n[j], values[j])
        dists[i] = _ks(values, counts, j, tail_n[j], alphas[i])
    return alphas, dists


@dataclass(frozen=True)
class PowerLawFit:
    """A discrete power law ``p(x) = x**-alpha / zeta(alpha, xmin)`` fitted to integer data.

    alpha:   MLE exponent (dimensionless).
    xmin:    lower bound of the power-law regime (same unit as the data, e.g. spikes or bins).
    sigma:   standard error of alpha, ``1 / sqrt(n_tail * I(alpha))`` with the exact
             discrete Fisher information ``I = d^2/dalpha^2 log zeta(alpha, xmin)``
             (Clauset et al. eq. 3.6).
    ks:      KS distance D between the tail data and the fit.
    n_tail:  number of observations >= xmin; n: number of observations.
    loglik:  log-likelihood of the tail data under the fit.
    p_value: goodness of fit by semi-parametric bootstrap (NaN when n_bootstrap was 0);
             Clauset et al. rule the power law out when p <= 0.1.
    n_bootstrap: number of synthetic data sets behind p_value.
    at_bound: alpha sits at the edge of the search interval (the fit is not meaningful).
    """

    alpha: float
    xmin: int
    sigma: float
    ks: float
    n_tail: int
    n: int
    loglik: float
    p_value: float = float("nan")
    n_bootstrap: int = 0
    at_bound: bool = False

    def pmf(self, x: np.ndarray) -> np.ndarray:
        """Model probability of each integer ``x`` (0 below ``xmin``)."""
        x = np.asarray(x, dtype=np.float64)
        p = np.where(x >= self.xmin, np.maximum(x, 1.0) ** -self.alpha, 0.0)
        return p / special.zeta(self.alpha, self.xmin)

    def ccdf(self, x: np.ndarray) -> np.ndarray:
        """Model ``Pr(X >= x)`` for integer ``x`` (1 at and below ``xmin``)."""
        x = np.maximum(np.asarray(x, dtype=np.float64), self.xmin)
        return special.zeta(self.alpha, x) / special.zeta(self.alpha, self.xmin)


def _as_positive_integers(data: np.ndarray, what: str = "data") -> np.ndarray:
    x = np.asarray(data)
    if x.ndim != 1:
        raise PowerLawError(f"{what} must be 1-D, got shape {x.shape}")
    if x.size == 0:
        raise PowerLawError(f"{what} is empty")
    if not (np.issubdtype(x.dtype, np.integer) or np.issubdtype(x.dtype, np.floating)):
        raise PowerLawError(f"{what} must be numbers, got dtype {x.dtype}")
    x = x.astype(np.float64)
    if not np.all(np.isfinite(x)):
        raise PowerLawError(f"{what} contains NaN or infinity")
    if np.any(x != np.round(x)):
        raise PowerLawError(f"{what} must be integers for a discrete power law")
    if x.min() < 1:
        raise PowerLawError(f"{what} must be >= 1, got a minimum of {x.min():g}")
    return x


def _fisher_sigma(alpha: float, xmin: float, n_tail: int) -> float:
    """``1 / sqrt(n I)`` with ``I`` the second derivative of ``log zeta(alpha, xmin)``
    (a central difference; the function is smooth and h = 1e-4 keeps both the truncation
    and the rounding error near 1e-8 relative)."""
    h = min(1e-4, (alpha - 1.0) / 2)

    def f(a: float) -> float:
        return math.log(_zeta(a, xmin))

    info = (f(alpha + h) - 2 * f(alpha) + f(alpha - h)) / (h * h)
    return 1.0 / math.sqrt(n_tail * info) if info > 0 else float("inf")


def _best_fit(values: np.ndarray, counts: np.ndarray, first: int, last: int) -> tuple[int, float, float]:
    alphas, dists = _scan(values, counts, first, last)
    i = int(np.argmin(dists))
    return first + i, float(alphas[i]), float(dists[i])


def _candidates(values: np.ndarray, xmin: int | None, xmin_range: tuple[float, float] | None) -> tuple[int, int]:
    """Index range [first, last] of candidate xmins among the unique values."""
    if xmin is not None:
        j = int(np.searchsorted(values, xmin))
        if j >= values.size - 1:
            raise PowerLawError(f"fewer than 2 distinct values >= xmin={xmin}: nothing to fit")
        return j, j
    lo, hi = (values[0], values[-1]) if xmin_range is None else xmin_range
    first = int(np.searchsorted(values, lo, side="left"))
    last = min(int(np.searchsorted(values, hi, side="right")) - 1, values.size - 2)  # keep >= 2 values
    if last < first:
        raise PowerLawError(f"no candidate xmin in {xmin_range} leaves 2 distinct values to fit "
                            f"({values.size} distinct values in the data)")
    return first, last


def fit_power_law(data: np.ndarray, *, xmin: int | None = None, xmin_range: tuple[float, float] | None = None,
                  n_bootstrap: int = 0, seed: int | None = None) -> PowerLawFit:
    """Fit a discrete power law to positive integers (Clauset, Shalizi & Newman 2009).

    data:        (n,) integers >= 1 (e.g. avalanche sizes in spikes or durations in bins).
    xmin:        fix the lower bound; by default it is the observed value that minimises the
                 KS distance (every distinct value but the largest is a candidate).
    xmin_range:  ``(lo, hi)`` restricts the candidates to ``lo <= xmin <= hi``.
    n_bootstrap: number of semi-parametric bootstrap data sets for the goodness-of-fit
                 p-value (Clauset et al. sec. 4.1; 0 skips it, 2500 gives +-0.01). Each
                 synthetic set draws ``Binomial(n, n_tail/n)`` values from the fitted power
                 law and the rest uniformly from the observations below ``xmin``, and is
                 refitted with the same xmin policy.
    seed:        seed of the bootstrap generator.

    Returns a :class:`PowerLawFit`. Raises :class:`PowerLawError` on non-integer or
    non-positive data or when fewer than two distinct values lie at or above ``xmin``.
    """
    x = _as_positive_integers(data)
    if n_bootstrap < 0:
        raise PowerLawError(f"n_bootstrap must be >= 0, got {n_bootstrap}")
    if xmin is not None and (xmin < 1 or xmin != int(xmin)):
        raise PowerLawError(f"xmin must be a positive integer, got {xmin}")
    values, counts = np.unique(x, return_counts=True)
    first, last = _candidates(values, xmin, xmin_range)
    if xmin is not None and values[first] != xmin:  # xmin need not be an observed value
        values = np.concatenate([values[:first], [float(xmin)], values[first:]])
        counts = np.concatenate([counts[:first], [0], counts[first:]])
    j, alpha, dist = _best_fit(values, counts.astype(np.int64), first, last)
    best_xmin = int(values[j])
    tail = x[x >= best_xmin]
    n_tail = int(tail.size)
    loglik = float(-alpha * np.log(tail).sum() - n_tail * math.log(_zeta(alpha, best_xmin)))
    at_bound = alpha - ALPHA_MIN < 1e-6 or ALPHA_MAX - alpha < 1e-6
    p_value = float("nan")
    if n_bootstrap:
        p_value = _bootstrap_p(x, best_xmin, alpha, dist, n_bootstrap, seed, xmin, xmin_range)
    return PowerLawFit(alpha=alpha, xmin=best_xmin, sigma=_fisher_sigma(alpha, best_xmin, n_tail), ks=dist,
                       n_tail=n_tail, n=int(x.size), loglik=loglik, p_value=p_value, n_bootstrap=int(n_bootstrap),
                       at_bound=bool(at_bound))


def _bootstrap_p(x: np.ndarray, xmin: int, alpha: float, dist: float, n_bootstrap: int, seed: int | None,
                 fixed_xmin: int | None, xmin_range: tuple[float, float] | None) -> float:
    rng = np.random.default_rng(seed)
    body = x[x < xmin]
    p_tail = np.count_nonzero(x >= xmin) / x.size
    exceed = 0
    for _ in range(n_bootstrap):
        n_pl = int(rng.binomial(x.size, p_tail)) if body.size else x.size
        synth = np.concatenate([sample_discrete_power_law(alpha, xmin, n_pl, rng),
                                rng.choice(body, x.size - n_pl) if body.size else np.empty(0)])
        values, counts = np.unique(synth, return_counts=True)
        try:
            first, last = _candidates(values, fixed_xmin, xmin_range)
        except PowerLawError:  # a degenerate synthetic set (all one value) fits perfectly
            continue
        if fixed_xmin is not None and values[first] != fixed_xmin:
            values = np.concatenate([values[:first], [float(fixed_xmin)], values[first:]])
            counts = np.concatenate([counts[:first], [0], counts[first:]])
        exceed += _best_fit(values, counts.astype(np.int64), first, last)[2] >= dist
    return exceed / n_bootstrap


_X_CAP = 2.0**53  # largest float64 below which every integer is exact


@numba.njit(cache=True)
def _invert_ccdf(u: np.ndarray, alpha: float, xmin: float) -> np.ndarray:
    """For each u in (0, 1], the largest integer x in [xmin, 2**53] with Pr(X >= x) >= u."""
    z0 = _zeta(alpha, xmin)
    out = np.empty(u.size, np.int64)
    for i in range(u.size):
        # continuous approximation (Clauset et al. eq. D.6), then an exact local correction
        guess = (xmin - 0.5) * u[i] ** (-1.0 / (alpha - 1.0)) + 0.5
        x = max(xmin, float(math.floor(min(guess, _X_CAP - 1.0))))
        steps = 0
        while x > xmin and _zeta(alpha, x) / z0 < u[i] and steps < 32:
            x -= 1.0
            steps += 1
        while x < _X_CAP and _zeta(alpha, x + 1.0) / z0 >= u[i] and steps < 32:
            x += 1.0
            steps += 1
        if steps == 32:  # still off: bisection keeping ccdf(lo) >= u > ccdf(hi)
            lo, hi = xmin, _X_CAP
            if _zeta(alpha, hi) / z0 >= u[i]:
                lo = hi
            while hi - lo > 1.0:
                mid = float(math.floor(0.5 * (lo + hi)))
                if _zeta(alpha, mid) / z0 >= u[i]:
                    lo = mid
                else:
                    hi = mid
            x = lo
        out[i] = np.int64(x)
    return out


def sample_discrete_power_law(alpha: float, xmin: int, size: int,
                              seed: int | np.random.Generator | None = None) -> np.ndarray:
    """``size`` exact draws from ``p(x) = x**-alpha / zeta(alpha, xmin)``, x >= xmin: (size,) int64.

    Inverse-CDF sampling: for each uniform ``u`` the largest integer ``x`` with
    ``Pr(X >= x) >= u``, starting from the continuous approximation of Clauset et al.
    (appendix D) and corrected exactly against the Hurwitz-zeta tail. Values are capped
    at 2**53 (beyond it float64 cannot tell integers apart; only alpha near 1 gets there)."""
    if not alpha > 1:
        raise PowerLawError(f"alpha must be > 1 for a normalisable power law, got {alpha}")
    if xmin < 1 or xmin != int(xmin):
        raise PowerLawError(f"xmin must be a positive integer, got {xmin}")
    if size < 0:
        raise PowerLawError(f"size must be >= 0, got {size}")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    u = 1.0 - rng.random(int(size))  # in (0, 1]
    return _invert_ccdf(u, float(alpha), float(xmin))


@dataclass(frozen=True)
class LikelihoodRatio:
    """Vuong's test of the power law against an alternative on the same tail data.

    ratio:      log-likelihood ratio R = sum(log p_pl - log p_alt); > 0 favours the power law.
    normalized: R / (sqrt(n) * sd of the pointwise differences).
    p_value:    two-sided significance of the sign of R (Clauset et al. eq. 5.4).
    alternative: "exponential" or "lognormal"; params: its fitted parameters.
    """

    ratio: float
    normalized: float
    p_value: float
    alternative: str
    params: dict


def _exponential_loglik(tail: np.ndarray, xmin: int) -> tuple[np.ndarray, dict]:
    """Discrete exponential ``p(x) = (1 - e^-lam) e^(-lam (x - xmin))``; closed-form MLE."""
    excess = tail.mean() - xmin
    if excess <= 0:
        raise PowerLawError("all tail values equal xmin: the exponential fit is degenerate")
    lam = math.log1p(1.0 / excess)
    return math.log(-math.expm1(-lam)) - lam * (tail - xmin), {"lambda": lam}


def _lognormal_loglik(tail: np.ndarray, xmin: int) -> tuple[np.ndarray, dict]:
    """Log-normal discretised by rounding: ``p(x)`` is the continuous mass on
    ``[x - 1/2, x + 1/2)`` renormalised to ``x >= xmin`` (as the ``powerlaw`` package's
    default "round" normalisation); mu, sigma by numerical MLE."""
    log_hi, log_lo = np.log(tail + 0.5), np.log(tail - 0.5)
    log_min = math.log(xmin - 0.5)

    def logliks(params: np.ndarray) -> np.ndarray:
        mu, sigma = params[0], math.exp(params[1])
        # log of Phi(b) - Phi(a) through survival functions: the tail is where precision matters
        upper = special.log_ndtr(-(log_lo - mu) / sigma)
        lower = special.log_ndtr(-(log_hi - mu) / sigma)
        mass = upper + np.log(-np.expm1(lower - upper))
        return mass - special.log_ndtr(-(log_min - mu) / sigma)

    logs = np.log(tail)
    start = np.array([logs.mean(), math.log(max(logs.std(), 0.1))])
    best = optimize.minimize(lambda p: -logliks(p).sum(), start, method="Nelder-Mead",
                             options={"xatol": 1e-8, "fatol": 1e-10, "maxiter": 4000})
    return logliks(best.x), {"mu": float(best.x[0]), "sigma": float(math.exp(best.x[1]))}


def compare_power_law(data: np.ndarray, fit: PowerLawFit, alternative: str = "lognormal") -> LikelihoodRatio:
    """Vuong's log-likelihood-ratio test of ``fit`` against an ``"exponential"`` or
    ``"lognormal"`` fitted by MLE to the same tail ``data >= fit.xmin`` (Clauset et al.
    sec. 5.1; non-nested, so ``p = erfc(|R| / sqrt(2 n s^2))``)."""
    x = _as_positive_integers(data)
    tail = x[x >= fit.xmin]
    if alternative == "exponential":
        alt, params = _exponential_loglik(tail, fit.xmin)
    elif alternative == "lognormal":
        alt, params = _lognormal_loglik(tail, fit.xmin)
    else:
        raise PowerLawError(f"alternative must be 'exponential' or 'lognormal', got {alternative!r}")
    pl = -fit.alpha * np.log(tail) - math.log(_zeta(fit.alpha, fit.xmin))
    diff = pl - alt
    ratio = float(diff.sum())
    sd = float(diff.std())
    normalized = ratio / (math.sqrt(tail.size) * sd) if sd > 0 else 0.0
    p = float(special.erfc(abs(normalized) / math.sqrt(2)))
    return LikelihoodRatio(ratio=ratio, normalized=normalized, p_value=p, alternative=alternative, params=params)
