"""adaptive-reservoir: E/I reservoirs that adapt their inhibition toward target rates vs one global balance.

After Srinivasan, Plenz & Girvan 2025, "Boosting reservoir computing with brain-inspired
adaptive dynamics", arXiv:2504.12480. Claim tested: a reservoir whose units locally adapt
their inhibition toward target firing rates beats the same reservoir tuned by one global
E/I balance (up to +130 % in the paper), and heterogeneous targets need less tuning.

Reservoir: :class:`~synaptica.reservoir.adaptive.AdaptiveEIReservoir` (Dale's law, sigmoid
rate units, in-degree ``in_degree``, 80 % excitatory). Three arms on the same weights:

* ``global``: no adaptation; the inhibition scale beta (``balances``) is the tuned knob;
* ``homogeneous``: from beta = ``initial_balance``, ``adapt_steps`` steps of rule (2) on the
  task's own input (a separate draw) toward rho_i = rho; rho (``targets``) is the knob;
* ``heterogeneous``: the same toward rho_i ~ Beta(mean rho, std ``target_spread``).

Each arm's knob is chosen per task and seed on a validation segment; the reported score is
on a later test segment. Tasks (inputs centred and scaled to the standard deviation of
U(-0.5, 0.5)): memory capacity (Jaeger 2001, delays 1..``mc_max_delay``, MC = sum of
test r^2), NARMA-10 one-step prediction and Mackey-Glass (tau 17, sampled every time unit)
prediction ``mg_horizon`` steps ahead, both scored by test NRMSE. Ridge readout with bias.

Tuning evidence: ``regret`` = mean over an arm's knob grid of the relative loss against
that arm's best grid point (0: the knob does not matter); the sweep over
``sweep_initial_balances`` runs the adaptive arms from other global balances (first
seed), and the sweep over ``sweep_input_scalings`` repeats the comparison at other input
scalings (first seed).

Departures (the paper's full methods were not available to us; numbers from a public
reading of its Table I: N = 500, k = 50, c = 10, theta = 0, 30 % input units): leaky rates
with ``leak_rate`` = 0.5 (without a leak, targets below about 0.25 drive the map into a
period-2 E/I oscillation that the rule cannot undo, see the README); the heterogeneous
targets' Beta distribution and spread are our choice; the task lengths, MC delays,
Mackey-Glass horizon and ridge are ours.

The raster shows Bernoulli spikes drawn from the rates (one step read as 1 ms) of the
heterogeneous reservoir on its first test steps: an illustration, not a simulation.
"""
from __future__ import annotations

import math

import numpy as np

from synaptica.config import MAX_SEED, Field, check_memory, check_work, first_problem
from synaptica.experiments.base import Experiment, ExperimentResult, ProgressCallback

ARMS = ("global", "homogeneous", "heterogeneous")
TASKS = ("mc", "narma10", "mackey_glass")
INPUT_STD = 0.5 / math.sqrt(3.0)          # std of U(-0.5, 0.5), Jaeger's MC input

SCHEMA = {
    "n_units": Field(int, 500, "reservoir units N (paper as read: 500)", minimum=10, maximum=5000),
    "in_degree": Field(int, 50, "synapses onto each unit, k (paper as read: 50)", minimum=2, maximum=1000),
    "excitatory_fraction": Field(float, 0.8, "fraction of excitatory units", minimum=0.05, maximum=0.95),
    "weight_cv": Field(float, 0.2, "weight std / mean", minimum=0.0, maximum=2.0),
    "steepness": Field(float, 10.0, "sigmoid steepness c (paper as read: 10)", minimum=0.0, maximum=100.0,
                       exclusive_minimum=True),
    "threshold": Field(float, 0.0, "sigmoid threshold theta", minimum=-10.0, maximum=10.0),
    "leak_rate": Field(float, 0.5, "leak alpha of the rates (1: none; see module doc)", minimum=0.0, maximum=1.0,
                       exclusive_minimum=True),
    "input_fraction": Field(float, 0.3, "fraction of units receiving the input", minimum=0.0, maximum=1.0,
                            exclusive_minimum=True),
    "input_scaling": Field(float, 0.5, "input weights uniform in [-s, s]", minimum=0.0, maximum=100.0,
                           exclusive_minimum=True),
    "balances": Field(list[float], [0.75, 1.0, 1.25, 1.5, 2.0, 3.0, 4.5, 6.0], "global arm: inhibition scales beta tried",
                      minimum=0.0, maximum=20.0, max_length=30),
    "initial_balance": Field(float, 1.0, "adaptive arms: beta before adaptation", minimum=0.0, maximum=20.0),
    "targets": Field(list[float], [0.02, 0.05, 0.1, 0.2, 0.35, 0.5, 0.65, 0.8], "adaptive arms: (mean) target rates tried",
                     minimum=0.01, maximum=0.99, max_length=30),
    "target_spread": Field(float, 0.1, "heterogeneous arm: std of the Beta-distributed targets", minimum=0.001,
                           maximum=0.45),
    "learning_rate": Field(float, 3e-3, "delta of the adaptation rule", minimum=0.0, maximum=1.0,
                           exclusive_minimum=True),
    "adapt_steps": Field(int, 2000, "steps of adaptation per task", minimum=1, maximum=20000),
    "washout": Field(int, 200, "steps dropped first (>= mc_max_delay)", minimum=1, maximum=20000),
    "n_train": Field(int, 2000, "readout training steps (> n_units)", minimum=2, maximum=20000),
    "n_val": Field(int, 1000, "validation steps (choose each arm's knob)", minimum=10, maximum=20000),
    "n_test": Field(int, 1000, "test steps (reported)", minimum=10, maximum=20000),
    "ridge": Field(float, 1e-6, "ridge lambda of the readouts", minimum=0.0, maximum=1e6),
    "mc_max_delay": Field(int, 100, "memory capacity: largest delay", minimum=1, maximum=1000),
    "mg_horizon": Field(int, 84, "Mackey-Glass: prediction horizon (steps of one time unit)", minimum=1,
                        maximum=10**4),
    "sweep_input_scalings": Field(list[float], [0.1, 2.0], "first seed: other input scalings "
                                  "([] skips)", minimum=0.001, maximum=100.0, max_length=20),
    "sweep_initial_balances": Field(list[float], [0.75, 1.5, 2.0], "first seed: adaptive arms from other betas "
                                    "([] skips)", minimum=0.0, maximum=20.0, max_length=20),
    "seeds": Field(int, 3, "independent reservoirs and task draws", minimum=1, maximum=100),
    "seed": Field(int, 1, "first seed", minimum=0, maximum=MAX_SEED),
}


# ----------------------------------------------------------------------------- tasks


def _standardise(series: np.ndarray) -> np.ndarray:
    spread = series.std()
    return (series - series.mean()) / (spread if spread > 0 else 1.0) * INPUT_STD


def task_data(task: str, n_steps: int, p: dict, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Reservoir input (n_steps, 1) and target (n_steps, k) of ``task``: MC: u i.i.d. and the
    delayed copies u[t-1..t-K] (wrapping before t = K: the washout drops those steps)."""
    from synaptica.reservoir.tasks import mackey_glass, narma10

    if task == "mc":
        u = np.random.default_rng(seed).uniform(-0.5, 0.5, n_steps)
        return u[:, None], np.stack([np.roll(u, k) for k in range(1, p["mc_max_delay"] + 1)], axis=1)
    if task == "narma10":
        u, y = narma10(n_steps, seed=seed)
        return _standardise(u[:, 0])[:, None], y
    h = p["mg_horizon"]
    x = mackey_glass(n_steps + h, seed=seed)
    return _standardise(x[:n_steps])[:, None], x[h:, None]


def segment_scores(task: str, states: np.ndarray, target: np.ndarray, p: dict, label: str) -> tuple[float, float]:
    """(validation, test) score: MC (sum of r^2 over delays, higher is better) or NRMSE."""
    from synaptica.reservoir.adaptive import check_states
    from synaptica.reservoir.readout import RidgeReadout
    from synaptica.reservoir.tasks import nrmse

    w, n_tr, n_va = p["washout"], p["n_train"], p["n_val"]
    train = slice(w, w + n_tr)
    check_states(states[train], f"{label}, {task}")
    readout = RidgeReadout(p["ridge"]).fit(states[train], target[train])
    scores = []
    for part in (slice(w + n_tr, w + n_tr + n_va), slice(w + n_tr + n_va, len(states))):
        predicted = readout.predict(states[part])
        if task == "mc":
            scores.append(float(sum(_r2(target[part][:, k], predicted[:, k]) for k in range(target.shape[1]))))
        else:
            scores.append(nrmse(target[part], predicted))
    return scores[0], scores[1]


def _r2(a: np.ndarray, b: np.ndarray) -> float:
    return 0.0 if a.std() == 0 or b.std() == 0 else float(np.corrcoef(a, b)[0, 1] ** 2)


def better(task: str, a: float, b: float) -> bool:
    return a > b if task == "mc" else a < b


def improvement(task: str, adaptive: float, global_: float) -> float:
    """Relative improvement of ``adaptive`` over ``global_`` in % (MC up, NRMSE down)."""
    return 100.0 * ((adaptive - global_) / global_ if task == "mc" else (global_ - adaptive) / global_)


def regret(task: str, scores: list[float]) -> float:
    """Mean relative loss (%) of a knob grid against its best point: 0 = tuning-free."""
    best = max(scores) if task == "mc" else min(scores)
    return float(np.mean([abs(improvement(task, s, best)) for s in scores]))


# ----------------------------------------------------------------------------- arms


def build(p: dict, seed: int, balance: float, input_scaling: float):
    from synaptica.reservoir.adaptive import AdaptiveEIReservoir

    return AdaptiveEIReservoir(n_units=p["n_units"], in_degree=p["in_degree"],
                               excitatory_fraction=p["excitatory_fraction"], weight_cv=p["weight_cv"], balance=balance,
                               steepness=p["steepness"], threshold=p["threshold"], input_fraction=p["input_fraction"],
                               input_scaling=input_scaling, leak_rate=p["leak_rate"], seed=seed)


def arm_targets(arm: str, knob: float, p: dict, seed: int) -> np.ndarray:
    from synaptica.reservoir.adaptive import target_rates

    spread = p["target_spread"] if arm == "heterogeneous" else 0.0
    return target_rates(p["n_units"], knob, spread, seed=seed + 99)


def evaluate_arm(arm: str, knobs: list[float], data: dict, p: dict, seed: int, input_scaling: float,
                 initial_balance: float) -> dict:
    """Every knob of ``arm`` on every task: {task: [(knob, val, test, mean rate), ...]}."""
    out: dict = {task: [] for task in data}
    for knob in knobs:
        reservoir = build(p, seed, knob if arm == "global" else initial_balance, input_scaling)
        for task, (u, y, u_adapt) in data.items():
            if arm != "global":
                reservoir.reset_adaptation()
                reservoir.adapt(u_adapt, arm_targets(arm, knob, p, seed), p["learning_rate"])
            states = reservoir.run(u)
            val, test = segment_scores(task, states, y, p, f"{arm} arm, knob {knob:g}, seed {seed}")
            out[task].append((knob, val, test, float(states[p["washout"]:].mean())))
        if arm != "global":
            out.setdefault("_last", reservoir)
    return out


def choose(task: str, rows: list[tuple]) -> tuple:
    """The row whose validation score is best."""
    best = rows[0]
    for row in rows[1:]:
        if better(task, row[1], best[1]):
            best = row
    return best


def task_inputs(p: dict, seed: int) -> dict:
    n_steps = p["washout"] + p["n_train"] + p["n_val"] + p["n_test"]
    data = {}
    for i, task in enumerate(TASKS):
        u, y = task_data(task, n_steps, p, seed * 10 + i)
        u_adapt, _ = task_data(task, p["adapt_steps"], p, seed * 10 + i + 5000)
        data[task] = (u, y, u_adapt)
    return data


def compare(p: dict, seed: int, input_scaling: float, tick) -> dict:
    """All three arms on all tasks at one input scaling: {arm: {task: rows}}."""
    data = task_inputs(p, seed)
    result = {}
    for arm in ARMS:
        knobs = p["balances"] if arm == "global" else p["targets"]
        result[arm] = evaluate_arm(arm, knobs, data, p, seed, input_scaling, p["initial_balance"])
        tick()
    return result


# ----------------------------------------------------------------------------- run


def summarise(per_seed: list[dict], seeds: list[int]) -> dict:
    metrics: dict = {}
    for task in TASKS:
        chosen = {arm: [choose(task, r[arm][task]) for r in per_seed] for arm in ARMS}
        for arm in ARMS:
            test = [row[2] for row in chosen[arm]]
            metrics[f"{arm}_{task}_mean"], metrics[f"{arm}_{task}_std"] = float(np.mean(test)), float(np.std(test))
            regrets = [regret(task, [row[2] for row in r[arm][task]]) for r in per_seed]
            metrics[f"{arm}_{task}_regret_pct_mean"] = float(np.mean(regrets))
            metrics[f"{arm}_{task}_regret_pct_std"] = float(np.std(regrets))
            for s, row in zip(seeds, chosen[arm]):
                metrics[f"{arm}_{task}_seed{s}"] = row[2]
                metrics[f"{arm}_{task}_seed{s}_knob"] = row[0]
                metrics[f"{arm}_{task}_seed{s}_rate"] = row[3]
            if arm != "global":
                gains = [improvement(task, a[2], g[2]) for a, g in zip(chosen[arm], chosen["global"])]
                metrics[f"gain_pct_{arm}_{task}_mean"] = float(np.mean(gains))
                metrics[f"gain_pct_{arm}_{task}_std"] = float(np.std(gains))
                metrics[f"gain_{arm}_{task}_seeds_positive"] = float(np.sum(np.array(gains) > 0))
    return metrics


def run_adaptive_reservoir(p: dict, progress: ProgressCallback | None = None) -> ExperimentResult:
    seeds = [p["seed"] + k for k in range(p["seeds"])]
    total = len(ARMS) * (len(seeds) + len(p["sweep_input_scalings"])) + 2 * len(p["sweep_initial_balances"])
    done = [0]

    def tick() -> None:
        done[0] += 1
        if progress:
            progress(done[0], total)

    per_seed = [compare(p, s, p["input_scaling"], tick) for s in seeds]
    metrics = summarise(per_seed, seeds)
    first = per_seed[0]
    for task in TASKS:   # the full knob curves of the first seed (test scores)
        for arm in ARMS:
            for knob, _, test, rate in first[arm][task]:
                metrics[f"curve_{arm}_{task}_k{knob:g}"] = test
                metrics[f"curve_{arm}_{task}_k{knob:g}_rate"] = rate
    for scaling in p["sweep_input_scalings"]:
        point = compare(p, seeds[0], scaling, tick)
        for task in TASKS:
            best = {arm: choose(task, point[arm][task])[2] for arm in ARMS}
            for arm in ARMS:
                metrics[f"sweep_in{scaling:g}_{arm}_{task}"] = best[arm]
            for arm in ARMS[1:]:
                metrics[f"sweep_in{scaling:g}_gain_pct_{arm}_{task}"] = improvement(task, best[arm], best["global"])
    data = task_inputs(p, seeds[0]) if p["sweep_initial_balances"] else {}
    for arm in ARMS[1:]:
        for beta in p["sweep_initial_balances"]:
            rows = {}
            for task in TASKS:   # the knob chosen by validation at initial_balance, from another beta
                knob = choose(task, first[arm][task])[0]
                rows[task] = evaluate_arm(arm, [knob], {task: data[task]}, p, seeds[0], p["input_scaling"], beta)[task][0]
                metrics[f"from_beta{beta:g}_{arm}_{task}"] = rows[task][2]
            tick()
    times, ids, duration = pseudo_spikes(first, p)
    n_exc = int(round(p["excitatory_fraction"] * p["n_units"]))
    figures = {"adaptive_reservoir.png": lambda path: plot_summary(metrics, p, path)}
    return ExperimentResult(times, ids, p["n_units"], duration, metrics,
                            groups={"exc": (0, n_exc), "inh": (n_exc, p["n_units"])}, figures=figures)


def pseudo_spikes(first: dict, p: dict, n_steps: int = 200) -> tuple[np.ndarray, np.ndarray, float]:
    """Bernoulli spikes from the rates of the last heterogeneous reservoir (MC input), 1 step = 1 ms."""
    reservoir = first["heterogeneous"]["_last"]
    u = np.random.default_rng(p["seed"] + 7).uniform(-0.5, 0.5, (p["washout"] + n_steps, 1))
    rates = reservoir.run(u)[p["washout"]:]
    spikes = np.random.default_rng(p["seed"] + 8).random(rates.shape) < rates
    steps, ids = np.nonzero(spikes)
    return steps.astype(float) + 0.5, ids.astype(np.int64), float(n_steps)


def plot_summary(metrics: dict, p: dict, path) -> None:
    """Row 1: test score vs the global balance beta (global arm; adaptive arms started from
    beta). Row 2: vs the (mean) target rate. Row 3: best-tuned arms vs input scaling."""
    from synaptica.plotting import _new_figure, _save

    fig = _new_figure(12.0, 9.0, layout="constrained")
    labels = {"mc": "memory capacity (higher better)", "narma10": "NARMA-10 NRMSE", "mackey_glass": "Mackey-Glass NRMSE"}
    colours = {"global": "0.3", "homogeneous": "tab:blue", "heterogeneous": "tab:orange"}
    betas = sorted(set(p["sweep_initial_balances"]) | {p["initial_balance"]})
    scalings = sorted(set(p["sweep_input_scalings"]) | {p["input_scaling"]})
    for col, task in enumerate(TASKS):
        ax = fig.add_subplot(3, 3, col + 1)
        ax.plot(p["balances"], [metrics[f"curve_global_{task}_k{b:g}"] for b in p["balances"]], "o-",
                color=colours["global"], label="global (beta tuned)")
        for arm in ARMS[1:]:
            ys = [metrics[f"{arm}_{task}_seed{p['seed']}"] if b == p["initial_balance"]
                  else metrics[f"from_beta{b:g}_{arm}_{task}"] for b in betas]
            ax.plot(betas, ys, "s--", color=colours[arm], label=f"{arm} adaptive, from beta")
        ax.set_xlabel("global inhibition scale beta")
        ax.set_title(labels[task], fontsize=9)
        if col == 0:
            ax.legend(fontsize=7)
        ax = fig.add_subplot(3, 3, col + 4)
        for arm in ARMS[1:]:
            ax.plot(p["targets"], [metrics[f"curve_{arm}_{task}_k{t:g}"] for t in p["targets"]], "o-",
                    color=colours[arm], label=arm)
        ax.axhline(metrics[f"global_{task}_seed{p['seed']}"], color=colours["global"], ls=":", label="global, tuned")
        ax.set_xlabel("(mean) target rate rho")
        if col == 0:
            ax.legend(fontsize=7)
        ax = fig.add_subplot(3, 3, col + 7)
        for arm in ARMS:
            ys = [metrics[f"{arm}_{task}_seed{p['seed']}"] if s == p["input_scaling"]
                  else metrics[f"sweep_in{s:g}_{arm}_{task}"] for s in scalings]
            ax.plot(scalings, ys, "o-", color=colours[arm], label=arm)
        ax.set_xscale("log")
        ax.set_xlabel("input scaling (each arm's knob tuned)")
        if col == 0:
            ax.legend(fontsize=7)
    _save(fig, path)


def check_sizes(p: dict) -> str | None:
    if p["n_train"] <= p["n_units"]:
        return (f"keys 'n_train', 'n_units': a readout fitted on {p['n_train']} samples for {p['n_units']} features "
                "is underdetermined (it interpolates noise); use n_train > n_units")
    if p["washout"] < p["mc_max_delay"]:
        return f"key 'washout': must be >= mc_max_delay ({p['mc_max_delay']}) so that every delayed target exists"
    k_exc = int(round(p["excitatory_fraction"] * p["in_degree"]))
    n_exc = int(round(p["excitatory_fraction"] * p["n_units"]))
    if k_exc < 1 or p["in_degree"] - k_exc < 1 or k_exc > n_exc - 1 or p["in_degree"] - k_exc > p["n_units"] - n_exc - 1:
        return (f"key 'in_degree': {p['in_degree']} synapses per unit do not fit {n_exc} excitatory and "
                f"{p['n_units'] - n_exc} inhibitory units (each type needs >= 1 and fewer than its population)")
    for rho in p["targets"]:
        if p["target_spread"] ** 2 >= rho * (1 - rho):
            return (f"key 'target_spread': {p['target_spread']:g} is too wide for target {rho:g} "
                    f"(needs < {math.sqrt(rho * (1 - rho)):.3g})")
    if not p["balances"] or not p["targets"]:
        return "keys 'balances', 'targets': each arm needs at least one knob value"
    return None


def check_budget(p: dict) -> str | None:
    n_steps = p["washout"] + p["n_train"] + p["n_val"] + p["n_test"] + p["adapt_steps"]
    runs = (len(p["balances"]) + 2 * len(p["targets"])) * len(TASKS) * (p["seeds"] + len(p["sweep_input_scalings"]))
    runs += 2 * len(TASKS) * len(p["sweep_initial_balances"])
    floats = n_steps * (3 * p["n_units"] + 3 * p["mc_max_delay"]) + 3 * p["n_units"] ** 2
    return first_problem(
        check_memory("n_train", f"{n_steps} steps x (N = {p['n_units']} units + {p['mc_max_delay']} delays)", 8.0 * floats),
        check_work("n_units", f"{runs} reservoir runs of {n_steps} steps, N = {p['n_units']}",
                   float(runs) * n_steps * p["n_units"] * p["in_degree"]))


EXPERIMENT = Experiment(
    name="adaptive-reservoir",
    summary="Srinivasan et al. (2025) E/I reservoir adapting inhibition to target rates vs one global E/I balance",
    schema=SCHEMA,
    run=run_adaptive_reservoir,
    checks=(check_sizes, check_budget),
)
