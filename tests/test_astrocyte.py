"""Astrocyte (Ivanov & Michmizos 2021): dynamics against the closed form, parity of the two
engine paths, trial reset and checkpoints from the declared state, the modulated STDP."""
import math

import numpy as np
import pytest
import torch

from synaptica.engine.network import Network
from synaptica.engine.step_order import UpdateAstrocyte, step_operations
from synaptica.neurons import LIF
from synaptica.plasticity.astrocyte import add_astrocyte
from synaptica.plasticity.astrocyte_stdp import AstrocyteSTDP, astro_stdp_on_post, astro_stdp_on_pre

TAU, BIAS, W = 100.0, 0.15, 0.015


def constant_drive_net(dt=1.0, n_liquid=7, n_input=3, initial=None, dtype=torch.float64):
    """Two generator groups firing every step: the drive is W (n_liquid - n_input) / dt."""
    net = Network(dt=dt, dtype=dtype)
    steps = np.arange(400)
    liquid = net.add_spike_generator(n_liquid, np.repeat(steps, n_liquid) * dt, np.tile(np.arange(n_liquid), 400))
    inputs = net.add_spike_generator(n_input, np.repeat(steps, n_input) * dt, np.tile(np.arange(n_input), 400))
    net.add_population(1, LIF())
    astro = add_astrocyte(net, "astro", {liquid: W, inputs: -W}, tau=TAU, bias=BIAS, initial=initial)
    return net, astro


def closed_form(t_ms, a0, drive):
    target = BIAS + drive
    return target + (a0 - target) * math.exp(-t_ms / TAU)


@pytest.mark.parametrize("backend", ["cpu", "torch"])
@pytest.mark.parametrize("dt", [1.0, 0.5])
def test_constant_drive_follows_the_closed_form(backend, dt):
    net, astro = constant_drive_net(dt=dt, initial=0.0)
    drive = W * (7 - 3) / dt
    for t_end in (10.0, 50.0, 150.0):
        net.run(t_end - net.step * dt, backend=backend)
        assert astro.value[0].item() == pytest.approx(closed_form(t_end, 0.0, drive), rel=1e-9)


def test_step_order_has_the_astrocyte_before_plasticity():
    net, astro = constant_drive_net()
    ops = step_operations(net)
    kinds = [type(op).__name__ for op in ops]
    assert kinds.count("UpdateAstrocyte") == 1 and "UpdateModulator" not in kinds
    op = next(op for op in ops if isinstance(op, UpdateAstrocyte))
    assert [net.groups[g] for g in op.sources] == [g for g, _ in astro.sources]
    assert astro.reads() == tuple(g.name for g, _ in astro.sources)
    assert set(astro.descriptions()) == {"activity"}


def stdp_net(dtype):
    net = Network(dt=1.0, seed=3, dtype=dtype)
    rng = np.random.default_rng(1)
    drive = net.add_spike_generator(20, np.round(rng.uniform(0, 60, 400)), rng.integers(0, 20, 400))
    inputs = net.add_spike_generator(20, np.arange(0, 60, 3.0), np.arange(20) % 20)
    pop = net.add_population(30, LIF())
    astro = add_astrocyte(net, "astro", {pop: W, inputs: -W}, tau=TAU, bias=BIAS)
    net.connect(inputs, pop, p=0.5, weight=400.0, plasticity=AstrocyteSTDP(astrocyte="astro", w_max=800.0))
    net.connect(drive, pop, p=0.5, weight=400.0)
    net.connect(pop, pop, p=0.3, weight=-50.0, sign="inhibitory", target="i_inh",
                plasticity=AstrocyteSTDP(astrocyte="astro", inhibitory=True, w_max=300.0))
    net.connect(pop, pop, p=0.3, weight=50.0, plasticity=AstrocyteSTDP(astrocyte="astro", w_max=300.0))
    net.set_trials(30.0)
    return net, astro


def _final(backend, dtype, pieces):
    net, astro = stdp_net(dtype)
    for piece in pieces:
        net.run(piece, backend=backend)
    return astro.value.clone(), [p.weights.detach().clone() for p in net.projections]


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_paths_agree_and_split_runs_equal_one_run(dtype, torch_one_thread):
    reference = _final("cpu", dtype, [60.0])
    initial = [p.weights.detach().clone() for p in stdp_net(dtype)[0].projections]
    assert any(not torch.equal(a, b) for a, b in zip(reference[1], initial))   # the rule changed weights
    tolerance = 1e-12 if dtype == torch.float64 else 1e-5
    for backend, pieces in (("cpu", [45.0, 15.0]), ("torch", [60.0]), ("torch", [17.0, 43.0])):
        value, weights = _final(backend, dtype, pieces)
        assert torch.allclose(value, reference[0], atol=tolerance, rtol=0), (backend, pieces)
        for a, b in zip(weights, reference[1]):
            assert torch.allclose(a, b, atol=tolerance * 100, rtol=tolerance), (backend, pieces)


@pytest.mark.parametrize("backend", ["cpu", "torch"])
def test_trial_start_restores_the_declared_initial_value(backend):
    net, astro = constant_drive_net(initial=0.7)
    assert astro.state_blocks()[0].initial == (0.7,) and astro.value[0].item() == 0.7
    net.set_trials(10.0)
    net.run(10.0, backend=backend)
    assert astro.value[0].item() == pytest.approx(closed_form(10.0, 0.7, W * 4))
    net.run(3.0, backend=backend)   # the new trial starts from 0.7 again, not from where it was
    assert astro.value[0].item() == pytest.approx(closed_form(3.0, 0.7, W * 4), rel=1e-9)


@pytest.mark.parametrize("backend", ["cpu", "torch"])
def test_checkpoint_resumes_identically(tmp_path, backend):
    full = _final(backend, torch.float64, [60.0])
    net, astro = stdp_net(torch.float64)
    net.run(25.0, backend=backend)
    net.save_checkpoint(tmp_path / "astro.npz")
    fresh, fresh_astro = stdp_net(torch.float64)
    fresh.load_checkpoint(tmp_path / "astro.npz")
    assert torch.equal(fresh_astro.value, astro.value)
    fresh.run(35.0, backend=backend)
    assert torch.allclose(fresh_astro.value, full[0], atol=1e-12)
    for proj, w in zip(fresh.projections, full[1]):
        assert torch.allclose(proj.weights.detach(), w, atol=1e-10)


def test_rule_uses_the_astrocyte_as_depression_rate_and_swaps_for_inhibition():
    # excitatory: a pre spike depresses by 0.1 * A * x_post, a post spike potentiates by 0.1 * eta * x_pre
    assert astro_stdp_on_pre(1.0, 0.3, 0.15, 0.1, 0.0) == pytest.approx((0.0, 0.03))
    assert astro_stdp_on_post(2.0, 0.3, 0.15, 0.1, 0.0) == pytest.approx((0.03, 0.0))
    # negative A: depression becomes potentiation (as in the authors' code)
    assert astro_stdp_on_pre(1.0, -0.2, 0.15, 0.1, 0.0) == pytest.approx((0.02, 0.0))
    # inhibitory presynaptic neurons: rates swapped on the weight magnitude
    assert astro_stdp_on_pre(1.0, 0.3, 0.15, 0.1, 1.0) == pytest.approx((0.0, 0.015))
    assert astro_stdp_on_post(1.0, 0.3, 0.15, 0.1, 1.0) == pytest.approx((0.03, 0.0))


def test_bad_astrocytes_and_rules_are_refused():
    net = Network(dt=1.0)
    pop = net.add_population(3, LIF())
    poisson = net.add_poisson(3, 10.0)
    other = Network(dt=1.0).add_population(2, LIF())
    with pytest.raises(ValueError, match="tau"):
        add_astrocyte(net, "a", {pop: 1.0}, tau=0.0)
    with pytest.raises(ValueError, match="bias"):
        add_astrocyte(net, "a", {pop: 1.0}, bias=float("nan"))
    with pytest.raises(ValueError, match="not a group of this network"):
        add_astrocyte(net, "a", {other: 1.0})
    with pytest.raises(ValueError, match="Poisson"):
        add_astrocyte(net, "a", {poisson: 1.0})
    with pytest.raises(ValueError, match="weight of source"):
        add_astrocyte(net, "a", {pop: float("inf")})
    with pytest.raises(ValueError, match="at least one group"):
        add_astrocyte(net, "a", {})
    add_astrocyte(net, "a", {pop: 1.0})
    with pytest.raises(ValueError, match="already"):
        add_astrocyte(net, "a", {pop: 1.0})
    with pytest.raises(ValueError, match="inhibitory"):
        AstrocyteSTDP(inhibitory=2)
    with pytest.raises(ValueError, match="modulator 'missing'"):
        net.connect(pop, pop, p=1.0, weight=1.0, plasticity=AstrocyteSTDP(astrocyte="missing"))
