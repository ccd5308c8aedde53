"""criticality: a spiking branching network swept from sub- to super-critical.

The network (:func:`build_network`, on the engine, dt = 1 ms = one generation) has
``n_units`` probabilistic units (:class:`GatedUnit`), each with ``out_degree`` = K random
targets (quenched, no self-loops). A unit spikes in step t+1 when the external drive
reaches it, or when at least one recurrent spike reaches it and its private gate is open;
the gate is a Poisson source open with probability p = m / K per step. Each spike thus
causes m spikes in the next generation on average (while targets rarely collide), as
in the probabilistic branching networks of Haldeman & Beggs 2005 (PRL 94:058101) and
Wilting & Priesemann 2018 (Nat. Commun. 9:2325). The nominal branching ratio m is the
control parameter (``m_values``). The drive adds ``drive_per_step`` = h activations per step.

Spontaneous activity: ``n_trials`` trials of ``trial_steps`` steps, each started silent
(a super-critical network saturates; the trial reset lets it restart). At every m and seed:

* branching ratio of the population activity, one-step regression (naive) and multistep
  regression (MR, Wilting & Priesemann 2018, lags 1..``mr_kmax``), on all units and on a
  random ``subsample_fraction`` of them (:mod:`synaptica.analysis.branching`), and the
  mean ratio A(t+1)/A(t) over active bins (descendants per ancestor, as Beggs & Plenz's sigma);
* avalanches in 1-step bins (Beggs & Plenz 2003, J. Neurosci. 23:11167): power-law fits of
  sizes and durations by discrete MLE with a KS-chosen xmin, KS distance and bootstrap p
  (Clauset et al. 2009), and the crackling-noise relation: the predicted exponent
  (alpha_T - 1) / (alpha_S - 1) against the slope of log <S>(T) on log T (Sethna et al.
  2001; Friedman et al. 2012). Avalanches cut by a trial's end are dropped; their share is
  reported as ``runaway_fraction``;
* Lempel-Ziv complexity (LZ76) of the binarised population over the last ``lz_steps``
  steps, divided by that of the same spikes shuffled in time per unit (Schartner et al.
  2015's normalisation; 1 = as complex as independent trains of the same rates);
* memory capacity (Jaeger 2001) of the network driven by an i.i.d. binary input u(t)
  (0 or 1, each with probability 1/2; Jaeger's uniform input carried by a few stochastic
  spikes holds too little information to measure): ``n_input`` units are forced to spike in
  the steps where u(t) = 1; a ridge readout of the spikes of all units one step later is
  trained to output u(t-k), k = 1..``mc_max_delay``, and MC = sum of the test r^2
  (:func:`synaptica.reservoir.tasks.memory_capacity_of_states`).

References at m = 1: alpha_S = 3/2, alpha_T = 2, crackling exponent 2 (mean-field branching
process); MR unbiased under subsampling, naive biased towards 0; memory and computation
best near criticality (Bertschinger & Natschlaeger 2004; Haldeman & Beggs 2005).
"""
from __future__ import annotations

import math
import warnings

import numpy as np

from synaptica.config import MAX_SEED, Field
from synaptica.experiments.base import Experiment, ExperimentResult, ProgressCallback
from synaptica.neurons.base import NeuronModel
from synaptica.primitives import spike, where

SCHEMA = {
    "m_values": Field(list[float], [0.8, 0.9, 0.95, 1.0, 1.05, 1.1, 1.2], "nominal branching ratios m = K p swept",
                      minimum=0.0, maximum=5.0, max_length=40),
    "n_units": Field(int, 1000, "units of the network", minimum=20, maximum=100000),
    "out_degree": Field(int, 10, "targets per unit K (the gate opens with p = m / K)", minimum=1, maximum=1000),
    "drive_per_step": Field(float, 0.01, "external activations per step h (spontaneous runs)", minimum=0.0,
                            maximum=100.0),
    "n_trials": Field(int, 300, "trials of spontaneous activity", minimum=1, maximum=100000),
    "trial_steps": Field(int, 1000, "steps (1 ms) per trial", minimum=20, maximum=10**7),
    "subsample_fraction": Field(float, 0.1, "fraction of units observed by the subsampled estimators",
                                minimum=0.0, maximum=1.0, exclusive_minimum=True),
    "mr_kmax": Field(int, 40, "largest lag of the multistep regression (steps)", minimum=2, maximum=10000),
    "xmin_max": Field(int, 10, "largest xmin the power-law fits may choose (spikes / steps)", minimum=1,
                      maximum=10**6),
    "n_bootstrap": Field(int, 20, "bootstrap sets for the power-law p-values (0 skips)", minimum=0, maximum=10000),
    "lz_steps": Field(int, 2000, "steps of spontaneous activity for the Lempel-Ziv complexity", minimum=10,
                      maximum=10**6),
    "n_input": Field(int, 10, "units forced to spike when the memory-task input is 1", minimum=1, maximum=100000),
    "mc_train": Field(int, 4000, "training steps of the memory readout", minimum=10, maximum=10**6),
    "mc_test": Field(int, 2000, "test steps of the memory readout", minimum=10, maximum=10**6),
    "mc_max_delay": Field(int, 30, "largest delay k of the memory capacity (steps)", minimum=1, maximum=1000),
    "ridge": Field(float, 1.0, "ridge penalty of the memory readout", minimum=0.0, maximum=1e9),
    "seeds": Field(int, 3, "independent networks per m", minimum=1, maximum=100),
    "seed": Field(int, 1, "first seed", minimum=0, maximum=MAX_SEED),
}

CRACKLING_REFERENCE = {"alpha_size": 1.5, "alpha_duration": 2.0, "gamma": 2.0}   # mean-field branching process


def gated_coefficients(dt):
    return {}


def gated_update(rec, gate, drive):
    fire = where(drive > 0.5, 1.0, where(gate > 0.5, rec, 0.0))
    return 0.0 * rec, 0.0 * gate, 0.0 * drive, spike(fire - 0.5)


class GatedUnit(NeuronModel):
    """Probabilistic unit of a branching network, memoryless: it spikes in a step where the
    receptor ``drive`` got input, or where ``rec`` got at least one recurrent spike while its
    ``gate`` got one (connect recurrent, gate and drive sources with weight 1). Nothing
    carries over to the next step (no refractoriness beyond one step of no input)."""

    state = ("rec", "gate", "drive")
    receptors = ("rec", "gate", "drive")
    parameters = {}
    coefficients_function = staticmethod(gated_coefficients)
    update_function = staticmethod(gated_update)

    def initial_state(self):
        return {"rec": 0.0, "gate": 0.0, "drive": 0.0}


def random_targets(n_units: int, out_degree: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(pre, post): every unit to ``out_degree`` distinct random other units."""
    if out_degree >= n_units:
        raise ValueError(f"keys 'out_degree', 'n_units': K={out_degree} targets need more than {n_units} units")
    rng = np.random.default_rng([seed, 14])
    post = rng.integers(0, n_units - 1, (n_units, out_degree))
    while True:   # redraw the rows that name a target twice
        ordered = np.sort(post, axis=1)
        twice = np.any(ordered[:, 1:] == ordered[:, :-1], axis=1)
        if not twice.any():
            break
        post[twice] = rng.integers(0, n_units - 1, (int(twice.sum()), out_degree))
    post = post + (post >= np.arange(n_units)[:, None])    # skip self
    return np.repeat(np.arange(n_units), out_degree), post.ravel()


def build_network(p: dict, m: float, seed: int, drive_rates_hz: float | np.ndarray):
    """The branching network at nominal ratio ``m``: (network, units). ``drive_rates_hz``:
    Poisson drive rate per unit (Hz, scalar or (n_units,)); 0 adds no drive source."""
    from synaptica import Network

    n, k = p["n_units"], p["out_degree"]
    gate_p = m / k
    if gate_p > 1:
        raise ValueError(f"key 'm_values': m={m} needs a gate probability m/K = {gate_p:.3g} > 1 "
                         f"(raise 'out_degree' above {k})")
    net = Network(dt=1.0, seed=seed)
    units = net.add_population(n, GatedUnit(), name="units")
    if gate_p > 0:
        net.connect(net.add_poisson(n, rate_hz=gate_p * 1000.0, name="gates"), units, one_to_one=True, target="gate")
    if np.any(np.asarray(drive_rates_hz) > 0):
        net.connect(net.add_poisson(n, rate_hz=drive_rates_hz, name="drive"), units, one_to_one=True, target="drive")
    pre, post = random_targets(n, k, seed)
    net.connect(units, units, pre_index=pre, post_index=post, target="rec", name="recurrent")
    return net, units


def spontaneous(p: dict, m: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Spike steps and unit ids of the spontaneous trials (steps count on across trials)."""
    rate = p["drive_per_step"] / p["n_units"] * 1000.0
    net, units = build_network(p, m, seed, rate)
    net.set_trials(float(p["trial_steps"]))
    monitor = net.monitor_spikes(units)
    net.run(float(p["n_trials"] * p["trial_steps"]))
    return np.asarray(monitor.steps, dtype=np.int64), np.asarray(monitor.neuron_ids, dtype=np.int64)


def trial_activity(steps: np.ndarray, p: dict) -> np.ndarray:
    """(n_trials, trial_steps) population spike counts."""
    total = p["n_trials"] * p["trial_steps"]
    return np.bincount(steps, minlength=total)[:total].reshape(p["n_trials"], p["trial_steps"]).astype(np.float64)


def branching_estimates(steps: np.ndarray, ids: np.ndarray, p: dict, seed: int) -> dict:
    """Naive (one-step regression) and MR branching ratios, all units and a subsample."""
    from synaptica.analysis.branching import BranchingError, branching_ratio_naive, mr_estimate

    n_seen = max(1, int(round(p["subsample_fraction"] * p["n_units"])))
    seen = np.zeros(p["n_units"], dtype=bool)
    seen[np.random.default_rng([seed, 5]).permutation(p["n_units"])[:n_seen]] = True
    out = {"ratio_full": branching_ratio_naive(trial_activity(steps, p), "ratio") if steps.size else math.nan}
    for label, keep in (("full", slice(None)), ("sub", seen[ids])):
        activity = trial_activity(steps[keep], p)
        try:
            out[f"naive_{label}"] = branching_ratio_naive(activity, "regression")
            out[f"mr_{label}"] = mr_estimate(activity, p["mr_kmax"]).m
        except BranchingError as error:
            warnings.warn(f"branching ratio ({label}): {error}; recorded as NaN", stacklevel=2)
            out[f"naive_{label}"] = out[f"mr_{label}"] = math.nan
    return out


def bounded_counts(activity: np.ndarray) -> tuple[np.ndarray, float]:
    """Trials joined by an empty bin, with the runs that touch a trial's start or end
    zeroed (they are cut, not bounded by silence): (counts, fraction of runs cut at the end)."""
    rows = activity.copy()
    cut = 0
    for row in rows:
        if row[-1] > 0:
            cut += 1
            silent = np.flatnonzero(row == 0)
            row[(silent[-1] + 1) if silent.size else 0:] = 0
        if row[0] > 0:
            silent = np.flatnonzero(row == 0)
            row[:silent[0] if silent.size else row.size] = 0
    joined = np.concatenate([rows, np.zeros((rows.shape[0], 1))], axis=1).ravel()
    n_runs = int(np.sum(np.diff((activity > 0).astype(np.int8), axis=1) == 1)) + int(np.sum(activity[:, 0] > 0))
    return joined.astype(np.int64), cut / max(n_runs, 1)


def avalanche_statistics(activity: np.ndarray, p: dict, seed: int) -> dict:
    """Exponents, KS distances, p-values and the crackling-noise relation (NaN if too few)."""
    from synaptica.analysis.avalanches import AvalancheAnalysis, AvalancheError
    from synaptica.analysis.powerlaw import PowerLawError, fit_power_law

    counts, runaway = bounded_counts(activity)
    out = {"runaway_fraction": runaway}
    keys = ("alpha_size", "alpha_duration", "ks_size", "ks_duration", "p_size", "p_duration", "gamma_predicted",
            "gamma_fitted", "n_avalanches")
    try:
        analysis = AvalancheAnalysis(bin_size=1e-3).fit(counts)
        aval = analysis.avalanches_
        xmin_range = (1, p["xmin_max"])
        fits = [fit_power_law(x, xmin_range=xmin_range, n_bootstrap=p["n_bootstrap"], seed=seed)
                for x in (aval.sizes, aval.durations)]
    except (AvalancheError, PowerLawError) as error:
        warnings.warn(f"avalanches: {error}; exponents recorded as NaN", stacklevel=2)
        return {**out, **{k: math.nan for k in keys}}
    size, duration = fits
    gamma_pred = (duration.alpha - 1) / (size.alpha - 1)
    durations, mean_sizes = aval.mean_size_by_duration()
    use = durations >= duration.xmin
    gamma_fit = float(np.polyfit(np.log(durations[use]), np.log(mean_sizes[use]), 1)[0]) if use.sum() >= 2 else math.nan
    return {**out, "alpha_size": size.alpha, "alpha_duration": duration.alpha, "ks_size": size.ks,
            "ks_duration": duration.ks, "p_size": size.p_value, "p_duration": duration.p_value,
            "gamma_predicted": gamma_pred, "gamma_fitted": gamma_fit, "n_avalanches": float(len(aval)),
            "xmin_size": float(size.xmin), "xmin_duration": float(duration.xmin)}


def lz_complexity(steps: np.ndarray, ids: np.ndarray, p: dict, seed: int) -> dict:
    """LZ76 of the last ``lz_steps`` steps (all units, bin-major), raw-normalised and
    relative to the same trains shuffled in time per unit."""
    from synaptica.analysis.complexity import lempel_ziv_complexity

    n, total = p["n_units"], p["n_trials"] * p["trial_steps"]
    window = min(p["lz_steps"], total)
    keep = steps >= total - window
    binary = np.zeros((window, n), dtype=np.int8)
    binary[steps[keep] - (total - window), ids[keep]] = 1
    if not binary.any():
        warnings.warn("Lempel-Ziv: no spike in the window; complexity recorded as NaN", stacklevel=2)
        return {"lz": math.nan, "lz_vs_shuffled": math.nan}
    raw = lempel_ziv_complexity(binary.ravel(), normalize=True)
    rng = np.random.default_rng([seed, 76])
    shuffled = np.take_along_axis(binary, rng.random(binary.shape).argsort(axis=0), axis=0)
    return {"lz": raw, "lz_vs_shuffled": raw / lempel_ziv_complexity(shuffled.ravel(), normalize=True)}


def check_reservoir_states(states: np.ndarray, label: str) -> bool:
    """True if the states can carry information. NaN or infinity raises ValueError; states
    constant in time warn, naming the cause (dead: no spike; saturated: every unit every
    step; else frozen), and return False."""
    states = np.asarray(states, dtype=np.float64)
    bad = ~np.isfinite(states)
    if bad.any():
        raise ValueError(f"{label}: reservoir states contain {int(bad.sum())} NaN or infinite value(s) "
                         f"(first at step {int(np.argwhere(bad)[0][0])})")
    if states.shape[0] > 1 and np.all(states == states[0]):
        cause = ("dead: no unit ever spikes" if not states.any() else
                 "saturated: every unit spikes in every step" if np.all(states == 1) else "frozen: the same pattern every step")
        warnings.warn(f"{label}: reservoir states are constant ({cause}); memory capacity set to 0", stacklevel=2)
        return False
    return True


def memory_task(p: dict, m: float, seed: int) -> dict:
    """Memory capacity of the network with ``n_input`` units forced by binary u(t)."""
    from synaptica.reservoir.tasks import memory_capacity_of_states

    washout = p["mc_max_delay"]
    n_steps = washout + p["mc_train"] + p["mc_test"]
    rng = np.random.default_rng([seed, 2001])
    u = rng.integers(0, 2, n_steps).astype(np.float64)
    fired = np.repeat(u[:, None] > 0, p["n_input"], axis=1)
    t, unit = np.nonzero(fired)
    rate = p["drive_per_step"] / p["n_units"] * 1000.0
    net, units = build_network(p, m, seed, rate)
    source = net.add_spike_generator(p["n_input"], t.astype(float), unit, name="input")
    net.connect(source, units[:p["n_input"]], one_to_one=True, target="drive")
    monitor = net.monitor_spikes(units)
    net.run(float(n_steps + 1))
    # the input of step t reaches the units at step t + 1: their state then is the state "after" u(t)
    s, i = np.asarray(monitor.steps, dtype=np.int64), np.asarray(monitor.neuron_ids, dtype=np.int64)
    states = np.zeros((n_steps, p["n_units"]))
    keep = (s >= 1) & (s <= n_steps)
    states[s[keep] - 1, i[keep]] = 1.0
    label = f"memory task at m={m:g}, seed {seed}"
    rate_hz = float(states.mean() * 1000.0)
    if not check_reservoir_states(states[washout:], label):
        return {"memory_capacity": 0.0, "mc_rate_hz": rate_hz}
    mc = memory_capacity_of_states(states, u[:, None], p["mc_max_delay"], p["mc_train"], washout, p["ridge"])
    return {"memory_capacity": mc.total, "mc_rate_hz": rate_hz}


def run_point(p: dict, m: float, seed: int) -> tuple[dict, tuple[np.ndarray, np.ndarray]]:
    """Every measurement at one m and seed: (metrics, spontaneous spikes)."""
    steps, ids = spontaneous(p, m, seed)
    activity = trial_activity(steps, p)
    out = {"rate_hz": float(activity.mean() / p["n_units"] * 1000.0)}
    out.update(branching_estimates(steps, ids, p, seed))
    out.update(avalanche_statistics(activity, p, seed))
    out.update(lz_complexity(steps, ids, p, seed))
    out.update(memory_task(p, m, seed))
    return out, (steps, ids)


PANELS = (
    ("branching ratio estimate", (("naive_full", "naive, all"), ("naive_sub", "naive, subsample"),
                                  ("mr_full", "MR, all"), ("mr_sub", "MR, subsample"),
                                  ("ratio_full", "A(t+1)/A(t), all"))),
    ("avalanche exponent", (("alpha_size", "alpha_S (ref 3/2)"), ("alpha_duration", "alpha_T (ref 2)"))),
    ("KS distance", (("ks_size", "sizes"), ("ks_duration", "durations"))),
    ("bootstrap p", (("p_size", "sizes"), ("p_duration", "durations"))),
    ("<S>(T) exponent", (("gamma_predicted", "(alpha_T-1)/(alpha_S-1)"), ("gamma_fitted", "fit of <S>(T)"))),
    ("LZ complexity", (("lz_vs_shuffled", "/ shuffled"), ("lz", "c log2(n)/n"))),
    ("memory capacity", (("memory_capacity", "ridge readout"),)),
    ("runaway fraction", (("runaway_fraction", "avalanches cut by trial end"),)),
)


def plot_sweep(metrics: dict, p: dict, path) -> None:
    """Every measure against the nominal branching ratio m (mean and std over seeds)."""
    from synaptica.plotting import _new_figure, _save

    fig = _new_figure(13.0, 6.0, layout="constrained")
    ms = [float(m) for m in p["m_values"]]
    refs = {"branching ratio estimate": None, "avalanche exponent": (1.5, 2.0), "<S>(T) exponent": (2.0,),
            "bootstrap p": (0.1,)}
    for index, (title, series) in enumerate(PANELS):
        ax = fig.add_subplot(2, 4, index + 1)
        for key, label in series:
            mean = [metrics[f"m{m:g}_{key}_mean"] for m in ms]
            std = [metrics[f"m{m:g}_{key}_std"] for m in ms]
            ax.errorbar(ms, mean, yerr=std, marker="s" if "sub" in key else "o", ms=3, capsize=2, label=label,
                        ls="--" if "sub" in key else "-")
        if title == "branching ratio estimate":
            ax.plot(ms, ms, color="k", lw=0.6, ls="--", label="m (nominal)")
        for ref in refs.get(title) or ():
            ax.axhline(ref, color="0.5", lw=0.6, ls=":")
        ax.axvline(1.0, color="k", lw=0.5, ls=":")
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("nominal branching ratio m", fontsize=8)
        ax.legend(fontsize=6)
    _save(fig, path)


def run_criticality(p: dict, progress: ProgressCallback | None = None) -> ExperimentResult:
    """Every m and seed; metrics ``m<m>_<key>_mean/_std`` and per seed."""
    ms = [float(m) for m in p["m_values"]]
    seeds = [p["seed"] + k for k in range(p["seeds"])]
    metrics: dict = {}
    shown = min(ms, key=lambda m: abs(m - 1.0))
    raster = (np.zeros(0), np.zeros(0, dtype=np.int64))
    window = min(1000, p["n_trials"] * p["trial_steps"])   # steps (ms) of the raster
    done = 0
    for m in ms:
        per_seed = []
        for seed in seeds:
            values, (steps, ids) = run_point(p, m, seed)
            per_seed.append(values)
            metrics.update({f"m{m:g}_{k}_seed{seed}": float(v) for k, v in values.items()})
            if m == shown and seed == seeds[0]:
                keep = steps < window
                raster = (steps[keep].astype(float), ids[keep])
            done += 1
            if progress:
                progress(done, len(ms) * len(seeds))
        for key in per_seed[0]:
            series = np.array([v.get(key, math.nan) for v in per_seed], dtype=float)
            finite = series[np.isfinite(series)]
            metrics[f"m{m:g}_{key}_mean"] = float(finite.mean()) if finite.size else math.nan
            metrics[f"m{m:g}_{key}_std"] = float(finite.std()) if finite.size else math.nan
    metrics.update(summary(metrics, ms))
    figures = {"criticality_sweep.png": lambda path: plot_sweep(metrics, p, path)}
    return ExperimentResult(spike_times_ms=raster[0], spike_ids=raster[1], n_neurons=p["n_units"],
                            duration_ms=float(window), metrics=metrics, figures=figures)


def summary(metrics: dict, ms: list[float]) -> dict:
    """m at which each of memory capacity and LZ/shuffled peaks."""
    out = {}
    for key in ("memory_capacity", "lz_vs_shuffled"):
        values = [metrics.get(f"m{m:g}_{key}_mean", math.nan) for m in ms]
        if np.any(np.isfinite(values)):
            out[f"{key}_peak_m"] = ms[int(np.nanargmax(values))]
    return out


def check_sizes(p: dict) -> str | None:
    if p["out_degree"] >= p["n_units"]:
        return "key 'out_degree': must be below 'n_units'"
    if p["n_input"] > p["n_units"]:
        return "key 'n_input': more input units than 'n_units'"
    if max(p["m_values"], default=0.0) > p["out_degree"]:
        return "key 'm_values': m above 'out_degree' needs a gate probability m/K > 1"
    if not p["m_values"]:
        return "key 'm_values': give at least one branching ratio"
    if p["mr_kmax"] + 2 > p["trial_steps"]:
        return "key 'mr_kmax': must be at most 'trial_steps' - 2"
    if len(set(p["m_values"])) != len(p["m_values"]):
        return "key 'm_values': repeated values"
    return None


EXPERIMENT = Experiment(
    name="criticality",
    summary="Branching network swept from sub- to super-critical: branching ratio, avalanches, LZ, memory",
    schema=SCHEMA,
    run=run_criticality,
    checks=(check_sizes,),
)
