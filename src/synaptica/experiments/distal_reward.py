"""Distal reward: dopamine-modulated STDP singles out one synapse whose pre-post
coincidences are rewarded seconds later (Izhikevich 2007, "Solving the distal reward
problem through linkage of STDP and dopamine signaling", Cereb. Cortex 17:2443, Fig. 1).

``protocol = "paper"`` (default) runs the program published with the paper,
``daspnet.m`` (ModelDB 84167), step by step: 800 excitatory (a = 0.02, d = 8) and 200
inhibitory (a = 0.1, d = 2) Izhikevich neurons, b = 0.2, c = -65; 100 synapses per
neuron drawn with replacement (excitatory onto any neuron, inhibitory onto excitatory),
delay 1 ms, weights +1 / -1; input ``13 (rand - 0.5)`` to every neuron every ms; the
program's neuron step (two 0.5 ms half steps of v, u from the new v, reset at the next
step), its nearest-spike pairing (0.1 x 0.95^(lag - 1) for post after pre, -0.15 x
0.95^(-lag) otherwise, a same-step pair depressing), every 10 ms ``w += c (d + 0.002)``
and ``c *= 0.99``, weights in [0, 4], dopamine x 0.995 per ms and +0.5 at each reward;
n1 = neuron 0 and its first drawn target n2, the synapse starting at 0; one hour. These
pieces are in :mod:`synaptica.experiments.distal_reward_program`, with the time constants
that give the program's decay factors. ``tests/test_distal_reward.py`` runs a NumPy
transcription of the program's loop on the same wiring and input: the same spikes and
the same weights (to 1e-8). With ``control`` (default) the run is repeated with the same
seed, network and input and no reward.

Departures from the program: spikes are reported one step before the program's
``fired`` (delivery is the same step); the 10 ms weight update comes 2 steps later in
its cycle; two synapses of one neuron onto the same target (4.8 % of them) both deliver
input (MATLAB's ``I(ind) = I(ind) + s`` adds a repeated index once); rewards falling in
the same ms add one pulse each; other random streams.

``protocol = "synaptica"``: the framework's own :class:`~synaptica.neurons.Izhikevich`
(forward Euler, reset in the step of the spike) and
:class:`~synaptica.plasticity.RewardModulatedSTDP` (a same-step pair potentiates),
distinct targets, and a ``background`` input: ``"thalamic"`` (one Poisson source per
neuron at ``thalamic_rate_hz`` = 1 Hz injecting ``thalamic_weight`` = 20, as ``spnet.m``'s
one random neuron of 1000 getting 20 every ms) or ``"noise"`` (a balanced pair of Poisson
sources per neuron, +-``noise_weight``, s.d. ~3.7 like the program's input). With 1 Hz
kicks, 160 + 40 neurons, 20 synapses each and 2 h (tau 20 / 1000 / 200 ms) the rewarded
synapse reached the bound after 5751 s and none of the others did.

Reward (both protocols): whenever n2 fires less than ``window_ms`` after n1's latest
spike, a dopamine pulse follows after a delay in [``reward_delay_min_ms``,
``reward_delay_max_ms``] = [1, 3] s (paper: whole ms, 1001-3000, and n1 firing in the
same step as n2 gives no reward, as the program). The run proceeds in chunks of 1 s;
after each chunk the spikes of n1 and n2 are read and the pulses scheduled with
:meth:`Modulator.deliver` (every delay exceeds the chunk, so each falls on time).
``window_ms`` is the program's 20 ms; the paper's text says 10 ms.

Result (paper protocol, seeds 1-3, see README "distal-reward"): the rewarded synapse
reaches the bound after ~20 min. At that moment ~1 % of the 79 999 other synapses are at
>= 90 % of the bound, and 4-5 % after the hour; without reward, 0.02 %. The rewards carry
the other synapses there: a dopamine pulse at a time unrelated to a synapse changes it
by +-0.14 (s.d.), twice the rewarded synapse's mean gain per reward (0.077). By the time
its reward comes, the rewarded synapse's eligibility has decayed for 1-3 s
(:mod:`~synaptica.experiments.distal_reward_spread`). A NumPy transcription of the program
(:mod:`~synaptica.experiments.distal_reward_reference`) also leaves ~0.9 % of the others
near the bound, with half as many rewards. Delivering both copies of a repeated target,
as we do, it gives 3.8 +- 0.8 %, our result within the seed spread: that departure is the
whole gap.

Recorded: the rewarded weight, its eligibility and the fraction of the others at >= 90 %
of the bound at the end of every second; weight and eligibility every 50 ms in the
window [``detail_start_s``, + ``detail_s``). Spikes returned (raster, rate and ISI
figures, ``spikes.npz``): the last ``record_s`` seconds (0: the whole run), times from
the start of that window (metric ``spike_record_start_s``). Metrics: the rewarded
weight (end, maximum, mean of the last tenth, time to the bound), rewards, the others
(mean, 95th percentile, maximum, fractions at the bound and at >= 90 % of it, also when
the rewarded one first reached the bound), the same with prefix ``control_``, rates.
Figures: ``rewarded_weight.png`` (weight with reward times, eligibility, cumulative
rewards with the others' fraction >= 90 %, histogram of the others; each with the
control), ``eligibility_detail.png``.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import torch

from synaptica.config import MAX_SEED, Field, check_memory, check_work, first_problem
from synaptica.engine.checkpoints import Fields, check_settings, encode_settings, read_checkpoint, run_settings
from synaptica.experiments.base import Experiment, ExperimentResult, ProgressCallback
from synaptica.experiments.distal_reward_program import (PROGRAM_TAUS_MS, ProgramIzhikevich, ProgramRewardModulatedSTDP,
                                                         program_input, program_targets)

CHUNK_MS = 1000.0

SCHEMA = {
    "protocol": Field(str, "paper", "'paper': the program daspnet.m (its neuron step, pairing, input and wiring); "
                      "'synaptica': the framework's Izhikevich neuron and STDP with the 'background' input",
                      choices=("paper", "synaptica")),
    "control": Field(bool, True, "also run the no-reward control: same seed, network and input, no reward"),
    "input_range": Field(float, 13.0, "paper protocol: input uniform on [-input_range/2, input_range/2] every ms "
                         "(the program: 13 (rand - 0.5))", minimum=0.0, maximum=1000.0),
    "n_exc": Field(int, 800, "number of excitatory neurons", minimum=2, maximum=10**6),
    "n_inh": Field(int, 200, "number of inhibitory neurons", minimum=1, maximum=10**6),
    "synapses_per_neuron": Field(int, 100, "outgoing synapses of every neuron", minimum=1, maximum=10**5),
    "duration_s": Field(int, 3600, "simulated time (s), run in chunks of 1 s", minimum=1, maximum=10**7),
    "dt_ms": Field(float, 1.0, "time step (ms); 1000 ms must be a whole number of steps", minimum=1e-3, maximum=1000.0),
    "background": Field(str, "thalamic", "synaptica protocol: background input", choices=("noise", "thalamic")),
    # a Poisson source fires at most once per step: rates far above 1 / dt mean nothing more
    "noise_rate_hz": Field(float, 500.0, "rate of each of the two noise sources per neuron (Hz)",
                           minimum=0.0, maximum=1e4, exclusive_minimum=True),
    "noise_weight": Field(float, 5.3, "input per noise spike (+ and -)", minimum=0.0, maximum=1000.0),
    "thalamic_rate_hz": Field(float, 1.0, "rate of the thalamic source per neuron (Hz)",
                              minimum=0.0, maximum=1e4, exclusive_minimum=True),
    "thalamic_weight": Field(float, 20.0, "input per thalamic spike", minimum=0.0, maximum=1000.0),
    "w_exc": Field(float, 1.0, "initial excitatory weight", minimum=0.0, maximum=1000.0),
    "w_inh": Field(float, 1.0, "inhibitory weight magnitude (input -w_inh per spike)", minimum=0.0, maximum=1000.0),
    "w_max": Field(float, 4.0, "upper bound of excitatory weights", minimum=0.0, maximum=1000.0,
                   exclusive_minimum=True),
    "w_rewarded_init": Field(float, 0.0, "initial weight of the rewarded synapse", minimum=0.0, maximum=1000.0),
    "a_plus": Field(float, 0.1, "eligibility per pre-before-post pair", minimum=0.0, maximum=100.0),
    "a_minus": Field(float, 0.15, "eligibility removed per post-before-pre pair", minimum=0.0, maximum=100.0),
    "tau_stdp_ms": Field(float, PROGRAM_TAUS_MS["tau_stdp_ms"], "STDP time constant (ms)", minimum=0.0, maximum=1e5,
                         exclusive_minimum=True),
    "tau_c_ms": Field(float, PROGRAM_TAUS_MS["tau_c_ms"], "eligibility time constant (ms)", minimum=0.0, maximum=1e6,
                      exclusive_minimum=True),
    "learning_rate": Field(float, 0.1, "weight change per ms per unit of dopamine and eligibility", minimum=0.0,
                           maximum=100.0),
    "interval_ms": Field(float, 10.0, "period of weight and eligibility updates (ms)", minimum=0.0, maximum=1e5),
    "baseline_dopamine": Field(float, 0.002, "tonic dopamine added to the modulator", minimum=-100.0, maximum=100.0),
    "tau_dopamine_ms": Field(float, PROGRAM_TAUS_MS["tau_dopamine_ms"], "dopamine decay time (ms)", minimum=0.0, maximum=1e6,
                             exclusive_minimum=True),
    "reward_amount": Field(float, 0.5, "dopamine jump per reward", minimum=0.0, maximum=1000.0),
    "reward": Field(bool, True, "deliver rewards (false: control run)"),
    "window_ms": Field(float, 20.0, "n2 must fire less than this after n1 (ms)",
                       minimum=0.0, maximum=1e5, exclusive_minimum=True),
    "reward_delay_min_ms": Field(float, 1000.0, "shortest reward delay (ms), at least 1000", minimum=1000.0,
                                 maximum=1e6),
    "reward_delay_max_ms": Field(float, 3000.0, "longest reward delay (ms)", minimum=1000.0, maximum=1e6),
    "rewarded_pre": Field(int, 0, "excitatory neuron whose synapse is rewarded", minimum=0, maximum=10**6),
    "seed": Field(int, 1, "random seed (connectivity, input, reward delays)", minimum=0, maximum=MAX_SEED),
    "detail_start_s": Field(int, 600, "start of the window (s) whose rewarded weight and eligibility are "
                            "recorded every 50 ms", minimum=0, maximum=10**7),
    "detail_s": Field(int, 20, "length of that window (s; 0: none)", minimum=0, maximum=3600),
    "record_s": Field(int, 10, "spikes returned for the raster and spikes.npz: the last record_s seconds, "
                      "times from the start of that window (0: the whole run)", minimum=0, maximum=10**7),
}

BYTES_PER_SYNAPSE = 20  # CUBA's measured peak memory per synapse, rounded up (BENCHMARKS.md, bench/cuba.py)


def _check_budget(p: dict) -> str | None:
    """Refuse networks whose synapses exceed the memory limit and runs whose neuron updates
    (steps x neurons) exceed the work limit (synaptica.config.budget)."""
    n = p["n_exc"] + p["n_inh"]
    synapses = float(n) * p["synapses_per_neuron"]
    steps = p["duration_s"] * CHUNK_MS / p["dt_ms"]
    return first_problem(
        check_memory("synapses_per_neuron", f"{n} neurons x synapses_per_neuron = {p['synapses_per_neuron']}",
                     synapses * BYTES_PER_SYNAPSE),
        check_work("duration_s", f"duration_s / dt_ms = {steps:.3g} steps of {n} neurons and {synapses:.3g} "
                   "synapses' eligibility", steps * (n + synapses)),
    )


def _check_delays(p: dict) -> str | None:
    if p["reward_delay_max_ms"] < p["reward_delay_min_ms"]:
        return (f"key 'reward_delay_max_ms': {p['reward_delay_max_ms']} ms is shorter than "
                f"reward_delay_min_ms = {p['reward_delay_min_ms']} ms")
    return None


def _check_dt(p: dict) -> str | None:
    steps = CHUNK_MS / p["dt_ms"]
    if abs(steps - round(steps)) > 1e-9 * steps:
        return f"key 'dt_ms': 1000 ms must be a whole number of steps, got dt_ms = {p['dt_ms']}"
    return None


def _check_protocol(p: dict) -> str | None:
    if p["protocol"] == "paper" and p["dt_ms"] != 1.0:
        return f"key 'dt_ms': the paper protocol steps as the program, 1 ms per step; got dt_ms = {p['dt_ms']}"
    return None


def _check_neurons(p: dict) -> str | None:
    if p["rewarded_pre"] >= p["n_exc"]:
        return f"key 'rewarded_pre': must be an excitatory neuron (< n_exc = {p['n_exc']}), got {p['rewarded_pre']}"
    if p["synapses_per_neuron"] > p["n_exc"] - 1:
        return (f"key 'synapses_per_neuron': {p['synapses_per_neuron']} distinct targets need "
                f"n_exc > {p['synapses_per_neuron']}")
    return None


def _targets(rng, n_sources: int, pool: int, count: int, exclude_self: bool) -> np.ndarray:
    """``count`` distinct random targets in [0, pool) for each source (never itself)."""
    out = np.empty((n_sources, count), dtype=np.int64)
    for i in range(n_sources):
        if exclude_self:
            k = rng.choice(pool - 1, count, replace=False)
            out[i] = np.where(k >= i, k + 1, k)
        else:
            out[i] = rng.choice(pool, count, replace=False)
    return out


def build_distal_reward(p: dict):
    """The network from resolved parameters: (net, cells, exc projection, dopamine,
    spike monitor, index of the rewarded synapse, n1, n2, paper input or None)."""
    from synaptica.engine.network import Network
    from synaptica.neurons import Izhikevich
    from synaptica.plasticity import RewardModulatedSTDP

    paper = p["protocol"] == "paper"
    net = Network(dt=p["dt_ms"], seed=p["seed"], dtype=torch.float64)
    n_exc, n_inh, m = p["n_exc"], p["n_inh"], p["synapses_per_neuron"]
    n = n_exc + n_inh
    a = np.r_[np.full(n_exc, 0.02), np.full(n_inh, 0.1)]
    d = np.r_[np.full(n_exc, 8.0), np.full(n_inh, 2.0)]
    # synaptic input acts within the step it arrives: exp(-dt / 1e-3 ms) = 0
    model = (ProgramIzhikevich if paper else Izhikevich)(a=a, b=0.2, c=-65.0, d=d, tau_exc=1e-3, tau_inh=1e-3)
    cells = net.add_population(n, model, name="cells")
    if paper:
        post_exc, post_inh = program_targets(net.rng, n_exc, n_inh, m)
    else:
        post_exc = _targets(net.rng, n_exc, n, m, exclude_self=True)
        post_inh = _targets(net.rng, n_inh, n_exc, m, exclude_self=False)
    dopamine = net.add_modulator("dopamine", tau=p["tau_dopamine_ms"])
    stdp = {"a_plus": p["a_plus"], "a_minus": p["a_minus"], "tau_plus": p["tau_stdp_ms"], "tau_minus": p["tau_stdp_ms"],
            "tau_c": p["tau_c_ms"], "learning_rate": p["learning_rate"], "interval": p["interval_ms"],
            "baseline": p["baseline_dopamine"], "w_min": 0.0, "w_max": p["w_max"], "modulator": "dopamine"}
    if paper:   # a_plus is the program's amount at the shortest causal lag (1 step): undo one decay
        rule = ProgramRewardModulatedSTDP(**stdp | {"a_plus": p["a_plus"] * np.exp(p["dt_ms"] / p["tau_stdp_ms"])})
    else:
        rule = RewardModulatedSTDP(**stdp)
    exc = net.connect(cells, cells, pre_index=np.repeat(np.arange(n_exc), m), post_index=post_exc.ravel(),
                      weight=p["w_exc"], target="i_exc", sign="excitatory", delay=1.0, plasticity=rule,
                      name="exc")
    net.connect(cells, cells, pre_index=np.repeat(np.arange(n_exc, n), m), post_index=post_inh.ravel(),
                weight=-p["w_inh"], target="i_inh", sign="inhibitory", delay=1.0, name="inh")
    drive = None
    if paper:   # refilled every second by simulate (program_input)
        drive = net.add_current(cells, np.zeros((int(round(CHUNK_MS / p["dt_ms"])), n)), name="program_input")
    elif p["background"] == "noise":
        up = net.add_poisson(n, p["noise_rate_hz"], name="noise_up")
        down = net.add_poisson(n, p["noise_rate_hz"], name="noise_down")
        net.connect(up, cells, one_to_one=True, weight=p["noise_weight"], target="i_exc")
        net.connect(down, cells, one_to_one=True, weight=-p["noise_weight"], target="i_inh")
    else:
        thalamus = net.add_poisson(n, p["thalamic_rate_hz"], name="thalamus")
        net.connect(thalamus, cells, one_to_one=True, weight=p["thalamic_weight"], target="i_exc")
    n1 = p["rewarded_pre"]
    first, last = int(exc.indptr[n1]), int(exc.indptr[n1 + 1])
    if paper:   # the program's syn = 1: n1's first drawn target, whichever neuron it is
        synapse = first + int(np.flatnonzero(exc.indices[first:last] == post_exc[n1, 0])[0])
    else:
        candidates = [s for s in range(first, last) if exc.indices[s] < n_exc]
        synapse = candidates[0] if candidates else first
    n2 = int(exc.indices[synapse])
    with torch.no_grad():
        exc.weights[synapse] = p["w_rewarded_init"]
    return net, cells, exc, dopamine, net.monitor_spikes(cells), synapse, n1, n2, drive


def _save(path: Path, settings: dict, net, extra: dict) -> None:
    """The network's checkpoint plus this experiment's own state (fields ``distal.*``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez(tmp, tag=np.array(encode_settings(settings)), **net.state_arrays(),
             **{f"distal.{k}": v for k, v in extra.items()})
    tmp.replace(path)


EXTRA = ("second", "seen", "rewards", "coincidences", "last_n1", "history", "eligibility", "others_high", "detail",
         "rng")
#: |state| no run reaches (the program's half steps overshoot v to a few thousand mV after a
#: spike; synaptic input is consumed within its step, so i_exc and i_inh are 0 between steps)
STATE_BOUNDS = {"v": 1e5, "u": 1e4, "i_exc": 1e4, "i_inh": 1e4}
DETAIL_PER_S = 20   # detail window: one sample per 50 ms (each piece is one Network.run call)


def _load(path: Path, settings: dict, net, total: int, chunk_steps: int, p: dict) -> dict:
    """This experiment's state from a checkpoint, every field checked against this run
    (and the network's restored, see Network.load_checkpoint) before anything is used."""
    arrays = read_checkpoint(path)
    check_settings(path, arrays, settings)
    fields = Fields(path, arrays)
    second = fields.integer("distal.second", 1, total - 1)   # saved after a whole second, never at the end
    step = fields.integer("step", 0, total * chunk_steps)
    if step != second * chunk_steps:
        fields.fail("distal.second", f"is {second} s, the network is at step {step} ({chunk_steps} steps per s)")
    spikes = fields.arrays.get(f"monitor.{net.spike_monitors[0].name}.steps", np.zeros(0))
    fields.integer("distal.seen", spikes.size, spikes.size)   # every recorded spike was read
    coincidences = fields.integer("distal.coincidences", 0, spikes.size)
    state = {"second": second, "seen": spikes.size, "coincidences": coincidences,
             "rewards": fields.integer("distal.rewards", 0, coincidences),
             "history": fields.get("distal.history", np.float64, shape=(total,)).copy(),
             "eligibility": fields.get("distal.eligibility", np.float64, shape=(total,)).copy(),
             "others_high": fields.get("distal.others_high", np.float64, shape=(total,), low=0.0, high=1.0).copy(),
             "detail": fields.get("distal.detail", np.float64, shape=(2, p["detail_s"] * DETAIL_PER_S)).copy()}
    last_n1 = float(fields.get("distal.last_n1", np.float64, shape=(), finite=False))
    if not (last_n1 == -np.inf or 0.0 <= last_n1 < second * CHUNK_MS):
        fields.fail("distal.last_n1", f"is {last_n1} ms, not a spike time within the {second} s run so far")
    state["last_n1"] = last_n1
    state["rng"] = fields.numpy_generator_state("distal.rng")
    for var, bound in STATE_BOUNDS.items():   # beyond these no run goes, and the model would overflow
        fields.get(f"group.cells.state.{var}", np.float64, ndim=2, low=-bound, high=bound)
    net.load_checkpoint(path, tag=settings, steps=(chunk_steps, (total - 1) * chunk_steps),
                        extra=tuple(f"distal.{k}" for k in EXTRA))
    return state


def _coincidences(p: dict, t_n1: np.ndarray, t_n2: np.ndarray) -> np.ndarray:
    """Spikes of n2 (ms) less than ``window_ms`` after n1's latest spike. ``t_n1`` starts
    with n1's last spike before this chunk. Paper protocol as the program: n1's latest spike
    at or before n2's must be strictly earlier (n1 and n2 in the same step: no reward);
    synaptica protocol: n1's latest spike strictly before n2's."""
    side = "right" if p["protocol"] == "paper" else "left"
    latest = t_n1[np.searchsorted(t_n1, t_n2, side=side) - 1]
    return t_n2[(t_n2 > latest) & ((t_n2 - latest) < p["window_ms"])]


def _reward_delays(p: dict, rng: np.random.Generator, count: int) -> np.ndarray:
    """Paper protocol: whole ms, min + ceil((max - min) rand) as the program (1001-3000 ms);
    synaptica protocol: uniform in [min, max]."""
    lo, hi = p["reward_delay_min_ms"], p["reward_delay_max_ms"]
    if p["protocol"] == "paper":
        return lo + np.ceil((hi - lo) * (1.0 - rng.random(count)))
    return rng.uniform(lo, hi, count)


def _advance(net, exc, synapse: int, second: int, p: dict, drive, detail: np.ndarray) -> None:
    """One second of the run: the paper input for it, in 10 ms pieces inside the detail
    window (rewarded weight and eligibility recorded into ``detail`` after each)."""
    chunk_steps = int(round(CHUNK_MS / net.dt))
    if drive is not None:   # the program's input, a function of (seed, second) only
        drive.values = program_input(np.random.default_rng([p["seed"], 11, second]), chunk_steps, drive.population.n,
                                     p["input_range"])
        drive.start_step = net.step
    row = second - p["detail_start_s"]
    if not 0 <= row < p["detail_s"]:
        net.run(CHUNK_MS, chunk_steps=chunk_steps)
        return
    per = DETAIL_PER_S
    for k in range(per):
        net.run(CHUNK_MS / per, chunk_steps=chunk_steps)
        detail[:, row * per + k] = exc.weights[synapse].item(), _eligibility(exc, synapse)


def _eligibility(exc, synapse: int) -> float:
    return float(exc.plastic_state["synapse_state"][0, 0, synapse])


def simulate(p: dict, progress: ProgressCallback | None = None, checkpoint=None) -> dict:
    """Build and run the experiment; returns the network's pieces and the run's record
    (keys: net, exc, spikes, synapse, n1, n2, history, eligibility, detail, reward_times_s,
    rewards, coincidences, build_s, simulate_s)."""
    t0 = time.perf_counter()
    net, cells, exc, dopamine, spikes, synapse, n1, n2, drive = build_distal_reward(p)
    t1 = time.perf_counter()
    rng = np.random.default_rng([p["seed"], 7])  # reward delays
    chunk_steps = int(round(CHUNK_MS / net.dt))
    total = p["duration_s"]
    settings = run_settings({"experiment": "distal-reward", **p})
    state = {"second": 0, "seen": 0, "last_n1": -np.inf, "rewards": 0, "coincidences": 0,
             "history": np.zeros(total), "eligibility": np.zeros(total), "others_high": np.zeros(total),
             "detail": np.zeros((2, p["detail_s"] * DETAIL_PER_S))}
    if checkpoint is not None and Path(checkpoint).exists():
        state = _load(Path(checkpoint), settings, net, total, chunk_steps, p)
        rng.bit_generator.state = state.pop("rng")   # dopamine pulses come back with the network
    save_every = max(1, total // 10)
    while state["second"] < total:
        _advance(net, exc, synapse, state["second"], p, drive, state["detail"])
        steps, ids = spikes.steps[state["seen"]:spikes.count], spikes.ids[state["seen"]:spikes.count]
        state["seen"] = spikes.count
        t_n1 = np.r_[state["last_n1"], steps[ids == n1] * net.dt]
        hits = _coincidences(p, t_n1, steps[ids == n2] * net.dt)
        state["last_n1"] = float(t_n1[-1])
        state["coincidences"] += hits.size
        if p["reward"] and hits.size:
            dopamine.deliver(hits + _reward_delays(p, rng, hits.size), p["reward_amount"])
            state["rewards"] += hits.size
        state["history"][state["second"]] = exc.weights[synapse].item()
        state["eligibility"][state["second"]] = _eligibility(exc, synapse)
        weights = exc.weights.detach()   # other synapses at >= 90 % of the bound (the rewarded one excluded)
        high = int((weights >= 0.9 * p["w_max"]).sum()) - int(weights[synapse] >= 0.9 * p["w_max"])
        state["others_high"][state["second"]] = high / max(1, weights.numel() - 1)
        state["second"] += 1
        if progress is not None:
            progress(state["second"] * chunk_steps, total * chunk_steps)
        if checkpoint is not None and (state["second"] % save_every == 0) and state["second"] < total:
            _save(Path(checkpoint), settings, net, {
                **{k: np.array(state[k]) for k in ("second", "seen", "rewards", "coincidences", "last_n1")},
                **{k: state[k] for k in ("history", "eligibility", "others_high", "detail")},
                "rng": np.array(json.dumps(rng.bit_generator.state))})
    pulses = dopamine.pulse_steps * net.dt / CHUNK_MS
    return {"net": net, "exc": exc, "spikes": spikes, "synapse": synapse, "n1": n1, "n2": n2,
            "history": state["history"], "eligibility": state["eligibility"], "detail": state["detail"],
            "others_high": state["others_high"],
            "reward_times_s": pulses[pulses < total], "rewards": state["rewards"],
            "coincidences": state["coincidences"], "build_s": t1 - t0, "simulate_s": time.perf_counter() - t1}


def _weight_metrics(run: dict, p: dict, prefix: str = "") -> dict:
    """The rewarded synapse and the other excitatory synapses at the end of one run."""
    w_max, total, history, synapse = p["w_max"], p["duration_s"], run["history"], run["synapse"]
    weights = run["exc"].weights.detach().numpy()
    others = np.delete(weights, synapse)
    at_bound = np.flatnonzero(history >= w_max * (1 - 1e-9))
    return {f"{prefix}{k}": v for k, v in {
        "rewarded_weight_final": float(weights[synapse]),
        "rewarded_weight_max": float(history.max()),
        "rewarded_reached_bound": bool(at_bound.size > 0),
        "rewarded_time_to_bound_s": float(at_bound[0] + 1) if at_bound.size else float("nan"),
        "rewarded_fraction_of_time_at_bound": float(at_bound.size / total),
        "rewarded_weight_last_tenth_mean": float(history[-max(1, total // 10):].mean()),
        "n_coincidences": int(run["coincidences"]),
        "n_rewards": int(run["rewards"]),
        "others_mean": float(others.mean()),
        "others_p95": float(np.percentile(others, 95)),
        "others_max": float(others.max()),
        "others_fraction_at_bound": float(np.mean(others >= w_max * (1 - 1e-9))),
        "others_fraction_above_90pct": float(np.mean(others >= 0.9 * w_max)),
        "others_above_rewarded": int(np.sum(others >= weights[synapse])),
        # when the rewarded synapse first reached the bound (NaN if it never did)
        "others_fraction_above_90pct_at_bound_time": float(run["others_high"][at_bound[0]]) if at_bound.size
        else float("nan"),
    }.items()}


def run_distal_reward(p: dict, progress: ProgressCallback | None = None, checkpoint=None) -> ExperimentResult:
    """The rewarded run and, with ``control``, the same run without rewards (checkpoint
    ``<checkpoint>.control.npz``); progress counts both."""
    runs = 2 if p["control"] else 1
    total_steps = p["duration_s"] * int(round(CHUNK_MS / p["dt_ms"])) * runs

    def part(k: int) -> ProgressCallback | None:
        return None if progress is None else (lambda done, _: progress(done + k * total_steps // runs, total_steps))

    run = simulate(p, part(0), checkpoint)
    control = None
    if p["control"]:
        control = simulate(p | {"reward": False}, part(1),
                           None if checkpoint is None else Path(str(checkpoint) + ".control.npz"))
    exc, spikes, synapse, n1, n2 = (run[k] for k in ("exc", "spikes", "synapse", "n1", "n2"))
    pre, _ = exc.synapse_index()
    weights = exc.weights.detach().numpy()
    n = p["n_exc"] + p["n_inh"]
    duration_ms = p["duration_s"] * CHUNK_MS
    times, ids = spikes.times_ms, spikes.neuron_ids.astype(np.int64)
    counts = np.bincount(ids, minlength=n)
    record_ms = duration_ms if p["record_s"] == 0 else min(duration_ms, p["record_s"] * CHUNK_MS)
    start_ms = duration_ms - record_ms
    shown = times >= start_ms
    metrics = {
        **_weight_metrics(run, p),
        "w_max": float(p["w_max"]),
        "others_of_n1_mean": float(np.delete(weights[pre == n1], synapse - int(exc.indptr[n1])).mean()),
        **(_weight_metrics(control, p, "control_") if control is not None else {}),
        "mean_rate_exc_hz": float(counts[: p["n_exc"]].mean() / (duration_ms / 1000.0)),
        "mean_rate_inh_hz": float(counts[p["n_exc"]:].mean() / (duration_ms / 1000.0)),
        "rewarded_pre": int(n1),
        "rewarded_post": int(n2),
        "n_synapses_exc": int(exc.n_synapses),
        "spike_record_start_s": start_ms / 1000.0,
        "build_s": run["build_s"],
        "simulate_s": run["simulate_s"] + (control["simulate_s"] if control is not None else 0.0),
    }

    def weights_figure(path: Path) -> None:
        from synaptica.experiments.distal_reward_plots import plot_weights
        plot_weights(run, control, p, path)

    def detail_figure(path: Path) -> None:
        from synaptica.experiments.distal_reward_plots import plot_detail
        plot_detail(run, p, DETAIL_PER_S, path)

    figures = {"rewarded_weight.png": weights_figure}
    if p["detail_s"] > 0 and p["detail_start_s"] < p["duration_s"]:
        figures["eligibility_detail.png"] = detail_figure
    return ExperimentResult(times[shown] - start_ms, ids[shown], n, record_ms, metrics,
                            groups={"exc": (0, p["n_exc"]), "inh": (p["n_exc"], n)}, figures=figures)


DISTAL_REWARD = Experiment(
    name="distal-reward",
    summary="Izhikevich (2007) distal reward: dopamine-modulated STDP picks out one rewarded synapse",
    schema=SCHEMA,
    run=run_distal_reward,
    checks=(_check_delays, _check_dt, _check_protocol, _check_neurons, _check_budget),
)
EXPERIMENT = DISTAL_REWARD
