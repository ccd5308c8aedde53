"""Plasticity rules against their defining equations on hand-built spike trains.

Parrot neurons repeat generator spikes one step later, so pre- and postsynaptic spike
times are set exactly. The expected weights are computed here from the *recorded* spike
times with the rules' equations in closed form (sums of exponentials over spike pairs
and triplets, traces written as explicit sums over earlier spikes), never with the
engine's trace recursion; both engine paths must agree with them to ~1e-9 (float64).
Plastic weights stay small (the post parrots fire on input > 0.5, so the plastic
projection never changes the spike times; every test checks the recorded times).
"""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from synaptica.engine.network import Network
from synaptica.neurons import Parrot
from synaptica.neurons.base import Parameter
from synaptica.plasticity import (BCM, AntiHebbian, DiehlCookSTDP, Hebbian, Oja, PairSTDP, PlasticityRule,
                                  SymmetricSTDP, Trace, TripletSTDP)

BACKENDS = ("cpu", "torch")
TOL = 1e-9
N_PRE, N_POST = 3, 2
# generator times (ms); the parrots spike one step later. Pairs in both orders, bursts
# (triplets), and same-step pre/post coincidences (pre 1 and post 0 at 15; pre 2 and
# post 1 at 100).
PRE = {0: [10, 30, 50, 52, 90], 1: [15, 28, 70, 120], 2: [40, 41, 42, 100]}
POST = {0: [15, 28, 31, 60, 62, 64, 95], 1: [20, 45, 46, 100, 130]}
W0 = np.array([[0.05, 0.06], [0.07, 0.04], [0.03, 0.08]])
DURATION = 150.0


pytestmark = pytest.mark.usefixtures("torch_one_thread")  # fixture in conftest.py


def _events(spec: dict) -> tuple[list, list]:
    pairs = sorted((t, i) for i, ts in spec.items() for t in ts)
    return [t for t, _ in pairs], [i for _, i in pairs]


def build(rule, *, pre=PRE, post=POST, w0=W0, dt=1.0, trials=None, sparse=None):
    net = Network(dt=dt, dtype=torch.float64)
    gp = net.add_spike_generator(N_PRE, *_events(pre), name="gpre")
    gq = net.add_spike_generator(N_POST, *_events(post), name="gpost")
    a = net.add_population(N_PRE, Parrot(), name="pre")
    b = net.add_population(N_POST, Parrot(), name="post")
    net.connect(gp, a, one_to_one=True)
    net.connect(gq, b, one_to_one=True)
    if sparse is None:
        proj = net.connect(a, b, weight=w0, plasticity=rule, target="i_in")
    else:
        i, j = sparse
        proj = net.connect(a, b, pre_index=i, post_index=j, weight=w0[i, j], plasticity=rule, target="i_in")
    if trials is not None:
        net.set_trials(trials)
    return net, proj, net.monitor_spikes(a), net.monitor_spikes(b)


def spike_times(mon, n: int) -> dict[int, np.ndarray]:
    ids, times = mon.neuron_ids, mon.times_ms
    return {k: np.sort(times[ids == k]) for k in range(n)}


def run(rule, backend, duration=DURATION, **kw):
    """Final weights as an (N_PRE, N_POST) matrix and the recorded spike times."""
    dt = kw.get("dt", 1.0)
    net, proj, mpre, mpost = build(rule, **kw)
    net.run(duration, backend=backend)
    pre_t, post_t = spike_times(mpre, N_PRE), spike_times(mpost, N_POST)
    for spec, rec in ((kw.get("pre", PRE), pre_t), (kw.get("post", POST), post_t)):
        for k, ts in spec.items():   # the plastic weights never altered the spike times
            due = np.array(ts, dtype=float) + dt
            np.testing.assert_allclose(rec[k], due[due < duration - 1e-9])
    w = proj.weights.detach().numpy()
    if proj.kind == "sparse":
        full = np.full((N_PRE, N_POST), np.nan)
        i, j = proj.synapse_index()
        full[i, j] = w
        w = full
    return w, pre_t, post_t


# -- closed forms (written from the equations, independent of the engine) --------------------------
def trace(times, t, tau, mode="add", include_now=True):
    """A trace at time t: sum over spikes s <= t (or s < t) of exp(-(t - s)/tau) for
    all-to-all ("add"), or exp(-(t - last spike)/tau) for nearest spike ("set")."""
    ts = [s for s in times if (s <= t + 1e-9 if include_now else s < t - 1e-9)]
    if not ts:
        return 0.0
    if mode == "set":
        return math.exp(-(t - max(ts)) / tau)
    return sum(math.exp(-(t - s) / tau) for s in ts)


def event_sum(pre_t, post_t, w0, at_pre, at_post, *, lr=1.0, w_min=-1.0, w_max=1.0, soft=False,
              multiplicative=False):
    """Apply each spike's (potentiation, depression) in time order (pre before post in the
    same step) with the bounds / dependence options defined in plasticity.base."""
    w = w0
    events = sorted([(t, 0) for t in pre_t] + [(t, 1) for t in post_t])
    for t, kind in events:
        pot, dep = at_pre(t, w) if kind == 0 else at_post(t, w)
        span = w_max - w_min
        if soft:
            pot, dep = pot * (w_max - w) / span, dep * (w - w_min) / span
        if multiplicative:
            dep = dep * w
        w = min(max(w + lr * (pot - dep), w_min), w_max)
    return w


def pair_all(pre_t, post_t, a_plus, a_minus, tau_plus, tau_minus):
    """Sum over all pairs: +a_plus exp(-dt/tau_plus) for dt = t_post - t_pre >= 0,
    -a_minus exp(dt/tau_minus) for dt < 0."""
    total = 0.0
    for tp in pre_t:
        for tq in post_t:
            d = tq - tp
            total += a_plus * math.exp(-d / tau_plus) if d >= 0 else -a_minus * math.exp(d / tau_minus)
    return total


def pair_nearest(pre_t, post_t, a_plus, a_minus, tau_plus, tau_minus):
    """Each post spike pairs with the latest pre spike at or before it, each pre spike
    with the latest post spike strictly before it."""
    total = 0.0
    for tq in post_t:
        earlier = [tp for tp in pre_t if tp <= tq]
        if earlier:
            total += a_plus * math.exp(-(tq - max(earlier)) / tau_plus)
    for tp in pre_t:
        earlier = [tq for tq in post_t if tq < tp]
        if earlier:
            total -= a_minus * math.exp(-(tp - max(earlier)) / tau_minus)
    return total


def each_synapse(fn, pre_t, post_t, w0=W0):
    return np.array([[fn(i, j, pre_t[i], post_t[j], w0[i, j]) for j in range(N_POST)] for i in range(N_PRE)])


STDP = dict(a_plus=0.004, a_minus=0.005, tau_plus=15.0, tau_minus=25.0)


# -- pair STDP -------------------------------------------------------------------------------------
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("pairing", ["all", "nearest"])
def test_pair_stdp_matches_pair_sums(backend, pairing):
    rule = PairSTDP(pairing=pairing, w_min=-1.0, w_max=1.0, **STDP)
    w, pre_t, post_t = run(rule, backend)
    form = pair_all if pairing == "all" else pair_nearest
    expected = each_synapse(lambda i, j, p, q, w0: w0 + form(p, q, **STDP), pre_t, post_t)
    assert np.abs(expected - W0).max() > 1e-3   # the rule did something
    np.testing.assert_allclose(w, expected, rtol=0, atol=TOL)


@pytest.mark.parametrize("backend", BACKENDS)
def test_pair_stdp_sparse_projection(backend):
    """Explicit (CSR) synapses take the sparse code path; same pair sums."""
    i, j = np.array([0, 1, 2, 2]), np.array([1, 0, 0, 1])
    rule = PairSTDP(w_min=-1.0, w_max=1.0, **STDP)
    w, pre_t, post_t = run(rule, backend, sparse=(i, j))
    for a, b in zip(i, j):
        assert w[a, b] == pytest.approx(W0[a, b] + pair_all(pre_t[a], post_t[b], **STDP), abs=TOL)
    assert np.isnan(w[0, 0]) and np.isnan(w[1, 1])


# -- triplet STDP ----------------------------------------------------------------------------------
TRIPLET = dict(a2_plus=0.004, a3_plus=0.006, a2_minus=0.005, a3_minus=0.003,
               tau_plus=16.8, tau_x=101.0, tau_minus=33.7, tau_y=125.0)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("pairing", ["all", "nearest"])
def test_triplet_stdp(backend, pairing):
    """Post spike at t: r1(t) (a2+ + a3+ o2(t-)); pre spike at t: -o1(t) (a2- + a3- r2(t-)),
    r2(t-) and o2(t-) excluding the neuron's own spike at t (dt = 0.5 ms here)."""
    p = TRIPLET
    mode = "add" if pairing == "all" else "set"
    rule = TripletSTDP(pairing=pairing, w_min=-1.0, w_max=1.0, **p)
    w, pre_t, post_t = run(rule, backend, dt=0.5)

    def total(i, j, pre, post, w0):
        gain = 0.0
        for t in post:
            r1 = trace(pre, t, p["tau_plus"], mode)                       # includes a pre spike at t
            o2 = trace(post, t, p["tau_y"], mode, include_now=False)      # before this post spike
            gain += r1 * (p["a2_plus"] + p["a3_plus"] * o2)
        for t in pre:
            o1 = trace(post, t, p["tau_minus"], mode, include_now=False)  # a post spike at t comes after
            r2 = trace(pre, t, p["tau_x"], mode, include_now=False)       # before this pre spike
            gain -= o1 * (p["a2_minus"] + p["a3_minus"] * r2)
        return w0 + gain

    expected = each_synapse(total, pre_t, post_t)
    # the triplet terms matter: dropping them changes the result
    pair_only = each_synapse(lambda i, j, pre, post, w0: w0 + (pair_all if mode == "add" else pair_nearest)(
        pre, post, p["a2_plus"], p["a2_minus"], p["tau_plus"], p["tau_minus"]), pre_t, post_t)
    assert np.abs(expected - pair_only).max() > 1e-3
    np.testing.assert_allclose(w, expected, rtol=0, atol=TOL)


def test_triplet_defaults_are_the_visual_cortex_all_to_all_fit():
    v = TripletSTDP().values
    assert (v["tau_plus"], v["tau_x"], v["tau_minus"], v["tau_y"]) == (16.8, 101.0, 33.7, 125.0)
    assert (v["a2_plus"], v["a3_plus"], v["a2_minus"], v["a3_minus"]) == (5e-10, 6.2e-3, 7e-3, 2.3e-4)
    with pytest.raises(ValueError, match="TripletSTDP.*pairing"):
        TripletSTDP(pairing="first")


# -- symmetric, Hebbian, anti-Hebbian: every pair, either order --------------------------------------
def symmetric_pairs(pre_t, post_t, a_causal, a_acausal, tau_pre, tau_post):
    total = 0.0
    for tp in pre_t:
        for tq in post_t:
            d = tq - tp
            total += a_causal * math.exp(-d / tau_pre) if d >= 0 else a_acausal * math.exp(d / tau_post)
    return total


@pytest.mark.parametrize("backend", BACKENDS)
def test_symmetric_stdp_potentiates_both_orders(backend):
    p = dict(a_causal=0.003, a_acausal=0.002, tau_pre=20.0, tau_post=30.0)
    w, pre_t, post_t = run(SymmetricSTDP(**p), backend)
    expected = each_synapse(lambda i, j, pre, post, w0: w0 + symmetric_pairs(pre, post, **p), pre_t, post_t)
    assert np.all(expected > W0)
    np.testing.assert_allclose(w, expected, rtol=0, atol=TOL)
    d = SymmetricSTDP().values
    assert (d["a_causal"], d["a_acausal"], d["tau_pre"], d["tau_post"], d["w_max"]) == (2e-3, 2e-3, 20.0, 20.0, 1.0)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("sign", [+1, -1])
def test_hebbian_and_anti_hebbian(backend, sign):
    p = dict(eta=0.002, tau_pre=20.0, tau_post=30.0)
    rule = (Hebbian if sign > 0 else AntiHebbian)(w_min=-1.0, **p)
    w, pre_t, post_t = run(rule, backend)
    expected = each_synapse(lambda i, j, pre, post, w0: w0 + sign * symmetric_pairs(
        pre, post, p["eta"], p["eta"], p["tau_pre"], p["tau_post"]), pre_t, post_t)
    assert np.abs(expected - W0).min() > 1e-4
    np.testing.assert_allclose(w, expected, rtol=0, atol=TOL)


# -- Diehl & Cook ------------------------------------------------------------------------------------
@pytest.mark.parametrize("backend", BACKENDS)
def test_diehl_cook_stdp(backend):
    """Pre spike: -nu_pre post1; post spike: +nu_post pre post2_before; nearest-spike
    traces (set to 1), tau 20 / 20 / 40 ms; defaults of the published code."""
    rule = DiehlCookSTDP()
    v = rule.values
    assert (v["nu_pre"], v["nu_post"], v["tau_pre"], v["tau_post1"], v["tau_post2"]) == (1e-4, 1e-2, 20, 20, 40)
    assert (v["w_min"], v["w_max"]) == (0.0, 1.0)
    w, pre_t, post_t = run(rule, backend)

    def total(i, j, pre, post, w0):
        gain = 0.0
        for t in post:
            gain += 1e-2 * trace(pre, t, 20.0, "set") * trace(post, t, 40.0, "set", include_now=False)
        for t in pre:
            gain -= 1e-4 * trace(post, t, 20.0, "set", include_now=False)
        return w0 + gain

    expected = each_synapse(total, pre_t, post_t)
    assert np.abs(expected - W0).max() > 1e-3
    np.testing.assert_allclose(w, expected, rtol=0, atol=TOL)


# -- Oja ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("backend", BACKENDS)
def test_oja(backend):
    """At each post spike: w += eta (x_hat - y_hat w), rates in Hz = 1000 trace / tau,
    x_hat including pre spikes of the same step, y_hat before this post spike."""
    p = dict(eta=2e-4, tau_pre=20.0, tau_post=30.0)
    w, pre_t, post_t = run(Oja(**p), backend)

    def total(i, j, pre, post, w0):
        def at_post(t, w):
            x = 1000.0 * trace(pre, t, p["tau_pre"]) / p["tau_pre"]
            y = 1000.0 * trace(post, t, p["tau_post"], include_now=False) / p["tau_post"]
            return p["eta"] * x, p["eta"] * y * w
        return event_sum(pre, post, w0, lambda t, w: (0.0, 0.0), at_post, w_min=0.0)

    expected = each_synapse(total, pre_t, post_t)
    # the decay term matters: without it the weights would end elsewhere
    hebb_only = each_synapse(lambda i, j, pre, post, w0: w0 + sum(
        p["eta"] * 1000.0 * trace(pre, t, p["tau_pre"]) / p["tau_pre"] for t in post), pre_t, post_t)
    assert np.abs(expected - hebb_only).max() > 1e-3
    np.testing.assert_allclose(w, expected, rtol=0, atol=TOL)


# -- BCM ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("backend", BACKENDS)
def test_bcm(backend):
    """Every interval (2 ms): w += eta period/1000 x y (y - theta), then theta relaxes
    towards y^2 / y_target with tau_theta; x, y rates (Hz) from traces incl. this step."""
    p = dict(eta=1e-7, tau_pre=20.0, tau_post=20.0, tau_theta=30.0, y_target=20.0)
    interval, dt = 2.0, 1.0
    w, pre_t, post_t = run(BCM(interval=interval, w_min=-1.0, **p), backend)
    k = math.exp(-interval / p["tau_theta"])
    went_down = False

    def total(i, j, pre, post, w0):
        nonlocal went_down
        w, theta = w0, 0.0
        for step in range(int(round(DURATION / dt))):
            if step % int(round(interval / dt)):
                continue
            t = step * dt
            x = 1000.0 * trace(pre, t, p["tau_pre"]) / p["tau_pre"]
            y = 1000.0 * trace(post, t, p["tau_post"]) / p["tau_post"]
            change = p["eta"] * interval / 1000.0 * x * y * (y - theta)
            went_down |= change < -1e-6
            w = w + change
            theta = theta * k + (1 - k) * y * y / p["y_target"]
        return w

    expected = each_synapse(total, pre_t, post_t)
    assert went_down and np.abs(expected - W0).max() > 1e-3   # both sides of the threshold occur
    np.testing.assert_allclose(w, expected, rtol=0, atol=TOL)


# -- options, tested once with PairSTDP -----------------------------------------------------------
@pytest.mark.parametrize("backend", BACKENDS)
def test_hard_bounds_clip(backend):
    p = dict(a_plus=0.03, a_minus=0.04, tau_plus=15.0, tau_minus=25.0)
    w, pre_t, post_t = run(PairSTDP(w_min=0.0, w_max=0.1, **p), backend)

    def total(i, j, pre, post, w0):
        return event_sum(pre, post, w0, lambda t, w: (0.0, p["a_minus"] * trace(post, t, 25.0, include_now=False)),
                         lambda t, w: (p["a_plus"] * trace(pre, t, 15.0), 0.0), w_min=0.0, w_max=0.1)

    expected = each_synapse(total, pre_t, post_t)
    unbounded = each_synapse(lambda i, j, pre, post, w0: w0 + pair_all(pre, post, **p), pre_t, post_t)
    assert np.any(expected == 0.1) and np.any(expected == 0.0)   # both bounds were hit
    assert np.abs(expected - unbounded).max() > 1e-2
    np.testing.assert_allclose(w, expected, rtol=0, atol=TOL)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("option", ["soft", "multiplicative", "learning_rate"])
def test_weight_change_options(backend, option):
    """soft: potentiation x (w_max - w)/span, depression x (w - w_min)/span;
    multiplicative: depression x w; learning_rate: every change x lr."""
    p = dict(a_plus=0.02, a_minus=0.03, tau_plus=15.0, tau_minus=25.0)
    kw = dict(w_min=0.0, w_max=0.2)
    ref = dict(kw)
    if option == "soft":
        rule, ref["soft"] = PairSTDP(bounds="soft", **kw, **p), True
    elif option == "multiplicative":
        rule, ref["multiplicative"] = PairSTDP(dependence="multiplicative", **kw, **p), True
    else:
        kw = dict(w_min=-1.0, w_max=1.0)
        rule, ref = PairSTDP(learning_rate=0.37, **kw, **p), dict(kw, lr=0.37)
    w, pre_t, post_t = run(rule, backend)

    def total(i, j, pre, post, w0):
        return event_sum(pre, post, w0, lambda t, w: (0.0, p["a_minus"] * trace(post, t, 25.0, include_now=False)),
                         lambda t, w: (p["a_plus"] * trace(pre, t, 15.0), 0.0), **ref)

    expected = each_synapse(total, pre_t, post_t)
    if option == "learning_rate":   # additive, unclipped: exactly lr times the pair sum
        np.testing.assert_allclose(expected - W0, 0.37 * each_synapse(
            lambda i, j, pre, post, w0: pair_all(pre, post, **p), pre_t, post_t), atol=1e-12)
    plain = each_synapse(lambda i, j, pre, post, w0: event_sum(
        pre, post, w0, lambda t, w: (0.0, p["a_minus"] * trace(post, t, 25.0, include_now=False)),
        lambda t, w: (p["a_plus"] * trace(pre, t, 15.0), 0.0), **kw), pre_t, post_t)
    assert np.abs(expected - plain).max() > 1e-3   # the option changed the outcome
    np.testing.assert_allclose(w, expected, rtol=0, atol=TOL)


# -- trials: normalisation and schedule -------------------------------------------------------------
TRIAL = 80.0
PRE_TRIALS = {0: [10, 30, 50, 90, 110], 1: [15, 28, 70, 120], 2: [40, 41, 100, 140]}
POST_TRIALS = {0: [15, 31, 60, 95, 130], 1: [20, 45, 100, 112, 150]}


def per_trial_pairs(pre, post, trial, p):
    """Pair sum over the spikes of one trial (traces are cleared at every trial start)."""
    lo, hi = trial * TRIAL, (trial + 1) * TRIAL
    return pair_all([t for t in pre if lo <= t < hi], [t for t in post if lo <= t < hi], **p)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("sparse", [False, True])
def test_normalize_at_trial_start(backend, sparse):
    """Incoming weights of each post neuron sum to the target at every trial start; the
    final weights are the normalised ones plus the trial's own pair sums."""
    target = 0.15
    syn = (np.array([0, 1, 2, 0, 2]), np.array([0, 0, 0, 1, 1])) if sparse else None
    mask = np.zeros((N_PRE, N_POST), bool)
    if sparse:
        mask[syn] = True
    else:
        mask[:] = True

    def fresh():
        return PairSTDP(normalize=target, w_min=-1.0, w_max=1.0, **STDP)

    kw = dict(pre=PRE_TRIALS, post=POST_TRIALS, trials=TRIAL, sparse=syn)

    def column_sums(w):
        return np.where(mask, w, 0.0).sum(0)

    # right after the first trial start and right after the second (no spikes at t = 80, 81)
    for duration in (1.0, TRIAL + 1.0):
        w, _, _ = run(fresh(), backend, duration=duration, **kw)
        np.testing.assert_allclose(column_sums(w), target, atol=TOL)
    w, pre_t, post_t = run(fresh(), backend, duration=2 * TRIAL, **kw)
    expected = np.where(mask, W0, 0.0)
    for trial in range(2):
        expected = expected * target / expected.sum(0)
        expected = expected + np.where(mask, each_synapse(
            lambda i, j, pre, post, w0: per_trial_pairs(pre, post, trial, STDP), pre_t, post_t), 0.0)
    np.testing.assert_allclose(np.where(mask, w, 0.0), expected, rtol=0, atol=TOL)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("schedule", ["sequence", "function"])
def test_schedule_scales_each_trial(backend, schedule):
    factors = [1.0, 0.25]
    sched = factors if schedule == "sequence" else (lambda trial: factors[trial])
    rule = PairSTDP(schedule=sched, learning_rate=2.0, w_min=-1.0, w_max=1.0, **STDP)
    w, pre_t, post_t = run(rule, backend, duration=2 * TRIAL, pre=PRE_TRIALS, post=POST_TRIALS, trials=TRIAL)
    expected = W0 + sum(2.0 * factors[k] * each_synapse(
        lambda i, j, pre, post, w0: per_trial_pairs(pre, post, k, STDP), pre_t, post_t) for k in range(2))
    np.testing.assert_allclose(w, expected, rtol=0, atol=TOL)


# -- bad input -------------------------------------------------------------------------------------
TAU_OF = {PairSTDP: "tau_plus", TripletSTDP: "tau_y", SymmetricSTDP: "tau_post", DiehlCookSTDP: "tau_post2",
          Hebbian: "tau_pre", AntiHebbian: "tau_post", Oja: "tau_pre", BCM: "tau_theta"}


@pytest.mark.parametrize("cls", list(TAU_OF), ids=lambda c: c.__name__)
def test_bad_parameters(cls):
    name = cls.__name__
    with pytest.raises(ValueError, match=rf"{name}: parameter '{TAU_OF[cls]}' \(ms\) must be > 0"):
        cls(**{TAU_OF[cls]: -5.0})
    with pytest.raises(ValueError, match=rf"{name}: parameter 'w_min' .* below 'w_max'"):
        cls(w_min=2.0, w_max=1.0)
    with pytest.raises(ValueError, match=rf"{name}: unknown parameter\(s\) \['tau_typo'\]"):
        cls(tau_typo=3.0)


def reward_hebb_on_post(x_pre, reward, eta):
    return eta * reward * x_pre, 0.0


class RewardHebb(PlasticityRule):
    """A test rule reading a modulator."""

    parameters = {"eta": Parameter(0.01, "weight"), "tau": Parameter(20.0, "ms", positive=True)}
    pre_traces = {"x_pre": Trace("tau")}
    modulators = ("reward",)
    on_post = staticmethod(reward_hebb_on_post)


def test_missing_modulator_is_named_at_connect():
    net = Network(dt=1.0)
    a = net.add_population(2, Parrot())
    b = net.add_population(2, Parrot())
    with pytest.raises(ValueError, match=r"RewardHebb .*modulator 'reward' \(argument 'reward'\)"):
        net.connect(a, b, plasticity=RewardHebb())
    with pytest.raises(ValueError, match=r"RewardHebb .*modulator 'dopamine' \(argument 'reward'\)"):
        net.connect(a, b, plasticity=RewardHebb(reward="dopamine"))
    net.add_modulator("dopamine", tau=100.0)
    net.connect(a, b, plasticity=RewardHebb(reward="dopamine"))   # now fine
