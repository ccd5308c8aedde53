"""ca3-memory: the spiking CA3 content-addressable memory of Casanueva-Morato et al. (2024)
beside a classical Hopfield network on the same patterns.

Model: :mod:`synaptica.models.ca3` (one-hot cue <-> binary content, learnt in one shot by
STDP with depressing spike terms, :mod:`synaptica.plasticity.spike_terms`); baseline:
:mod:`synaptica.models.hopfield` (Hebbian weights, asynchronous updates).

Protocol, per seed ``seed, seed+1, ...`` and per pattern kind:

* ``random``: P contents of ``n_content`` bits, each bit 1 with probability ``density``
  (non-orthogonal);
* ``orthogonal``: rows 1..P of the Sylvester-Hadamard matrix as bits (+1 -> 1): mutually
  orthogonal as +-1 vectors (Hopfield's sense), half the bits on, every two sharing a
  quarter of the bits.

For each P = p_step, 2 p_step, ..., p_max the memory learns the P contents at cues 0..P-1
(one learning operation each) and is then asked to recall each from fragments that keep a
fraction c of its 1-bits (the paper's recall by content; c from 1 down to 1/n_fractions,
at least one bit); the Hopfield network (N = n_content) stores the same P patterns as +-1
and starts from the same fragment (missing bits -1, as a silent spiking input). Recall
quality is the overlap m = 1 - 2 (wrong bits) / n_content of the answer with the stored
content (1 perfect), and for the spiking memory the fraction of the content's 1-bits
recovered and of its 0-bits falsely on.

Functional tests as in the paper (first seed, P = 2): learn A at cue 0, recall it by cue
and by a half fragment; learn B at the same cue (overwrite: A is forgotten); recall by cue
(B expected) and from A's own bits (A's bits that B lacks must not return).

Metrics: ``{spiking,hopfield}_{random,orthogonal}_p{P}_c{percent}`` mean overlap over
seeds (``_std``: sample std over seeds); ``spiking_..._hits`` / ``_false`` at c = 50 %;
``hopfield_capacity_alpha``: largest tested P / N whose mean overlap from the full pattern
is >= 0.9 (random patterns; classical value 0.138); ``spiking_capacity_alpha`` the same
for the spiking memory from the full content; the functional test's results.
"""
from __future__ import annotations

import time
from functools import partial
from pathlib import Path

import numpy as np

from synaptica.config import MAX_SEED, Field, check_memory, check_work, first_problem
from synaptica.experiments.base import Experiment, ExperimentResult, ProgressCallback

SCHEMA = {
    "protocol": Field(str, "paper", "'paper': the authors' network, timing and always-on plasticity; 'competitive': "
                      "first-spike cue competition, learning and recall as separate phases", choices=("paper", "competitive")),
    "n_content": Field(int, 64, "content bits = Hopfield neurons N (a power of 2 for orthogonal patterns)",
                       minimum=4, maximum=4096),
    "p_step": Field(int, 4, "stored patterns grow by this step", minimum=1, maximum=4096),
    "p_max": Field(int, 24, "most stored patterns (spiking memory: one cue neuron each)", minimum=1, maximum=4096),
    "n_fractions": Field(int, 4, "cue fractions 1, (n-1)/n, ..., 1/n of a content's 1-bits", minimum=1, maximum=20),
    "density": Field(float, 0.5, "probability of a 1-bit in random patterns", minimum=0.01, maximum=0.99),
    "op_ms": Field(float, 30.0, "competitive protocol: time per memory operation (ms)", minimum=10.0, maximum=1000.0),
    "paper_op_ms": Field(float, 14.0, "paper protocol: time per operation (ms; the paper's stress test 14)",
                         minimum=10.0, maximum=100.0),
    "dt_ms": Field(float, 0.01, "competitive protocol: time step (ms; the paper protocol runs at 1 ms)",
                   minimum=0.001, maximum=0.1),
    "w_max": Field(float, 50.0, "content -> cue weight of a stored bit (pA)", minimum=1.0, maximum=1000.0),
    "n_seeds": Field(int, 3, "independent repetitions (patterns, fragments)", minimum=1, maximum=100),
    "seed": Field(int, 1, "first seed", minimum=0, maximum=MAX_SEED),
}
KINDS = ("random", "orthogonal")


def p_grid(p: dict) -> list[int]:
    return list(range(p["p_step"], p["p_max"] + 1, p["p_step"]))


def fractions(p: dict) -> np.ndarray:
    n = p["n_fractions"]
    return np.arange(n, 0, -1) / n


def _check_sizes(p: dict) -> str | None:
    n = p["n_content"]
    if p["p_step"] > p["p_max"]:
        return f"key 'p_step': {p['p_step']} exceeds p_max = {p['p_max']} (no pattern count to test)"
    if n & (n - 1):
        return f"key 'n_content': {n} is not a power of 2 (needed for the orthogonal Hadamard patterns)"
    if p["p_max"] >= n:
        return f"key 'p_max': {p['p_max']} orthogonal patterns need n_content > p_max (got n_content = {n})"
    return None


def _check_budget(p: dict) -> str | None:
    n, grid = p["n_content"], p_grid(p) if p["p_step"] <= p["p_max"] else [p["p_max"]]
    ops = sum(grid) * (2 + p["n_fractions"]) * 2 * p["n_seeds"]
    steps = ops * p["op_ms"] / p["dt_ms"]
    synapses = 2 * max(grid) * n + max(grid) ** 2 * 2
    return first_problem(
        check_memory("p_max", f"p_max = {p['p_max']} x n_content = {n} (Hopfield N^2 weights, {synapses} synapses)",
                     8.0 * (n * n + synapses) * 4),
        check_work("op_ms", f"{ops} operations x op_ms / dt_ms = {p['op_ms'] / p['dt_ms']:.3g} steps", steps * synapses),
    )


def make_patterns(kind: str, n_patterns: int, p: dict, rng: np.random.Generator) -> np.ndarray:
    """(P, n_content) 0/1 patterns of ``kind`` (module doc); random ones get >= 1 one-bit."""
    n = p["n_content"]
    if kind == "orthogonal":
        from scipy.linalg import hadamard

        rows = rng.permutation(np.arange(1, n))[:n_patterns]
        return (hadamard(n)[rows] > 0).astype(np.int64)
    bits = (rng.random((n_patterns, n)) < p["density"]).astype(np.int64)
    empty = bits.sum(1) == 0
    bits[empty, rng.integers(0, n, empty.sum())] = 1
    return bits


def fragment(pattern: np.ndarray, fraction: float, rng: np.random.Generator) -> np.ndarray:
    """The pattern with only round(fraction x its 1-bits) of them kept (at least one)."""
    ones = np.flatnonzero(pattern)
    keep = rng.choice(ones, max(1, int(round(fraction * ones.size))), replace=False)
    out = np.zeros_like(pattern)
    out[keep] = 1
    return out


def memory_config(p: dict, n_cue: int, seed: int):
    from synaptica.models.ca3 import CA3Config

    return CA3Config(n_cue=n_cue, n_content=p["n_content"], dt=p["dt_ms"], op_ms=p["op_ms"], w_max=p["w_max"],
                     seed=seed)


def run_spiking(patterns: np.ndarray, cues: np.ndarray, p: dict, seed: int,
                backend: str = "auto") -> tuple[np.ndarray, np.ndarray]:
    """Competitive protocol: learn ``patterns`` at cues 0..P-1, then recall from each (B, n)
    fragment of ``cues``; returns the (B, P) winning cues and the (B, n_content) answers."""
    from synaptica.models.ca3 import CA3Memory

    memory = CA3Memory(memory_config(p, len(patterns), seed))
    for mu, pattern in enumerate(patterns):
        memory.learn(mu, pattern)
    first = memory.n_ops
    for cue in cues:
        memory.recall_by_content(cue)
    memory.build()
    memory.run_until(first, learn=True, backend=backend)
    memory.run_until(memory.n_ops, learn=False, backend=backend)
    return memory.cue_answers()[first:], memory.content_answers()[first:]


def run_hopfield(patterns: np.ndarray, cues: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    from synaptica.models.hopfield import hopfield_recall, hopfield_weights

    w = hopfield_weights(2.0 * patterns - 1.0)
    return hopfield_recall(w, 2.0 * cues - 1.0, rng) > 0


def functional_test(p: dict, seed: int) -> dict[str, float]:
    """Learn A, recall, overwrite with B at the same cue, recall (module doc)."""
    from synaptica.models.ca3 import CA3Memory

    rng = np.random.default_rng(seed)
    a, b = make_patterns("random", 2, p, rng)
    memory = CA3Memory(memory_config(p, 2, seed))
    ops = {"learn_a": memory.learn(0, a), "a_by_cue": memory.recall_by_cue(0),
           "a_by_half": memory.recall_by_content(fragment(a, 0.5, rng)), "learn_b": memory.learn(0, b),
           "b_by_cue": memory.recall_by_cue(0), "a_only": memory.recall_by_content(a * (1 - b))}
    memory.build()
    memory.run_until(1, learn=True)
    memory.run_until(3, learn=False)
    memory.run_until(4, learn=True)
    memory.run_until(memory.n_ops, learn=False)
    answers = memory.content_answers()
    a_only = (a * (1 - b)).astype(bool)
    return {"functional_a_by_cue_exact": float(np.array_equal(answers[ops["a_by_cue"]], a.astype(bool))),
            "functional_a_by_half_exact": float(np.array_equal(answers[ops["a_by_half"]], a.astype(bool))),
            "functional_b_by_cue_exact": float(np.array_equal(answers[ops["b_by_cue"]], b.astype(bool))),
            # from A's own bits, after the overwrite, nothing beyond the cue bits may come back
            "functional_forgotten_extra_bits": float((answers[ops["a_only"]] & ~a_only).sum())}


# -- the paper protocol -------------------------------------------------------------------------

def paper_memory(n_cue: int, n_content: int, p: dict, seed: int):
    from synaptica.models.ca3 import CA3PaperConfig, CA3PaperMemory

    return CA3PaperMemory(CA3PaperConfig(n_cue=n_cue, n_content=n_content, op_ms=p["paper_op_ms"], seed=seed))


def matching_cues(stored: dict[int, np.ndarray], fragment_bits: np.ndarray) -> set[int]:
    """The paper's recall-by-content answer: every cue whose content shares a 1-bit with the fragment."""
    return {cue for cue, content in stored.items() if np.any(content.astype(bool) & fragment_bits.astype(bool))}


def run_script(memory, script: list[tuple]) -> dict[str, float]:
    """Run ``script`` (("learn", cue, content) / ("cue", cue) / ("content", fragment)) on a
    paper-protocol memory; score every recall against the paper's semantics (by cue: that
    cue and its stored content; by content: the matching cues and the fragment echoed) and
    measure the largest weight change over the recall operations (pA)."""
    stored: dict[int, np.ndarray] = {}
    expected = []
    for op in script:
        if op[0] == "learn":
            memory.learn(op[1], op[2])
            stored[op[1]] = np.asarray(op[2])
            expected.append(None)
        elif op[0] == "cue":
            memory.recall_by_cue(op[1])
            expected.append(({op[1]}, stored.get(op[1], np.zeros(memory.config.n_content, int)).astype(bool)))
        else:
            memory.recall_by_content(op[1])
            expected.append((matching_cues(stored, op[1]), np.asarray(op[1]).astype(bool)))
    memory.build()
    recall_dw, correct = 0.0, []
    for k, want in enumerate(expected):
        before = [w.copy() for w in memory.weights()]
        memory.run(k + 1)
        if want is not None:
            recall_dw = max(recall_dw, *(float(np.abs(a - b).max()) for a, b in zip(memory.weights(), before)))
            cues, content = memory.output_cues()[k], memory.output_content()[k]
            correct.append(set(np.flatnonzero(cues).tolist()) == want[0] and np.array_equal(content, want[1]))
    return {"recalls": float(len(correct)), "correct_fraction": float(np.mean(correct)), "recall_max_dw_pA": recall_dw}


def functional_script(rng: np.random.Generator, n_cue: int = 5, n_content: int = 10) -> list[tuple]:
    """The paper's functional test (authors' experiment 1: learn three memories, recall by
    cue, by one bit, by two bits, overwrite one, recall again) on random sparse contents."""
    def content(k: int) -> np.ndarray:
        out = np.zeros(n_content, np.int64)
        out[rng.choice(n_content, k, replace=False)] = 1
        return out

    a, b, c, c2 = content(4), content(3), content(4), content(4)
    one = np.zeros(n_content, np.int64)
    one[rng.choice(np.flatnonzero(b))] = 1
    two = np.zeros(n_content, np.int64)
    two[[rng.choice(np.flatnonzero(a)), rng.choice(np.flatnonzero(c))]] = 1
    return [("learn", 0, a), ("learn", n_cue - 1, b), ("learn", n_cue - 2, c), ("cue", 0), ("content", one),
            ("content", two), ("learn", n_cue - 2, c2), ("cue", n_cue - 2), ("content", one)]


def stress_script(n_cue: int = 5, n_content: int = 10) -> list[tuple]:
    """The paper's stress test (authors' testbench 2, "pyramidal sequence"): cue i learns the
    binary code of i + 1, every cue is recalled, every single content bit recalls its cues;
    then all contents are overwritten by their complements, twice, each time recalled again."""
    codes = np.array([[(i + 1) >> (n_content - 1 - j) & 1 for j in range(n_content)] for i in range(n_cue)])
    script: list[tuple] = []
    for _ in range(3):
        script += [("learn", i, codes[i]) for i in range(n_cue)]
        script += [("cue", i) for i in range(n_cue)]
        script += [("content", np.eye(n_content, dtype=np.int64)[j]) for j in reversed(range(n_content))]
        codes = 1 - codes
    return script


def run_paper_recall(patterns: np.ndarray, cues: np.ndarray, p: dict, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Recall from fragments the paper's way: recall by content returns cue(s) (run 1); recall
    by those cues, presented together, returns the content (run 2; the memory relearnt the
    same patterns). Returns the (B, P) returned cues and the (B, n_content) contents."""
    n_pat, n = patterns.shape
    first = paper_memory(n_pat, n, p, seed)
    for mu, pattern in enumerate(patterns):
        first.learn(mu, pattern)
    for cue in cues:
        first.recall_by_content(cue)
    first.build()
    first.run()
    returned = first.output_cues()[n_pat:]
    second = paper_memory(n_pat, n, p, seed)
    for mu, pattern in enumerate(patterns):
        second.learn(mu, pattern)
    asked = [k for k in range(len(cues)) if returned[k].any()]
    for k in asked:
        second.recall_by_cue(np.flatnonzero(returned[k]))
    second.build()
    second.run()
    content = np.zeros((len(cues), n), dtype=bool)
    content[asked] = second.output_content()[n_pat:]
    return returned, content


def quality(patterns: np.ndarray, answers: np.ndarray) -> dict[str, np.ndarray]:
    """Per answer: overlap m, fraction of 1-bits recovered, fraction of 0-bits on."""
    truth = patterns.astype(bool)
    wrong = (truth != answers).sum(1)
    ones = truth.sum(1)
    return {"overlap": 1.0 - 2.0 * wrong / truth.shape[1],
            "hits": (truth & answers).sum(1) / np.maximum(ones, 1),
            "false": (~truth & answers).sum(1) / np.maximum(truth.shape[1] - ones, 1)}


def run_seed(p: dict, seed: int, tick) -> dict[str, float]:
    rng = np.random.default_rng(seed)
    out: dict[str, float] = {}
    if p["protocol"] == "paper":
        for name, script in (("functional", functional_script(rng)), ("stress", stress_script())):
            for key, value in run_script(paper_memory(5, 10, p, seed), script).items():
                out[f"paper_{name}_{key}"] = value
    fr = fractions(p)
    for kind in KINDS:
        for n_pat in p_grid(p):
            patterns = make_patterns(kind, n_pat, p, rng)
            targets = np.repeat(patterns, len(fr), axis=0)
            cues = np.stack([fragment(pat, f, rng) for pat in patterns for f in fr])
            if p["protocol"] == "paper":
                winners, answers = run_paper_recall(patterns, cues, p, seed)
            else:
                winners, answers = run_spiking(patterns, cues, p, seed)
            own = winners[np.arange(len(cues)), np.repeat(np.arange(n_pat), len(fr))]
            results = {"spiking": quality(targets, answers), "hopfield": quality(targets, run_hopfield(patterns, cues, rng))}
            for model, q in results.items():
                for k, f in enumerate(fr):
                    tag = f"{model}_{kind}_p{n_pat}_c{int(round(100 * f))}"
                    out[tag] = float(q["overlap"][k::len(fr)].mean())
                    if model == "spiking":
                        out[tag + "_cues"] = float(winners[k::len(fr)].sum(1).mean())      # cues answered
                        out[tag + "_multi"] = float((winners[k::len(fr)].sum(1) > 1).mean())  # >= 2 cues won
                        out[tag + "_own"] = float(own[k::len(fr)].mean())                  # the stored cue among them
                        if abs(f - 0.5) < 1e-9:
                            out[tag + "_hits"] = float(q["hits"][k::len(fr)].mean())
                            out[tag + "_false"] = float(q["false"][k::len(fr)].mean())
            tick()
    return out


def capacity_alpha(metrics: dict, model: str, p: dict, threshold: float = 0.9) -> float:
    """Largest tested P / N with mean overlap >= threshold from the full random pattern,
    all smaller P also passing."""
    best = 0.0
    for n_pat in p_grid(p):
        if metrics[f"{model}_random_p{n_pat}_c100"] < threshold:
            break
        best = n_pat / p["n_content"]
    return best


def summarise(per_seed: list[dict]) -> dict[str, float]:
    metrics: dict[str, float] = {"n_seeds": len(per_seed)}
    for key in per_seed[0]:
        values = np.array([s[key] for s in per_seed], dtype=float)
        metrics[key] = float(values.mean())
        metrics[key + "_std"] = float(values.std(ddof=1)) if len(values) > 1 else 0.0
    return metrics


def plot_recall(metrics: dict, p: dict, path: Path) -> None:
    """Overlap vs stored patterns (cue 50 % or nearest) and vs cue fraction (largest P),
    spiking memory and Hopfield, random and orthogonal patterns, mean +- std over seeds."""
    from synaptica.plotting import _new_figure, _save

    fr, grid = fractions(p), p_grid(p)
    c_ref = int(round(100 * fr[np.argmin(np.abs(fr - 0.5))]))
    fig = _new_figure(11.0, 4.2, left=0.07)
    styles = {"spiking": "-", "hopfield": "--"}
    for panel, (xs, keyfn, xlabel, title) in enumerate((
            (np.array(grid) / p["n_content"], lambda m, k, x: f"{m}_{k}_p{x}_c{c_ref}", "stored patterns P / N",
             f"cue = {c_ref} % of the 1-bits"),
            (fr, lambda m, k, x: f"{m}_{k}_p{grid[-1]}_c{int(round(100 * x))}", "cue fraction of the 1-bits",
             f"P = {grid[-1]} patterns, N = {p['n_content']}"))):
        ax = fig.add_subplot(1, 2, panel + 1)
        raw = grid if panel == 0 else fr
        for model in ("spiking", "hopfield"):
            for kind in KINDS:
                mean = np.array([metrics[keyfn(model, kind, x)] for x in raw])
                std = np.array([metrics[keyfn(model, kind, x) + "_std"] for x in raw])
                ax.errorbar(xs, mean, std, ls=styles[model], marker="o", ms=3, capsize=2, label=f"{model}, {kind}")
        if panel == 0:
            ax.axvline(0.138, color="k", lw=0.8, ls=":", label="0.138 (Amit et al. 1985)")
        ax.set_xlabel(xlabel)
        ax.set_ylabel("overlap m with the stored pattern")
        ax.set_title(title, fontsize=9)
        ax.set_ylim(-0.1, 1.05)
        ax.legend(fontsize=7)
    _save(fig, path)


def run_ca3_memory(p: dict, progress: ProgressCallback | None = None) -> ExperimentResult:
    """Functional test, then recall quality per seed; about a minute, so no checkpoint (the CLI passes none)."""
    total = p["n_seeds"] * len(KINDS) * len(p_grid(p))
    done = [0]

    def tick() -> None:
        done[0] += 1
        if progress is not None:
            progress(done[0], total)

    t0 = time.perf_counter()
    functional = functional_test(p, p["seed"]) if p["protocol"] == "competitive" else {}
    per_seed = [run_seed(p, p["seed"] + k, tick) for k in range(p["n_seeds"])]
    metrics = summarise(per_seed)
    metrics.update(functional)
    for model in ("spiking", "hopfield"):
        metrics[f"{model}_capacity_alpha"] = capacity_alpha(metrics, model, p)
    metrics["run_s"] = time.perf_counter() - t0

    figures = {"recall.png": partial(plot_recall, metrics, p)}
    if p["protocol"] == "paper":
        return paper_raster(p, metrics, figures)
    # raster: the functional test's network replayed small, for the record
    from synaptica.models.ca3 import CA3Memory

    rng = np.random.default_rng(p["seed"])
    a, b = make_patterns("random", 2, p, rng)
    memory = CA3Memory(memory_config(p, 2, p["seed"]))
    memory.learn(0, a)
    memory.recall_by_content(fragment(a, 0.5, rng))
    memory.learn(0, b)
    memory.recall_by_cue(0)
    memory.build()
    for end, learn in ((1, True), (2, False), (3, True), (4, False)):
        memory.run_until(end, learn=learn)
    n_cue = memory.config.n_cue
    times = np.concatenate([memory.cue_spikes.times_ms, memory.content_spikes.times_ms])
    ids = np.concatenate([memory.cue_spikes.ids, memory.content_spikes.ids + n_cue]).astype(np.int64)
    order = np.argsort(times, kind="stable")
    return ExperimentResult(times[order], ids[order], n_cue + p["n_content"], 4 * p["op_ms"], metrics,
                            groups={"cue": (0, n_cue), "content": (n_cue, n_cue + p["n_content"])},
                            figures=figures)


def paper_raster(p: dict, metrics: dict, figures: dict) -> ExperimentResult:
    """The paper's functional test (first seed) replayed on its network: every population's
    spikes, in the order of the paper's raster figures, for the run's raster."""
    memory = paper_memory(5, 10, p, p["seed"])
    run_script(memory, functional_script(np.random.default_rng(p["seed"])))
    times, ids, groups, offset = [], [], {}, 0
    for name, mon in memory.monitors.items():
        n = memory.pop[name].n
        times.append(np.asarray(mon.times_ms))
        ids.append(np.asarray(mon.ids, dtype=np.int64) + offset)
        groups[name] = (offset, offset + n)
        offset += n
    t, i = np.concatenate(times), np.concatenate(ids)
    order = np.argsort(t, kind="stable")
    return ExperimentResult(t[order], i[order], offset, len(memory.ops) * p["paper_op_ms"], metrics,
                            groups=groups, figures=figures)


EXPERIMENT = Experiment(
    name="ca3-memory",
    summary="spiking CA3 content-addressable memory (Casanueva-Morato et al. 2024) vs a Hopfield network",
    schema=SCHEMA,
    run=run_ca3_memory,
    checks=(_check_sizes, _check_budget),
)
