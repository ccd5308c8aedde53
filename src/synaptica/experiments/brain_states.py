"""brain-states: simulate a coupled network with known connectivity and hidden state
switches, analyse it with ``synaptica.analysis`` and score what the analysis recovers.

The network is a coupled Poisson GLM (:func:`synaptica.analysis.synthetic.simulate_coupled_glm`):
``n_units`` neurons with sparse signed coupling, switching between ``n_states`` hidden
states by a Markov chain with mean dwell ``mean_dwell_s``. Each state keeps the shared
backbone of connections and adds its own (``state_specific`` of each state's edges, drawn
from the pairs no other state uses; signs and magnitudes as in ``random_coupling``), and
has its own baseline rates, as in the switching-state simulations of
Li et al. (ICLR 2024, "One-hot Generalized Linear Model for Switching Brain State
Discovery"). The record then goes through :func:`synaptica.analysis.report.analyze_record`,
the same code as ``synaptica analyze``, with an HMM-GLM for the states.

Scores (metrics): ``connectivity_auc`` of the whole-record GLM's |coupling| against the
edges present in any state; ``state_accuracy`` of the HMM-GLM's decoded states (best
label permutation); ``state_connectivity_auc`` per state, with the same permutation.
"""
from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn.metrics import roc_auc_score

from synaptica.config import MAX_SEED, Field, check_memory, check_work, first_problem
from synaptica.experiments.base import Experiment, ExperimentResult, ProgressCallback

SCHEMA = {
    "n_units": Field(int, 50, "number of neurons", minimum=2, maximum=10**4),
    "duration_s": Field(float, 60.0, "simulated time (s)", minimum=0.0, maximum=1e6, exclusive_minimum=True),
    "bin_size": Field(float, 0.001, "simulation and GLM bin (s)", minimum=1e-6, maximum=10.0),
    "density": Field(float, 0.1, "fraction of ordered pairs connected in each state", minimum=0.0, maximum=1.0),
    "coupling_scale": Field(float, 1.0, "coupling strength, log-rate increment at the filter peak", minimum=0.0,
                            maximum=100.0),
    "baseline_hz": Field(float, 10.0, "mean baseline rate (Hz)", minimum=0.0, maximum=1e4, exclusive_minimum=True),
    "n_states": Field(int, 2, "hidden states", minimum=1, maximum=100),
    "state_specific": Field(float, 0.5, "fraction of each state's edges it does not share", minimum=0.0, maximum=1.0),
    "mean_dwell_s": Field(float, 5.0, "mean time spent in a state (s)", minimum=0.0, maximum=1e6,
                          exclusive_minimum=True),
    "state_bin": Field(float, 0.005, "HMM-GLM bin (s)", minimum=1e-6, maximum=100.0),
    "seed": Field(int, 1, "random seed", minimum=0, maximum=MAX_SEED),
}

# Rough multiple of the binned counts (bins x units, float64) the simulation and the
# analysis hold at once: counts, filtered copies for the coupling basis, GLM work arrays.
COPIES_OF_COUNTS = 16


def _check_budget(p: dict) -> str | None:
    """Refuse records whose binned counts (and the analysis' copies) exceed the memory
    limit, and simulations (bins x units x units couplings) over the work limit."""
    n_bins = p["duration_s"] / p["bin_size"]
    n = p["n_units"]
    return first_problem(
        check_memory("bin_size", f"duration_s / bin_size = {n_bins:.3g} bins x n_units = {n}",
                     n_bins * n * 8 * COPIES_OF_COUNTS),
        check_work("bin_size", f"duration_s / bin_size = {n_bins:.3g} bins x n_units^2 = {n * n} couplings "
                   f"x n_states = {p['n_states']}", n_bins * n * n * p["n_states"]),
    )


def _check_bins(p: dict) -> str | None:
    ratio = p["state_bin"] / p["bin_size"]
    if ratio < 1 - 1e-9 or abs(ratio - round(ratio)) > 1e-6:
        return f"key 'state_bin': must be a whole multiple of bin_size ({p['bin_size']} s), got {p['state_bin']}"
    return None


def make_network(p: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Coupling ``(S, N, N)`` [state, post, pre], baselines ``(S, N)`` Hz, states per bin."""
    from synaptica.analysis.synthetic import markov_states, random_coupling

    n, n_states = p["n_units"], p["n_states"]
    rng = np.random.default_rng(p["seed"])
    backbone = random_coupling(n, p["density"] * (1 - p["state_specific"]), p["coupling_scale"], seed=p["seed"])
    # each state's own edges: disjoint sets of the pairs outside the backbone, same law
    free = np.flatnonzero((backbone == 0) & ~np.eye(n, dtype=bool))
    n_own = min(int(round(p["density"] * p["state_specific"] * n * (n - 1))), free.size // n_states)
    chosen = rng.permutation(free)[: n_own * n_states].reshape(n_states, n_own)
    coupling = np.repeat(backbone[None], n_states, axis=0)
    for k in range(n_states):
        sign = np.where(rng.random(n_own) < 0.5, 1.0, -1.0)
        coupling[k].flat[chosen[k]] = sign * p["coupling_scale"] * rng.uniform(0.5, 1.5, n_own)
    baseline = p["baseline_hz"] * rng.lognormal(0.0, 0.5, size=(n_states, n))
    baseline *= p["baseline_hz"] / baseline.mean(axis=1, keepdims=True)
    n_bins = int(np.floor(p["duration_s"] / p["bin_size"] * (1 + 1e-9)))
    dwell_bins = p["mean_dwell_s"] / p["bin_size"]
    states = markov_states(n_bins, n_states, dwell_bins, seed=p["seed"]) if n_states > 1 else np.zeros(n_bins, int)
    return coupling, baseline, states


def _auc(truth: np.ndarray, score: np.ndarray) -> float:
    off = ~np.eye(truth.shape[0], dtype=bool)
    labels = truth[off] != 0
    if labels.all() or not labels.any():
        return float("nan")
    return float(roc_auc_score(labels, np.abs(score[off])))


def match_states(true: np.ndarray, inferred: np.ndarray, n_states: int) -> tuple[np.ndarray, float]:
    """``(permutation, accuracy)``: inferred state ``k`` is true state ``permutation[k]``,
    the assignment that maximises agreement (Hungarian algorithm)."""
    confusion = np.zeros((n_states, n_states))
    np.add.at(confusion, (inferred, true), 1)
    rows, cols = linear_sum_assignment(-confusion)
    permutation = np.empty(n_states, dtype=np.int64)
    permutation[rows] = cols
    return permutation, float(confusion[rows, cols].sum() / true.size)


def run_brain_states(p: dict, progress: ProgressCallback | None = None) -> ExperimentResult:
    from functools import partial

    from synaptica.analysis import figures
    from synaptica.analysis.report import analyze_record
    from synaptica.analysis.synthetic import simulate_coupled_glm

    coupling, baseline, states = make_network(p)
    record = simulate_coupled_glm(coupling, baseline, p["duration_s"], bin_size=p["bin_size"], states=states,
                                  seed=p["seed"])
    if progress:
        progress(1, 3)
    n_states = p["n_states"]
    analysis = analyze_record(record, bin_size=p["bin_size"], states=n_states if n_states > 1 else None,
                              state_bin=p["state_bin"], seed=p["seed"])
    if progress:
        progress(2, 3)

    metrics: dict[str, float] = {}
    for section, values in analysis.metrics.items():
        if section in ("record", "skipped", "timings_s") or not isinstance(values, dict):
            continue
        metrics.update({f"{section}.{k}": v for k, v in values.items() if isinstance(v, (int, float))})
    for section, reason in analysis.metrics["skipped"].items():
        print(f"warning: {section} skipped: {reason}")
    union = np.abs(coupling).sum(axis=0)
    figure_set = {name: write for name, write in analysis.figures.items()
                  if name in ("correlograms.png", "avalanches.png", "isi.png")}
    if "connectivity" in analysis.arrays:
        metrics["connectivity_auc"] = _auc(union, analysis.arrays["connectivity"])
        true_union = np.where(np.abs(coupling).max(axis=0) > 0, coupling.mean(axis=0), 0.0)
        figure_set["connectivity.png"] = partial(figures.plot_connectivity, {
            "true (mean over states)": true_union, "GLM coupling": analysis.arrays["connectivity"]})
    if "states" in analysis.arrays:
        ratio = int(round(p["state_bin"] / p["bin_size"]))
        inferred = analysis.arrays["states"]
        true = states[: inferred.size * ratio: ratio][: inferred.size]
        inferred = inferred[: true.size]
        permutation, accuracy = match_states(true, inferred, n_states)
        metrics["state_accuracy"] = accuracy
        per_state = analysis.arrays["state_connectivity"]
        for k in range(n_states):
            metrics[f"state_connectivity_auc_{permutation[k]}"] = _auc(coupling[permutation[k]], per_state[k])
        times = record.t_start + p["state_bin"] * np.arange(true.size)
        probabilities = analysis.arrays["state_probabilities"][: true.size, np.argsort(permutation)]
        figure_set["states.png"] = partial(figures.plot_states, times, permutation[inferred], true=true,
                                           probabilities=probabilities)
    metrics["n_true_edges"] = int((union > 0).sum() - np.count_nonzero(np.diag(union)))
    if progress:
        progress(3, 3)
    return ExperimentResult(record.times * 1000.0, record.ids, record.n_units, p["duration_s"] * 1000.0, metrics,
                            figures=figure_set)


EXPERIMENT = Experiment(
    name="brain-states",
    summary="50 coupled neurons switching hidden states: recover connectivity (GLM) and states (HMM-GLM)",
    schema=SCHEMA,
    run=run_brain_states,
    checks=(_check_bins, _check_budget),
)
