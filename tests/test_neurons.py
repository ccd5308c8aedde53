"""Neuron models against closed-form solutions and their published firing patterns.

Timing convention (verified in ``test_lif_membrane_matches_closed_form``): step ``k``
integrates the interval [k dt, (k+1) dt] and every monitor records *after* the step's
update, so state sample ``k`` is the value at t = (k+1) dt, which is what
``StateMonitor.times_ms`` reports.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from synaptica.engine.network import Network
from synaptica.neurons import IZHIKEVICH_PRESETS, LIF, AdaptiveLIF, AdEx, Izhikevich, LIFConductance

F64 = torch.float64
DT = 0.1


def spike_steps(mon, neuron: int, batch: int = 0) -> np.ndarray:
    sel = (mon.neuron_ids == neuron) & (mon.batch_ids == batch)
    return mon.steps[: mon.count][sel]


# -- LIF: closed-form membrane and f-I curve (one network) -----------------------------------
LIF_CURRENTS = np.array([140.0, 160.0, 200.0, 300.0, 500.0, 1000.0])  # pA; rheobase 150 pA
LIF_DURATION = 300.0


@pytest.fixture(scope="module")
def lif_run():
    model = LIF()  # tau_m 20 ms, r_m 0.1 GOhm, v_rest = v_reset = -65, v_th = -50, t_ref 2 ms
    net = Network(dt=DT, dtype=F64)
    pop = net.add_population(len(LIF_CURRENTS), model)
    pop.i_ext[:] = torch.as_tensor(LIF_CURRENTS)
    v_mon = net.monitor_state(pop, "v", neurons=[0])
    s_mon = net.monitor_spikes(pop)
    net.run(LIF_DURATION)
    return model.values, v_mon, s_mon


def test_lif_membrane_matches_closed_form(lif_run):
    p, v_mon, s_mon = lif_run
    current = LIF_CURRENTS[0]
    assert p["r_m"] * current < p["v_th"] - p["v_rest"]  # stays below threshold
    assert not np.any(s_mon.neuron_ids == 0)
    n = int(round(LIF_DURATION / DT))
    assert np.array_equal(v_mon.steps, np.arange(n))
    v = v_mon.values[:, 0, 0]
    closed = lambda t: p["v_rest"] + p["r_m"] * current * (1.0 - np.exp(-t / p["tau_m"]))  # noqa: E731
    t_after = (np.arange(n) + 1) * DT  # sample k is the state at the end of step k
    np.testing.assert_allclose(v_mon.times_ms, t_after)
    np.testing.assert_allclose(v, closed(v_mon.times_ms), rtol=0, atol=1e-9)


def test_lif_fi_curve_matches_analytic_rate(lif_run):
    """Rate 1 / (t_ref + T), T = tau_m ln((r_m I + v_rest - v_reset) / (r_m I + v_rest - v_th)).

    Quantisation: after a spike in step k, v is held (at v_reset) while the refractory
    counter is > 0 and integrates again from step k + R, R = round(t_ref / dt); it then
    needs m = ceil(T / dt) exact steps to reach threshold, so every ISI is exactly
    R - 1 + m steps, i.e. in [t_ref + T - dt, t_ref + T) when t_ref is a multiple of dt:
    the simulated ISI is shorter than the analytic one by less than one step (never
    longer), so |1/ISI_sim - 1/ISI| < dt / (ISI (ISI - dt)), about 0.1-2 % here.
    """
    p, _, s_mon = lif_run
    R = int(round(p["t_ref"] / DT))
    for neuron in range(1, len(LIF_CURRENTS)):
        drive = p["r_m"] * LIF_CURRENTS[neuron]
        T = p["tau_m"] * math.log((drive + p["v_rest"] - p["v_reset"]) / (drive + p["v_rest"] - p["v_th"]))
        assert abs(T / DT - round(T / DT)) > 1e-6  # ceil() well defined for these currents
        m = math.ceil(T / DT)
        steps = spike_steps(s_mon, neuron)
        assert len(steps) >= 4
        assert steps[0] == m - 1  # first spike: from v_rest (= v_reset), m steps from step 0
        isi_steps = np.diff(steps)
        assert np.all(isi_steps == R - 1 + m), (neuron, isi_steps, R - 1 + m)
        isi_analytic = p["t_ref"] + T
        isi_sim = isi_steps.mean() * DT
        assert isi_analytic - DT <= isi_sim < isi_analytic
        rate_sim, rate_analytic = 1e3 / isi_sim, 1e3 / isi_analytic
        assert abs(rate_sim - rate_analytic) <= 1e3 * DT / (isi_analytic * (isi_analytic - DT))


# -- LIF: postsynaptic potential of an exponential current ------------------------------------
def test_lif_psp_matches_analytic():
    """One spike at 2 ms, delay 1 ms, weight w: v - v_rest = r_m w tau_s / (tau_s - tau_m)
    (exp(-t/tau_s) - exp(-t/tau_m)), t from 3 ms (the limit r_m w t/tau_m exp(-t/tau_m)
    for tau_s = tau_m, neuron 1).

    Step order (network.py): the generator spikes in step 20 = round(2.0 / dt); step 4
    writes w into the ring buffer slot of step 20 + 10; in step 30 it is added to i_exc
    before the update, so the current starts at t = 30 dt = 3 ms and sample m (state at
    (m + 1) dt) holds the PSP at t = (m + 1 - 30) dt.
    """
    w, tau_m = 100.0, 20.0
    tau_s = np.array([5.0, 20.0])
    net = Network(dt=DT, dtype=F64)
    gen = net.add_spike_generator(1, [2.0], [0])
    model = LIF(tau_m=tau_m, tau_exc=tau_s)
    pop = net.add_population(2, model)
    net.connect(gen, pop, weight=w, delay=1.0)
    v_mon = net.monitor_state(pop, "v")
    net.run(60.0)
    v = v_mon.values[:, 0, :] - model.values["v_rest"]
    onset = 30
    assert np.all(v[:onset] == 0.0)
    t = (np.arange(onset, v.shape[0]) + 1 - onset) * DT
    r_m = model.values["r_m"]
    ts = tau_s[0]
    expected0 = r_m * w * ts / (ts - tau_m) * (np.exp(-t / ts) - np.exp(-t / tau_m))
    expected1 = r_m * w * t / tau_m * np.exp(-t / tau_m)
    np.testing.assert_allclose(v[onset:, 0], expected0, rtol=0, atol=1e-9)
    np.testing.assert_allclose(v[onset:, 1], expected1, rtol=0, atol=1e-9)
    assert v[onset:, 0].max() > 1.0  # a real PSP, not a trivially small one


# -- Izhikevich presets ----------------------------------------------------------------------
IZH_NAMES = ["RS", "IB", "CH", "FS", "LTS"]


def _rs(isi, rate):  # regular spiking: tonic with clear spike-frequency adaptation
    return bool(np.all(isi > 10.0) and isi[0] / isi[-1] < 0.65 and 15.0 <= rate <= 40.0)


def _ib(isi, rate):  # intrinsically bursting: initial burst, then tonic single spikes
    tail = isi[3:]
    return bool(isi[0] < 6.0 and isi[1] < 6.0 and np.all(isi[2:] > 20.0)
                and tail.std() / tail.mean() < 0.05)


def _ch(isi, rate):  # chattering: repeated bursts, bimodal ISIs
    short, long_ = isi < 8.0, isi > 30.0
    return bool(np.all(short | long_) and long_.sum() >= 10 and short.sum() >= 2 * long_.sum())


def _fs(isi, rate):  # fast spiking: high rate, practically no adaptation
    steady = isi[5:]
    return bool(rate > 100.0 and isi.max() < 10.0 and steady.std() / steady.mean() < 0.02
                and isi[-1] / isi[0] < 2.0)


def _lts(isi, rate):  # low-threshold spiking: high initial rate, strong adaptation, tonic
    steady = isi[-10:]
    return bool(isi[0] < 4.0 and isi[-1] > 3.0 * isi[0] and isi.max() < 20.0
                and np.all(np.diff(isi[:5]) > 0) and steady.std() / steady.mean() < 0.05)


IZH_CLASSIFIERS = {"RS": _rs, "IB": _ib, "CH": _ch, "FS": _fs, "LTS": _lts}


@pytest.fixture(scope="module")
def izhikevich_isis():
    """All five presets side by side (per-neuron a, b, c, d), I = 10 for 1 s at dt = 0.1 ms
    (Izhikevich 2003, Fig. 2)."""
    params = np.array([IZHIKEVICH_PRESETS[n] for n in IZH_NAMES])
    net = Network(dt=DT, dtype=F64)
    pop = net.add_population(5, Izhikevich(a=params[:, 0], b=params[:, 1], c=params[:, 2], d=params[:, 3]))
    pop.i_ext[:] = 10.0
    mon = net.monitor_spikes(pop)
    duration = 1000.0
    net.run(duration)
    out = {}
    for k, name in enumerate(IZH_NAMES):
        times = spike_steps(mon, k) * DT
        out[name] = (np.diff(times), len(times) / (duration * 1e-3))
    return out


@pytest.mark.parametrize("name", IZH_NAMES)
def test_izhikevich_preset_pattern(izhikevich_isis, name):
    isi, rate = izhikevich_isis[name]
    assert len(isi) >= 10
    assert IZH_CLASSIFIERS[name](isi, rate), (name, rate, np.round(isi[:15], 1))


def test_izhikevich_pattern_checks_reject_other_presets(izhikevich_isis):
    """Each pattern check accepts only its own class: wrong (a, b, c, d) would fail."""
    for check_name, check in IZH_CLASSIFIERS.items():
        accepted = [n for n in IZH_NAMES if check(*izhikevich_isis[n])]
        assert accepted == [check_name], (check_name, accepted)


def test_izhikevich_fs_faster_than_rs(izhikevich_isis):
    assert izhikevich_isis["FS"][1] > 3 * izhikevich_isis["RS"][1]


# -- AdEx ---------------------------------------------------------------------------------------
def test_adex_step_current_adapts():
    """Brette & Gerstner (2005) defaults, 1 nA step: ISIs lengthen monotonically to a
    steady state; the same cell without adaptation (a = b = 0) fires regularly."""
    net = Network(dt=DT, dtype=F64)
    pop = net.add_population(2, AdEx(a=np.array([4.0, 0.0]), b=np.array([80.5, 0.0])))
    assert AdEx().values["a"] == 4.0 and AdEx().values["b"] == 80.5 and AdEx().values["tau_w"] == 144.0
    pop.i_ext[:] = 1000.0
    w_mon = net.monitor_state(pop, "w", every=10)
    mon = net.monitor_spikes(pop)
    net.run(600.0)
    isi = np.diff(spike_steps(mon, 0)) * DT
    assert len(isi) >= 8
    assert np.all(np.diff(isi) >= -DT), isi          # non-decreasing (up to one step)
    assert isi[-1] > 2.0 * isi[0], isi                # clear adaptation
    assert abs(isi[-1] - isi[-2]) <= 0.01 * isi[-1]  # converged to tonic firing
    assert w_mon.values[-1, 0, 0] > 100.0             # adaptation current built up (pA)
    control = np.diff(spike_steps(mon, 1)) * DT
    assert control.max() - control.min() <= DT + 1e-9 and control.mean() < 0.5 * isi[-1]


# -- Adaptive LIF -------------------------------------------------------------------------------
def _alif_reference(n_steps, i_ext, p, theta_jump, tau_adapt):
    """Independent plain-Python version of the documented equations (exact LIF step,
    threshold v_th + theta, theta decays with tau_adapt and jumps by theta_jump)."""
    decay_m, decay_a = math.exp(-DT / p["tau_m"]), math.exp(-DT / tau_adapt)
    R = int(round(p["t_ref"] / DT))
    v, theta, ref, spikes, thetas = p["v_rest"], 0.0, 0, [], []
    for k in range(n_steps):
        ref = max(ref - 1, 0)
        if ref == 0:
            v = p["v_rest"] + (v - p["v_rest"]) * decay_m + p["r_m"] * (1 - decay_m) * i_ext
        theta *= decay_a
        if v >= p["v_th"] + theta:
            spikes.append(k)
            v, ref, theta = p["v_reset"], R, theta + theta_jump
        thetas.append(theta)
    return np.array(spikes), np.array(thetas)


def test_adaptive_lif_threshold_jumps_and_decays():
    tau_adapt, jump, current = 50.0, 2.0, 300.0
    model = AdaptiveLIF(tau_adapt=tau_adapt, theta_jump=np.array([jump, 0.0]))
    net = Network(dt=DT, dtype=F64)
    pop = net.add_population(2, model)
    pop.i_ext[:] = current
    theta_mon = net.monitor_state(pop, "theta")
    mon = net.monitor_spikes(pop)
    net.run(200.0)
    n_on = 2000
    pop.i_ext[:] = 0.0
    net.run(100.0)
    theta = theta_mon.values[:, 0, 0]
    fired = np.zeros(theta.size)
    fired[spike_steps(mon, 0)] = 1.0
    decay = math.exp(-DT / tau_adapt)
    # theta(k) = theta(k-1) exp(-dt/tau_adapt) + theta_jump * spike(k)
    previous = np.concatenate([[0.0], theta[:-1]])
    np.testing.assert_allclose(theta, previous * decay + jump * fired, rtol=0, atol=1e-12)
    assert fired.sum() >= 5 and fired[n_on:].sum() == 0
    # after the current is switched off: pure exponential decay
    k = np.arange(theta.size - n_on)
    np.testing.assert_allclose(theta[n_on:], theta[n_on - 1] * decay ** (k + 1), rtol=1e-10, atol=0)
    # adaptation: ISIs grow; without jumps (neuron 1) they are constant
    isi = np.diff(spike_steps(mon, 0))
    assert isi[-1] > isi[0] + 10 and np.all(np.diff(isi) >= 0)
    assert len(set(np.diff(spike_steps(mon, 1)))) == 1
    assert np.all(theta_mon.values[:, 0, 1] == 0.0)
    # spike times agree with the documented equations, step for step
    ref_spikes, ref_theta = _alif_reference(n_on, current, model.values, jump, tau_adapt)
    assert np.array_equal(spike_steps(mon, 0), ref_spikes)
    np.testing.assert_allclose(theta[:n_on], ref_theta, rtol=0, atol=1e-9)


# -- conductance LIF ----------------------------------------------------------------------------
def test_lif_conductance_steady_state():
    """Constant g_exc (tau_exc = 1e16 ms: the decay factor rounds to exactly 1.0 in
    float64, so g does not change): v relaxes exactly to
    (v_rest + r_m g e_exc) / (1 + r_m g) with time constant tau_m / (1 + r_m g)."""
    g = np.array([0.5, 1.0, 2.0])  # nS; all below threshold (v_inf < -50 mV)
    model = LIFConductance(tau_exc=1e16)
    p = model.values
    assert model.coefficients(DT)["decay_exc"] == 1.0
    net = Network(dt=DT, dtype=F64)
    pop = net.add_population(3, model)
    pop.g_exc[:] = torch.as_tensor(g)
    v_mon = net.monitor_state(pop, "v")
    mon = net.monitor_spikes(pop)
    net.run(600.0)  # > 30 relaxation times: exp(-30) * 11 mV < 1e-12 mV
    v_inf = (p["v_rest"] + p["r_m"] * g * p["e_exc"]) / (1.0 + p["r_m"] * g)
    assert np.all(v_inf < p["v_th"]) and mon.count == 0
    v = v_mon.values[:, 0, :]
    np.testing.assert_allclose(v[-1], v_inf, rtol=0, atol=1e-9)
    t = (np.arange(v.shape[0]) + 1)[:, None] * DT
    trajectory = v_inf + (p["v_rest"] - v_inf) * np.exp(-t * (1.0 + p["r_m"] * g) / p["tau_m"])
    np.testing.assert_allclose(v, trajectory, rtol=0, atol=1e-9)
    assert np.array_equal(pop.g_exc[0].numpy(), g)
