"""Lempel-Ziv complexity (LZ76) of spike trains and of population activity.

Lempel A, Ziv J (1976) "On the complexity of finite sequences", IEEE Trans. Inf. Theory
22:75. The sequence is parsed left to right into components; each new component is the
shortest word starting at the current position that cannot be copied from a start position
earlier in the sequence (overlap allowed). The complexity ``c`` is the number of components;
a last component that runs into the end of the sequence while still copying counts too.
Kaspar F, Schuster HG (1987) Phys. Rev. A 36:842 give the classic scan for it
(``method="kaspar-schuster"``, O(n^2) in the worst case, and slow on sparse spike trains
whose long silent runs match almost everywhere). The default ``"automaton"`` computes the
same parsing in O(n) with a suffix automaton of the sequence (Blumer et al. 1985): a word
``s[i:i+l]`` can be copied iff its first occurrence ends before ``i + l - 1``, and the
automaton state reached by reading the word stores that first end position.

Normalised complexity: ``c / (n / log_k n)`` with ``n`` the length and ``k`` the number
of distinct symbols in the sequence (at least 2; a binary train always uses k = 2). It tends
to 1 for long i.i.d. uniform sequences (Lempel & Ziv 1976; the same normalisation as
``antropy.lziv_complexity``).

Spike trains are binned and binarised (spike / no spike per bin). Population activity,
``population=``:

* ``"concatenate"`` (default): the binary (n_bins, n_units) matrix read time point by
  time point, all units of bin 0, then all units of bin 1, ... (Schartner et al. 2015,
  PLoS ONE 10:e0133532, "concatenated observation by observation"); k = 2, n = n_bins * n_units.
* ``"patterns"``: one symbol per bin, the pattern of active units in it; n = n_bins and k is
  the number of distinct patterns observed.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numba
import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin

from ._estimator import as_counts_array, count_tags
from ..record import SpikeRecord

__all__ = ["lempel_ziv_complexity", "binarize", "population_sequence", "spike_train_complexity",
           "population_complexity", "LempelZiv", "ComplexityError"]

_DENSE_MAX_ALPHABET = 16  # above this the automaton's (2n, k) transition table becomes a hash table


class ComplexityError(ValueError):
    """Bad input to a complexity measure (the message names the problem)."""


@numba.njit(cache=True)
def _lz76_scan(s: np.ndarray) -> int:
    """LZ76 complexity by the Kaspar-Schuster scan (1987, Fig. 1)."""
    n = s.size
    if n == 0:
        return 0
    c, start, ptr, k, k_max = 1, 1, 0, 1, 1  # start: length of the parsed prefix
    while start < n:
        if s[ptr + k - 1] == s[start + k - 1]:
            k += 1
            if start + k > n:  # copied up to the end: the last component
                c += 1
                break
        else:
            k_max = max(k, k_max)
            ptr += 1
            if ptr == start:  # no earlier start copies further: new component
                c += 1
                start += k_max
                ptr, k, k_max = 0, 1, 1
            else:
                k = 1
    return c


@numba.njit(cache=True)
def _lz76_automaton(s: np.ndarray, k: int) -> int:
    """LZ76 complexity with a suffix automaton; ``s`` holds symbols 0..k-1. O(n k) memory."""
    n = s.size
    if n == 0:
        return 0
    n_states = 2 * n + 1
    nxt = np.full((n_states, k), -1, np.int32)
    link = np.full(n_states, -1, np.int32)
    length = np.zeros(n_states, np.int32)
    first_end = np.zeros(n_states, np.int32)  # end index of the first occurrence
    last, size = 0, 1
    for pos in range(n):  # the standard online construction
        c = s[pos]
        cur = size
        size += 1
        length[cur] = length[last] + 1
        first_end[cur] = pos
        p = last
        while p != -1 and nxt[p, c] == -1:
            nxt[p, c] = cur
            p = link[p]
        if p == -1:
            link[cur] = 0
        else:
            q = nxt[p, c]
            if length[p] + 1 == length[q]:
                link[cur] = q
            else:
                clone = size
                size += 1
                length[clone] = length[p] + 1
                nxt[clone, :] = nxt[q, :]
                link[clone] = link[q]
                first_end[clone] = first_end[q]
                while p != -1 and nxt[p, c] == q:
                    nxt[p, c] = clone
                    p = link[p]
                link[q] = clone
                link[cur] = clone
        last = cur
    count, i = 0, 0
    while i < n:
        state, l = 0, 0
        while i + l < n:  # extend while s[i:i+l+1] also starts before i
            st = nxt[state, s[i + l]]
            if first_end[st] - l < i:
                state = st
                l += 1
            else:
                break
        count += 1
        i += l + 1
    return count


_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


@numba.njit(cache=True)
def _slot(keys: np.ndarray, key: int, shift: np.uint64, mask: int) -> int:
    """Open-addressing (linear probing) slot of ``key``: where it is, or the empty slot
    where it would go. Fibonacci hashing spreads the keys state * k + symbol."""
    i = np.int64((np.uint64(key) * _GOLDEN) >> shift)
    while keys[i] != -1 and keys[i] != key:
        i = (i + 1) & mask
    return i


@numba.njit(cache=True)
def _lz76_automaton_hashed(s: np.ndarray, k: int) -> int:
    """As :func:`_lz76_automaton` for any alphabet: the transitions live in a hash table
    keyed by ``state * k + symbol`` (at most 3n of them), each state chaining its own
    slots so that a clone can copy them. O(n) memory whatever k is."""
    n = s.size
    if n == 0:
        return 0
    n_states = 2 * n + 1
    bits = 4
    while (1 << bits) < 6 * n + 16:  # load factor <= 1/2
        bits += 1
    mask = (1 << bits) - 1
    shift = np.uint64(64 - bits)
    keys = np.full(1 << bits, -1, np.int64)
    target = np.empty(1 << bits, np.int32)
    chain = np.empty(1 << bits, np.int32)  # next slot of the same state
    head = np.full(n_states, -1, np.int32)
    link = np.full(n_states, -1, np.int32)
    length = np.zeros(n_states, np.int32)
    first_end = np.zeros(n_states, np.int32)
    last, size = 0, 1
    for pos in range(n):
        c = s[pos]
        cur = size
        size += 1
        length[cur] = length[last] + 1
        first_end[cur] = pos
        p = last
        while p != -1:
            i = _slot(keys, p * k + c, shift, mask)
            if keys[i] != -1:
                break
            keys[i] = p * k + c
            target[i] = cur
            chain[i] = head[p]
            head[p] = i
            p = link[p]
        if p == -1:
            link[cur] = 0
        else:
            q = target[_slot(keys, p * k + c, shift, mask)]
            if length[p] + 1 == length[q]:
                link[cur] = q
            else:
                clone = size
                size += 1
                length[clone] = length[p] + 1
                link[clone] = link[q]
                first_end[clone] = first_end[q]
                e = head[q]
                while e != -1:  # copy q's transitions
                    sym = keys[e] - q * k
                    i = _slot(keys, clone * k + sym, shift, mask)
                    keys[i] = clone * k + sym
                    target[i] = target[e]
                    chain[i] = head[clone]
                    head[clone] = i
                    e = chain[e]
                while p != -1:
                    i = _slot(keys, p * k + c, shift, mask)
                    if keys[i] == -1 or target[i] != q:
                        break
                    target[i] = clone
                    p = link[p]
                link[q] = clone
                link[cur] = clone
        last = cur
    count, i = 0, 0
    while i < n:
        state, l = 0, 0
        while i + l < n:
            st = target[_slot(keys, state * k + s[i + l], shift, mask)]
            if first_end[st] - l < i:
                state = st
                l += 1
            else:
                break
        count += 1
        i += l + 1
    return count


def _symbols(sequence) -> tuple[np.ndarray, int]:
    """Map any 1-D sequence (str, list, array) to int64 codes 0..k-1 and k."""
    if isinstance(sequence, str):
        sequence = np.frombuffer(sequence.encode("utf-32-le"), dtype=np.uint32)
    a = np.asarray(sequence)
    if a.ndim != 1:
        raise ComplexityError(f"the sequence must be 1-D, got shape {a.shape}")
    if a.dtype.kind not in "biuU":
        if a.dtype.kind == "f" and np.all(a == np.round(a)):
            a = a.astype(np.int64)
        else:
            raise ComplexityError(f"the sequence must hold discrete symbols (bool, int, str), got dtype {a.dtype}")
    if a.dtype == bool or (a.dtype.kind in "iu" and a.size and a.min() >= 0 and a.max() <= 1):
        return a.astype(np.int64), 2
    alphabet, codes = np.unique(a, return_inverse=True)
    return codes.astype(np.int64), int(alphabet.size)


def lempel_ziv_complexity(sequence, normalize: bool = False, method: str = "auto") -> float:
    """LZ76 complexity of a 1-D symbol sequence (Lempel & Ziv 1976).

    sequence:  str, list or array of discrete symbols (e.g. a 0/1 spike train).
    normalize: return ``c / (n / log_k n)`` (k = distinct symbols, at least 2) instead of c.
    method:    ``"automaton"`` (O(n); a dense transition table up to 16 distinct symbols,
               a hash table beyond), ``"kaspar-schuster"`` (the 1987 scan, O(n^2) worst
               case) or ``"auto"`` (= "automaton"). All give the same c.
    """
    codes, k = _symbols(sequence)
    if codes.size == 0:
        raise ComplexityError("the sequence is empty")
    c = _complexity(codes, k, method)
    return _normalize(c, codes.size, k) if normalize else c


def _complexity(codes: np.ndarray, k: int, method: str) -> int:
    if method not in ("auto", "automaton", "kaspar-schuster"):
        raise ComplexityError(f"method must be 'auto', 'automaton' or 'kaspar-schuster', got {method!r}")
    if method == "kaspar-schuster":
        return int(_lz76_scan(codes))
    if codes.size >= 2**29:
        raise ComplexityError(f"sequence of {codes.size} symbols is too long for the automaton (< 2**29)")
    if k > _DENSE_MAX_ALPHABET:
        return int(_lz76_automaton_hashed(codes, k))
    return int(_lz76_automaton(codes, max(k, 2)))


def _normalize(c: int, n: int, k: int) -> float:
    if n < 2:
        raise ComplexityError("normalised complexity needs a sequence of at least 2 symbols")
    return c * math.log(n, max(k, 2)) / n


def binarize(record: SpikeRecord, bin_size: float) -> np.ndarray:
    """Spike / no spike per bin and unit: ``(n_bins, n_units)`` bool (record binning)."""
    bins, ids = record.bin_indices(bin_size)
    out = np.zeros((record.n_bins(bin_size), record.n_units), dtype=bool)
    out[bins, ids] = True
    return out


@dataclass(frozen=True)
class _Binned:
    """Binned spikes, sparse: the (bin, unit) of every non-empty cell, in bin order."""
    bins: np.ndarray
    ids: np.ndarray
    n_bins: int
    n_units: int

    @classmethod
    def of_record(cls, record: SpikeRecord, bin_size: float) -> "_Binned":
        bins, ids = record.bin_indices(bin_size)
        return cls(bins, ids, record.n_bins(bin_size), record.n_units)

    @classmethod
    def of_counts(cls, counts: np.ndarray) -> "_Binned":
        bins, ids = np.nonzero(counts)  # row-major: in bin order
        return cls(bins.astype(np.int64), ids.astype(np.int64), int(counts.shape[0]), int(counts.shape[1]))


def population_sequence(record: SpikeRecord, bin_size: float, population: str = "concatenate") -> np.ndarray:
    """The population symbol sequence (see the module docstring): ``"concatenate"`` gives
    (n_bins * n_units,) 0/1 int64 (bin-major), ``"patterns"`` gives (n_bins,) int64 codes."""
    return _population_sequence(_Binned.of_record(record, bin_size), population)


def _population_sequence(binned: _Binned, population: str) -> np.ndarray:
    bins, ids, n_bins, n_units = binned.bins, binned.ids, binned.n_bins, binned.n_units
    if population == "concatenate":
        seq = np.zeros(n_bins * n_units, dtype=np.int64)
        seq[bins * n_units + ids] = 1
        return seq
    if population == "patterns":
        # each bin's pattern as packed bits (n_bins, ceil(n_units / 8)), without a dense matrix
        packed = np.zeros((n_bins, (n_units + 7) // 8), dtype=np.uint8)
        np.bitwise_or.at(packed, (bins, ids // 8), (1 << (ids % 8)).astype(np.uint8))
        return np.unique(packed, axis=0, return_inverse=True)[1].ravel().astype(np.int64)
    raise ComplexityError(f"population must be 'concatenate' or 'patterns', got {population!r}")


@numba.njit(cache=True)
def _per_unit(bins: np.ndarray, bounds: np.ndarray, n_bins: int) -> np.ndarray:
    out = np.empty(bounds.size - 1, np.int64)
    seq = np.zeros(n_bins, np.int64)
    for u in range(bounds.size - 1):
        for j in range(bounds[u], bounds[u + 1]):
            seq[bins[j]] = 1
        out[u] = _lz76_automaton(seq, 2)
        for j in range(bounds[u], bounds[u + 1]):
            seq[bins[j]] = 0
    return out


def spike_train_complexity(record: SpikeRecord, bin_size: float, normalize: bool = True) -> np.ndarray:
    """LZ76 complexity of every unit's binarised train: ``(n_units,)`` (float if normalised,
    else int64). ``bin_size`` in s; the sequences have ``record.n_bins(bin_size)`` symbols."""
    return _unit_complexities(_Binned.of_record(record, bin_size), normalize)


def _unit_complexities(binned: _Binned, normalize: bool) -> np.ndarray:
    n_bins = binned.n_bins
    order = np.argsort(binned.ids, kind="stable")
    bounds = np.searchsorted(binned.ids[order], np.arange(binned.n_units + 1))
    if normalize and n_bins < 2:
        raise ComplexityError("normalised complexity needs at least 2 bins")
    c = _per_unit(binned.bins[order].astype(np.int64), bounds.astype(np.int64), n_bins)
    return c * math.log2(n_bins) / n_bins if normalize else c


def population_complexity(record: SpikeRecord, bin_size: float, population: str = "concatenate",
                          normalize: bool = True) -> float:
    """LZ76 complexity of the population's activity (``population`` as in the module docstring)."""
    return _population_complexity(_Binned.of_record(record, bin_size), population, normalize)


def _population_complexity(binned: _Binned, population: str, normalize: bool) -> float:
    seq = _population_sequence(binned, population)
    k = 2 if population == "concatenate" else int(seq.max()) + 1
    c = _complexity(seq, k, "auto")
    return _normalize(c, seq.size, k) if normalize else c


class LempelZiv(TransformerMixin, BaseEstimator):
    """Lempel-Ziv complexity (LZ76, Lempel & Ziv 1976; Kaspar & Schuster 1987) of binned spikes.

    Parameters
    ----------
    bin_size : float
        Bin width in s for a :class:`SpikeRecord`; each bin is 1 if the unit spiked in it,
        else 0. Binned counts ``(n_bins, n_units)`` are binarised as given (count > 0).
    normalize : bool
        Divide by ``n / log_k n`` (n symbols, k distinct symbols, >= 2).
    population : {"concatenate", "patterns"}
        How the population sequence is formed (see :mod:`synaptica.analysis.complexity`).

    ``transform(X)`` returns the (n_units,) per-unit complexities: complexity is a property
    of a whole sequence, so the output has one value per unit (feature), not one per bin
    (sample). The measure is stateless: ``transform`` needs no ``fit``. ``fit`` stores the
    per-unit complexities as ``complexity_``, the population's as ``population_complexity_``
    and the number of units as ``n_features_in_``.
    """

    def __init__(self, bin_size: float = 0.001, normalize: bool = True, population: str = "concatenate"):
        self.bin_size = bin_size
        self.normalize = normalize
        self.population = population

    def __sklearn_tags__(self):
        return count_tags(super().__sklearn_tags__(), requires_fit=False)

    def _binned(self, X: SpikeRecord | np.ndarray) -> _Binned:
        if self.population not in ("concatenate", "patterns"):
            raise ComplexityError(f"population must be 'concatenate' or 'patterns', got {self.population!r}")
        if isinstance(X, SpikeRecord):
            if isinstance(self.bin_size, bool) or not isinstance(self.bin_size, (int, float, np.number)) \
                    or not self.bin_size > 0:
                raise ComplexityError(f"bin_size must be > 0 s, got {self.bin_size!r}")
            return _Binned.of_record(X, self.bin_size)
        counts = as_counts_array(X, ComplexityError, owner="LempelZiv", ensure_min_samples=2 if self.normalize else 1)
        return _Binned.of_counts(counts)

    def fit(self, X: SpikeRecord | np.ndarray, y: None = None) -> "LempelZiv":
        """Complexities of a :class:`SpikeRecord` (binned at ``bin_size``) or of binned counts
        ``(n_bins, n_units)``; ``y`` is ignored."""
        binned = self._binned(X)
        self.complexity_ = _unit_complexities(binned, self.normalize)
        self.population_complexity_ = _population_complexity(binned, self.population, self.normalize)
        self.n_features_in_ = binned.n_units
        return self

    def transform(self, X: SpikeRecord | np.ndarray) -> np.ndarray:
        """Per-unit complexities of ``X``: (n_units,)."""
        return _unit_complexities(self._binned(X), self.normalize)
