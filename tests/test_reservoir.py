"""Reservoir computing: rate ESN, spiking liquid, features, readouts, tasks (synaptica.reservoir)."""
from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from synaptica.reservoir.esn import EchoStateNetwork, spectral_radius_of
from synaptica.reservoir.features import BinLayout, SpikeCounts, SpikeRates, SpikeTrace
from synaptica.reservoir.liquid import Liquid
from synaptica.reservoir.model import ReservoirModel
from synaptica.reservoir.readout import (ForceReadout, LogisticReadout, RidgeReadout, run_closed_loop,
                                         train_force)
from synaptica.reservoir.tasks import (mackey_glass, memory_capacity, narma10, nrmse, spike_encoded_digits)


# -- rate ESN ---------------------------------------------------------------------------
def test_echo_state_property_two_initial_states_converge():
    esn = EchoStateNetwork(100, 1, spectral_radius=0.9, input_scaling=0.5, seed=3)
    u = np.random.default_rng(0).uniform(-1, 1, (300, 1))
    rng = np.random.default_rng(1)
    a = esn.run(u, initial_state=rng.uniform(-1, 1, 100))
    b = esn.run(u, initial_state=rng.uniform(-1, 1, 100))
    assert np.abs(a[0] - b[0]).max() > 0.1                   # they start apart ...
    assert np.abs(a[-1] - b[-1]).max() < 1e-8                # ... and the input washes the difference out


@pytest.mark.parametrize("radius", [0.5, 1.3])
def test_spectral_radius_is_set_exactly(radius):
    esn = EchoStateNetwork(80, 2, spectral_radius=radius, density=0.2, seed=4)
    assert spectral_radius_of(esn.W) == pytest.approx(radius, abs=1e-10)


def test_explicit_weights_are_used_as_given_or_rescaled():
    rng = np.random.default_rng(0)
    W, W_in, b = rng.normal(size=(20, 20)), rng.normal(size=(20, 3)), rng.normal(size=20)
    kept = EchoStateNetwork(20, 3, W=W, W_in=W_in, bias=b)
    np.testing.assert_array_equal(kept.W.numpy(), W)
    np.testing.assert_array_equal(kept.W_in.numpy(), W_in)
    rescaled = EchoStateNetwork(20, 3, W=W, W_in=W_in, bias=b, spectral_radius=0.7)
    assert spectral_radius_of(rescaled.W) == pytest.approx(0.7, abs=1e-12)
    # the update is the documented equation: x1 = (1 - a) x0 + a tanh(W_in u1 + W x0 + b)
    leaky = EchoStateNetwork(20, 3, W=W, W_in=W_in, bias=b, leak_rate=0.3)
    x0, u1 = rng.normal(size=20), rng.normal(size=3)
    x1 = leaky.run(u1[None], initial_state=x0)[0]
    np.testing.assert_allclose(x1, 0.7 * x0 + 0.3 * np.tanh(W_in @ u1 + W @ x0 + b), atol=1e-14)


def test_batched_equals_one_by_one_in_float64_and_float32():
    u = np.random.default_rng(2).uniform(-1, 1, (4, 50, 2))
    for dtype, tol in ((torch.float64, 1e-13), (torch.float32, 1e-5)):
        esn = EchoStateNetwork(60, 2, leak_rate=0.5, bias_scaling=0.1, seed=5, dtype=dtype)
        batched = esn.run(u)
        assert batched.shape == (4, 50, 60) and batched.dtype == (np.float64 if dtype == torch.float64 else np.float32)
        for i in range(4):
            np.testing.assert_allclose(batched[i], esn.run(u[i]), atol=tol, rtol=0)
    x64 = EchoStateNetwork(60, 2, leak_rate=0.5, seed=5).run(u[0])
    x32 = EchoStateNetwork(60, 2, leak_rate=0.5, seed=5, dtype=torch.float32).run(u[0])
    np.testing.assert_allclose(x32, x64, atol=1e-4)           # same network in both precisions


@pytest.mark.parametrize("batch", [1, 5])
@pytest.mark.parametrize("density,leak,bias", [(0.1, 1.0, 0.0), (1.0, 0.3, 0.2), (0.2, 0.7, 0.5)])
def test_compiled_kernel_equals_the_torch_step_in_float64_and_float32(density, leak, bias, batch):
    """The fast CPU path (CSR below 25 % density, dense above; one sequence at a time or the
    whole batch per step) against the reference torch loop."""
    from synaptica.reservoir import _esn_kernel

    assert 1 < _esn_kernel.BATCH_TOGETHER <= 5
    u = np.random.default_rng(7).uniform(-1, 1, (batch, 120, 2))
    x0 = np.random.default_rng(8).uniform(-0.5, 0.5, (batch, 50))
    for dtype, tol in ((torch.float64, 1e-12), (torch.float32, 2e-5)):
        esn = EchoStateNetwork(50, 2, spectral_radius=1.1, density=density, leak_rate=leak, bias_scaling=bias,
                               seed=9, dtype=dtype)
        fast = esn.run(u, initial_state=x0, backend="kernel")
        fast_last = esn.last_state.clone()
        reference = esn.run(u, initial_state=x0, backend="torch")
        assert fast.dtype == reference.dtype and fast.shape == (batch, 120, 50)
        np.testing.assert_allclose(fast, reference, atol=tol, rtol=0)
        np.testing.assert_allclose(fast_last.numpy(), esn.last_state.numpy(), atol=tol, rtol=0)
        assert np.abs(reference).max() > 0.3                  # not a trivially quiet reservoir
        np.testing.assert_array_equal(esn.run(u, initial_state=x0), fast)    # "auto" picks the kernel on the CPU
    assert esn._kernel_matrix()[0] == ("csr" if density <= _esn_kernel.SPARSE_BELOW else "dense")


def test_compiled_kernel_sees_edits_of_w_and_tensor_inputs():
    esn = EchoStateNetwork(30, 1, seed=1)
    u = np.random.default_rng(0).uniform(-1, 1, (40, 1))
    before = esn.run(u)
    with torch.no_grad():
        esn.W.mul_(0.5)                                      # in place: the kernel's copy must follow
    np.testing.assert_allclose(esn.run(u), esn.run(u, backend="torch"), atol=1e-12, rtol=0)
    assert np.abs(esn.run(u) - before).max() > 1e-3
    esn.W = torch.zeros(30, 30, dtype=torch.float64)        # replaced
    np.testing.assert_allclose(esn.run(u), np.tanh(u @ esn.W_in.numpy().T), atol=1e-15)
    out = esn.run(torch.as_tensor(u))
    assert torch.is_tensor(out) and out.dtype == torch.float64
    with pytest.raises(ValueError, match="backend must be one of"):
        esn.run(u, backend="cuda")


def test_subclass_with_its_own_step_keeps_the_torch_path_and_step_keeps_gradients():
    class Clipped(EchoStateNetwork):
        def _advance(self, x, drive, feedback):
            return torch.clamp(super()._advance(x, drive, feedback), -0.1, 0.1)

    u = np.random.default_rng(0).uniform(-1, 1, (20, 1))
    clipped = Clipped(20, 1, input_scaling=2.0, seed=0)
    assert np.abs(clipped.run(u)).max() == pytest.approx(0.1)
    esn = EchoStateNetwork(20, 1, seed=0)
    esn.W_in.requires_grad_(True)
    x = esn.step(torch.zeros(1, 20, dtype=torch.float64), torch.ones(1, 1, dtype=torch.float64))
    x.sum().backward()
    assert esn.W_in.grad is not None and float(esn.W_in.grad.abs().sum()) > 0


def test_tensor_inputs_give_tensors():
    esn = EchoStateNetwork(10, 1, seed=0)
    out = esn.run(torch.zeros(5, 1))
    assert isinstance(out, torch.Tensor) and out.shape == (5, 10)


# -- readouts ---------------------------------------------------------------------------
def test_ridge_readout_equals_closed_form_and_sklearn():
    from sklearn.linear_model import Ridge

    rng = np.random.default_rng(0)
    X, Y = rng.normal(size=(200, 15)), rng.normal(size=(200, 3))
    readout = RidgeReadout(ridge=2.5).fit(X, Y)
    A = np.hstack([X, np.ones((200, 1))])
    D = np.diag([1.0] * 15 + [0.0])
    expected = np.linalg.solve(A.T @ A + 2.5 * D, A.T @ Y)
    np.testing.assert_allclose(readout.weights, expected[:-1], atol=1e-12)
    np.testing.assert_allclose(readout.intercept, expected[-1], atol=1e-12)
    peer = Ridge(alpha=2.5).fit(X, Y)
    np.testing.assert_allclose(readout.predict(X), peer.predict(X), atol=1e-10)


def test_rls_converges_to_least_squares_weights():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(500, 8))
    w_true = rng.normal(size=8)
    readout = ForceReadout(alpha=1e-3).fit(X, X @ w_true)
    np.testing.assert_allclose(readout.weights[0], w_true, atol=1e-5)


def test_force_learns_a_sine_generator_with_feedback():
    # Sussillo & Abbott 2009: a chaotic network (g = 1.5) learns to generate a periodic
    # output fed back to it, then keeps generating it with the weights frozen.
    esn = EchoStateNetwork(200, 1, spectral_radius=1.5, leak_rate=0.1, input_scaling=0.0, n_feedback=1, seed=0)
    target = np.sin(2 * np.pi * np.arange(3000) / 100)[:, None]
    readout = ForceReadout(alpha=1.0)
    x0 = np.random.default_rng(0).uniform(-0.5, 0.5, 200)
    _, during = train_force(esn, readout, target[:2000], initial_state=x0)
    assert nrmse(target[1500:2000], during[1500:]) < 0.05
    free = run_closed_loop(esn, readout, 1000)
    assert nrmse(target[2000:], free) < 0.1


# -- tasks -----------------------------------------------------------------------------
@pytest.mark.parametrize("rho", [0.5, 0.8])
def test_memory_capacity_of_one_linear_unit_is_rho_squared(rho):
    # x[t] = rho x[t-1] + w u[t] (tanh nearly linear for a tiny input): u[t-k] is decoded
    # from x[t] with r^2 = rho^2k (1 - rho^2), so MC = sum_{k>=1} = rho^2 (Jaeger 2001).
    esn = EchoStateNetwork(1, 1, W=[[rho]], W_in=[[1e-3]], bias=[0.0])
    mc = memory_capacity(esn, max_delay=30, n_train=4000, n_test=4000)
    assert mc.total == pytest.approx(rho ** 2, abs=0.03)


def test_memory_capacity_is_at_most_n_and_large_for_a_linear_reservoir():
    esn = EchoStateNetwork(40, 1, spectral_radius=0.95, input_scaling=1e-3, density=0.2, seed=1)
    mc = memory_capacity(esn, max_delay=80, n_train=3000, n_test=2000)
    assert 15 < mc.total <= 40
    assert np.all((mc.per_delay >= 0) & (mc.per_delay <= 1))
    assert mc.per_delay[:5].min() > 0.9                        # recent inputs are remembered almost exactly


def test_narma10_with_100_units():
    u, y = narma10(4000, seed=0)
    esn = EchoStateNetwork(100, 1, spectral_radius=0.9, input_scaling=0.2, bias_scaling=0.2, seed=1)
    model = ReservoirModel(esn, RidgeReadout(1e-8), include_input=True).fit(u[:3000], y[:3000], washout=100)
    predicted = model.predict(u, washout=3000)
    assert nrmse(y[3000:], predicted) < 0.4


def test_mackey_glass_one_step_and_free_running():
    x = mackey_glass(2500) - 1.0
    assert 0.35 < x.min() + 1 and x.max() + 1 < 1.4           # the tau = 17 attractor's range
    esn = EchoStateNetwork(100, 1, spectral_radius=1.0, input_scaling=0.5, leak_rate=0.3, bias_scaling=0.2, seed=2)
    model = ReservoirModel(esn, RidgeReadout(1e-7)).fit(x[:1500, None], x[1:1501, None], washout=100)
    one_step = model.predict(x[:2499, None], washout=1600)
    assert nrmse(x[1601:], one_step[:, 0]) < 0.02
    free = model.generate(x[:1501, None], 100)
    assert nrmse(x[1501:1601], free[:, 0]) < 0.1


# -- spike features -----------------------------------------------------------------------
def test_spike_features_match_their_definitions():
    layout = BinLayout(n_sequences=2, bins_per_sequence=3, steps_per_bin=4, dt=0.5)
    steps = np.array([0, 3, 5, 5, 11, 12, 20])                  # bins 0, 0, 1, 1, 2 | 3, 5
    ids = np.array([0, 1, 0, 1, 0, 1, 0])
    counts = SpikeCounts().transform(steps, ids, 2, layout)
    assert counts[0].tolist() == [[1, 1], [1, 1], [1, 0]] and counts[1].tolist() == [[0, 1], [0, 0], [1, 0]]
    rates = SpikeRates(window_bins=2).transform(steps, ids, 2, layout)
    assert rates[0, 1, 0] == pytest.approx(2 / 4e-3) and rates[0, 0, 0] == pytest.approx(1 / 2e-3)
    trace = SpikeTrace(tau_ms=3.0).transform(steps, ids, 2, layout)
    for seq in range(2):
        for b in range(3):
            end = (seq * 3 + b + 1) * 4 - 1                    # last step of the bin
            start = seq * 3 * 4                                 # traces restart with every sequence
            for n in range(2):
                s = steps[(ids == n) & (steps <= end) & (steps >= start)]
                assert trace[seq, b, n] == pytest.approx(np.exp(-(end - s) * 0.5 / 3.0).sum())


def test_spike_counts_are_placed_in_their_bins():
    liquid = Liquid(n_units=20, n_inputs=2, input_mode="spikes", dt=0.5, bin_ms=5.0)
    counts = np.array([[3, 0], [0, 10], [1, 2]])
    steps, ids = liquid._input_spikes(counts, seed=0)
    for b in range(3):
        for channel in range(2):
            in_bin = (steps // 10 == b) & (ids == channel)
            assert in_bin.sum() == counts[b, channel] and np.unique(steps[in_bin]).size == counts[b, channel]


# -- spiking liquid -----------------------------------------------------------------------
@pytest.fixture(scope="module")
def liquid_bits():
    """A two-channel spike train: in bin t channel bits[t] fires 4 spikes."""
    rng = np.random.default_rng(1)
    bits = rng.integers(0, 2, 500)
    u = np.zeros((500, 2))
    u[np.arange(500), bits] = 4
    liquid = Liquid(n_inputs=2, input_mode="spikes", input_weight=150.0, seed=0)
    return liquid, u, bits, liquid.run(u)


def test_liquid_obeys_dale_and_wiring(liquid_bits):
    liquid, _, _, states = liquid_bits
    for key, (pre, post, magnitude, _) in liquid.synapses.items():
        # pre and post types as the key says (Dale: a cell's type fixes the sign of all its synapses)
        assert np.all(liquid.excitatory[pre] == (key[0] == "E")) and np.all(liquid.excitatory[post] == (key[1] == "E"))
        assert np.all(magnitude > 0) and np.all(pre != post)
    assert liquid.excitatory.sum() == 108                      # 80 % of 135
    assert states.shape == (500, 135) and states.mean() > 0


def test_liquid_batch_runs_as_independent_trials():
    liquid = Liquid(n_inputs=2, input_mode="spikes", input_weight=150.0, seed=0)
    u = np.random.default_rng(5).integers(0, 4, (3, 15, 2)).astype(float)
    batched = liquid.run(u)
    for i in range(3):                                         # state and features restart with every sequence
        np.testing.assert_allclose(batched[i], liquid.run(u[i]), atol=1e-12)
    assert np.abs(batched[0] - batched[1]).max() > 0


def test_liquid_remembers_what_the_raw_input_cannot(liquid_bits):
    # target: the bit of the previous bin. The raw input u[t] carries only bits[t]
    # (independent of bits[t-1]): its readout is at chance; the liquid's fading memory is not.
    _, u, bits, states = liquid_bits
    target = np.roll(bits, 1)
    train, test = slice(10, 350), slice(350, 500)
    liquid_accuracy = LogisticReadout().fit(states[train], target[train]).score(states[test], target[test])
    raw_accuracy = LogisticReadout().fit(u[train], target[train]).score(u[test], target[test])
    assert raw_accuracy < 0.62
    assert liquid_accuracy > 0.85 and liquid_accuracy > raw_accuracy + 0.25


def test_liquid_separates_two_input_classes():
    rng = np.random.default_rng(3)
    templates = rng.random((2, 5, 10)) < 0.3                  # two spike patterns, 5 bins x 10 channels
    labels = rng.integers(0, 2, 80)
    flips = rng.random((80, 5, 10)) < 0.1                      # each sample: 10 % of the bins flipped
    inputs = 3.0 * (templates[labels] ^ flips)
    liquid = Liquid(n_inputs=10, input_mode="spikes", input_weight=150.0, seed=0)
    model = ReservoirModel(liquid, LogisticReadout(), pool="last").fit(inputs[:50], labels[:50])
    assert model.score(inputs[50:], labels[50:]) >= 0.8        # chance: 0.5
    states = model.features(inputs)
    between = np.linalg.norm(states[labels == 0].mean(0) - states[labels == 1].mean(0))
    within = np.mean([np.linalg.norm(states[labels == c] - states[labels == c].mean(0), axis=1).mean() for c in (0, 1)])
    assert between > 0.5 * within                              # Maass et al.'s separation property


def test_liquid_classifies_spike_encoded_digits_above_chance():
    rates, labels = spike_encoded_digits(200, seed=0)
    liquid = Liquid(n_inputs=8, input_mode="rates", input_weight=150.0, seed=0)
    model = ReservoirModel(liquid, LogisticReadout(C=0.1), pool="flatten").fit(rates[:150], labels[:150])
    assert model.score(rates[150:], labels[150:]) > 0.4       # chance: 0.1


MNIST = Path(os.environ.get("SYNAPTICA_MNIST", "/work/shared/data/mnist"))


@pytest.mark.skipif(not MNIST.is_dir(), reason=f"MNIST test split not found at {MNIST} (set SYNAPTICA_MNIST)")
def test_mnist_rows_through_an_esn():
    from synaptica.datasets import load_images

    images, labels, shape = load_images(str(MNIST))
    inputs = images[:400].reshape(400, *shape)                 # rows as time steps, columns as inputs
    esn = EchoStateNetwork(200, shape[1], spectral_radius=0.9, input_scaling=0.3, leak_rate=0.5, seed=0)
    model = ReservoirModel(esn, LogisticReadout(C=0.1), pool="mean").fit(inputs[:300], labels[:300])
    assert model.score(inputs[300:], labels[300:400]) > 0.5    # chance: 0.1


# -- bad input ---------------------------------------------------------------------------
@pytest.mark.parametrize("radius", [0.0, -1.0, math.inf, math.nan])
def test_impossible_spectral_radius_is_refused(radius):
    with pytest.raises(ValueError, match="spectral_radius"):
        EchoStateNetwork(10, 1, spectral_radius=radius)


def test_bad_inputs_are_refused_with_a_clear_message():
    esn = EchoStateNetwork(10, 2, seed=0)
    with pytest.raises(ValueError, match="NaN"):
        esn.run(np.array([[0.0, np.nan]]))
    with pytest.raises(ValueError, match=r"shape \(T, 2\)"):
        esn.run(np.zeros((5, 3)))
    with pytest.raises(ValueError, match=r"shape \(T, 2\)"):
        esn.run(np.zeros(5))
    model = ReservoirModel(esn, RidgeReadout())
    with pytest.raises(ValueError, match="washout=5 leaves no step"):
        model.fit(np.zeros((5, 2)), np.zeros(5), washout=5)
    with pytest.raises(ValueError, match="per-step targets"):
        model.fit(np.zeros((5, 2)), np.zeros(4))
    with pytest.raises(ValueError, match="leak_rate"):
        EchoStateNetwork(10, 1, leak_rate=0.0)
    with pytest.raises(ValueError, match="W must have shape"):
        EchoStateNetwork(10, 1, W=np.eye(3))
    with pytest.raises(ValueError, match="spectral radius 0"):
        EchoStateNetwork(3, 1, W=np.zeros((3, 3)), spectral_radius=0.9)
    with pytest.raises(ValueError, match="input_mode"):
        Liquid(input_mode="voltage")
    with pytest.raises(ValueError, match="integer spike counts"):
        Liquid(n_units=20, input_mode="spikes").run(np.full((3, 1), 0.5))
    with pytest.raises(ValueError, match="NaN"):
        RidgeReadout().fit(np.array([[np.nan]]), np.array([1.0]))


def test_readouts_refuse_or_warn_about_data_that_cannot_support_them():
    from synaptica.reservoir.readout import ReadoutWarning

    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match=r"1 sample\(s\) for 3 features; need at least 2"):
        RidgeReadout().fit(rng.normal(size=(1, 3)), np.ones(1))
    with pytest.warns(ReadoutWarning, match="5 samples for 11 free parameters"):
        RidgeReadout().fit(rng.normal(size=(5, 10)), rng.normal(size=5))
    with pytest.raises(ValueError, match="all 4 features are constant over the 30 samples.*dead"):
        RidgeReadout().fit(np.zeros((30, 4)), rng.normal(size=30))              # a dead reservoir
    with pytest.raises(ValueError, match="constant.*saturated"):
        LogisticReadout().fit(np.ones((30, 4)), np.arange(30) % 2)             # a saturated one
    with pytest.warns(ReadoutWarning, match="3 of 4 features are constant"):
        RidgeReadout().fit(np.c_[rng.normal(size=30), np.zeros((30, 3))], rng.normal(size=30))
    with pytest.warns(ReadoutWarning, match="class 2 has 1 sample"):
        LogisticReadout().fit(rng.normal(size=(30, 2)), np.r_[np.arange(29) % 2, 2])
    states = rng.normal(size=(30, 4))
    states[3, 2], states[5, 1] = np.nan, np.inf
    with pytest.raises(ValueError, match=r"1 NaN and 1 infinite value\(s\) \(first at index \(3, 2\)\)"):
        ForceReadout().fit(states, rng.normal(size=30))
    with pytest.raises(ValueError, match="targets contain 1 NaN"):
        RidgeReadout().fit(rng.normal(size=(30, 2)), np.r_[np.zeros(29), np.nan])
    from synaptica.reservoir.tasks import memory_capacity_of_states
    with pytest.raises(ValueError, match="states contain 1 NaN"):
        memory_capacity_of_states(np.r_[np.nan, rng.normal(size=299)][:, None], rng.normal(size=(300, 1)), 5, 100, 10)


def test_a_dead_reservoir_fails_loudly_instead_of_scoring_chance():
    silent = EchoStateNetwork(20, 1, input_scaling=0.0, seed=0)             # no input, no bias: x stays 0
    model = ReservoirModel(silent, RidgeReadout())
    u = np.random.default_rng(0).uniform(-1, 1, (100, 1))
    with pytest.raises(ValueError, match="dead"):
        model.fit(u, u[:, 0])
    from synaptica.reservoir.liquid import LiquidWarning
    dead = Liquid(n_units=20, input_weight=0.0, background_pA=0.0, seed=0)
    with pytest.warns(LiquidWarning, match="none of the 20 neurons fired"):
        states = dead.run(np.ones((3, 1)))
    assert not states.any()


def test_kernel_tanh_is_accurate_to_a_few_ulp_everywhere():
    from synaptica.reservoir._esn_kernel import _tanh

    values = np.r_[np.random.default_rng(0).normal(0, 2, 2000), 0.35, -0.35, 1e-300, -1e-12, 0.0, 20.0, -800.0, 1e308]
    ours = np.array([_tanh(v) for v in values])
    np.testing.assert_allclose(ours, np.tanh(values), rtol=1e-15, atol=0)
    assert np.all(np.abs(ours) <= 1.0)


def test_poisson_input_drawn_in_blocks_equals_one_draw_of_the_whole_raster():
    # 300 one-bin sequences of 250 steps x 64 channels exceed one draw block (2**22 numbers):
    # the blocked draw must give exactly the spikes of a single draw, in the same order
    liquid = Liquid(n_units=20, n_inputs=64, input_mode="rates", dt=1.0, bin_ms=250.0, seed=3)
    rates = np.random.default_rng(0).uniform(0.0, 200.0, (300, 64))
    steps, ids = liquid._input_spikes(rates, seed=7)
    raster = np.random.default_rng([3, 7]).random((300, 250, 64)) < (rates * 1e-3)[:, None, :]
    bins, offsets, channels = np.nonzero(raster)
    assert steps.size > 1000
    np.testing.assert_array_equal(steps, bins * 250 + offsets)
    np.testing.assert_array_equal(ids, channels)
