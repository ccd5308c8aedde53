"""scikit-learn plumbing shared by the analysis estimators: binned spike counts and tags.

The estimators take a :class:`~synaptica.record.SpikeRecord` or binned spike counts
``(n_bins, n_units)``: a sample is a time bin, a feature is a unit (except
and the population estimators, which also take the population's counts ``(n_bins,)``).
Array input goes through :func:`sklearn.utils.check_array` (finite, numeric, real, 2-D,
enough bins), then must hold non-negative integers; every failure is re-raised as the
estimator's own error class (a ``ValueError``) with scikit-learn's wording kept, so that
both the estimator's callers and scikit-learn's checks recognise it.
"""
from __future__ import annotations

from typing import Any

import numpy as np
from scipy import sparse as sp
from sklearn.utils import check_array
from sklearn.utils.validation import check_non_negative

__all__ = ["count_tags", "as_counts_array", "check_n_units", "population_input"]


def count_tags(tags: Any, *, sparse: bool = False, requires_fit: bool = True) -> Any:
    """Estimator tags for non-negative integer spike counts.

    ``categorical`` is set because it is scikit-learn's only tag under which its estimator
    checks generate integer-valued data (``round(X - X.min())``); spike counts are integers.
    """
    tags.input_tags.positive_only = True
    tags.input_tags.categorical = True
    tags.input_tags.sparse = sparse
    tags.requires_fit = requires_fit
    return tags


def as_counts_array(X: Any, error: type[ValueError], *, what: str = "X", owner: str = "estimator",
                    accept_sparse: bool = False, ensure_min_samples: int = 1,
                    integer: bool = True) -> np.ndarray | sp.csr_array:
    """Binned spike counts ``(n_bins, n_units)`` as float64 (CSR when ``accept_sparse`` and
    ``X`` is sparse). Raises ``error`` naming the problem: not 2-D, empty, complex, NaN or
    infinite, negative, or not integer (``integer=False`` admits non-negative reals)."""
    try:
        counts = check_array(X, accept_sparse="csr" if accept_sparse else False, dtype=np.float64,
                             ensure_min_samples=ensure_min_samples, input_name=what)
        check_non_negative(counts, f"{owner} (spike counts must be non-negative integers)")
    except ValueError as exc:  # (TypeErrors, e.g. sparse input where dense is needed, pass as they are)
        if isinstance(exc, error):
            raise
        raise error(f"{what} (a SpikeRecord or binned counts (n_bins, n_units) expected): {exc}") from exc
    values = counts.data if sp.issparse(counts) else counts
    if integer and np.any(values != np.round(values)):
        raise error(f"{what}: spike counts must be non-negative integers, got non-integer values")
    return counts


def check_n_units(estimator: Any, n_units: int, *, reset: bool, error: type[ValueError], unit: str = "units") -> None:
    """On ``fit`` (``reset``) store ``n_features_in_ = n_units``; later check the data has as many."""
    if reset:
        estimator.n_features_in_ = int(n_units)
        return
    expected = estimator.n_features_in_
    if n_units != expected:
        name = type(estimator).__name__
        raise error(f"X has {n_units} features, but {name} is expecting {expected} features as input "
                    f"(fitted on {expected} {unit}, the data has {n_units})")


def population_input(estimator: Any, X: Any, error: type[ValueError], *, ensure_min_samples: int = 1) -> Any:
    """Population activity for the avalanche and branching estimators: population counts
    ``(n_bins,)`` are returned as given (the caller validates them), counts per unit
    ``(n_bins, n_units)`` are validated and summed over units. Sets ``n_features_in_``
    (the number of units; 1 for population counts)."""
    if np.ndim(X) == 1:
        estimator.n_features_in_ = 1
        return X
    counts = as_counts_array(X, error, owner=type(estimator).__name__, ensure_min_samples=ensure_min_samples)
    estimator.n_features_in_ = counts.shape[1]
    return counts.sum(axis=1)
