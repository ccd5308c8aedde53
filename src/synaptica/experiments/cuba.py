"""CUBA: the current-based random network of Vogels & Abbott (2005), as specified for
the simulator benchmarks of Brette et al. (2007), J. Comput. Neurosci. 23:349.

N LIF neurons (80 % excitatory), each pair connected with probability 2 %; leak reversal
above threshold (-49 vs -50 mV), so every neuron would fire alone and recurrent
inhibition keeps the network in an asynchronous irregular state of ~5-6 Hz. Synaptic
input is an exponentially decaying current: an excitatory spike raises the input by
1.62 mV (r_m x current), an inhibitory one by -9 mV, with tau 5 and 10 ms. Membrane
potentials start uniformly in [v_reset, v_th).

Weights are written as voltages (the benchmark's units): with r_m = 1 GOhm a current of
x pA is x mV. Same network as Brian2's ``examples/CUBA.py`` and ``bench/peers/``.
"""
from __future__ import annotations

import time

import numpy as np

from synaptica.analysis.stats import firing_rates, isi_cv
from synaptica.config import MAX_SEED, Field, check_memory, check_work, first_problem
from synaptica.experiments.base import Experiment, ExperimentResult, ProgressCallback

SCHEMA = {
    "n": Field(int, 4000, "number of neurons", minimum=10, maximum=10**7),
    "duration_ms": Field(float, 1000.0, "simulated time (ms)", minimum=0.0, maximum=1e8, exclusive_minimum=True),
    "dt_ms": Field(float, 0.1, "time step (ms)", minimum=1e-6, maximum=100.0),
    "exc_fraction": Field(float, 0.8, "fraction of excitatory neurons", minimum=0.0, maximum=1.0),
    "p_connect": Field(float, 0.02, "connection probability of each ordered pair", minimum=0.0, maximum=1.0),
    "tau_m": Field(float, 20.0, "membrane time constant (ms)", minimum=0.0, maximum=1e6, exclusive_minimum=True),
    "tau_exc": Field(float, 5.0, "excitatory synaptic time constant (ms)", minimum=0.0, maximum=1e6,
                     exclusive_minimum=True),
    "tau_inh": Field(float, 10.0, "inhibitory synaptic time constant (ms)", minimum=0.0, maximum=1e6,
                     exclusive_minimum=True),
    "v_rest": Field(float, -49.0, "leak reversal potential (mV)", minimum=-1000.0, maximum=1000.0),
    "v_th": Field(float, -50.0, "threshold (mV)", minimum=-1000.0, maximum=1000.0),
    "v_reset": Field(float, -60.0, "reset potential (mV)", minimum=-1000.0, maximum=1000.0),
    "t_ref": Field(float, 5.0, "refractory period (ms)", minimum=0.0, maximum=1e6),
    "w_exc": Field(float, 1.62, "excitatory weight as a voltage (mV)", minimum=0.0, maximum=1000.0),
    "w_inh": Field(float, -9.0, "inhibitory weight as a voltage (mV)", minimum=-1000.0, maximum=0.0),
    "delay_ms": Field(float, 0.1, "synaptic delay (ms), at least dt", minimum=0.0, maximum=1e4, exclusive_minimum=True),
    "seed": Field(int, 1, "random seed (connectivity, initial potentials)", minimum=0, maximum=MAX_SEED),
    "dtype": Field(str, "float32", "floating point precision of the state", choices=("float32", "float64")),
}

# Peak memory per synapse of a large CUBA network (19.6 B at N = 64000, BENCHMARKS.md,
# bench/cuba.py), rounded up: what the synapse count of a configuration costs.
BYTES_PER_SYNAPSE = 20


def _check_budget(p: dict) -> str | None:
    """Refuse networks whose synapses or delay buffers exceed the memory limit, and runs
    whose neuron updates exceed the work limit (synaptica.config.budget)."""
    n, itemsize = p["n"], 8 if p["dtype"] == "float64" else 4
    synapses = float(n) * n * p["p_connect"]
    delay_steps = p["delay_ms"] / p["dt_ms"] + 1
    steps = p["duration_ms"] / p["dt_ms"]
    return first_problem(
        check_memory("n", f"n = {n} neurons with p_connect = {p['p_connect']:g} ({synapses:.3g} synapses)",
                     synapses * BYTES_PER_SYNAPSE),
        # one ring buffer slot per delay step, per neuron and target (i_exc, i_inh)
        check_memory("delay_ms", f"delay_ms / dt_ms = {delay_steps:.3g} delay steps for n = {n} neurons",
                     delay_steps * n * 2 * itemsize),
        check_work("duration_ms", f"duration_ms / dt_ms = {steps:.3g} steps of n = {n} neurons", steps * n),
    )


def _check_delay(p: dict) -> str | None:
    if p["delay_ms"] < p["dt_ms"] * (1 - 1e-9):
        return f"key 'delay_ms': {p['delay_ms']} ms is shorter than dt_ms = {p['dt_ms']} ms"
    return None


def _check_reset(p: dict) -> str | None:
    if p["v_reset"] >= p["v_th"]:
        return f"key 'v_reset': must be below v_th ({p['v_th']} mV), got {p['v_reset']}"
    return None


def _check_duration(p: dict) -> str | None:
    steps = p["duration_ms"] / p["dt_ms"]
    if abs(steps - round(steps)) > 1e-6 * max(1.0, steps):
        return f"key 'duration_ms': {p['duration_ms']} ms is not a whole number of dt_ms = {p['dt_ms']} ms steps"
    return None


def build_cuba(p: dict, device: str = "cpu"):
    """The network, its population and spike monitor, from resolved parameters ``p``
    (on ``device``: a CUDA network runs the torch path)."""
    from synaptica.engine.network import Network
    from synaptica.neurons import LIF

    net = Network(dt=p["dt_ms"], seed=p["seed"], dtype=p["dtype"], device=device)
    n, n_exc = p["n"], int(round(p["exc_fraction"] * p["n"]))
    model = LIF(tau_m=p["tau_m"], tau_exc=p["tau_exc"], tau_inh=p["tau_inh"], v_rest=p["v_rest"],
                v_reset=p["v_reset"], v_th=p["v_th"], r_m=1.0, t_ref=p["t_ref"])
    cells = net.add_population(n, model, name="cells")
    cells.set_state(v=p["v_reset"] + net.rng.random(n) * (p["v_th"] - p["v_reset"]))
    # the first n_exc neurons excite, the rest inhibit (Brian2's subgroups: cells[:n_exc])
    net.connect(cells[:n_exc], cells, p=p["p_connect"], weight=p["w_exc"], target="i_exc",
                delay=p["delay_ms"], sign="excitatory", name="exc")
    net.connect(cells[n_exc:], cells, p=p["p_connect"], weight=p["w_inh"], target="i_inh",
                delay=p["delay_ms"], sign="inhibitory", name="inh")
    return net, cells, net.monitor_spikes(cells)


def run_cuba(p: dict, progress: ProgressCallback | None = None, checkpoint=None) -> ExperimentResult:
    t0 = time.perf_counter()
    net, cells, spikes = build_cuba(p)
    t1 = time.perf_counter()
    net.run(p["duration_ms"], progress=progress, checkpoint=checkpoint, checkpoint_tag={"experiment": "cuba", **p})
    t2 = time.perf_counter()
    n, n_exc = p["n"], int(round(p["exc_fraction"] * p["n"]))
    times, ids = spikes.times_ms, spikes.neuron_ids.astype(np.int64)
    rates = firing_rates(ids, n, p["duration_ms"])
    cv = isi_cv(times, ids, n)
    metrics = {
        "mean_rate_hz": float(rates.mean()),
        "mean_rate_exc_hz": float(rates[:n_exc].mean()) if n_exc else float("nan"),
        "mean_rate_inh_hz": float(rates[n_exc:].mean()) if n_exc < n else float("nan"),
        "cv_isi_mean": float(np.nanmean(cv)) if np.any(np.isfinite(cv)) else float("nan"),
        "n_spikes": int(ids.size),
        "n_synapses": int(sum(proj.n_synapses for proj in net.projections)),
        "build_s": t1 - t0,
        "simulate_s": t2 - t1,
    }
    return ExperimentResult(times, ids, n, p["duration_ms"], metrics, groups={"exc": (0, n_exc), "inh": (n_exc, n)})


CUBA = Experiment(
    name="cuba",
    summary="Vogels & Abbott (2005) CUBA network: 4000 LIF neurons, 2 % random connectivity",
    schema=SCHEMA,
    run=run_cuba,
    checks=(_check_delay, _check_reset, _check_duration, _check_budget),
)
