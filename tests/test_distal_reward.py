"""Distal reward (Izhikevich 2007).

Synaptica protocol: the rewarded synapse grows to the upper bound while the other
excitatory synapses do not; without rewards it does not grow. A small network (40 + 10
neurons, 10 synapses each) with the paper's plasticity parameters and two hours of model
time (~6 s per run).

Paper protocol: the network is daspnet.m step by step (a NumPy transcription of the
program's loop below gives the same spikes and weights), its pairing rule gives the
program's amounts, and a short run with its control behaves."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from synaptica.experiments import get_experiment, load_experiment_config
from synaptica.experiments.distal_reward import (DISTAL_REWARD, SCHEMA, _coincidences, _reward_delays,
                                                 build_distal_reward, run_distal_reward, simulate)
from synaptica.experiments.distal_reward_program import PROGRAM_TAUS_MS, program_input

DEFAULTS = {k: f.default for k, f in SCHEMA.items()}
SMALL = DEFAULTS | {"protocol": "synaptica", "control": False, "tau_stdp_ms": 20.0, "tau_c_ms": 1000.0,
                   "tau_dopamine_ms": 200.0, "n_exc": 40, "n_inh": 10, "synapses_per_neuron": 10, "duration_s": 7200,
                   "seed": 1, "detail_s": 0}


@pytest.fixture(scope="module")
def rewarded():
    return run_distal_reward(SMALL).metrics


@pytest.fixture(scope="module")
def control():
    return run_distal_reward(SMALL | {"reward": False}).metrics


def test_rewarded_synapse_grows_to_the_upper_bound(rewarded):
    w_max = rewarded["w_max"]
    assert rewarded["n_rewards"] > 50
    assert rewarded["rewarded_reached_bound"]
    assert rewarded["rewarded_weight_max"] == w_max
    assert rewarded["rewarded_weight_final"] >= 0.9 * w_max
    assert rewarded["rewarded_weight_last_tenth_mean"] >= 0.85 * w_max  # stays there


def test_other_synapses_do_not(rewarded):
    w_max = rewarded["w_max"]
    assert rewarded["others_max"] < w_max
    assert rewarded["others_fraction_at_bound"] == 0.0
    assert rewarded["others_p95"] < 0.5 * w_max
    assert rewarded["others_mean"] < SMALL["w_exc"]  # no overall growth (depression-dominated STDP)
    assert 0.5 < rewarded["mean_rate_exc_hz"] < 2.0


def test_without_reward_the_synapse_does_not_grow(control):
    assert control["n_rewards"] == 0 and control["n_coincidences"] > 20
    assert control["rewarded_weight_max"] < 0.25 * control["w_max"]
    assert not control["rewarded_reached_bound"]


def test_checkpoint_resume_gives_the_same_run(tmp_path):
    params = SMALL | {"duration_s": 12, "reward_amount": 5.0}
    straight = simulate(params)
    path = tmp_path / "run.checkpoint.npz"
    simulate(params, checkpoint=path)  # saves after every second (12 // 10 = 1), last after 11 s
    assert path.exists()
    resumed = simulate(params, checkpoint=path)  # resumes after 11 s, runs the last second
    np.testing.assert_array_equal(resumed["exc"].weights.numpy(), straight["exc"].weights.numpy())
    np.testing.assert_array_equal(resumed["history"], straight["history"])
    assert resumed["rewards"] == straight["rewards"] > 0
    assert resumed["spikes"].count == straight["spikes"].count


def test_registered_with_packaged_defaults():
    experiment, params, origin = load_experiment_config("distal-reward")
    assert experiment is get_experiment("distal-reward")
    assert origin == "distal-reward.toml"
    assert params == {k: f.default for k, f in SCHEMA.items()}


# -- paper protocol ---------------------------------------------------------------------------------

def _program_loop(exc_pre, exc_post, inh_pre, inh_post, w, n_exc, n, inputs):
    """daspnet.m's loop (no rewards), transcribed: v, u, STDP traces, sd, s; synapses as flat
    (pre, post, weight) lists, ``inputs`` (steps, n). Returns spikes [(step, neuron)] and s.
    Two departures, both the framework's: the 10 ms weight update comes 2 steps later in the
    cycle, and a neuron's two synapses onto the same target both deliver (MATLAB's
    ``I(ind) = I(ind) + s`` with a repeated index adds once)."""
    a = np.r_[np.full(n_exc, 0.02), np.full(n - n_exc, 0.1)]
    d = np.r_[np.full(n_exc, 8.0), np.full(n - n_exc, 2.0)]
    v, u = np.full(n, -65.0), np.full(n, -13.0)
    trace, previous, sd, spikes = np.zeros(n), np.zeros(n), np.zeros(w.size), []
    for t, drive in enumerate(inputs):
        fired = v >= 30
        v[fired], u[fired] = -65.0, u[fired] + d[fired]
        trace[fired] = 0.1               # the program's STDP(:, t + D); `previous` is STDP(:, t)
        current = drive.copy()
        ltp = fired[exc_post]
        sd[ltp] += previous[exc_pre[ltp]]
        out = fired[exc_pre]
        np.add.at(current, exc_post[out], w[out])
        sd[out] -= 1.5 * trace[exc_post[out]]
        np.add.at(current, inh_post[fired[inh_pre]], -1.0)
        if t % 10 == 1:   # the program: at the end of steps 10, 20, ...; the framework 2 steps later (module doc)
            w = np.clip(w + 0.002 * sd, 0.0, 4.0)
            sd = 0.99 * sd
        v = v + 0.5 * ((0.04 * v + 5) * v + 140 - u + current)
        v = v + 0.5 * ((0.04 * v + 5) * v + 140 - u + current)
        u = u + a * (0.2 * v - u)
        previous, trace = trace.copy(), 0.95 * trace
        spikes += [(t, k) for k in np.flatnonzero(fired)]
    return spikes, w


def test_paper_protocol_is_the_program_step_by_step():
    """The same wiring and input through the framework and through the transcription: the
    same spikes (shifted by one step) and weights, over 400 steps of a busy network (the
    network is chaotic: the order of floating-point sums differs, so longer runs part)."""
    p = DEFAULTS | {"n_exc": 80, "n_inh": 20, "synapses_per_neuron": 40, "w_rewarded_init": 1.0, "w_exc": 2.0}
    net, cells, exc, _, monitor, *_, drive = build_distal_reward(p)
    inh = next(q for q in net.projections if q.name == "inh")
    (exc_pre, exc_post), (inh_pre, inh_post) = exc.synapse_index(), inh.synapse_index()
    w0 = exc.weights.detach().numpy().copy()
    inputs = program_input(np.random.default_rng(5), 1000, 100, 30.0)
    drive.values, drive.start_step = inputs, 0
    net.run(400.0)
    spikes, w = _program_loop(exc_pre, exc_post, inh_pre, inh_post, w0, 80, 100, inputs[:401, 0])
    mine = sorted(zip((monitor.steps[:monitor.count] + 1).tolist(), monitor.ids[:monitor.count].tolist()))
    assert len(spikes) > 300   # every pairing case occurs
    # the framework reports a spike one step before the program's `fired` (module doc)
    assert mine == [(int(t), int(k)) for t, k in sorted(spikes)]
    # decays exp(-1 / 19.4957) vs 0.95 (and 0.99): the weights agree to ~1e-8
    np.testing.assert_allclose(exc.weights.detach().numpy(), w, rtol=0, atol=1e-7)
    assert np.abs(w - w0).max() > 0.01   # plasticity acted


@pytest.mark.parametrize("lag", [-3, -1, 0, 1, 2, 5])
def test_paper_pairing_gives_the_program_amounts(lag):
    """A pre spike at tp and a post spike at tq = tp + lag: the program adds 0.1 x 0.95^(lag - 1)
    to the eligibility when lag >= 1 and -0.15 x 0.95^(-lag) when lag <= 0."""
    from synaptica.engine.network import Network
    from synaptica.experiments.distal_reward_program import ProgramIzhikevich, ProgramRewardModulatedSTDP

    net = Network(dt=1.0, seed=1, dtype=torch.float64)
    cells = net.add_population(2, ProgramIzhikevich(tau_exc=1e-3, tau_inh=1e-3), name="cells")
    kick = net.add_spike_generator(2, [10.0, 10.0 + lag], [0, 1])   # each kick fires its neuron
    net.connect(kick, cells, one_to_one=True, weight=200.0, target="i_exc")
    net.add_modulator("dopamine", tau=PROGRAM_TAUS_MS["tau_dopamine_ms"])
    tau = PROGRAM_TAUS_MS["tau_stdp_ms"]
    rule = ProgramRewardModulatedSTDP(a_plus=0.1 * np.exp(1.0 / tau), a_minus=0.15, tau_plus=tau, tau_minus=tau,
                                      interval=1e4, baseline=0.0)
    plastic = net.connect(cells, cells, pre_index=[0], post_index=[1], weight=0.0, target="i_exc",
                          sign="excitatory", delay=1.0, plasticity=rule)
    spikes = net.monitor_spikes(cells)
    net.run(40.0)
    steps, ids = spikes.steps[:spikes.count], spikes.ids[:spikes.count]
    assert sorted(ids.tolist()) == [0, 1]
    tp, tq = int(steps[ids == 0][0]), int(steps[ids == 1][0])
    assert tq - tp == lag
    expected = 0.1 * 0.95 ** (lag - 1) if lag >= 1 else -0.15 * 0.95 ** (-lag)
    assert float(plastic.plastic_state["synapse_state"][0, 0, 0]) == pytest.approx(expected, rel=1e-6)


def test_paper_coincidences_and_delays_follow_the_program():
    p = DEFAULTS
    t_n1 = np.array([-np.inf, 100.0, 195.0, 200.0])
    t_n2 = np.array([105.0, 119.0, 120.0, 200.0, 215.0])
    # 120: 20 ms after n1 is not less than 20 ms; 200: n1 fired in the same step
    np.testing.assert_array_equal(_coincidences(p, t_n1, t_n2), [105.0, 119.0, 215.0])
    # the synaptica protocol pairs n2's spike with n1's latest strictly earlier one
    assert 200.0 in _coincidences(p | {"protocol": "synaptica"}, t_n1, t_n2)
    delays = _reward_delays(p, np.random.default_rng(0), 20000)
    assert delays.min() >= 1001 and delays.max() <= 3000 and np.all(delays == np.round(delays))
    assert abs(delays.mean() - 2000.5) < 20


def test_program_input_is_uniform_on_the_range():
    x = program_input(np.random.default_rng(3), 1000, 50)
    assert x.shape == (1000, 1, 50)
    assert -6.5 <= x.min() < -6.4 and 6.4 < x.max() <= 6.5 and abs(x.mean()) < 0.05


def test_paper_protocol_refuses_other_time_steps():
    assert "key 'dt_ms'" in DISTAL_REWARD.checks[2](DEFAULTS | {"dt_ms": 0.5})


@pytest.fixture(scope="module")
def paper_small():
    return run_distal_reward(DEFAULTS | {"n_exc": 160, "n_inh": 40, "synapses_per_neuron": 100, "duration_s": 300,
                                         "detail_start_s": 100, "detail_s": 2, "reward_amount": 2.0})


def test_paper_run_with_its_control(paper_small, tmp_path):
    m = paper_small.metrics
    assert m["n_rewards"] == m["n_coincidences"] > 5
    assert m["control_n_rewards"] == 0 and m["control_n_coincidences"] > 0
    assert m["rewarded_weight_max"] > m["control_rewarded_weight_max"]
    assert 0.0 <= m["others_fraction_above_90pct"] <= 1.0 and 0.3 < m["mean_rate_exc_hz"] < 5.0
    assert set(paper_small.figures) == {"rewarded_weight.png", "eligibility_detail.png"}
    for name, draw in paper_small.figures.items():
        draw(tmp_path / name)
        assert (tmp_path / name).stat().st_size > 10_000


def test_detail_window_changes_nothing_but_the_record():
    p = DEFAULTS | {"n_exc": 80, "n_inh": 20, "synapses_per_neuron": 40, "duration_s": 4, "reward_amount": 5.0,
                    "control": False, "w_rewarded_init": 2.0}
    plain, detailed = simulate(p | {"detail_s": 0}), simulate(p | {"detail_start_s": 1, "detail_s": 2})
    np.testing.assert_array_equal(plain["exc"].weights.numpy(), detailed["exc"].weights.numpy())
    np.testing.assert_array_equal(plain["history"], detailed["history"])
    per_s = detailed["detail"].shape[1] // 2
    # the last sample of each detailed second is the end-of-second record
    np.testing.assert_array_equal(detailed["detail"][0, per_s - 1::per_s], detailed["history"][1:3])
    np.testing.assert_array_equal(detailed["detail"][1, per_s - 1::per_s], detailed["eligibility"][1:3])


def test_a_reward_spreads_the_other_weights_more_than_the_time_between():
    from synaptica.experiments.distal_reward_spread import reward_spread

    p = DEFAULTS | {"n_exc": 80, "n_inh": 20, "synapses_per_neuron": 40, "input_range": 20.0}
    spread = reward_spread(p, seconds=14, start_s=2, every_s=5)
    assert spread["pulses"] == 2
    assert spread["pulse_sd"] > 3 * spread["between_sd"] > 0


def test_reference_transcription_has_the_experiments_wiring():
    from synaptica.experiments.distal_reward_reference import run_program

    program = run_program(seed=2, seconds=2, reward=False)
    *_, synapse, n1, n2, _ = build_distal_reward(DEFAULTS | {"seed": 2})
    assert program["rewarded_post"] == n2 and program["rewards"] == 0
    assert 0.8 < program["rate_exc_hz"] < 2.0 and 0.4 < program["rate_inh_hz"] < 2.0
