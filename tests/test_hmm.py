"""Poisson HMM and the shared forward-backward / Viterbi passes, checked against hmmlearn 0.3.3."""
import itertools

import numpy as np
import pytest

from synaptica.analysis.hmm import HMMError, PoissonHMM, forward_backward, viterbi
from synaptica.record import SpikeRecord

hmmlearn_hmm = pytest.importorskip("hmmlearn.hmm")


def _planted(seed=0, n_bins=3000, n_units=6):
    rng = np.random.default_rng(seed)
    rates = np.array([rng.uniform(0.05, 0.4, n_units), rng.uniform(0.05, 0.4, n_units),
                      rng.uniform(0.3, 1.0, n_units)])
    truth = PoissonHMM(3)  # the generating model, parameters set directly
    truth.startprob_ = np.array([0.5, 0.3, 0.2])
    truth.transmat_ = np.array([[0.97, 0.02, 0.01], [0.02, 0.96, 0.02], [0.01, 0.04, 0.95]])
    truth.rates_, truth.n_features_in_ = rates, n_units
    counts, states = truth.sample(n_bins, random_state=seed)
    return counts, states, truth


def _initial(seed, n_units):
    rng = np.random.default_rng(seed + 100)
    start = rng.dirichlet(np.ones(3))
    trans = 0.6 * np.eye(3) + 0.4 * rng.dirichlet(np.ones(3), size=3)
    rates = rng.uniform(0.1, 0.8, (3, n_units))
    return start, trans, rates


def _brute_force(log_e, log_s, log_a):
    """Exact posteriors by enumerating every state path (tiny problems only)."""
    T, K = log_e.shape
    paths = np.array(list(itertools.product(range(K), repeat=T)))
    logp = log_s[paths[:, 0]] + log_e[np.arange(T), paths].sum(axis=1)
    logp += log_a[paths[:, :-1], paths[:, 1:]].sum(axis=1)
    top = logp.max()
    weights = np.exp(logp - top)
    z = weights.sum()
    post = np.stack([np.bincount(paths[:, t], weights, minlength=K) for t in range(T)]) / z
    pair = np.zeros((K, K))
    for t in range(T - 1):
        np.add.at(pair, (paths[:, t], paths[:, t + 1]), weights / z)
    return post, pair, top + np.log(z), paths[np.argmax(logp)]


def test_forward_backward_matches_enumeration():
    rng = np.random.default_rng(1)
    log_e = rng.normal(scale=3.0, size=(7, 3)) - 500.0  # far below exp's range: scaling must cope
    log_s = np.log(rng.dirichlet(np.ones(3)))
    log_a = np.log(rng.dirichlet(np.ones(3), size=3))
    post, pair, ll = forward_backward(log_e, log_s, log_a)
    bpost, bpair, bll, bpath = _brute_force(log_e, log_s, log_a)
    np.testing.assert_allclose(post, bpost, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(pair, bpair, rtol=1e-10, atol=1e-12)
    assert ll == pytest.approx(bll, rel=1e-12)
    path, _ = viterbi(log_e, log_s, log_a)
    np.testing.assert_array_equal(path, bpath)


def test_forward_backward_bad_input():
    with pytest.raises(HMMError, match="log_transition"):
        forward_backward(np.zeros((5, 2)), np.log([0.5, 0.5]), np.zeros((3, 3)))
    with pytest.raises(HMMError, match="zero probability"):  # forced into state 1, which cannot emit bin 1
        with np.errstate(divide="ignore"):
            forward_backward([[0.0, 0.0], [0.0, -np.inf]], np.log([1.0, 0.0]), np.log([[0.0, 1.0], [0.0, 1.0]]))


@pytest.mark.parametrize("n_em", [1, 5, 20])
def test_poisson_hmm_agrees_with_hmmlearn(n_em):
    counts, _, _ = _planted(seed=3)
    start, trans, rates = _initial(3, counts.shape[1])
    ours = PoissonHMM(3, n_iter=n_em, tol=-np.inf, start_init=start, transition_init=trans, rates_init=rates)
    ours.fit(counts)
    ref = hmmlearn_hmm.PoissonHMM(3, n_iter=n_em, tol=-np.inf, init_params="", implementation="log")
    ref.startprob_, ref.transmat_, ref.lambdas_ = start.copy(), trans.copy(), rates.copy()
    ref.fit(counts)
    assert ours.n_iter_ == n_em
    np.testing.assert_allclose(ours.loglik_history_, list(ref.monitor_.history)[-n_em:], rtol=1e-9)
    np.testing.assert_allclose(ours.startprob_, ref.startprob_, rtol=1e-6, atol=1e-12)
    np.testing.assert_allclose(ours.transmat_, ref.transmat_, rtol=1e-6, atol=1e-12)
    np.testing.assert_allclose(ours.rates_, ref.lambdas_, rtol=1e-6)
    assert ours.score(counts) == pytest.approx(ref.score(counts), rel=1e-9)
    np.testing.assert_allclose(ours.predict_proba(counts), ref.predict_proba(counts), rtol=1e-6, atol=1e-9)
    np.testing.assert_array_equal(ours.predict(counts), ref.predict(counts))


def test_poisson_hmm_recovers_planted_states():
    counts, states, truth = _planted(seed=5, n_bins=4000)
    model = PoissonHMM(3, random_state=0).fit(counts)
    assert model.converged_
    history = np.array(model.loglik_history_)
    assert np.all(np.diff(history) > -1e-6 * abs(history[-1]))  # EM never decreases the likelihood
    def accuracy(pred):  # after the best relabelling of states
        return max(np.mean(np.array(perm)[pred] == states) for perm in itertools.permutations(range(3)))

    # as good as decoding with the generating parameters (the best any fit can hope for)
    assert accuracy(model.predict(counts)) >= accuracy(truth.predict(counts)) - 0.02
    assert accuracy(model.predict(counts)) > 0.9
    # the fitted model explains the data at least as well as the generating one
    assert model.score(counts) >= truth.score(counts) - 1.0


def test_poisson_hmm_on_spike_record_and_errors():
    counts, _, _ = _planted(seed=7, n_bins=2000, n_units=4)
    bins, ids = np.nonzero(counts)
    reps = counts[bins, ids]
    times = (np.repeat(bins, reps) + 0.5) * 0.01
    record = SpikeRecord.from_arrays(times, np.repeat(ids, reps), n_units=4, t_stop=20.0, sort=True)
    a = PoissonHMM(3, bin_size=0.01, random_state=1).fit(record)
    b = PoissonHMM(3, random_state=1).fit(counts)
    np.testing.assert_allclose(a.rates_, b.rates_)
    assert a.score(record) == pytest.approx(b.score(counts))
    with pytest.raises(HMMError, match="bin_size"):
        PoissonHMM(2).fit(record)
    with pytest.raises(HMMError, match="non-negative integer"):
        PoissonHMM(2).fit(-counts)
    with pytest.raises(HMMError, match="not fitted"):
        PoissonHMM(2).predict(counts)
    with pytest.raises(HMMError, match="units"):
        b.score(counts[:, :3])
    with pytest.raises(HMMError, match="rates_init"):
        PoissonHMM(3, rates_init=np.ones((2, 4))).fit(counts)
    with pytest.raises(HMMError, match="init must be"):
        PoissonHMM(3, init="spectral").fit(counts)
