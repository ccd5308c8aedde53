"""Coupled Poisson GLM: gradients, recovery of planted coupling, penalties, solvers, p-values,
agreement with NeMoS, bad input."""
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy import special, stats
from sklearn.base import clone
from sklearn.metrics import roc_auc_score

from synaptica.analysis.basis import history_features, raised_cosine_basis
from synaptica.analysis.glm import CoupledPoissonGLM, GLMError, _as_spikes, _Engine, poisson_nll
from synaptica.record import SpikeRecord
from synaptica.analysis.synthetic import random_coupling, simulate_coupled_glm

DATA = Path(__file__).parent / "data" / "glm_nemos_reference.npz"
OFF8 = ~np.eye(8, dtype=bool)


@pytest.fixture(scope="module")
def network():
    coupling = random_coupling(8, 0.3, 1.0, seed=2, refractory=1.0)
    baseline = np.random.default_rng(0).uniform(10, 30, 8)
    return coupling, simulate_coupled_glm(coupling, baseline, 60.0, seed=2)


@pytest.fixture(scope="module")
def fitted(network):
    return CoupledPoissonGLM(dtype=torch.float64, tol=0.01).fit(network[1])


def _tiny():
    rng = np.random.default_rng(1)
    record = simulate_coupled_glm(random_coupling(3, 0.5, 1.0, seed=1), [40.0, 60.0, 30.0], 0.4, seed=1)
    spikes = _as_spikes(record, 0.001, "test")
    basis = raised_cosine_basis(2, 6)
    W = torch.tensor(rng.normal(0, 0.5, (3, 3, 2)), dtype=torch.float64, requires_grad=True)
    b = torch.tensor(rng.normal(-3, 0.3, 3), dtype=torch.float64, requires_grad=True)
    return record, spikes, basis, W, b


@pytest.mark.parametrize("backend", ["numba", "torch"])
@pytest.mark.parametrize("weighted", [False, True])
def test_gradcheck(backend, weighted):
    _, spikes, basis, W, b = _tiny()
    if weighted:
        spikes.weights = np.random.default_rng(2).uniform(0.2, 2.0, spikes.n_bins)
    engine = _Engine(spikes, basis, backend, torch.float64, torch.device("cpu"), 2)
    assert torch.autograd.gradcheck(lambda w, c: poisson_nll(w, c, engine, 7, spikes.n_bins - 3), (W, b),
                                    eps=1e-6, atol=1e-6, rtol=1e-5)
    engine.close()


@pytest.mark.parametrize("dtype, tol", [(torch.float64, 1e-6), (torch.float32, 1e-5)])
def test_matches_dense_history_features(dtype, tol):
    """Loss and gradient of the spike-driven Function == the dense-design-matrix path."""
    record, spikes, basis, W, b = _tiny()
    engine = _Engine(spikes, basis, "numba", dtype, torch.device("cpu"), 2)
    loss = poisson_nll(W, b, engine, 0, spikes.n_bins)
    gW, gb = torch.autograd.grad(loss, (W, b))
    X = history_features(record.bin(0.001), basis).double()  # (T, N, B)
    y = torch.as_tensor(record.bin(0.001), dtype=torch.float64)
    eta = torch.einsum("tjk,ijk->ti", X, W) + b
    dense = (torch.exp(eta) - y * eta).sum()
    rW, rb = torch.autograd.grad(dense, (W, b))
    assert float(loss.detach()) == pytest.approx(float(dense.detach()), rel=tol)
    np.testing.assert_allclose(gW.numpy(), rW.numpy(), rtol=tol * 10, atol=tol * float(rW.abs().max()))
    np.testing.assert_allclose(gb.numpy(), rb.numpy(), rtol=tol * 10, atol=tol * float(rb.abs().max()))
    engine.close()


def test_feature_moments_match_dense_features(network):
    """The mean and covariance of the history features from spike cross-products equal the
    ones of the dense features, with every spike's full filter tail counted (the record padded
    with W silent bins at the end) and normalised by the record's n_bins."""
    _, record = network
    model = CoupledPoissonGLM(n_basis=3, window=0.012)
    model.basis_ = raised_cosine_basis(3, 12)
    mbar, mean, cov = model._moments(_as_spikes(record, 0.001, "test"))
    counts = record.bin(0.001)
    T = counts.shape[0]
    X = history_features(np.vstack([counts, np.zeros((12, 8))]), model.basis_).double().numpy().reshape(-1, 24)
    dense_mean = X.sum(0) / T
    np.testing.assert_allclose(mean.ravel(), dense_mean, rtol=1e-6)
    np.testing.assert_allclose(cov.reshape(24, 24), X.T @ X / T - np.outer(dense_mean, dense_mean),
                               rtol=1e-5, atol=1e-9)
    np.testing.assert_allclose(mbar, counts.mean(0), rtol=1e-12)


def test_recovers_planted_coupling(network, fitted):
    coupling, record = network
    truth = coupling[OFF8] != 0
    strength = fitted.connectivity_[OFF8]
    assert roc_auc_score(truth, np.abs(strength)) >= 0.97
    assert np.mean(np.sign(strength[truth]) == np.sign(coupling[OFF8][truth])) >= 0.95
    assert np.all(np.diag(fitted.connectivity_) < 0)  # the planted refractory self-filters
    assert fitted.converged_ and fitted.coef_.shape == (8, 8, 4)
    assert fitted.coupling_filters_.shape == (8, 8, 25) and fitted.intercept_.shape == (8,)
    np.testing.assert_allclose(fitted.coupling_filters_, np.einsum("ijk,lk->ijl", fitted.coef_, fitted.basis_))
    # baseline rates come back (log count per bin)
    base = np.random.default_rng(0).uniform(10, 30, 8)
    np.testing.assert_allclose(np.exp(fitted.intercept_) / 0.001, base, rtol=0.25)


def test_p_values_small_for_strong_edges_and_significance(network, fitted):
    coupling, _ = network
    strong = (np.abs(coupling) > 1.0) & OFF8
    assert np.all(fitted.p_values_[strong] < 1e-4)
    sig = fitted.significant_(0.05)
    assert not np.any(np.diag(sig))
    assert np.mean(sig[OFF8 & (coupling != 0)]) > 0.8
    assert np.sum(sig[OFF8 & (coupling == 0)]) <= 3
    assert np.sum(fitted.significant_(0.05, correction="bonferroni")) <= np.sum(sig)
    assert np.sum(fitted.significant_(0.05, correction=None)) >= np.sum(sig)


def test_p_values_uniform_under_the_null():
    """Independent units (only refractory self-filters): the off-diagonal p-values are uniform."""
    record = simulate_coupled_glm(-1.0 * np.eye(10), np.full(10, 20.0), 60.0, seed=8)
    model = CoupledPoissonGLM(n_basis=3, window=0.015).fit(record)
    p = model.p_values_[~np.eye(10, dtype=bool)]
    assert stats.kstest(p, "uniform").pvalue > 0.01
    assert 0.0 <= np.mean(p < 0.05) <= 0.12
    assert np.all(model.p_values_[np.eye(10, dtype=bool)] < 1e-6)  # the refractory filters
    factorised = CoupledPoissonGLM(n_basis=3, window=0.015, fisher="factorised").fit(record)
    assert factorised.fisher_method_ == "factorised" and model.fisher_method_ == "exact"
    assert stats.kstest(factorised.p_values_[~np.eye(10, dtype=bool)], "uniform").pvalue > 0.01


@pytest.mark.parametrize("penalty, alpha, zero_coefs, zero_filters", [("l1", 3e-4, 0.8, 0.5),
                                                                       ("group", 3e-4, 0.8, 0.8)])
def test_sparse_penalties_zero_out_absent_connections(network, penalty, alpha, zero_coefs, zero_filters):
    coupling, record = network
    model = CoupledPoissonGLM(penalty=penalty, alpha=alpha).fit(record)
    assert model.n_iter_ > 1 and model.converged_
    absent = OFF8 & (coupling == 0)
    present = OFF8 & (coupling != 0)
    zero_filter = np.all(model.coef_ == 0, axis=2)
    assert np.mean(model.coef_[absent] == 0) >= zero_coefs
    assert np.mean(zero_filter[absent]) >= zero_filters
    assert not np.any(zero_filter[present & (np.abs(coupling) > 0.8)])
    assert np.all(model.p_values_[zero_filter] == 1.0)
    if penalty == "group":  # whole filters or nothing
        assert np.all(np.all(model.coef_ == 0, axis=2) == np.any(model.coef_ == 0, axis=2))
    # a stronger penalty zeroes more
    stronger = CoupledPoissonGLM(penalty=penalty, alpha=10 * alpha).fit(record)
    assert np.sum(np.all(stronger.coef_ == 0, axis=2)) > np.sum(zero_filter)
    # the unpenalised fit has no exact zeros at all
    assert np.count_nonzero(CoupledPoissonGLM(max_iter=3).fit(record).coef_ == 0) == 0


def test_l2_shrinks_toward_zero(network, fitted):
    _, record = network
    strong = CoupledPoissonGLM(penalty="l2", alpha=1e-2).fit(record)
    assert np.linalg.norm(strong.coef_) < 0.5 * np.linalg.norm(fitted.coef_)


def test_minibatch_agrees_with_full_batch(network, fitted):
    _, record = network
    adam = CoupledPoissonGLM(solver="adam", batch_bins=5000, max_iter=60, learning_rate=0.002,
                             dtype=torch.float64).fit(record)
    assert adam.n_iter_ == 60
    assert adam.objective_ == pytest.approx(fitted.objective_, abs=1e-6)
    diff = np.abs(adam.connectivity_ - fitted.connectivity_)
    assert diff.max() < 0.01 * np.abs(fitted.connectivity_).max()
    assert np.corrcoef(adam.connectivity_[OFF8], fitted.connectivity_[OFF8])[0, 1] > 0.9999


def test_proximal_solver_without_penalty_matches_lbfgs(network, fitted):
    _, record = network
    prox = CoupledPoissonGLM(solver="proximal", dtype=torch.float64, tol=0.01).fit(record)
    assert prox.objective_ == pytest.approx(fitted.objective_, abs=1e-7)
    np.testing.assert_allclose(prox.connectivity_, fitted.connectivity_, atol=0.02 * np.abs(fitted.connectivity_).max())


def test_torch_backend_and_counts_input_agree(network, fitted):
    _, record = network
    counts = record.bin(0.001)
    other = CoupledPoissonGLM(backend="torch", dtype=torch.float64, tol=0.01, n_jobs=1).fit(counts)
    np.testing.assert_allclose(other.coef_, fitted.coef_, atol=2e-3)
    np.testing.assert_allclose(other.p_values_, fitted.p_values_, atol=1e-3)
    np.testing.assert_allclose(other.predict(counts), fitted.predict(record), rtol=1e-4)


def test_binning_inputs_agree(network):
    """A record, its dense counts, scipy sparse counts and a torch tensor give the same spikes
    (the record's own binning convention, in blocks)."""
    from scipy import sparse

    from synaptica.analysis.glm import _bin_record

    _, record = network
    for rec, bin_size in [(record, 0.001), (record.window(0.0, 59.9995), 0.003)]:
        bins, ids = rec.bin_indices(bin_size)
        spikes = _bin_record(rec, bin_size, block=1000)
        np.testing.assert_array_equal(spikes.bins, bins)
        np.testing.assert_array_equal(spikes.ids, ids)
    counts = record.bin(0.001)
    ref = _as_spikes(counts, 0.001, "test")
    for other in (sparse.csr_array(counts), torch.as_tensor(counts), record):
        got = _as_spikes(other, 0.001, "test")
        order = np.lexsort((got.ids, got.bins))  # within a bin a record lists spikes by time
        np.testing.assert_array_equal(got.bins, ref.bins)
        np.testing.assert_array_equal(got.ids[order], ref.ids)
        assert (got.n_bins, got.n_units) == (ref.n_bins, ref.n_units)


def test_sample_weights_equal_repeated_data(network):
    """Weight 2 on every bin == the same data twice (in the likelihood), so with the loss
    divided by n_bins the fit equals the one with half the penalty."""
    _, record = network
    counts = record.bin(0.001)
    twice = CoupledPoissonGLM(penalty="l2", alpha=2e-3, dtype=torch.float64, tol=0.01)
    twice.fit(record, sample_weight=np.full(counts.shape[0], 2.0))
    half = CoupledPoissonGLM(penalty="l2", alpha=1e-3, dtype=torch.float64, tol=0.01).fit(record)
    np.testing.assert_allclose(twice.coef_, half.coef_, atol=2e-3)
    zeroed = np.ones(counts.shape[0])
    zeroed[counts.shape[0] // 2:] = 0.0
    first = CoupledPoissonGLM(dtype=torch.float64, tol=0.01).fit(record, sample_weight=zeroed)
    head = CoupledPoissonGLM(dtype=torch.float64, tol=0.01).fit(counts[: counts.shape[0] // 2])
    np.testing.assert_allclose(first.coef_, head.coef_, atol=5e-3)


def test_predict_and_score(network, fitted):
    _, record = network
    mu = fitted.predict(record)
    counts = record.bin(0.001)
    assert mu.shape == counts.shape and np.all(mu > 0)
    loglik = np.mean(np.sum(counts * np.log(mu) - mu - special.gammaln(counts + 1), axis=1))
    assert fitted.score(record) == pytest.approx(loglik, rel=1e-9)
    # the fit beats the homogeneous Poisson model on its own data
    rate = counts.mean(0)
    homogeneous = np.mean(np.sum(counts * np.log(rate) - rate - special.gammaln(counts + 1), axis=1))
    assert fitted.score(record) > homogeneous
    # the expected total count matches the observed (intercept score equation)
    np.testing.assert_allclose(mu.sum(0), counts.sum(0), rtol=1e-3)


def test_agrees_with_nemos():
    """NeMoS 0.2.8 PopulationGLM, same basis on the same lags, exp link, Ridge (strength =
    alpha): coefficients agree within 5e-4 (NeMoS was run with LBFGS tol 1e-12, x64;
    bench/peers/glm_nemos_reference.py)."""
    ref = np.load(DATA)
    record = SpikeRecord(ref["times"], ref["ids"], int(ref["n_units"]), float(ref["t_start"]), float(ref["t_stop"]))
    model = CoupledPoissonGLM(n_basis=int(ref["n_basis"]), window=int(ref["window_bins"]) * float(ref["bin_size"]),
                              bin_size=float(ref["bin_size"]), penalty="l2", alpha=float(ref["alpha"]),
                              dtype=torch.float64, tol=1e-3).fit(record)
    np.testing.assert_allclose(model.basis_, ref["basis"], rtol=1e-12)
    assert model.objective_ == pytest.approx(float(ref["objective"]), abs=1e-9)
    np.testing.assert_allclose(model.coef_, ref["coef"], atol=5e-4)
    np.testing.assert_allclose(model.intercept_, ref["intercept"], atol=5e-4)


def test_sklearn_contract(network):
    model = CoupledPoissonGLM(n_basis=3, penalty="l2", alpha=0.1)
    params = model.get_params()
    assert params["n_basis"] == 3 and params["penalty"] == "l2" and params["alpha"] == 0.1
    copy = clone(model)
    assert copy.get_params() == params and not hasattr(copy, "coef_")
    assert model.fit(network[1]) is model and model.n_units_ == 8
    with pytest.raises(Exception, match="not fitted"):
        CoupledPoissonGLM().predict(network[1])


@pytest.mark.parametrize("kwargs, match", [
    (dict(window=0.0), "window"),
    (dict(window=-0.01), "window"),
    (dict(window=0.0004), "shorter than one bin"),
    (dict(bin_size=0), "bin_size"),
    (dict(n_basis=0), "n_basis"),
    (dict(n_basis=30), "cannot exceed"),
    (dict(penalty="l3"), "penalty"),
    (dict(penalty="l1", solver="lbfgs"), "not smooth"),
    (dict(solver="sgd"), "solver"),
    (dict(alpha=-1.0), "alpha"),
    (dict(tol=0), "tol"),
    (dict(max_iter=0), "max_iter"),
    (dict(dtype="float16"), "dtype"),
    (dict(backend="cuda"), "backend"),
    (dict(fisher="sandwich"), "fisher"),
    (dict(device="nonsense"), "device"),
])
def test_bad_parameters(network, kwargs, match):
    with pytest.raises(GLMError, match=match):
        CoupledPoissonGLM(**kwargs).fit(network[1])


def test_bad_data(network, fitted):
    _, record = network
    with pytest.raises(GLMError, match="fitted on 8 units, the data has 3"):
        fitted.predict(record.select([0, 1, 2]))
    with pytest.raises(GLMError, match="fitted on 8 units"):
        fitted.score(np.zeros((100, 5)))
    with pytest.raises(GLMError, match="not more than the window"):
        CoupledPoissonGLM().fit(record.window(0.0, 0.02))
    with pytest.raises(GLMError, match="non-negative integers"):
        CoupledPoissonGLM().fit(-np.ones((100, 3)))
    with pytest.raises(GLMError, match="binned counts"):
        CoupledPoissonGLM().fit(np.ones(100))
    with pytest.raises(GLMError, match="sample_weight"):
        CoupledPoissonGLM().fit(record, sample_weight=np.ones(5))
    with pytest.raises(GLMError, match="alpha must lie"):
        fitted.significant_(1.5)
    with pytest.raises(GLMError, match="correction"):
        fitted.significant_(0.05, correction="holm")
