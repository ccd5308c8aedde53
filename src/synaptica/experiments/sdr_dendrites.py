"""sdr-dendrites: false matches of active dendritic segments on sparse distributed representations.

Reproduces the closed forms of Ahmad S. & Hawkins J. (2016), "How do neurons operate on
sparse distributed representations? A mathematical theory of sparsity, neurons and active
dendrites" (arXiv:1601.00720), used in Hawkins J. & Ahmad S. (2016), "Why neurons have
thousands of synapses, a theory of sequence memory in neocortex" (Front. Neural Circuits
10:23), and checks them on the engine's dendritic neurons (:mod:`synaptica.neurons.dendritic`).

* Paper values (fixed parameters n = 2048 cells, a = 40 active): a segment of s = 20
  synapses with theta = 10 falsely matches a random SDR with P = 3.9e-13; s = 24,
  theta = 12: 1.2e-15; a segment storing the union of M patterns of 20 synapses each
  (M x 20 synapses, the paper's definition), theta = 10: 3.9e-3 at M = 10, 0.24 at M = 20.
  Metrics ``paper_<case>`` (ours), ``paper_<case>_published`` and ``paper_<case>_rel_err``.
* Monte Carlo through the engine: one random SDR (a of n) per step, as spikes of a
  generator, into dendritic cells whose segments hold random synapse sets; a segment spike
  is a match. Low thresholds ``mc_thetas`` (probabilities large enough to sample) and
  unions of ``union_ms`` patterns, both as the paper defines them (M s distinct synapses)
  and as M independent random subsets (may overlap; compared with the exact union law).
  Every segment spike is also checked against a NumPy count of the same overlaps
  (``mc_engine_mismatches``, expected 0).
* Importance sampling through the engine at the paper's tiny probabilities: SDRs with an
  overlap drawn from the hypergeometric law tilted to mean theta, weighted by the
  likelihood ratio, presented to a segment with (s, theta) and (s_alt, theta_alt).

Intervals: Clopper-Pearson for segments of fixed size (all segment-SDR pairs are pairwise
independent with the same P, by symmetry), a normal interval over per-segment rates for
random unions (their P depends on the union size), a normal interval of the weighted mean
for importance sampling; all at ``confidence``.
Figures: false-match probability against theta (several s), against n (several a), and
for a union against M. Time: one step of ``dt_ms`` (the coincidence window) per SDR.
"""
from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
import torch
from scipy.special import erfinv

from synaptica.analysis import sdr
from synaptica.config import Field
from synaptica.config.budget import check_memory, check_work, first_problem
from synaptica.experiments.base import Experiment, ExperimentResult, ProgressCallback

#: Values printed in the papers (n = 2048, a = 40): case -> (s, theta, M or None, value).
PAPER_N, PAPER_A = 2048, 40
PAPER_VALUES = {
    "s20_theta10": (20, 10, None, 3.9e-13),
    "s24_theta12": (24, 12, None, 1.2e-15),
    "union_m10": (20, 10, 10, 3.9e-3),
    "union_m20": (20, 10, 20, 0.24),
}

SCHEMA = {
    "n": Field(int, 2048, "cells in the input population", minimum=2, maximum=100_000),
    "a": Field(int, 40, "active cells per SDR", minimum=1, maximum=100_000),
    "s": Field(int, 20, "synapses per segment (Monte Carlo, importance sampling, theta figure)", minimum=1,
               maximum=1000),
    "theta": Field(int, 10, "segment threshold (synapses) for importance sampling and unions", minimum=1,
                   maximum=1000),
    "s_alt": Field(int, 24, "synapses of the second importance-sampled segment", minimum=1, maximum=1000),
    "theta_alt": Field(int, 12, "threshold of the second importance-sampled segment", minimum=1, maximum=1000),
    "mc_thetas": Field(list[int], [1, 2, 3, 4], "low thresholds sampled by plain Monte Carlo", minimum=1,
                       maximum=1000),
    "mc_cells": Field(int, 25, "cells of the low-threshold population", minimum=1, maximum=10_000),
    "segments_per_cell": Field(int, 16, "dendritic segments per cell", minimum=2, maximum=1000),
    "mc_steps": Field(int, 2000, "random SDRs presented (one per step)", minimum=10, maximum=1_000_000),
    "union_ms": Field(list[int], [10, 20], "patterns per union segment (Monte Carlo)", minimum=1, maximum=1000),
    "union_cells": Field(int, 6, "cells per union size and variant", minimum=1, maximum=10_000),
    "is_samples": Field(int, 20_000, "importance samples per tail segment", minimum=100, maximum=1_000_000),
    "confidence": Field(float, 0.99, "level of the confidence intervals", minimum=0.5, maximum=0.9999),
    "curve_s": Field(list[int], [16, 20, 24, 32], "segment sizes of the theta figure", minimum=1, maximum=1000),
    "curve_a": Field(list[int], [40, 64, 128, 256], "active cells of the n figure", minimum=1, maximum=10_000),
    "curve_n_max": Field(int, 20_000, "largest n of the n figure", minimum=100, maximum=1_000_000),
    "union_m_max": Field(int, 30, "largest M of the union figure", minimum=1, maximum=1000),
    "dt_ms": Field(float, 1.0, "time step = coincidence window (ms)", minimum=0.01, maximum=100.0),
    "seed": Field(int, 1, "random seed (SDRs, synapses)", minimum=0, maximum=2**31 - 1),
    "dtype": Field(str, "float32", "floating point precision of the state", choices=("float32", "float64")),
}


def _check_sizes(p: dict) -> str | None:
    for key in ("mc_thetas", "union_ms", "curve_s", "curve_a"):
        if not p[key]:
            return f"key '{key}': needs at least one value"
    if p["a"] > p["n"]:
        return f"key 'a': {p['a']} active cells exceed n = {p['n']}"
    for s_key, t_key in (("s", "theta"), ("s_alt", "theta_alt")):
        if p[s_key] > p["n"]:
            return f"key '{s_key}': {p[s_key]} synapses exceed n = {p['n']}"
        if p[t_key] > p[s_key]:
            return f"key '{t_key}': threshold {p[t_key]} exceeds {s_key} = {p[s_key]} (the segment could never spike)"
    for key in ("mc_thetas", "union_ms", "curve_s", "curve_a"):
        if not p[key]:
            return f"key '{key}': needs at least one value"
    if max(p["mc_thetas"]) > p["s"]:
        return f"key 'mc_thetas': {max(p['mc_thetas'])} exceeds s = {p['s']}"
    if len(set(p["union_ms"])) != len(p["union_ms"]):
        return f"key 'union_ms': values must be distinct, got {p['union_ms']}"
    if max(p["union_ms"]) * p["s"] > p["n"]:
        return f"key 'union_ms': a union of {max(p['union_ms'])} x {p['s']} synapses exceeds n = {p['n']}"
    if max(p["curve_a"]) >= p["curve_n_max"] or max(p["curve_s"]) > p["curve_n_max"]:
        return "key 'curve_n_max': must exceed every value of curve_a and curve_s"
    if p["union_m_max"] * p["s"] > p["n"]:
        return f"key 'union_m_max': {p['union_m_max']} x s = {p['s']} synapses exceed n = {p['n']}"
    return None


def _check_budget(p: dict) -> str | None:
    """Refuse runs whose largest arrays (SDR spike lists, the response matrix of the Monte
    Carlo window) exceed the memory limit, or whose steps x segments exceed the work limit."""
    units = p["segments_per_cell"] * (p["mc_cells"] + 2 * len(p["union_ms"]) * p["union_cells"] + 1)
    events = float(p["a"]) * (p["mc_steps"] + 2 * p["is_samples"])
    steps = max(p["mc_steps"], 2 * p["is_samples"]) + 1
    return first_problem(
        check_memory("is_samples", f"a = {p['a']} spikes x (mc_steps + 2 is_samples) SDRs", events * 40),
        check_memory("mc_steps", f"mc_steps = {p['mc_steps']} responses of {units} segments",
                     float(p["mc_steps"]) * units * 9 + float(p["n"]) * units * 4),
        check_work("is_samples", f"{steps} steps of {units} segments and {p['n']} inputs",
                   float(steps) * (units + p["n"]) + events * p["s_alt"]),
    )


def _sdr_stream(rows: np.ndarray, dt: float):
    """Spike times (ms) and ids presenting row k of ``rows`` (SDRs, (count, a)) at step k."""
    steps = np.repeat(np.arange(rows.shape[0]), rows.shape[1])
    return steps * dt, rows.ravel()


def _random_union(n: int, s: int, m: int, rng: np.random.Generator, overlapping: bool) -> np.ndarray:
    """Synapse cells of a segment storing m patterns of s synapses: m s distinct cells (the
    paper's definition) or the union of m independent random s-subsets."""
    if not overlapping:
        return rng.choice(n, m * s, replace=False)
    return np.unique(np.concatenate([rng.choice(n, s, replace=False) for _ in range(m)]))


def build_network(p: dict):
    """The network: one population of dendritic cells (``segments_per_cell`` segments each)
    fed by two SDR streams. Rows of cells, in order: ``mc_cells`` low-threshold cells; for
    each union variant ("paper": m s distinct cells, "random": union of m random s-subsets)
    and each m of ``union_ms``, ``union_cells`` cells; one tail cell whose segments 0 and 1
    (s, theta) and (s_alt, theta_alt) see the importance-sampling stream, first for segment
    0 then for segment 1. Returns (net, parts): the population, its spike monitor, unit
    blocks (name -> (first, stop) flat unit index), synapse sets, thresholds and SDRs."""
    from synaptica.engine.network import Network
    from synaptica.neurons.dendritic import add_dendritic_population

    rng = np.random.default_rng(p["seed"])
    dt, n, a, per_cell = p["dt_ms"], p["n"], p["a"], p["segments_per_cell"]
    dtype = torch.float64 if p["dtype"] == "float64" else torch.float32
    net = Network(dt=dt, seed=p["seed"], dtype=dtype)

    rows = [("low", p["mc_cells"])] + [(f"union_{variant}_m{m}", p["union_cells"]) for variant in ("paper", "random")
                                       for m in p["union_ms"]] + [("tail", 1)]
    blocks, first = {}, 0
    for name, cells in rows:
        blocks[name] = (first, first + cells * per_cell)
        first += cells * per_cell
    thetas = np.full(first, float(p["theta"]))
    sets: list = [None] * first
    lo, hi = blocks["low"]
    thetas[lo:hi] = np.resize(np.asarray(p["mc_thetas"], dtype=float), hi - lo)
    for u in range(lo, hi):
        sets[u] = rng.choice(n, p["s"], replace=False)
    for variant, overlapping in (("paper", False), ("random", True)):
        for m in p["union_ms"]:
            lo, hi = blocks[f"union_{variant}_m{m}"]
            for u in range(lo, hi):
                sets[u] = _random_union(n, p["s"], m, rng, overlapping)
    tail = blocks["tail"][0]
    thetas[tail + 1] = p["theta_alt"]

    mc_sdrs = sdr.random_sdrs(n, a, p["mc_steps"], rng)
    tail_sdrs, tail_weights = [], []
    for k, (s, theta) in enumerate(((p["s"], p["theta"]), (p["s_alt"], p["theta_alt"]))):
        sets[tail + k] = rng.choice(n, s, replace=False)
        law, proposal = sdr.tilted_overlap_proposal(n, a, s, theta)
        overlaps = rng.choice(law.size, size=p["is_samples"], p=proposal)
        tail_sdrs.append(sdr.sdrs_with_overlaps(n, a, sets[tail + k], overlaps, rng))
        tail_weights.append(sdr.importance_weights(law, proposal, overlaps))

    cells = add_dendritic_population(net, first // per_cell, per_cell, theta=thetas.reshape(-1, per_cell),
                                     name="dendritic")
    mc_input = net.add_spike_generator(n, *_sdr_stream(mc_sdrs, dt), name="mc_sdr")
    tail_input = net.add_spike_generator(n, *_sdr_stream(np.concatenate(tail_sdrs), dt), name="tail_sdr")
    _wire(net, mc_input, cells, sets, range(tail))
    _wire(net, tail_input, cells, sets, (tail, tail + 1))
    parts = dict(cells=cells, spikes=net.monitor_spikes(cells.segments), blocks=blocks, sets=sets, thetas=thetas,
                 mc_sdrs=mc_sdrs, tail=tail, tail_sdrs=tail_sdrs, tail_weights=tail_weights,
                 n_steps=max(p["mc_steps"], 2 * p["is_samples"]) + 1)   # + 1: step k's SDR reaches segments at k + 1
    return net, parts


def _wire(net, source, population, sets: list, units) -> None:
    """Synapses from ``source`` cells ``sets[u]`` onto segment unit u (cell-major) for u in ``units``."""
    units = np.asarray(list(units))
    unit_of = np.repeat(units, [len(sets[u]) for u in units])
    population.connect_synapses(net, source, np.concatenate([sets[u] for u in units]),
                                unit_of // population.n_segments, unit_of % population.n_segments)


def _hits(monitor, n_units: int, first_step: int, count: int) -> np.ndarray:
    """(count, n_units) 0/1: did unit j spike at step first_step + 1 + k (the response to SDR k)."""
    steps, ids = monitor.steps, monitor.ids
    keep = (steps > first_step) & (steps <= first_step + count)
    out = np.zeros((count, n_units), dtype=np.int8)
    out[steps[keep] - first_step - 1, ids[keep]] = 1
    return out


def _overlap_counts(sdrs: np.ndarray, sets: list[np.ndarray], n: int) -> np.ndarray:
    """(len(sdrs), len(sets)) overlap sizes, counted with NumPy (independent of the engine)."""
    membership = np.zeros((n, len(sets)), dtype=np.float32)   # float: BLAS matmul, exact for counts < 2^24
    for j, cells in enumerate(sets):
        membership[cells, j] = 1.0
    out = np.empty((sdrs.shape[0], len(sets)), dtype=np.int64)
    for start in range(0, sdrs.shape[0], 4096):   # bounded memory for long streams
        rows = sdrs[start:start + 4096]
        active = np.zeros((rows.shape[0], n), dtype=np.float32)
        np.put_along_axis(active, rows, 1.0, axis=1)
        out[start:start + rows.shape[0]] = np.rint(active @ membership).astype(np.int64)
    return out


def _interval_metrics(prefix: str, estimate: float, low: float, high: float, closed_form: float) -> dict:
    return {f"{prefix}_estimate": estimate, f"{prefix}_low": low, f"{prefix}_high": high,
            f"{prefix}_closed_form": closed_form, f"{prefix}_within_ci": float(low <= closed_form <= high)}


def run_sdr_dendrites(p: dict, progress: ProgressCallback | None = None, checkpoint=None) -> ExperimentResult:
    t0 = time.perf_counter()
    metrics: dict[str, float] = {}
    for case, (s, theta, m, published) in PAPER_VALUES.items():
        ours = (sdr.false_match_probability(PAPER_N, PAPER_A, s, theta) if m is None else
                sdr.union_false_match_probability(PAPER_N, PAPER_A, s, theta, m))
        metrics[f"paper_{case}"] = ours
        metrics[f"paper_{case}_published"] = published
        metrics[f"paper_{case}_rel_err"] = abs(ours - published) / published
        if m is not None:
            metrics[f"paper_{case}_exact_union"] = sdr.union_false_match_probability(PAPER_N, PAPER_A, s, theta, m,
                                                                                    exact_union=True)

    net, parts = build_network(p)
    t1 = time.perf_counter()
    # no checkpoint: the run is a few seconds and its inputs are rebuilt from the seed
    net.run(parts["n_steps"] * p["dt_ms"], progress=progress)
    t2 = time.perf_counter()
    n, a, level = p["n"], p["a"], p["confidence"]

    blocks, thetas, tail = parts["blocks"], parts["thetas"], parts["tail"]
    n_units = parts["cells"].segments.n
    hits = _hits(parts["spikes"], n_units, 0, p["mc_steps"])[:, :tail]
    overlaps = _overlap_counts(parts["mc_sdrs"], parts["sets"][:tail], n)
    mismatches = int(np.sum(hits != (overlaps >= thetas[None, :tail])))
    lo, hi = blocks["low"]
    for theta in sorted(set(p["mc_thetas"])):
        columns = lo + np.flatnonzero(thetas[lo:hi] == theta)
        k, trials = int(hits[:, columns].sum()), columns.size * p["mc_steps"]
        low, high = sdr.binomial_interval(k, trials, level)
        metrics.update(_interval_metrics(f"mc_theta{theta}", k / trials, low, high,
                                         sdr.false_match_probability(n, a, p["s"], theta)))
        metrics[f"mc_theta{theta}_trials"] = float(trials)
    z = math.sqrt(2.0) * float(erfinv(level))
    for variant in ("paper", "random"):
        for m in p["union_ms"]:
            lo, hi = blocks[f"union_{variant}_m{m}"]
            closed = sdr.union_false_match_probability(n, a, p["s"], p["theta"], m, exact_union=variant == "random")
            if variant == "paper":
                k, trials = int(hits[:, lo:hi].sum()), hits[:, lo:hi].size
                low, high = sdr.binomial_interval(k, trials, level)
                estimate = k / trials
            else:  # per-segment rates: P varies with the union size, so segments are the samples
                rates = hits[:, lo:hi].mean(axis=0)
                estimate = float(rates.mean())
                half = z * float(rates.std(ddof=1)) / math.sqrt(rates.size) if rates.size > 1 else 1.0
                low, high = max(0.0, estimate - half), min(1.0, estimate + half)
            metrics.update(_interval_metrics(f"mc_union_{variant}_m{m}", estimate, low, high, closed))

    for k, (s, theta) in enumerate(((p["s"], p["theta"]), (p["s_alt"], p["theta_alt"]))):
        tail_hits = _hits(parts["spikes"], n_units, k * p["is_samples"], p["is_samples"])[:, tail + k]
        overlap = _overlap_counts(parts["tail_sdrs"][k], [parts["sets"][tail + k]], n)[:, 0]
        mismatches += int(np.sum(tail_hits != (overlap >= theta)))
        result = sdr.importance_estimate(tail_hits, parts["tail_weights"][k], level)
        closed = sdr.false_match_probability(n, a, s, theta)
        prefix = f"is_s{s}_theta{theta}"
        metrics.update(_interval_metrics(prefix, result["estimate"], result["low"], result["high"], closed))
        metrics[f"{prefix}_rel_err"] = abs(result["estimate"] - closed) / closed if closed > 0 else 0.0
    metrics["mc_engine_mismatches"] = float(mismatches)

    curves = _curves(p)
    t3 = time.perf_counter()
    metrics.update(build_s=t1 - t0, simulate_s=t2 - t1, analyse_s=t3 - t2)

    # spikes.npz: segment spikes of the Monte Carlo window, one unit per segment
    mon = parts["spikes"]
    keep = mon.steps <= p["mc_steps"]
    times_ms, spike_ids = mon.steps[keep] * p["dt_ms"], mon.ids[keep].astype(np.int64)
    order = np.argsort(times_ms, kind="stable")
    groups = {"low": blocks["low"], "tail": (tail, n_units)}
    for variant in ("paper", "random"):
        spans = [blocks[f"union_{variant}_m{m}"] for m in p["union_ms"]]
        groups[f"union_{variant}"] = (spans[0][0], spans[-1][1])
    figures = {
        "false_match_vs_theta.png": lambda path: plot_theta(curves, metrics, p, path),
        "false_match_vs_n.png": lambda path: plot_n(curves, p, path),
        "union_vs_m.png": lambda path: plot_union(curves, metrics, p, path),
    }
    return ExperimentResult(times_ms[order].astype(np.float64), spike_ids[order], n_units,
                            (p["mc_steps"] + 1) * p["dt_ms"], metrics, groups=groups, figures=figures)


def _curves(p: dict) -> dict:
    """Closed-form curves of the three figures (log10 P, so tiny values do not underflow)."""
    n, a = p["n"], p["a"]
    theta_curves = {s: [(t, sdr.log10_false_match_probability(n, a, s, t)) for t in range(1, s + 1)]
                    for s in p["curve_s"] if s <= n}
    grid = np.unique(np.geomspace(max(p["curve_a"]) + 1, p["curve_n_max"], 40).astype(int))
    n_curves = {aa: [(int(nn), sdr.log10_false_match_probability(int(nn), aa, p["s"], p["theta"]))
                     for nn in grid if nn >= max(aa, p["s"])] for aa in p["curve_a"]}
    ms = np.arange(1, p["union_m_max"] + 1)
    union = {"paper": [sdr.union_false_match_probability(n, a, p["s"], p["theta"], int(m)) for m in ms],
             "random": [sdr.union_false_match_probability(n, a, p["s"], p["theta"], int(m), exact_union=True)
                        for m in ms]}
    return {"theta": theta_curves, "n": n_curves, "union_m": ms, "union": union}


def plot_theta(curves: dict, metrics: dict, p: dict, path: str | Path) -> Path:
    """P against theta for several s (log scale), with the engine's estimates and intervals."""
    from synaptica.plotting import _new_figure, _save

    fig = _new_figure(6.5, 4.5, left=0.13)
    ax = fig.subplots()
    for s, points in curves["theta"].items():
        t, logp = np.array([x for x, y in points if np.isfinite(y)]), np.array([y for _, y in points if np.isfinite(y)])
        ax.plot(t, 10.0 ** logp, "-", label=f"s = {s}")
    for prefix, colour, label in (("mc_theta", "k", "engine Monte Carlo"), ("is_s", "C3", "engine importance sampling")):
        keys = [k[: -len("_estimate")] for k in metrics if k.startswith(prefix) and k.endswith("_estimate")]
        for i, key in enumerate(keys):
            theta = int(key.rsplit("theta", 1)[1])
            est, low, high = (metrics[f"{key}_{x}"] for x in ("estimate", "low", "high"))
            if est > 0:
                ax.errorbar(theta, est, yerr=[[est - max(low, est * 1e-3)], [high - est]], fmt="o", color=colour,
                            ms=4, capsize=3, label=label if i == 0 else None)
    ax.set_yscale("log")
    ax.set(xlabel="segment threshold theta (synapses)", ylabel="false-match probability",
           title=f"random SDR, n = {p['n']}, a = {p['a']}")
    ax.legend(fontsize=7)
    return _save(fig, path)


def plot_n(curves: dict, p: dict, path: str | Path) -> Path:
    """P against the population size n for several a (s and theta fixed)."""
    from synaptica.plotting import _new_figure, _save

    fig = _new_figure(6.5, 4.5, left=0.13)
    ax = fig.subplots()
    for aa, points in curves["n"].items():
        pts = [(x, y) for x, y in points if np.isfinite(y)]
        if pts:
            ax.plot([x for x, _ in pts], [10.0 ** y if y > -300 else np.nan for _, y in pts], label=f"a = {aa}")
    ax.set(xscale="log", yscale="log", xlabel="population size n (cells)", ylabel="false-match probability",
           title=f"segment of s = {p['s']} synapses, theta = {p['theta']}")
    ax.legend(fontsize=7)
    return _save(fig, path)


def plot_union(curves: dict, metrics: dict, p: dict, path: str | Path) -> Path:
    """P of a segment storing M patterns against M: the paper's M s synapses and random unions."""
    from synaptica.plotting import _new_figure, _save

    fig = _new_figure(6.5, 4.5, left=0.13)
    ax = fig.subplots()
    ms = curves["union_m"]
    for variant, style, label in (("paper", "-", "M s synapses (paper)"), ("random", "--", "union of M random subsets")):
        values = np.array(curves["union"][variant])
        ax.plot(ms[values > 0], values[values > 0], style, label=label)
        for i, m in enumerate(p["union_ms"]):
            key = f"mc_union_{variant}_m{m}"
            est, low, high = (metrics[f"{key}_{x}"] for x in ("estimate", "low", "high"))
            if est > 0:
                ax.errorbar(m, est, yerr=[[est - low], [high - est]], fmt="o", ms=4, capsize=3,
                            color="k" if variant == "paper" else "C3",
                            label=f"engine, {label.split(' (')[0]}" if i == 0 else None)
    ax.set(yscale="log", xlabel="patterns stored on the segment M", ylabel="false-match probability",
           title=f"unions: {p['s']} synapses per pattern, theta = {p['theta']}, n = {p['n']}, a = {p['a']}")
    ax.legend(fontsize=7)
    return _save(fig, path)


EXPERIMENT = Experiment(
    name="sdr-dendrites",
    summary="Ahmad & Hawkins (2016) false matches of dendritic segments on SDRs: closed forms vs engine",
    schema=SCHEMA,
    run=run_sdr_dendrites,
    checks=(_check_sizes, _check_budget),
)
