"""Escape-noise (stochastic) LIF neurons and the meta-neuron experiment."""
from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch

from synaptica.training.stochastic import (EscapeNoiseLIFLayer, EscapeNoiseNeurons, escape_noise_sequence,
                                           escape_noise_sequence_reference, escape_probability)


def _closed_form(h, theta, delta_u, escape, rho0_dt):
    x = (h - theta) / delta_u
    if escape == "exponential":
        return 1.0 - np.exp(-rho0_dt * np.exp(x))
    return 1.0 / (1.0 + np.exp(-x))


@pytest.mark.parametrize("escape", ["exponential", "sigmoid"])
def test_firing_probability_matches_the_closed_form(escape):
    # constant input, no reset: h_t = I (1 - beta^(t+1)) / (1 - beta) is deterministic, and the
    # fraction of the batch firing at step t must be p(h_t) of the escape formula
    beta, theta, delta_u, rho0_dt, batch, n_steps = 0.8, 1.0, 0.25, 0.5, 20_000, 12
    current_values = torch.tensor([0.1, 0.2, 0.3])  # stationary h = 0.5, 1.0, 1.5
    neurons = EscapeNoiseNeurons(3, beta=beta, theta=theta, delta_u=delta_u, escape=escape, rho0_dt=rho0_dt,
                                 reset="none", seed=3)
    with torch.no_grad():
        spikes, p, _ = neurons(current_values.expand(n_steps, batch, 3).contiguous())
    t = np.arange(n_steps)[:, None]
    h = current_values.numpy()[None] * (1 - beta ** (t + 1)) / (1 - beta)
    expected = _closed_form(h, theta, delta_u, escape, rho0_dt)
    assert np.allclose(p[:, 0].numpy(), expected, atol=1e-5)
    empirical = spikes.mean(1).numpy()
    sigma = np.sqrt(expected * (1 - expected) / batch)
    assert np.all(np.abs(empirical - expected) <= 5 * sigma + 1e-4)
    if escape == "exponential":  # at threshold the escape rate fires with 1 - exp(-rho0 dt)
        at_theta = escape_probability(torch.tensor(theta), torch.tensor(theta), torch.tensor(delta_u), escape, rho0_dt)
        assert math.isclose(float(at_theta), 1 - math.exp(-rho0_dt), rel_tol=1e-6)


@pytest.mark.parametrize("escape,reset,detach", list(itertools.product(["exponential", "sigmoid"],
                                                                       ["value", "none"], [False, True])))
def test_fused_kernel_equals_the_autograd_reference(escape, reset, detach):
    gen = torch.Generator().manual_seed(0)
    n_steps, batch, n = 25, 4, 6
    dt = torch.float64
    current = torch.randn(n_steps, batch, n, generator=gen, dtype=dt) * 0.8 + 0.3
    uniform = torch.rand(n_steps, batch, n, generator=gen, dtype=dt)
    params = [torch.rand(n, generator=gen, dtype=dt) * 0.5 + 0.4, torch.randn(n, generator=gen, dtype=dt) * 0.2 + 1,
              torch.rand(n, generator=gen, dtype=dt) * 0.3 + 0.1, torch.randn(n, generator=gen, dtype=dt) * 0.3]
    u0 = torch.randn(batch, n, generator=gen, dtype=dt) * 0.3
    weights = [torch.randn(n_steps, batch, n, generator=gen, dtype=dt) for _ in range(2)]
    weights.append(torch.randn(batch, n, generator=gen, dtype=dt))
    results = []
    for f in (escape_noise_sequence, escape_noise_sequence_reference):
        leaves = [x.clone().requires_grad_() for x in [current, *params, u0]]
        outputs = f(leaves[0], uniform, *leaves[1:5], leaves[5], escape, 0.7, reset, detach)
        sum(((o * w).sum() for o, w in zip(outputs, weights))).backward()
        grads = [torch.zeros_like(x) if x.grad is None else x.grad for x in leaves]
        results.append(([o.detach() for o in outputs], grads))
    (out_a, grad_a), (out_b, grad_b) = results
    assert out_a[0].sum() > 0  # something fired
    for a, b in zip(out_a + grad_a, out_b + grad_b):
        assert torch.allclose(a, b, atol=1e-10, rtol=1e-9)


def test_gradients_are_finite_and_reach_every_internal_parameter():
    layer = EscapeNoiseLIFLayer(10, 8, seed=1)
    with torch.no_grad():
        layer.linear.weight.mul_(20.0)  # drive far beyond threshold and far below it
    x = (torch.rand(40, 16, 10, generator=torch.Generator().manual_seed(2)) < 0.3).float()
    spikes = layer(x)
    (spikes.sum() + layer.last_p.sum() + layer.last_v.pow(2).sum()).backward()
    for name, param in layer.named_parameters():
        assert param.grad is not None and torch.isfinite(param.grad).all(), name
        assert param.grad.abs().sum() > 0, name
    assert set(spikes.unique().tolist()) <= {0.0, 1.0}


def test_learned_parameters_stay_in_range_under_wild_updates():
    layer = EscapeNoiseLIFLayer(10, 8, seed=4)
    optimiser = torch.optim.SGD(layer.parameters(), lr=50.0)
    x = (torch.rand(30, 8, 10, generator=torch.Generator().manual_seed(5)) < 0.3).float()
    for step in range(20):
        optimiser.zero_grad()
        sign = 1.0 if step % 2 else -1.0
        (sign * (layer(x).sum() + layer.last_p.sum())).backward()
        optimiser.step()
    values = layer.neurons.parameters_now()
    assert all(torch.isfinite(v).all() for v in values.values())
    # a float32 sigmoid can round to exactly 0 or 1 after steps this wild: the closed interval
    assert ((values["beta"] >= 0) & (values["beta"] <= 1)).all()
    assert (values["delta_u"] > 1e-2).all()  # the default min_delta_u: never a hard threshold
    with torch.no_grad():
        assert torch.isfinite(layer(x)).all() and torch.isfinite(layer.last_v).all()


def test_only_the_named_parameters_learn_and_the_sampling_is_seeded():
    a = EscapeNoiseNeurons(5, learn=("theta",), seed=7)
    assert [n for n, q in a.named_parameters() if q.requires_grad] == ["theta.raw"]
    current = torch.full((20, 3, 5), 0.15)
    b = EscapeNoiseNeurons(5, seed=7)
    c = EscapeNoiseNeurons(5, seed=8)
    assert torch.equal(a(current)[0], b(current)[0])
    assert not torch.equal(EscapeNoiseNeurons(5, seed=7)(current)[0], c(current)[0])


def test_bad_inputs_are_rejected_with_clear_messages():
    layer = EscapeNoiseLIFLayer(10, 4, seed=0)
    with pytest.raises(ValueError, match=r"expected input of shape \(T, B, 10\).*got \(5, 2, 7\)"):
        layer(torch.zeros(5, 2, 7))
    with pytest.raises(ValueError, match=r"\(T, B, 10\)"):
        layer(torch.zeros(5, 10))
    bad = torch.zeros(6, 2, 10)
    bad[3, 0, 0] = float("nan")
    with pytest.raises(FloatingPointError, match="'escape'.*step 3"):
        layer(bad)
    with pytest.raises(ValueError, match="escape must be one of"):
        EscapeNoiseNeurons(3, escape="gauss")
    with pytest.raises(ValueError, match="reset must be one of"):
        EscapeNoiseNeurons(3, reset="subtract")
    with pytest.raises(ValueError, match="learn: unknown"):
        EscapeNoiseNeurons(3, learn=("tau",))
    with pytest.raises(ValueError, match="beta"):
        EscapeNoiseNeurons(3, beta=1.2)
    with pytest.raises(ValueError, match="delta_u"):
        EscapeNoiseNeurons(3, delta_u=0.005)
    with pytest.raises(ValueError, match="rho0_dt"):
        EscapeNoiseNeurons(3, rho0_dt=0.0)
    with pytest.raises(ValueError, match=r"theta: expected a scalar or shape \(3,\)"):
        EscapeNoiseNeurons(3, theta=torch.ones(4))
    with pytest.raises(ValueError, match="same shape"):
        escape_noise_sequence(torch.zeros(4, 2, 3), torch.zeros(4, 3, 2), 0.9, 1.0, 0.2, 0.0)


# ------------------------------------------------------------------- the experiment
def _params(**overrides):
    from synaptica.experiments import load_experiment_config

    _, params, _ = load_experiment_config("meta-neuron", [f"{k}={v}" for k, v in overrides.items()])
    return params


def test_structures_keep_counts_and_differ_in_lz_complexity():
    from synaptica.experiments.meta_neuron import STRUCTURES, lz_features, spike_trains

    rng = np.random.default_rng(0)
    counts = rng.binomial(100, 0.2, 400)
    lz = {}
    for structure in STRUCTURES:
        trains = spike_trains(counts, structure, 100, rng, burst_size=4, jitter=1)
        assert trains.shape == (100, 400)
        assert np.array_equal(trains.sum(0), counts)  # rates carry nothing about the structure
        lz[structure] = lz_features(trains[:, :, None]).mean()
    assert lz["bursty"] < lz["regular"] < lz["poisson"]
    with pytest.raises(ValueError, match="structure must be one of"):
        spike_trains(counts, "chaotic", 100, rng)
    with pytest.raises(ValueError, match="counts"):
        spike_trains(np.array([101]), "poisson", 100, rng)


def test_temporal_statistics_match_hand_computed_values():
    from synaptica.experiments.meta_neuron import temporal_statistics

    n_steps = 20
    x = np.zeros((n_steps, 1, 4), np.float32)
    x[::5, 0, 0] = 1                      # regular: ISIs 5, 5, 5
    x[[2, 3, 4, 5, 12, 13], 0, 1] = 1     # two bursts: ISIs 1, 1, 1, 7, 1
    x[[0, 1, 10], 0, 2] = 1               # ISIs 1, 9; all three spikes in the first two windows of 10
    stats = temporal_statistics(x, fano_window=10)
    assert np.allclose(stats["rate"][0], [4 / 20, 6 / 20, 3 / 20, 0.0])
    assert np.allclose(stats["burst"][0], [0.0, 4 / 5, 1 / 2, 0.0])
    isi = np.array([1, 1, 1, 7, 1])
    assert np.allclose(stats["isi_cv"][0], [0.0, isi.std() / isi.mean(), 0.8, 0.0])  # |1 - 9| / 2 / 5
    # counts per window of 10: (2, 2) -> Fano 0; (4, 2) -> var 1 / mean 3; (2, 1) -> 0.25 / 1.5; silent -> 0
    assert np.allclose(stats["fano"][0], [0.0, 1 / 3, 0.25 / 1.5, 0.0])
    from synaptica.analysis.complexity import lempel_ziv_complexity

    assert np.allclose(stats["lz"][0], [lempel_ziv_complexity(x[:, 0, k].astype(int), normalize=True) for k in range(4)])
    with pytest.raises(ValueError, match="fano_window"):
        temporal_statistics(x, fano_window=21)


def test_the_2x2_networks_learn_only_their_own_parameters():
    from synaptica.experiments.meta_neuron import KINDS, LEARNED, build_network, learned_values, train_network

    p = _params(n_in=6, n_hidden=5, n_steps=20, epochs=2, batch_size=8, lr=0.05)
    rng = np.random.default_rng(0)
    x = (rng.random((20, 16, 6)) < 0.3).astype(np.float32)
    y = rng.integers(0, 6, 16)
    nets = {kind: build_network(kind, p, 6, seed=3) for kind in KINDS}
    first = nets["lif_fixed"][0].linear.weight.detach().clone()
    for kind, net in nets.items():
        assert torch.equal(net[0].linear.weight, first), kind  # same initial weights in every cell
        before = {k: v.clone() for k, v in net[0].neurons.state_dict().items()}
        train_network(net, x, y, p, seed=3)
        after = net[0].neurons.state_dict()
        changed = {k for k in before if not torch.equal(before[k], after[k])}
        if not LEARNED[kind]:
            assert not changed, kind  # a fixed cell keeps every internal parameter exactly
        else:
            values = learned_values(kind, net)
            assert set(values) == set(LEARNED[kind]) and changed, kind
            assert all(v.std() > 0 for v in values.values()), kind  # homogeneous at first: the spread is learned
    assert not torch.equal(nets["lif_fixed"][0].linear.weight, first)
    with pytest.raises(ValueError, match="kind must be one of"):
        build_network("izhikevich", p, 6, seed=0)


def test_threshold_and_noise_width_are_reparametrisations_of_the_weights():
    # why the learned cells add little (README): LIF with reset by subtraction and threshold theta equals
    # threshold 1 with the current divided by theta; the escape-noise neuron's (theta, delta_u) equal
    # (0, 1) with the current shifted and scaled, v_reset and u0 mapped to (v - theta) / delta_u
    from synaptica.training.functional import lif_sequence

    gen = torch.Generator().manual_seed(0)
    dt = torch.float64
    current = torch.randn(60, 8, 5, generator=gen, dtype=dt) * 1.5 + 1.0
    beta = torch.rand(5, generator=gen, dtype=dt) * 0.5 + 0.4
    theta = torch.full((5,), 4.0, dtype=dt)
    spikes_a, v_a = lif_sequence(current, beta, theta)
    spikes_b, v_b = lif_sequence(current / 4.0, beta, torch.ones(5, dtype=dt))
    assert spikes_a.sum() > 0 and torch.equal(spikes_a, spikes_b) and torch.allclose(v_a, 4.0 * v_b)

    theta = torch.rand(5, generator=gen, dtype=dt) + 0.5
    delta_u = torch.rand(5, generator=gen, dtype=dt) * 0.3 + 0.1
    v_reset = torch.randn(5, generator=gen, dtype=dt) * 0.2
    uniform = torch.rand(60, 8, 5, generator=gen, dtype=dt)
    u0 = torch.zeros(8, 5, dtype=dt)
    s_a, p_a, _ = escape_noise_sequence(current * 0.3, uniform, beta, theta, delta_u, v_reset, u0)
    s_b, p_b, _ = escape_noise_sequence((current * 0.3 - (1 - beta) * theta) / delta_u, uniform, beta, torch.zeros(5, dtype=dt),
                                        torch.ones(5, dtype=dt), (v_reset - theta) / delta_u, (u0 - theta) / delta_u)
    assert torch.allclose(p_a, p_b, atol=1e-9)
    assert 0 < s_a.sum() < s_a.numel() and (s_a != s_b).float().mean() < 1e-3  # a draw within rounding of p may flip


@pytest.mark.parametrize("protocol", ["paper", "timing"])
def test_small_run_reports_the_2x2_and_the_statistics_readouts(tmp_path, protocol):
    from synaptica.experiments import get_experiment
    from synaptica.experiments.meta_neuron import FEATURE_SETS, KINDS, SOURCES

    p = _params(protocol=protocol, n_in=10, n_steps=60, n_train=25, n_test=25, n_hidden=8, epochs=2, n_seeds=2)
    result = get_experiment("meta-neuron").run(p)
    m = result.metrics
    assert m["n_seeds"] == 2
    for kind in KINDS:
        assert 0.0 <= m[f"accuracy_{kind}"] <= 1.0 and f"accuracy_{kind}_std" in m
    # paired differences are differences of the cells (same seeds)
    assert math.isclose(m["learned_minus_fixed_lif"], m["accuracy_lif_learned"] - m["accuracy_lif_fixed"], abs_tol=1e-12)
    assert math.isclose(m["interaction"], m["learned_minus_fixed_meta"] - m["learned_minus_fixed_lif"], abs_tol=1e-12)
    for source in SOURCES:
        assert all(0.0 <= m[f"readout_{source}_{name}"] <= 1.0 for name in FEATURE_SETS)
    assert {f"learned_meta_learned_{k}_std" for k in ("beta", "theta", "delta_u", "v_reset")} <= set(m)
    assert m["learned_meta_learned_beta_std"] > 0 and m["learned_lif_learned_threshold_std"] > 0
    if protocol == "timing":
        # rates of the inputs can only find the pattern (ceiling 1/3); LZ and the simple statistics see timing
        assert m["readout_input_rate"] < 0.5
        assert m["readout_input_lz_rate"] > 0.7 and m["readout_input_simple"] > 0.7
    else:
        assert m["readout_input_rate"] > 0.9  # Poisson classes: the rates carry the class
    assert result.n_neurons == 8 and result.spike_ids.max() < 8
    path = tmp_path / "meta_neuron.png"
    result.figures["meta_neuron.png"](path)
    assert path.stat().st_size > 10_000


def test_bad_experiment_parameters_are_rejected():
    from synaptica.config import ConfigError

    with pytest.raises(ConfigError, match="rate_high"):
        _params(rate_low=0.3, rate_high=0.2)
    with pytest.raises(ConfigError, match="escape"):
        _params(escape="gauss")
    with pytest.raises(ConfigError, match="protocol"):
        _params(protocol="mnist")
    with pytest.raises(ConfigError, match="fano_window"):
        _params(n_steps=20, fano_window=30)
