"""scikit-learn contract of the analysis estimators: sklearn's own estimator checks (with the
ones that cannot apply to spike counts listed, with the reason, as expected failures), the
same contract on real spike data, and model selection with GridSearchCV on a SpikeRecord's
binned counts."""
import pickle
import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.utils.estimator_checks import parametrize_with_checks

from synaptica.analysis.avalanches import AvalancheAnalysis
from synaptica.analysis.branching import MultistepRegression
from synaptica.analysis.complexity import LempelZiv
from synaptica.analysis.glm import CoupledPoissonGLM
from synaptica.analysis.hmm import PoissonHMM
from synaptica.analysis.hmm_glm import HMMGLM
from synaptica.analysis.synthetic import markov_states, random_coupling, simulate_coupled_glm

# Small, fast settings: sklearn's checks fit dozens of times on 10-100 bins.
CHECKED = [
    AvalancheAnalysis(),
    MultistepRegression(kmax=2),
    LempelZiv(),
    CoupledPoissonGLM(window=0.003, n_basis=2, max_iter=20),
    PoissonHMM(n_iter=5),
    HMMGLM(n_iter=2, window=2, n_basis=2, mstep_iter=5),
]

_TIME_SERIES = ("rows are consecutive time bins: the output for a bin depends on its neighbours (spike "
                "history, hidden Markov chain), so reordering rows or predicting a subset changes it")
_NO_AVALANCHES = ("the checks' random counts have no silent bins, hence no bounded avalanche to fit; the same "
                  "contract is tested on spike data in test_contract_on_spike_data")
_PER_UNIT = ("transform returns one complexity per unit (feature), not one row per bin (sample): complexity "
             "belongs to a whole sequence")


def _expected_failures(estimator) -> dict[str, str]:
    name = type(estimator).__name__
    if name == "AvalancheAnalysis":
        return {check: _NO_AVALANCHES for check in (
            "check_estimators_overwrite_params", "check_dont_overwrite_parameters", "check_estimators_fit_returns_self",
            "check_readonly_memmap_input", "check_n_features_in_after_fitting", "check_estimators_dtypes",
            "check_dtype_object", "check_estimators_nan_inf", "check_f_contiguous_array_estimator",
            "check_methods_sample_order_invariance", "check_methods_subset_invariance", "check_dict_unchanged",
            "check_fit_idempotent", "check_fit_check_is_fitted", "check_n_features_in", "check_fit2d_predict1d")}
    if name == "MultistepRegression":
        return {"check_fit1d": "1-D input is the population activity (n_bins,), a valid input"}
    if name == "LempelZiv":
        return {"check_transformer_general": _PER_UNIT, "check_transformer_data_not_an_array": _PER_UNIT,
                "check_transformers_unfitted_stateless": _PER_UNIT, "check_methods_sample_order_invariance": _PER_UNIT,
                "check_methods_subset_invariance": _PER_UNIT,
                "check_n_features_in_after_fitting": "the measure is stateless: transform takes any number of units"}
    failures = {"check_methods_sample_order_invariance": _TIME_SERIES, "check_methods_subset_invariance": _TIME_SERIES}
    if name == "CoupledPoissonGLM":
        weights = "repeating a bin is not weighting it in a time series: the copy becomes the next bin's history"
        failures.update({
            "check_sample_weight_equivalence_on_dense_data": weights,
            "check_sample_weight_equivalence_on_sparse_data": weights,
            # fitting sparse counts works (test_grid_search_on_binned_record); the check then asserts a
            # one-column prediction
            "check_estimator_sparse_array": "predict returns the expected counts of every unit (n_bins, n_units)",
            "check_estimator_sparse_matrix": "predict returns the expected counts of every unit (n_bins, n_units)",
        })
    return failures


@parametrize_with_checks(CHECKED, expected_failed_checks=_expected_failures, xfail_strict=True)
def test_sklearn_checks(estimator, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # curve_fit / k-means warnings on the checks' tiny data
        check(estimator)


# -- the same contract on spike data -------------------------------------------------------
@pytest.fixture(scope="module")
def record():
    coupling = random_coupling(4, 0.5, 1.0, seed=1)
    return simulate_coupled_glm(coupling, np.array([20.0, 40.0, 30.0, 25.0]), 6.0, seed=1)


# (estimator, bin size of its counts, fitted attribute compared across fits)
ON_SPIKES = [
    (AvalancheAnalysis(bin_size=0.002), 0.002, "size_exponent_"),
    (MultistepRegression(bin_size=0.002, kmax=5), 0.002, "slopes_"),
    (LempelZiv(bin_size=0.002), 0.002, "complexity_"),
    (CoupledPoissonGLM(bin_size=0.002, window=0.01, n_basis=2), 0.002, "coef_"),
    (PoissonHMM(2, bin_size=0.01, n_iter=10, random_state=0), 0.01, "rates_"),
    (HMMGLM(2, bin_size=0.01, window=3, n_basis=2, n_iter=3, mstep_iter=5, random_state=0), 0.01, "coef_"),
]


@pytest.mark.parametrize("estimator, bin_size, attribute", ON_SPIKES, ids=lambda v: type(v).__name__)
def test_contract_on_spike_data(record, estimator, bin_size, attribute):
    params = estimator.get_params()
    copy = clone(estimator)
    assert copy.get_params() == params and copy.set_params(**params).get_params() == params
    assert not hasattr(copy, attribute)
    counts = record.bin(bin_size)

    fitted = clone(estimator)
    assert fitted.fit(record) is fitted
    assert fitted.n_features_in_ == record.n_units
    assert fitted.get_params() == params  # fit leaves the parameters alone
    value = np.asarray(getattr(fitted, attribute))
    # the record and its binned counts are the same data; a refit is the same fit
    np.testing.assert_allclose(getattr(clone(estimator).fit(counts), attribute), value, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(getattr(fitted.fit(record), attribute), value, rtol=1e-6, atol=1e-9)
    restored = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(getattr(restored, attribute), value)
    if hasattr(fitted, "score"):
        assert restored.score(counts) == fitted.score(counts)

    error = ValueError
    for bad, problem in [(np.where(counts == 0, np.nan, counts), "NaN"), (np.where(counts == 0, np.inf, counts), "infinity"),
                         (-counts - 1, "Negative values"), (counts + 0.5, "non-negative integers"),
                         (counts[None], "dim 3")]:
        with pytest.raises(error, match=problem):
            clone(estimator).fit(bad)
    if hasattr(estimator, "predict"):
        with pytest.raises(NotFittedError):
            clone(estimator).predict(counts)
        with pytest.raises(ValueError, match=f"X has 3 features, but {type(estimator).__name__} is expecting 4"):
            fitted.predict(counts[:, :3])


# -- model selection ---------------------------------------------------------------------
def _fold_scores(estimator, X, cv):
    """The mean held-out score, computed by hand (what GridSearchCV must reproduce)."""
    scores = [clone(estimator).fit(X[train]).score(X[test]) for train, test in cv.split(X)]
    return float(np.mean(scores))


def test_grid_search_on_binned_record(record):
    """GridSearchCV over a SpikeRecord: the record binned once (``record.bin(bin_size)``, sparse
    or dense) is the sample matrix, rows = bins; folds are blocks of consecutive bins and
    ``score`` is the held-out Poisson log-likelihood per bin."""
    glm = CoupledPoissonGLM(bin_size=0.002, window=0.01, n_basis=2, penalty="l2", tol=0.05)
    cv = KFold(3)
    sparse_counts = record.bin(0.002, sparse=True)
    search = GridSearchCV(glm, {"alpha": [0.0, 10.0]}, cv=cv).fit(sparse_counts)
    # alpha = 10 shrinks the planted couplings to ~0: it must predict held-out spikes worse
    assert search.best_params_ == {"alpha": 0.0}
    scores = search.cv_results_["mean_test_score"]
    assert scores[0] > scores[1]
    dense = record.bin(0.002)
    for alpha, score in zip([0.0, 10.0], scores):
        assert score == pytest.approx(_fold_scores(clone(glm).set_params(alpha=alpha), dense, cv), rel=1e-9)
    assert search.best_estimator_.n_features_in_ == record.n_units
    dense_search = GridSearchCV(glm, {"alpha": [0.0, 10.0]}, cv=cv).fit(dense)
    np.testing.assert_allclose(dense_search.cv_results_["mean_test_score"], scores, rtol=1e-9)


def test_grid_search_selects_hmm_states():
    """Cross-validated likelihood picks more than one state on data with two rate states."""
    states = markov_states(3000, 2, 200.0, seed=3)
    rates = np.array([[0.2, 1.0, 0.5], [1.5, 0.2, 0.5]])
    counts = np.random.default_rng(3).poisson(rates[states])
    search = GridSearchCV(PoissonHMM(n_iter=50, random_state=0), {"n_states": [1, 2]}, cv=KFold(3)).fit(counts)
    assert search.best_params_ == {"n_states": 2}
    assert search.best_estimator_.predict(counts).shape == (3000,)
