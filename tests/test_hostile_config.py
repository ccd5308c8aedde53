"""Hostile configurations are refused at the boundary (issue 12): one ``error:`` line naming
the key, exit code 2 (1 for a run whose results would mean nothing), no traceback, nothing
left behind. Plus a walk over every built-in schema and a property test of config resolution."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from synaptica.cli.main import main
from synaptica.config import ConfigError, format_bytes, load_config, parse_value
from synaptica.engine.errors import NonFiniteError
from synaptica.experiments import (
    Experiment,
    ExperimentResult,
    available,
    default_config_text,
    get_experiment,
    register,
    unregister,
)

ROOT = Path(__file__).resolve().parent.parent
DEEP = "[" * 3000 + "1" + "]" * 3000


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SYNAPTICA_DEBUG", raising=False)
    return tmp_path


def refused(*args: str, code: int = 2) -> str:
    """Run ``synaptica run ... --out out`` in-process; assert a clean refusal with ``code``,
    nothing written next to ``out``; return stderr."""
    before = set(os.listdir("."))
    result = CliRunner().invoke(main, ["run", *args, "--out", "out"], catch_exceptions=True)
    assert result.exit_code == code, (result.exit_code, result.output, result.exception)
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert "Traceback" not in result.output and errors and errors[-1] == result.stderr.splitlines()[-1]
    assert set(os.listdir(".")) == before, "an output folder, .partial, lock or checkpoint was left"
    return "\n".join(errors)


# --- the issue's examples, through the CLI ---------------------------------------------------

@pytest.mark.parametrize("experiment, override, message", [
    ("cuba", "delay_ms=inf", "key 'delay_ms': expected a finite number, got inf"),
    ("cuba", "delay_ms=1e308", "key 'delay_ms': must be in (0, 10000], got 1e+308"),
    ("distal-reward", "a_minus=inf", "key 'a_minus': expected a finite number, got inf"),
    ("distal-reward", "noise_rate_hz=inf", "key 'noise_rate_hz': expected a finite number"),
    ("sg-mnist", "lr=inf", "key 'lr': expected a finite number, got inf"),
    ("sg-mnist", "lr=1e6", "key 'lr': must be in (0, 10], got 1000000.0"),
    ("brain-modes", "lr_lora=inf", "key 'lr_lora': expected a finite number"),
    ("delay-motifs", "fired_logit=inf", "key 'fired_logit': expected a finite number"),
    ("delay-motifs", "n_motifs=1000000000", "key 'n_motifs': must be in [1, 1000], got 1000000000"),
    ("brain-states", "bin_size=1e-300", "key 'bin_size': must be in [1e-06, 10], got 1e-300"),
])
def test_issue_examples_are_refused_with_the_key(workdir: Path, experiment: str, override: str, message: str):
    assert message in refused(experiment, "--set", override)


def test_absurd_memory_is_refused_with_the_estimate(workdir: Path):
    assert "key 'n_steps': must be in [2, 1e+06], got 1000000000" in refused("delay-motifs", "--set", "n_steps=1000000000")
    text = refused("delay-motifs", "--set", "n_steps=1000000")
    # 1e6 steps x 1000 trials x 30 inputs x 12 bytes = 335 GiB, plus a batch's activations (10 GiB)
    assert "key 'n_steps': n_steps = 1000000 x 1000 trials x n_inputs = 30 inputs would need 345 GiB of memory" in text
    assert "half the machine's RAM" in text


def test_absurd_run_time_is_refused_with_the_estimate(workdir: Path):
    text = refused("cuba", "--set", "duration_ms=1e8", "--set", "dt_ms=1e-6")
    assert "key 'duration_ms': duration_ms / dt_ms = 1e+14 steps of n = 4000 neurons needs about 4e+17 updates" in text


def test_memory_limit_follows_the_environment(workdir: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("SYNAPTICA_MEMORY_LIMIT", "1e6")  # 1 MB: the default CUBA synapses do not fit
    assert "key 'n': n = 4000 neurons with p_connect = 0.02 (3.2e+05 synapses) would need 6.1 MiB" in refused("cuba")
    assert format_bytes(1.46 * 2**40) == "1.46 TiB" and format_bytes(float("inf")) == "inf B"


def test_seed_out_of_range(workdir: Path):
    assert "--seed: key 'seed': must be in [0, 4294967295], got 99999999999999999999" in refused(
        "cuba", "--seed", "99999999999999999999")
    assert "--seed: key 'seed': expected an integer, got float inf" in refused("cuba", "--seed", "inf")
    assert "key 'seed': must be in [0, 4294967295]" in refused("cuba", "--set", "seed=-1")


def test_deeply_nested_values_are_refused(workdir: Path):
    assert "--set: key 'n': value nested too deeply to read" in refused("cuba", "--set", f"n={DEEP}")
    with pytest.raises(ConfigError, match="nested too deeply"):
        parse_value(DEEP, key="n")
    Path("deep.toml").write_text(f'experiment = "cuba"\nn = {DEEP}\n')
    assert "deep.toml: invalid TOML: arrays or tables nested too deeply" in refused("deep.toml")
    Path("tables.toml").write_text('experiment = "cuba"\na = ' + "{b = " * 3000 + "1" + "}" * 3000 + "\n")
    assert "tables.toml: invalid TOML: arrays or tables nested too deeply" in refused("tables.toml")


def test_files_that_are_not_configurations(workdir: Path):
    assert "/dev/zero: is a device, expected a regular .toml file" in refused("/dev/zero")
    Path("folder.toml").mkdir()
    assert "folder.toml: is a directory" in refused("folder.toml")
    Path("big.toml").write_bytes(b'experiment = "cuba"\n# ' + b"x" * (2**20) + b"\n")
    assert f"big.toml: {2**20 + 23} bytes is too large for a configuration file (at most 1048576 bytes)" in refused(
        "big.toml")
    os.symlink("/nonexistent/x", "dangling.toml")
    assert "dangling.toml: no such file" in refused("dangling.toml")
    assert "cannot read file" in refused("x" * 5000 + ".toml")  # a name too long for the file system


@pytest.mark.parametrize("kind", ["fifo", "device"])
def test_fifo_and_device_do_not_hang(tmp_path: Path, kind: str):
    """In a subprocess with a timeout: opening a FIFO blocks forever, /dev/zero never ends."""
    if kind == "fifo":
        os.mkfifo(tmp_path / "x.toml")
    else:
        os.symlink("/dev/zero", tmp_path / "x.toml")
    env = {**os.environ, "SYNAPTICA_DEBUG": ""}
    done = subprocess.run([sys.executable, "-m", "synaptica.cli.main", "run", "x.toml", "--out", "out"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60, env=env)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    expected = "a named pipe (FIFO)" if kind == "fifo" else "a device"
    assert done.stderr.startswith(f"error: x.toml: is {expected}, expected a regular .toml file")
    assert sorted(os.listdir(tmp_path)) == ["x.toml"]


# --- runs whose results would mean nothing ------------------------------------------------------

def test_non_finite_run_exits_1_and_writes_nothing(workdir: Path):
    def exploding(p: dict, progress=None, checkpoint=None) -> ExperimentResult:
        Path(checkpoint).write_bytes(b"state")  # a deterministic failure: nothing worth resuming
        raise NonFiniteError("toy: training loss is not finite at epoch 2, step 5")

    register(Experiment("exploding_test", "loss becomes NaN (test)", {}, exploding))
    try:
        text = refused("exploding_test", code=1)
    finally:
        unregister("exploding_test")
    assert text.strip() == ("error: experiment 'exploding_test': run stopped, its results would mean nothing: "
                            "toy: training loss is not finite at epoch 2, step 5")


def test_library_value_error_names_the_key(workdir: Path):
    from synaptica.config import Field

    def strict(p: dict, progress=None) -> ExperimentResult:
        raise ValueError("Projection 'exc': parameter 'gain' must be below 10")

    register(Experiment("strict_test", "a constructor refuses a value (test)", {"gain": Field(float, 20.0, "gain")},
                        strict))
    try:
        text = refused("strict_test")
    finally:
        unregister("strict_test")
    assert text.strip() == "error: experiment 'strict_test': key 'gain': Projection 'exc': parameter 'gain' must be below 10"


def test_training_loops_stop_on_a_non_finite_loss_or_parameter():
    from synaptica.experiments.brain_modes import cross_entropy, fit, make_mlp

    net = make_mlp([4, 3, 10], torch.Generator().manual_seed(0))
    x, y = torch.rand(12, 4), torch.arange(12) % 10
    calls = []

    def loss_nan_at_step_1(xb, yb):
        calls.append(1)
        loss = cross_entropy(net, xb, yb)
        return loss * float("nan") if len(calls) == 5 else loss  # epoch 1, step 1 with 3 steps per epoch

    with pytest.raises(NonFiniteError, match="brain-modes: adaptation loss is not finite at epoch 1, step 1"):
        fit(net.parameters(), loss_nan_at_step_1, x, y, 3, 1e-3, 4, torch.Generator().manual_seed(0), "adaptation")

    def loss_poisoning_weights(xb, yb):
        with torch.no_grad():
            net.linears[0].weight[0, 0] = float("inf")  # an overflowing update: the loss of this step is computed first
        return cross_entropy(net, xb, yb).nan_to_num()

    with pytest.raises(NonFiniteError, match=r"brain-modes: lora parameter 0 \(shape \(3, 4\)\) became NaN or infinite "
                                             r"in epoch 0"):
        fit(net.parameters(), loss_poisoning_weights, x, y, 2, 1e-3, 4, torch.Generator().manual_seed(0), "lora")


def test_meta_neuron_and_delay_motifs_training_stop_on_a_non_finite_loss(monkeypatch: pytest.MonkeyPatch):
    import numpy as np

    from synaptica.experiments import delay_motifs, meta_neuron
    from synaptica.training import losses

    p = load_config({}, meta_neuron.SCHEMA, origin="test")
    p.update(n_in=4, n_hidden=3, epochs=1, batch_size=4)
    net = meta_neuron.build_network("lif", p, 6, seed=0)
    x = (np.random.default_rng(0).random((10, 8, 4)) < 0.5).astype(np.float32)
    # the layers refuse a NaN membrane themselves; a loss that overflows on finite membranes is caught here
    monkeypatch.setattr(losses, "max_membrane_cross_entropy", lambda v, y: v.sum() * float("inf"))
    with pytest.raises(NonFiniteError, match="meta-neuron: training loss is not finite at epoch 0, step 0"):
        meta_neuron.train_network(net, x, np.zeros(8, np.int64), p, seed=0)

    q = load_config({}, delay_motifs.SCHEMA, origin="test")
    q.update(n_inputs=4, max_delay=4, epochs=1, batch_size=4, n_steps=10, protocol="tuned")  # the "fired" readout
    rng = np.random.default_rng(0)
    model = delay_motifs.Detector(q, 2, True, rng)
    x = torch.full((10, 8, 4), float("nan"))
    # NaN input spikes never cross threshold, so the loss stays finite; the NaN gradients reach the weights
    with pytest.raises(NonFiniteError, match=r"delay-motifs: learned-delay training parameter 0 \(shape \(2, 4\)\) "
                                             "became NaN or infinite in epoch 0"):
        delay_motifs.train(model, x, torch.zeros(8, dtype=torch.int64), q, rng, lambda: None)


# --- every built-in schema has finite bounds -------------------------------------------------------

def test_every_numeric_field_of_every_builtin_has_a_finite_range():
    """A new experiment cannot forget: each int/float Field (and list of them) needs both bounds."""
    unbounded = []
    for name in available():
        for key, field in get_experiment(name).schema.items():
            if field.type_name.removeprefix("list[").removesuffix("]") in ("int", "float"):
                if field.minimum is None or field.maximum is None:
                    unbounded.append(f"{name}.{key}")
    assert available() and not unbounded, f"numeric fields without a finite minimum and maximum: {unbounded}"


def test_defaults_of_every_builtin_pass_their_budget_checks():
    for name in available():
        experiment = get_experiment(name)
        source = default_config_text(name) or {}
        load_config(source, experiment.schema, experiment.checks, origin=f"{name}.toml", experiment=name)


# --- property test: config resolution returns params or raises ConfigError, nothing else ------------

_SCALARS = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([0, 1, -1, 2**31, 2**63, 10**9, 10**30]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([float("inf"), float("-inf"), 1e308, -1e308, 1e-300, 5e-324, 0.0, -0.0]),
    st.text(max_size=20),
    st.booleans(),
)
_VALUES = st.recursive(_SCALARS, lambda inner: st.lists(inner, max_size=4), max_leaves=12)


def _toml_text(value) -> str:
    """A drawn value as --set text (TOML where possible, else the bare string)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return "nan" if value != value else ("inf" if value == float("inf") else "-inf" if value == float("-inf")
                                             else repr(value))
    if isinstance(value, list):
        return "[" + ", ".join(_toml_text(v) for v in value) + "]"
    return str(value)


@st.composite
def overrides(draw, name: str):
    keys = list(get_experiment(name).schema) + ["unknown_key", "params", "n.x", "experiment"]
    items = draw(st.lists(st.tuples(st.sampled_from(keys), _VALUES), max_size=5))
    as_text = draw(st.booleans())
    return [f"{k}={_toml_text(v)}" for k, v in items] if as_text else dict(items)


@pytest.mark.parametrize("name", sorted(__import__("synaptica.experiments", fromlist=["BUILTINS"]).BUILTINS))
@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_config_resolution_returns_params_or_config_error(name: str, data):
    experiment = get_experiment(name)
    drawn = data.draw(overrides(name))
    try:
        if isinstance(drawn, list):  # --set strings
            params = load_config(default_config_text(name) or {}, experiment.schema, experiment.checks, drawn,
                                 origin=f"{name}.toml", experiment=name)
        else:  # values as a parsed file would hold them
            params = load_config(drawn, experiment.schema, experiment.checks, origin="x.toml", experiment=name)
    except ConfigError as error:
        assert str(error).strip()
        return
    assert set(params) == set(experiment.schema)
    for key, value in params.items():  # accepted numbers are finite and inside their bounds
        field = experiment.schema[key]
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, (int, float)) and not isinstance(item, bool) and field.minimum is not None:
                assert field.minimum <= item <= field.maximum
