"""ca3-memory: spiking CA3 content-addressable memory and the Hopfield baseline."""
import numpy as np
import pytest

from synaptica.config import ConfigError
from synaptica.experiments import load_experiment_config
from synaptica.experiments.ca3_memory import fragment, make_patterns, memory_config
from synaptica.models.ca3 import CA3Config, CA3Memory
from synaptica.models.hopfield import capacity, hopfield_weights

SMALL = dict(n_content=16, density=0.5, op_ms=30.0, dt_ms=0.01, w_max=50.0)


def _learn_then_recall(backend: str):
    rng = np.random.default_rng(3)
    patterns = make_patterns("random", 2, SMALL, rng)
    cue = fragment(patterns[0], 0.5, rng)
    memory = CA3Memory(memory_config(SMALL, 2, 3))
    memory.learn(0, patterns[0])
    memory.learn(1, patterns[1])
    memory.recall_by_content(cue)
    memory.build()
    memory.run_until(2, learn=True, backend=backend)
    memory.run_until(3, learn=False, backend=backend)
    return patterns, memory


def test_recall_from_half_cue_identical_on_both_paths():
    patterns, cpu = _learn_then_recall("cpu")
    _, torch_run = _learn_then_recall("torch")
    assert np.array_equal(cpu.content_answers()[2], patterns[0].astype(bool))   # the whole memory back
    assert np.flatnonzero(cpu.cue_answers()[2]).tolist() == [0]
    for a, b in ((cpu.content_spikes, torch_run.content_spikes), (cpu.cue_spikes, torch_run.cue_spikes)):
        assert np.array_equal(a.steps, b.steps) and np.array_equal(a.ids, b.ids)


def test_overwrite_forgets_the_old_memory():
    rng = np.random.default_rng(5)
    a, b = make_patterns("random", 2, SMALL, rng)
    memory = CA3Memory(memory_config(SMALL, 2, 5))
    memory.learn(0, a)
    by_cue_a = memory.recall_by_cue(0)
    memory.learn(0, b)
    by_cue_b = memory.recall_by_cue(0)
    a_only = a * (1 - b)
    from_a = memory.recall_by_content(a_only)
    memory.build()
    for end, learn in ((1, True), (2, False), (3, True), (5, False)):
        memory.run_until(end, learn=learn)
    answers = memory.content_answers()
    assert np.array_equal(answers[by_cue_a], a.astype(bool))
    assert np.array_equal(answers[by_cue_b], b.astype(bool))      # B replaced A at cue 0
    assert np.array_equal(answers[from_a], a_only.astype(bool))    # A's bits recall nothing more
    w = memory.cue_to_content.weights.numpy().reshape(2, SMALL["n_content"])[0]
    assert w[b.astype(bool)].min() == pytest.approx(memory.config.w_drive) and w[~b.astype(bool)].max() < 1.0


def test_hopfield_capacity_near_0138():
    alphas = [capacity(200, np.arange(0.06, 0.26, 0.01), np.random.default_rng(s)) for s in range(3)]
    assert 0.10 <= np.mean(alphas) <= 0.18, alphas
    xi = np.where(np.random.default_rng(0).random((5, 20)) < 0.5, 1.0, -1.0)
    assert np.allclose(np.diag(hopfield_weights(xi)), 0.0)


@pytest.mark.parametrize("override, key", [
    ("n_content=48", "n_content"),          # no Hadamard matrix of that order
    ("p_max=64", "p_max"),                  # more orthogonal patterns than bits
    ("p_step=30", "p_step"),                # zero pattern counts to test
    ("p_max=0", "p_max"),
    ("density=1.5", "density"),
])
def test_bad_configuration_names_the_key(override, key):
    with pytest.raises(ConfigError, match=key):
        load_experiment_config("ca3-memory", [override])


def test_bad_memory_input_refused():
    memory = CA3Memory(CA3Config(n_cue=2, n_content=8))
    with pytest.raises(ValueError, match="content of shape"):
        memory.recall_by_content(np.ones(9, int))              # cue longer than the memory
    with pytest.raises(ValueError, match="only 0 and 1"):
        memory.learn(0, np.full(8, 2))
    with pytest.raises(ValueError, match="cue 5 outside"):
        memory.recall_by_cue(5)
    with pytest.raises(ValueError, match="n_cue and n_content"):
        CA3Memory(CA3Config(n_cue=0, n_content=8))             # zero patterns


def test_cli_run(tmp_path):
    from click.testing import CliRunner

    from synaptica.cli.main import main

    out = tmp_path / "run"
    result = CliRunner().invoke(main, ["run", "ca3-memory", "--set", "n_content=16", "--set", "p_max=4",
                                       "--set", "p_step=2", "--set", "n_fractions=2", "--set", "n_seeds=1",
                                       "--out", str(out)])
    assert result.exit_code == 0, result.output
    import json

    metrics = json.loads((out / "metrics.json").read_text())
    metrics = metrics.get("metrics", metrics)
    assert metrics["spiking_random_p2_c100_own"] == 1.0 and (out / "recall.png").exists()  # stored cue returned
    assert metrics["paper_functional_correct_fraction"] == 1.0 and metrics["paper_stress_recall_max_dw_pA"] == 0.0


# -- the paper protocol: the authors' network, timing and always-on plasticity ------------------

def test_paper_functional_and_stress_tests_pass_with_plasticity_always_on():
    from synaptica.experiments.ca3_memory import functional_script, paper_memory, run_script, stress_script

    p = {"paper_op_ms": 10.0}    # the authors' functional test runs one operation every 10 ms
    result = run_script(paper_memory(5, 10, p, 0), functional_script(np.random.default_rng(4)))
    assert result["correct_fraction"] == 1.0 and result["recall_max_dw_pA"] == 0.0
    stress = run_script(paper_memory(5, 10, {"paper_op_ms": 14.0}, 0), stress_script())
    assert stress["recalls"] == 45 and stress["correct_fraction"] == 1.0 and stress["recall_max_dw_pA"] == 0.0


def test_paper_learn_recall_forget_overwrite_and_weights_untouched_by_recall():
    from synaptica.models.ca3 import CA3PaperConfig, CA3PaperMemory

    a = np.array([1, 1, 0, 0, 0, 0, 0, 0, 1, 1])
    b = np.array([0, 1, 0, 1, 1, 0, 0, 0, 1, 0])
    memory = CA3PaperMemory(CA3PaperConfig(n_cue=3, n_content=10))
    ops = [memory.learn(2, a), memory.recall_by_cue(2), memory.recall_by_content(np.eye(10, dtype=int)[0]),
           memory.learn(2, b), memory.recall_by_cue(2), memory.recall_by_content(np.eye(10, dtype=int)[0])]
    memory.build()
    weights = []
    for k in range(len(ops)):
        memory.run(k + 1)
        weights.append(np.concatenate([w.ravel() for w in memory.weights()]))
    cues, content = memory.output_cues(), memory.output_content()
    assert np.array_equal(content[ops[1]], a.astype(bool)) and np.flatnonzero(cues[ops[1]]).tolist() == [2]
    assert np.flatnonzero(cues[ops[2]]).tolist() == [2]            # one bit of A recalls its cue
    assert np.array_equal(content[ops[4]], b.astype(bool))         # B overwrote A at cue 2
    assert not cues[ops[5]].any()                                  # A's bit 0 no longer recalls cue 2
    for k in (1, 2, 4, 5):                                         # recall changes no weight
        assert np.abs(weights[k] - weights[k - 1]).max() < 1e-9
    assert np.abs(weights[3] - weights[2]).max() > 1000.0          # learning does
    w_cue, w_content = memory.weights()
    assert np.array_equal(w_cue[2] > 0, b.astype(bool)) and np.array_equal(w_content[2] > 0, b.astype(bool))


def test_paper_recall_by_content_returns_every_matching_cue():
    from synaptica.experiments.ca3_memory import make_patterns, matching_cues, paper_memory

    rng = np.random.default_rng(2)
    patterns = make_patterns("random", 4, {"n_content": 32, "density": 0.15}, rng)
    memory = paper_memory(4, 32, {"paper_op_ms": 14.0}, 2)
    for mu, pattern in enumerate(patterns):
        memory.learn(mu, pattern)
    fragments = [fragment(pattern, 0.5, rng) for pattern in patterns]
    for frag in fragments:
        memory.recall_by_content(frag)
    memory.build()
    memory.run()
    stored = dict(enumerate(patterns))
    for k, frag in enumerate(fragments):
        assert set(np.flatnonzero(memory.output_cues()[4 + k]).tolist()) == matching_cues(stored, frag)
