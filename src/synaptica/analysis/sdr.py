"""False matches of dendritic segments on sparse distributed representations (SDRs).

Ahmad S. & Hawkins J. (2016), "How do neurons operate on sparse distributed
representations? A mathematical theory of sparsity, neurons and active dendrites",
arXiv:1601.00720; used by Hawkins J. & Ahmad S. (2016), "Why neurons have thousands of
synapses, a theory of sequence memory in neocortex", Front. Neural Circuits 10:23.

An SDR is a set of ``a`` active cells out of ``n`` (a random one: every one of the
C(n, a) sets equally likely). A dendritic segment has synapses from ``s`` distinct cells
and emits an NMDA spike when at least ``theta`` of them are active. The overlap ``b``
between a random SDR and the segment is hypergeometric, so the probability that a random
SDR makes the segment spike (a false match) is (Ahmad & Hawkins 2016, eq. 4 there)::

    P(n, a, s, theta) = sum_{b=theta}^{min(s, a)} C(s, b) C(n - s, a - b) / C(n, a)

Unions (the paper's "union property"): a segment that stores ``M`` patterns, each by
``s`` synapses, is treated as one segment of ``M s`` synapses with the same threshold,
i.e. P(n, a, M s, theta) -- the paper neglects the overlap between the stored
subsamples, which makes this an upper bound. :func:`union_false_match_probability`
with ``exact_union=True`` instead averages over the size of the union of ``M``
independent random ``s``-subsets (its exact distribution, by a recursion over the
patterns), which is what a simulated segment with randomly drawn synapses has.

Tiny probabilities (1e-13 and below) are estimated by importance sampling of the overlap:
:func:`tilted_overlap_proposal` draws ``b`` from the hypergeometric law exponentially
tilted toward ``theta`` and :func:`sdrs_with_overlaps` builds SDRs with those overlaps;
each sample carries the likelihood ratio (uniform SDR law over proposal law) as its weight.

All counts are dimensionless (cells, synapses); probabilities are per segment and per SDR.
"""
from __future__ import annotations

import math
from fractions import Fraction
from functools import lru_cache

import numpy as np
from scipy.special import erfinv, gammaln
from scipy.stats import beta as beta_distribution


def _integer(name: str, value, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        if isinstance(value, (float, np.floating)) and math.isfinite(value) and float(value).is_integer():
            value = int(value)
        else:
            raise ValueError(f"sdr: '{name}' must be an integer, got {value!r}")
    if value < minimum:
        raise ValueError(f"sdr: '{name}' must be >= {minimum}, got {value}")
    return int(value)


def check_sdr_parameters(n, a, s, theta) -> tuple[int, int, int, int]:
    """Validated (n, a, s, theta) as ints: 1 <= a <= n, 1 <= s <= n, 1 <= theta <= s."""
    n, a, s, theta = (_integer("n", n, 1), _integer("a", a, 1), _integer("s", s, 1), _integer("theta", theta, 1))
    if a > n:
        raise ValueError(f"sdr: active cells a = {a} exceed the population n = {n}")
    if s > n:
        raise ValueError(f"sdr: synapses s = {s} exceed the population n = {n} (one synapse per cell)")
    if theta > s:
        raise ValueError(f"sdr: threshold theta = {theta} exceeds the synapses s = {s}: the segment could never spike")
    return n, a, s, theta


@lru_cache(maxsize=4096)
def _match_count(n: int, a: int, s: int, theta: int) -> int:
    """Number of a-subsets of n cells with at least theta of the s segment cells (exact)."""
    return sum(math.comb(s, b) * math.comb(n - s, a - b) for b in range(theta, min(s, a) + 1))


def false_match_fraction(n: int, a: int, s: int, theta: int) -> Fraction:
    """P(n, a, s, theta) as an exact rational (see module doc)."""
    n, a, s, theta = check_sdr_parameters(n, a, s, theta)
    return Fraction(_match_count(n, a, s, theta), math.comb(n, a))


def false_match_probability(n: int, a: int, s: int, theta: int) -> float:
    """P(n, a, s, theta), the probability that a random SDR of ``a`` active cells out of
    ``n`` activates at least ``theta`` of a segment's ``s`` synapses; computed on exact
    integers and rounded once (values below ~1e-308 round to 0: use
    :func:`log10_false_match_probability`)."""
    return float(false_match_fraction(n, a, s, theta))


def log10_false_match_probability(n: int, a: int, s: int, theta: int) -> float:
    """log10 P(n, a, s, theta) (-inf when no SDR can match), without underflow."""
    n, a, s, theta = check_sdr_parameters(n, a, s, theta)
    count = _match_count(n, a, s, theta)
    return math.log10(count) - math.log10(math.comb(n, a)) if count else -math.inf


def overlap_distribution(n: int, a: int, s: int) -> np.ndarray:
    """P(b) for b = 0 .. min(s, a): the hypergeometric law of the overlap between a random
    SDR (a of n) and a fixed set of s cells; shape (min(s, a) + 1,), sums to 1."""
    n, a, s, _ = check_sdr_parameters(n, a, s, 1)
    total = math.comb(n, a)
    return np.array([float(Fraction(math.comb(s, b) * math.comb(n - s, a - b), total))
                     for b in range(min(s, a) + 1)])


def union_size_distribution(n: int, s: int, m: int) -> np.ndarray:
    """P(U = u), u = 0 .. min(n, m s): size of the union of ``m`` independent uniformly
    random ``s``-subsets of ``n`` cells. Recursion over the subsets: a new subset adds k
    new cells to a union of u with probability C(n - u, k) C(u, s - k) / C(n, s)."""
    n, s, m = _integer("n", n, 1), _integer("s", s, 1), _integer("m", m, 1)
    if s > n:
        raise ValueError(f"sdr: synapses per pattern s = {s} exceed the population n = {n}")
    top = min(n, m * s)
    log_comb = _log_comb_table(n)
    law = np.zeros(top + 1)
    law[s] = 1.0
    u = np.arange(top + 1)
    for _ in range(m - 1):
        new = np.zeros_like(law)
        for k in range(s + 1):  # k new cells: needs k <= n - u and s - k <= u
            ok = (u <= n - k) & (u >= s - k) & (u + k <= top) & (law > 0)
            uu = u[ok]
            new[uu + k] += law[uu] * np.exp(log_comb(n - uu, k) + log_comb(uu, s - k) - log_comb(n, s))
        law = new
    return law / law.sum()


def _log_comb_table(n: int):
    table = gammaln(np.arange(n + 2) + 1.0)

    def log_comb(top, bottom):
        return table[top] - table[bottom] - table[np.asarray(top) - np.asarray(bottom)]
    return log_comb


def union_false_match_probability(n: int, a: int, s: int, theta: int, m: int, exact_union: bool = False) -> float:
    """False-match probability of a segment storing the union of ``m`` patterns with ``s``
    synapses each and threshold ``theta``.

    ``exact_union=False`` (the paper's definition): the segment has m s synapses,
    P(n, a, m s, theta). ``exact_union=True``: the m subsets are independent and uniformly
    random, so they may share cells; P is averaged over the exact law of the union size.
    """
    m = _integer("m", m, 1)
    n, a, s, theta = check_sdr_parameters(n, a, s, theta)
    if not exact_union:
        if m * s > n:
            raise ValueError(f"sdr: a union of m = {m} patterns of s = {s} synapses needs m s <= n = {n}")
        return false_match_probability(n, a, m * s, theta)
    law = union_size_distribution(n, s, m)
    sizes = np.flatnonzero(law > 0)
    return float(sum(law[u] * false_match_probability(n, a, int(u), theta) for u in sizes if u >= theta))


def random_sdrs(n: int, a: int, count: int, rng: np.random.Generator) -> np.ndarray:
    """``count`` independent uniformly random SDRs: (count, a) int arrays of distinct cells."""
    n, a, _, _ = check_sdr_parameters(n, a, 1, 1)
    count = _integer("count", count, 0)
    # argpartition of iid uniforms: every a-subset is equally likely
    return np.argpartition(rng.random((count, n)), a - 1, axis=1)[:, :a].astype(np.int64)


def binomial_interval(successes: int, trials: int, level: float = 0.99) -> tuple[float, float]:
    """Clopper-Pearson (exact) confidence interval of a binomial proportion."""
    successes, trials = _integer("successes", successes, 0), _integer("trials", trials, 1)
    if successes > trials:
        raise ValueError(f"sdr: successes {successes} exceed trials {trials}")
    if not 0.0 < level < 1.0:
        raise ValueError(f"sdr: confidence level must be in (0, 1), got {level}")
    alpha = 1.0 - level
    low = 0.0 if successes == 0 else float(beta_distribution.ppf(alpha / 2, successes, trials - successes + 1))
    high = 1.0 if successes == trials else float(beta_distribution.ppf(1 - alpha / 2, successes + 1,
                                                                        trials - successes))
    return low, high


def tilted_overlap_proposal(n: int, a: int, s: int, theta: int) -> tuple[np.ndarray, np.ndarray]:
    """Importance-sampling proposal for the overlap: q(b) proportional to P(b) exp(lambda b),
    the hypergeometric law tilted so that its mean is ``theta`` (lambda >= 0: no tilt when
    the untilted mean already reaches theta). Returns (P, q) over b = 0 .. min(s, a)."""
    n, a, s, theta = check_sdr_parameters(n, a, s, theta)
    p = overlap_distribution(n, a, s)
    b = np.arange(p.size)
    support = p > 0
    log_p = np.full(p.size, -np.inf)
    log_p[support] = np.log(p[support])

    def tilted(lam: float) -> np.ndarray:
        logq = log_p + lam * b
        q = np.exp(logq - logq[support].max())
        return q / q.sum()

    if (b * p).sum() >= theta or b[support].max() <= theta:
        lam = 0.0 if (b * p).sum() >= theta else 50.0
    else:  # the tilted mean grows with lambda: bisect for mean = theta
        low, high = 0.0, 1.0
        while (b * tilted(high)).sum() < theta:
            high *= 2.0
        for _ in range(100):
            mid = 0.5 * (low + high)
            low, high = (mid, high) if (b * tilted(mid)).sum() < theta else (low, mid)
        lam = 0.5 * (low + high)
    return p, tilted(lam)


def sdrs_with_overlaps(n: int, a: int, segment_cells: np.ndarray, overlaps: np.ndarray,
                       rng: np.random.Generator) -> np.ndarray:
    """SDRs (len(overlaps), a) having exactly overlaps[k] active cells among ``segment_cells``
    (uniformly random given the overlap: b of the segment's cells, a - b of the others)."""
    segment_cells = np.unique(np.asarray(segment_cells, dtype=np.int64))
    s = segment_cells.size
    n, a, s, _ = check_sdr_parameters(n, a, s, 1)
    overlaps = np.asarray(overlaps, dtype=np.int64)
    if np.any(overlaps < max(0, a - (n - s))) or np.any(overlaps > min(s, a)):
        raise ValueError(f"sdr: overlaps must lie in [{max(0, a - (n - s))}, {min(s, a)}] for n={n}, a={a}, s={s}")
    others = np.setdiff1d(np.arange(n), segment_cells)
    out = np.empty((overlaps.size, a), dtype=np.int64)
    for k, b in enumerate(overlaps):
        out[k, :b] = rng.choice(segment_cells, size=b, replace=False)
        out[k, b:] = rng.choice(others, size=a - b, replace=False)
    return out


def importance_weights(p: np.ndarray, q: np.ndarray, overlaps: np.ndarray) -> np.ndarray:
    """Likelihood ratio of each sample: (uniform SDR law) / (proposal law) = P(b) / q(b),
    since both laws are uniform over the SDRs with a given overlap b."""
    overlaps = np.asarray(overlaps, dtype=np.int64)
    if np.any(q[overlaps] <= 0):
        raise ValueError("sdr: a sampled overlap has zero proposal probability")
    return p[overlaps] / q[overlaps]


def importance_estimate(matched: np.ndarray, weights: np.ndarray, level: float = 0.99) -> dict[str, float]:
    """Importance-sampling estimate of P(match): the mean of weight x indicator, with its
    standard error and a normal confidence interval at ``level``."""
    matched = np.asarray(matched, dtype=float)
    weights = np.asarray(weights, dtype=float)
    if matched.shape != weights.shape or matched.ndim != 1 or matched.size < 2:
        raise ValueError(f"sdr: matched and weights must be equal 1-d arrays of >= 2 samples, got "
                         f"{matched.shape} and {weights.shape}")
    terms = matched * weights
    estimate = float(terms.mean())
    stderr = float(terms.std(ddof=1) / math.sqrt(terms.size))
    z = float(np.sqrt(2.0) * erfinv(level))
    return {"estimate": estimate, "stderr": stderr, "low": estimate - z * stderr, "high": estimate + z * stderr}
