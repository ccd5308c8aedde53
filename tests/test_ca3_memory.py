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
    assert metrics["spiking_random_p2_c100"] > 0.9 and (out / "recall.png").exists()
    assert metrics["functional_b_by_cue_exact"] == 1.0
