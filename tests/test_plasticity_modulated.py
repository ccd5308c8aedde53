"""Three-factor (neuromodulated) STDP, reward-modulated STDP, synaptic scaling, inhibitory
STDP (Vogels et al. 2011) and Tsodyks-Markram short-term plasticity, on hand-built spike
trains through Parrot neurons, both engine paths, float64.

Expected values are computed here from the rules' defining equations as sums over spike
pairs (closed forms), not by stepping the rule functions: a generator spike at t ms makes
a Parrot spike in step t / dt + 1 (checked through spike monitors)."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from synaptica.engine.network import Network
from synaptica.neurons import LIF, LIFConductance, Parrot
from synaptica.plasticity import (InhibitorySTDP, RewardModulatedSTDP, SynapticScaling, ThreeFactor,
                                  TsodyksMarkram)

F64 = torch.float64
BACKENDS = ("cpu", "torch")
RTOL = 1e-9
NEVER = 1000.0  # ms: delay of the plastic projections, so their spikes never reach the Parrots


pytestmark = pytest.mark.usefixtures("torch_one_thread")  # fixture in conftest.py


def _parrots(net, pre_trains, post_trains):
    """Generators driving Parrot populations; returns (pre, post, spike steps of each
    neuron as the Parrots will fire them, spike monitors)."""
    def group(trains, name):
        times = np.concatenate([np.asarray(t, dtype=float) for t in trains])
        ids = np.concatenate([np.full(len(t), k) for k, t in enumerate(trains)])
        gen = net.add_spike_generator(len(trains), times, ids, name=f"g{name}")
        pop = net.add_population(len(trains), Parrot(), name=name)
        net.connect(gen, pop, one_to_one=True)
        steps = [sorted(int(round(t / net.dt)) + 1 for t in train) for train in trains]
        return pop, steps, net.monitor_spikes(pop)
    pre, pre_steps, m_pre = group(pre_trains, "pre")
    post, post_steps, m_post = group(post_trains, "post")
    return pre, post, pre_steps, post_steps, (m_pre, m_post)


def _check_parrot_steps(monitors, pre_steps, post_steps):
    for mon, steps in zip(monitors, (pre_steps, post_steps)):
        for k, expected in enumerate(steps):
            got = np.sort(mon.steps[: mon.count][mon.ids[: mon.count] == k])
            assert got.tolist() == expected


def _trace(spike_steps, k, tau, dt, include_k, pairing="all"):
    """A spike trace at step k: sum (all) or nearest (set) of exp(-(k - m) dt / tau)."""
    earlier = [m for m in spike_steps if (m <= k if include_k else m < k)]
    if not earlier:
        return 0.0
    if pairing == "nearest":
        return math.exp(-(k - max(earlier)) * dt / tau)
    return sum(math.exp(-(k - m) * dt / tau) for m in earlier)


# -- three-factor rule ----------------------------------------------------------------------------
PRE_TRAINS = [[4.0, 21.5, 40.0, 77.0, 90.5], [12.0, 33.0, 58.5, 60.0, 101.0]]
POST_TRAINS = [[9.0, 22.0, 41.5, 63.0, 95.0, 102.5], [30.0, 31.0, 59.0, 88.0]]
PULSES = ([25.0, 47.5, 80.0, 99.0], [1.0, -0.6, 0.8, 0.5])


def _expected_three_factor(pre_steps, post_steps, w0, dt, n_steps, interval_steps, mod_tau, pulses,
                           a_plus, a_minus, tau_plus, tau_minus, tau_c, lr, baseline, pairing):
    """Weights and eligibility from the defining sums (see synaptica.plasticity.three_factor)."""
    period = interval_steps * dt
    on_steps = np.arange(0, n_steps, interval_steps)
    pulse_steps = np.round(np.asarray(pulses[0]) / dt).astype(int)

    def modulator(n):
        return sum(a * math.exp(-(n - p) * dt / mod_tau) for p, a in zip(pulse_steps, pulses[1]) if p <= n)

    def decays_between(k, n, inclusive):  # on_step steps s with k <= s < n (or <= n)
        return np.count_nonzero((on_steps >= k) & ((on_steps <= n) if inclusive else (on_steps < n)))

    w, c = np.array(w0, dtype=float).copy(), np.zeros_like(np.asarray(w0, dtype=float))
    for i, pre in enumerate(pre_steps):
        for j, post in enumerate(post_steps):
            increments = [(k, a_plus * _trace(pre, k, tau_plus, dt, True, pairing)) for k in post]
            increments += [(k, -a_minus * _trace(post, k, tau_minus, dt, False, pairing)) for k in pre]
            def eligibility(n, inclusive):
                return sum(dc * math.exp(-period / tau_c * decays_between(k, n, inclusive))
                           for k, dc in increments if k <= n)
            w[i, j] += lr * sum(eligibility(n, False) * (modulator(n) + baseline) * period for n in on_steps)
            c[i, j] = eligibility(n_steps - 1, True)
    return w, c


@pytest.mark.parametrize("backend", BACKENDS)
def test_three_factor_matches_the_defining_sums(backend):
    dt, duration, interval = 0.5, 120.0, 2.5
    net = Network(dt=dt, dtype=F64)
    pre, post, pre_steps, post_steps, monitors = _parrots(net, PRE_TRAINS, POST_TRAINS)
    reward = net.add_modulator("reward", tau=30.0)
    reward.deliver(*PULSES)
    params = dict(a_plus=0.3, a_minus=0.2, tau_plus=15.0, tau_minus=25.0, tau_c=60.0, learning_rate=0.05,
                  baseline=0.1)
    w0 = np.array([[0.5, -0.2], [0.1, 0.3]])
    proj = net.connect(pre, post, weight=w0, target="i_in", delay=NEVER, plasticity=ThreeFactor(
        modulator="reward", w_min=-50.0, w_max=50.0, interval=interval, **params))
    net.run(duration, backend=backend)
    _check_parrot_steps(monitors, pre_steps, post_steps)
    expected_w, expected_c = _expected_three_factor(
        pre_steps, post_steps, w0, dt, int(duration / dt), int(interval / dt), 30.0, PULSES,
        params["a_plus"], params["a_minus"], params["tau_plus"], params["tau_minus"], params["tau_c"],
        params["learning_rate"], params["baseline"], "all")
    assert np.abs(expected_w - w0).min() > 1e-3  # every synapse learned something
    np.testing.assert_allclose(proj.weights.numpy(), expected_w, rtol=RTOL, atol=1e-12)
    c = proj.plastic_state["synapse_state"][0, 0].numpy().reshape(2, 2)
    np.testing.assert_allclose(c, expected_c, rtol=RTOL, atol=1e-12)


@pytest.mark.parametrize("backend", BACKENDS)
def test_three_factor_every_step_decays_eligibility_exactly(backend):
    """interval = 0: on_step every step, c decays by exp(-dt / tau_c) each step; with no
    modulator the weight stays and c is the STDP sum decayed from each pairing's step."""
    dt = 1.0
    net = Network(dt=dt, dtype=F64)
    pre, post, pre_steps, post_steps, _ = _parrots(net, [[10.0]], [[14.0]])
    net.add_modulator("modulator", tau=None)  # stays 0
    proj = net.connect(pre, post, weight=0.25, target="i_in", delay=NEVER,
                       plasticity=ThreeFactor(a_plus=0.2, tau_plus=20.0, tau_c=100.0))
    net.run(60.0, backend=backend)
    (k_pre,), (k_post,) = pre_steps[0], post_steps[0]
    expected = 0.2 * math.exp(-(k_post - k_pre) / 20.0) * math.exp(-(59 - k_post + 1) * dt / 100.0)
    assert proj.plastic_state["synapse_state"][0, 0, 0].item() == pytest.approx(expected, rel=RTOL)
    assert proj.weights.item() == 0.25


@pytest.mark.parametrize("backend", BACKENDS)
def test_reward_modulated_stdp_defaults_and_nearest_pairing(backend):
    """Izhikevich (2007) defaults: nearest-spike STDP 0.1 / 0.15, tau_c = 1 s, w += c (d +
    0.002) every 10 ms, weights in [0, 4], dopamine modulator (tau 200 ms, pulses 0.5)."""
    dt, duration = 1.0, 300.0
    rule = RewardModulatedSTDP()
    assert rule.modulator_names == {"modulator": "dopamine"}
    assert rule.pairing == "nearest"
    v = rule.values
    assert (v["a_plus"], v["a_minus"], v["tau_plus"], v["tau_minus"], v["tau_c"]) == (0.1, 0.15, 20.0, 20.0, 1000.0)
    assert (v["w_min"], v["w_max"], v["learning_rate"], v["interval"], v["baseline"]) == (0.0, 4.0, 0.1, 10.0, 0.002)
    net = Network(dt=dt, dtype=F64)
    pre_trains = [[5.0, 50.0, 53.0, 120.0, 200.0], [18.0, 70.0, 150.0]]
    post_trains = [[8.0, 20.0, 56.0, 58.0, 130.0, 210.0], [45.0, 72.0, 149.0, 160.0]]
    pre, post, pre_steps, post_steps, monitors = _parrots(net, pre_trains, post_trains)
    dopamine = net.add_modulator("dopamine", tau=200.0)
    pulses = ([100.0, 240.0], [0.1, 0.08])
    dopamine.deliver(*pulses)
    w0 = np.full((2, 2), 2.0)
    proj = net.connect(pre, post, weight=w0, target="i_in", delay=NEVER, plasticity=rule)
    net.run(duration, backend=backend)
    _check_parrot_steps(monitors, pre_steps, post_steps)
    expected_w, expected_c = _expected_three_factor(
        pre_steps, post_steps, w0, dt, int(duration / dt), 10, 200.0, pulses,
        0.1, 0.15, 20.0, 20.0, 1000.0, 0.1, 0.002, "nearest")
    assert np.all((expected_w > 0) & (expected_w < 4))  # no clipping in this example
    np.testing.assert_allclose(proj.weights.numpy(), expected_w, rtol=RTOL, atol=1e-12)
    c = proj.plastic_state["synapse_state"][0, 0].numpy().reshape(2, 2)
    np.testing.assert_allclose(c, expected_c, rtol=RTOL, atol=1e-12)


@pytest.mark.parametrize("backend", BACKENDS)
def test_reward_modulated_stdp_clips_at_the_upper_bound(backend):
    net = Network(dt=1.0, dtype=F64)
    pre, post, _, _, _ = _parrots(net, [[float(t) for t in range(0, 200, 20)]],
                                  [[float(t) + 3 for t in range(0, 200, 20)]])
    dopamine = net.add_modulator("dopamine", tau=200.0)
    dopamine.deliver(np.arange(10.0, 200.0, 10.0), 5.0)
    proj = net.connect(pre, post, weight=3.5, target="i_in", delay=NEVER, plasticity=RewardModulatedSTDP())
    net.run(200.0, backend=backend)
    assert proj.weights.item() == 4.0


def test_missing_modulator_is_reported_at_connect():
    net = Network(dt=1.0, dtype=F64)
    a = net.add_population(2, Parrot(), name="a")
    b = net.add_population(2, Parrot(), name="b")
    net.add_modulator("reward", tau=100.0)
    with pytest.raises(ValueError, match=r"RewardModulatedSTDP.*'dopamine'"):
        net.connect(a, b, plasticity=RewardModulatedSTDP())
    with pytest.raises(ValueError, match=r"ThreeFactor.*'serotonin'"):
        net.connect(a, b, plasticity=ThreeFactor(modulator="serotonin"))
    with pytest.raises(ValueError, match=r"ThreeFactor.*'modulator'"):
        net.connect(a, b, plasticity=ThreeFactor())  # default name: "modulator"
    proj = net.connect(a, b, plasticity=ThreeFactor(modulator=net.modulators["reward"]))  # object ok
    assert proj.plasticity.modulator_names == {"modulator": "reward"}


@pytest.mark.parametrize("make, key", [
    (lambda: ThreeFactor(tau_c=-5.0), "tau_c"),
    (lambda: ThreeFactor(tau_plus=0.0), "tau_plus"),
    (lambda: RewardModulatedSTDP(tau_c=-1000.0), "tau_c"),
    (lambda: RewardModulatedSTDP(a_minus=-0.1), "a_minus"),
    (lambda: SynapticScaling(tau_rate=-1.0), "tau_rate"),
    (lambda: SynapticScaling(w_min=-1.0), "w_min"),
    (lambda: InhibitorySTDP(tau=-20.0), "tau"),
    (lambda: InhibitorySTDP(eta=-1e-3), "eta"),
    (lambda: TsodyksMarkram(tau_d=-1.0), "tau_d"),
    (lambda: TsodyksMarkram(tau_f=0.0), "tau_f"),
    (lambda: TsodyksMarkram(U=0.0), "U"),
    (lambda: TsodyksMarkram(U=1.5), "U"),
    (lambda: TsodyksMarkram(U=float("nan")), "U"),
])
def test_bad_parameters_name_the_parameter(make, key):
    with pytest.raises(ValueError, match=f"'{key}'"):
        make()


def test_bad_options():
    with pytest.raises(ValueError, match="pairing"):
        ThreeFactor(pairing="triplet")
    with pytest.raises(ValueError, match="modulator"):
        ThreeFactor(modulator=3)


# -- synaptic scaling -------------------------------------------------------------------------------
@pytest.mark.parametrize("backend", BACKENDS)
def test_synaptic_scaling_matches_the_product_formula(backend):
    dt, duration, interval, tau_rate, eta, target = 1.0, 200.0, 10.0, 40.0, 2e-4, 30.0
    net = Network(dt=dt, dtype=F64)
    # post 0 fires fast (~100 Hz), post 1 slowly (~10 Hz); pre activity does not matter
    post_trains = [list(np.arange(2.0, 200.0, 10.0)), [50.0, 150.0]]
    pre, post, pre_steps, post_steps, monitors = _parrots(net, [[7.0], [60.0], []], post_trains)
    w0 = np.array([[1.0, 2.0], [0.5, 1.5], [3.0, 0.2]])
    proj = net.connect(pre, post, weight=w0, target="i_in", delay=NEVER, plasticity=SynapticScaling(
        eta=eta, r_target=target, tau_rate=tau_rate, interval=interval))
    net.run(duration, backend=backend)
    _check_parrot_steps(monitors, pre_steps, post_steps)
    factors = np.ones(2)
    for n in range(0, int(duration / dt), int(interval / dt)):
        for j, steps in enumerate(post_steps):
            rate_hz = 1000.0 * _trace(steps, n, tau_rate, dt, True) / tau_rate
            factors[j] *= 1.0 + eta * (target - rate_hz) * interval
    assert factors[0] < 0.9 and factors[1] > 1.5  # down for the fast neuron, up for the slow one
    np.testing.assert_allclose(proj.weights.numpy(), w0 * factors[None, :], rtol=RTOL)


# -- inhibitory STDP (Vogels et al. 2011) ---------------------------------------------------------
@pytest.mark.parametrize("backend", BACKENDS)
def test_inhibitory_stdp_matches_the_pair_sums(backend):
    dt, duration, eta, rho0, tau = 0.5, 150.0, 0.01, 5.0, 20.0
    net = Network(dt=dt, dtype=F64)
    pre_trains = [[3.0, 20.0, 21.0, 70.0, 120.0], [40.0, 44.5, 90.0]]
    post_trains = [[5.0, 22.0, 41.0, 100.0], [10.0, 43.0, 44.5, 120.0, 121.0]]
    pre, post, pre_steps, post_steps, monitors = _parrots(net, pre_trains, post_trains)
    w0 = np.array([[0.5, 0.8], [0.3, 0.6]])
    rule = InhibitorySTDP(eta=eta, rho0=rho0, tau=tau)
    assert rule.alpha() == pytest.approx(0.2)
    proj = net.connect(pre, post, weight=-w0, target="i_in", sign="inhibitory", delay=NEVER, plasticity=rule)
    net.run(duration, backend=backend)
    _check_parrot_steps(monitors, pre_steps, post_steps)
    expected = w0.copy()
    for i, pre_k in enumerate(pre_steps):
        for j, post_k in enumerate(post_steps):
            expected[i, j] += sum(eta * (_trace(post_k, k, tau, dt, False) - 0.2) for k in pre_k)
            expected[i, j] += sum(eta * _trace(pre_k, k, tau, dt, True) for k in post_k)
    assert np.all(expected > 0)
    assert np.abs(expected - w0).min() > 1e-3
    np.testing.assert_allclose(proj.synapse_weights().detach().numpy(), -expected, rtol=RTOL)


def test_inhibitory_stdp_needs_an_inhibitory_projection():
    net = Network(dt=1.0, dtype=F64)
    a = net.add_population(2, Parrot(), name="a")
    b = net.add_population(2, Parrot(), name="b")
    with pytest.raises(ValueError, match=r"InhibitorySTDP.*sign='inhibitory'"):
        net.connect(a, b, weight=0.5, plasticity=InhibitorySTDP())
    c = net.add_population(2, LIFConductance(), name="c")
    proj = net.connect(a, c, weight=0.5, target="g_inh", plasticity=InhibitorySTDP())  # conductance: fine
    assert proj.plasticity is not None


# -- Tsodyks-Markram short-term plasticity ------------------------------------------------------------
def _tsodyks_map(spike_times, U, tau_d, tau_f):
    """Efficacies u_n R_n of the iterative map of Tsodyks, Pawelzik & Markram (1998):
    u_{n+1} = U + u_n (1 - U) e^{-D/tau_f}, R_{n+1} = 1 - (1 - R_n (1 - u_n)) e^{-D/tau_d},
    starting from u_1 = U, R_1 = 1."""
    out, u, R = [], U, 1.0
    for n, t in enumerate(spike_times):
        if n:
            gap = t - spike_times[n - 1]
            u, R = U + u * (1.0 - U) * math.exp(-gap / tau_f), 1.0 - (1.0 - R * (1.0 - u)) * math.exp(-gap / tau_d)
        out.append(u * R)
    return np.array(out)


@pytest.mark.parametrize("backend", BACKENDS)
def test_tsodyks_markram_efficacies_follow_the_iterative_map(backend):
    dt, tau_exc, duration = 0.5, 3.0, 400.0
    # neuron 0: regular 50 Hz train then a pause (recovery); neuron 1: irregular train
    trains = [list(np.arange(10.0, 200.0, 20.0)) + [320.0], [15.0, 17.5, 25.0, 60.0, 61.0, 150.0, 390.0]]
    weights = np.array([2.0, 3.0])
    cases = {"depressing": (0.5, 800.0, 20.0), "facilitating": (0.1, 100.0, 600.0)}
    for label, (U, tau_d, tau_f) in cases.items():
        net = Network(dt=dt, dtype=F64)
        times = np.concatenate(trains)
        ids = np.concatenate([np.full(len(t), k) for k, t in enumerate(trains)])
        gen = net.add_spike_generator(2, times, ids)
        pre = net.add_population(2, Parrot(), name="pre")
        post = net.add_population(2, LIF(v_th=1e6, tau_exc=tau_exc), name="post")
        net.connect(gen, pre, one_to_one=True)
        net.connect(pre, post, one_to_one=True, weight=weights, target="i_exc",
                    stp=TsodyksMarkram(U=U, tau_d=tau_d, tau_f=tau_f))
        mon = net.monitor_state(post, "i_exc")
        net.run(duration, backend=backend)
        current = mon.values[:, 0, :]  # (steps, neurons)
        decay = math.exp(-dt / tau_exc)
        delivered = current / decay - np.vstack([np.zeros((1, 2)), current[:-1]])
        for k, train in enumerate(trains):
            arrival = [int(round(t / dt)) + 2 for t in train]  # parrot +1 step, synaptic delay +1 step
            expected = weights[k] * _tsodyks_map(train, U, tau_d, tau_f)
            np.testing.assert_allclose(delivered[arrival, k], expected, rtol=1e-9, err_msg=label)
            others = np.setdiff1d(np.arange(delivered.shape[0]), arrival)
            assert np.abs(delivered[others, k]).max() < 1e-9
        eff = _tsodyks_map(trains[0], U, tau_d, tau_f)
        if label == "depressing":
            assert eff[9] < 0.1 * eff[0] and eff[10] > 3.0 * eff[9]  # depressed, then recovering
        else:
            assert eff[:10].max() > 2.0 * eff[0]  # facilitated


@pytest.mark.parametrize("backend", BACKENDS)
def test_tsodyks_markram_state_resets_at_trial_starts(backend):
    dt, U = 1.0, 0.4
    net = Network(dt=dt, dtype=F64)
    gen = net.add_spike_generator(1, [10.0, 20.0, 110.0, 120.0], [0, 0, 0, 0])
    pre = net.add_population(1, Parrot(), name="pre")
    post = net.add_population(1, LIF(v_th=1e6, tau_exc=2.0), name="post")
    net.connect(gen, pre, one_to_one=True)
    net.connect(pre, post, weight=1.0, target="i_exc", stp=TsodyksMarkram(U=U, tau_d=500.0, tau_f=50.0))
    net.set_trials(100.0)
    mon = net.monitor_state(post, "i_exc")
    net.run(200.0, backend=backend)
    current = mon.values[:, 0, 0]
    decay = math.exp(-dt / 2.0)
    delivered = current / decay - np.concatenate([[0.0], current[:-1]])
    delivered[100] = current[100] / decay  # the trial start resets i_exc before step 100
    per_trial = _tsodyks_map([10.0, 20.0], U, 500.0, 50.0)
    np.testing.assert_allclose(delivered[[12, 22, 112, 122]], np.tile(per_trial, 2), rtol=1e-9)


def test_checkpoint_keeps_scheduled_modulator_pulses(tmp_path):
    def build():
        net = Network(dt=1.0)
        net.add_population(1, Parrot(), name="p")
        return net, net.add_modulator("dopamine", tau=100.0)

    net, mod = build()
    mod.deliver([5.0, 50.0], [1.0, 2.0])
    net.run(10.0)
    net.save_checkpoint(tmp_path / "c.npz")
    resumed, mod2 = build()                       # the pulses were scheduled before the checkpoint only
    resumed.load_checkpoint(tmp_path / "c.npz")
    resumed.run(50.0)
    net.run(50.0)
    np.testing.assert_allclose(mod2.value.numpy(), mod.value.numpy())
    assert mod.value.item() > 1.0                  # the 50 ms pulse arrived in both
