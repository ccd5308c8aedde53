"""HMM-GLM (Li et al., ICLR 2024): recovery of planted hidden states and per-state coupling."""
import itertools

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.metrics import roc_auc_score

from synaptica.analysis.hmm import HMMError
from synaptica.analysis.hmm_glm import HMMGLM
from synaptica.analysis.synthetic import markov_states, random_coupling, simulate_coupled_glm

BIN = 0.005
N_UNITS = 8


def planted(seed, duration, n_units=N_UNITS, n_states=2, n_changes=6, scale=0.8, density=0.25):
    """Two states sharing a sparse network, each rewiring a few pairs and shifting its rates."""
    rng = np.random.default_rng(seed)
    shared = random_coupling(n_units, density=density, scale=scale, seed=seed, refractory=1.0)
    coupling = np.repeat(shared[None], n_states, axis=0)
    off = np.flatnonzero(~np.eye(n_units, dtype=bool))
    for k in range(n_states):
        flat = coupling[k].reshape(-1)
        idx = rng.choice(off, n_changes, replace=False)
        flat[idx] = np.where(flat[idx] != 0, 0.0,
                             rng.choice([-1, 1], n_changes) * scale * rng.uniform(0.5, 1.5, n_changes))
    baseline = rng.uniform(8, 25, n_units) * np.exp(rng.normal(0, 0.4, (n_states, n_units)))
    states = markov_states(int(round(duration / BIN)), n_states, 2.0 / BIN, seed=seed)
    record = simulate_coupled_glm(coupling, baseline, duration, bin_size=BIN, states=states, seed=seed)
    return record, states, coupling


def matched(model, record, states):
    """State accuracy after the best relabelling, and the permutation fitted -> true state."""
    pred = model.predict(record)
    K = model.n_states
    perm = max(itertools.permutations(range(K)), key=lambda p: np.mean(np.array(p)[pred] == states))
    return np.mean(np.array(perm)[pred] == states), np.array(perm)


def per_state_correlation(model, coupling, perm):
    off = ~np.eye(coupling.shape[1], dtype=bool)
    return np.array([np.corrcoef(model.connectivity_[k][off], coupling[perm[k]][off])[0, 1]
                     for k in range(model.n_states)])


@pytest.fixture(scope="module")
def long_record():
    return planted(seed=0, duration=60.0)


@pytest.fixture(scope="module")
def fits(long_record):
    record = long_record[0]
    return {prior: HMMGLM(2, prior=prior, n_iter=30, bin_size=BIN, random_state=0).fit(record)
            for prior in ("gaussian", "onehot")}


@pytest.mark.parametrize("prior", ["gaussian", "onehot"])
def test_recovers_states_and_connectivity(fits, long_record, prior):
    record, states, coupling = long_record
    model = fits[prior]
    K, N, B = 2, N_UNITS, model.n_basis
    assert model.coef_.shape == (K, N, N, B) and model.connectivity_.shape == (K, N, N)
    assert model.intercept_.shape == (K, N) and model.transition_.shape == (K, K)
    np.testing.assert_allclose(model.transition_.sum(axis=1), 1.0)
    # generalised EM: the log posterior never decreases
    assert np.all(np.diff(model.history_) > -1e-6 * abs(model.history_[-1]))
    accuracy, perm = matched(model, record, states)
    assert accuracy >= 0.9
    corr = per_state_correlation(model, coupling, perm)
    assert np.all(corr >= 0.7), corr
    off = ~np.eye(N, dtype=bool)
    for k in range(K):
        auc = roc_auc_score(coupling[perm[k]][off] != 0, np.abs(model.connectivity_[k][off]))
        assert auc >= 0.85, (k, auc)
    # the states are slow: the fitted chain stays put most of the time
    assert np.all(np.diag(model.transition_) > 0.98)
    # score() is the marginal log-likelihood of the final E-step
    assert model.score(record) == pytest.approx(model.loglik_, rel=1e-9)
    proba = model.predict_proba(record)
    assert proba.shape == (record.n_bins(BIN), K)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)


def test_onehot_recovers_connection_types(fits, long_record):
    record, states, coupling = long_record
    model = fits["onehot"]
    _, perm = matched(model, record, states)
    off = ~np.eye(N_UNITS, dtype=bool)
    truth = np.sign(coupling[perm])[:, off]
    types = model.adjacency_[:, off]
    assert set(np.unique(model.adjacency_)) <= {-1, 0, 1}
    assert np.mean(types == truth) >= 0.85
    assert np.mean(types[truth == 0] == 0) >= 0.9  # absent connections are typed 'none'
    assert np.mean(types[truth != 0] == truth[truth != 0]) >= 0.6  # most real ones are found, sign right
    assert model.adjacency_prior_.shape == (N_UNITS, N_UNITS, 3)
    np.testing.assert_allclose(model.adjacency_prior_.sum(axis=-1), 1.0)
    assert np.all(model.strength_ > 0)


def test_priors_help_on_short_records():
    """20 s records: tying states to a global network beats independent per-state GLMs."""
    scores = {None: [], "gaussian": [], "onehot": []}
    for seed in (0, 2):
        record, states, coupling = planted(seed=seed, duration=20.0)
        for prior in scores:
            model = HMMGLM(2, prior=prior, n_iter=30, mstep_iter=20, bin_size=BIN, random_state=0).fit(record)
            _, perm = matched(model, record, states)
            scores[prior].append(per_state_correlation(model, coupling, perm).mean())
    mean = {prior: np.mean(values) for prior, values in scores.items()}
    assert mean["gaussian"] > mean[None], scores
    assert mean["onehot"] > mean[None], scores


def test_counts_input_api_and_errors(long_record):
    record = long_record[0].window(0.0, 8.0)
    counts = record.bin(BIN)
    model = HMMGLM(2, prior=None, n_iter=3, window=6, n_basis=2, bin_size=BIN, random_state=1)
    assert clone(model).get_params() == model.get_params()
    a = model.fit(record)
    b = clone(model).fit(counts)
    np.testing.assert_allclose(a.coef_, b.coef_, rtol=1e-6, atol=1e-8)
    assert a.predict(record).shape == (counts.shape[0],)
    assert np.isfinite(a.score(counts))
    c = clone(model).set_params(init="random", prior="onehot").fit(counts)
    assert c.adjacency_.shape == (2, N_UNITS, N_UNITS)
    assert np.all(np.diag(c.adjacency_[0]) == 0) and np.isfinite(c.score(counts))
    with pytest.raises(HMMError, match="init"):
        clone(model).set_params(init="spectral").fit(counts)
    with pytest.raises(HMMError, match="not fitted"):
        HMMGLM().predict(counts)
    with pytest.raises(HMMError, match="prior"):
        HMMGLM(prior="laplace").fit(counts)
    with pytest.raises(HMMError, match="n_basis"):
        HMMGLM(n_basis=5, window=3).fit(counts)
    with pytest.raises(HMMError, match="n_states"):
        HMMGLM(n_states=0).fit(counts)
    with pytest.raises(HMMError, match="neurons"):
        a.predict(counts[:, :5])
    with pytest.raises(HMMError, match="bin_size"):
        HMMGLM(bin_size=None).fit(record)
    with pytest.raises(HMMError, match="non-negative integer"):
        HMMGLM().fit(counts - 1)
