"""Discovering experiments: ``synaptica show``, ``synaptica config``, name completion, plugins."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from synaptica.cli.main import main
from synaptica.cli.show import complete_experiment, config_text, parameters
from synaptica.experiments import BUILTINS, available, get_experiment, load_experiment_config

WIDE = {"COLUMNS": "300"}  # rich wraps table cells to the terminal width


def invoke(*args: str, env: dict | None = None):
    return CliRunner().invoke(main, list(args), env={**WIDE, **(env or {})}, catch_exceptions=False)


def test_show_lists_every_parameter_with_default_unit_range_and_help():
    result = invoke("show", "cuba")
    assert result.exit_code == 0, result.output
    experiment = get_experiment("cuba")
    assert experiment.summary in result.output
    assert "current-based random network of Vogels & Abbott (2005)" in result.output  # the docstring's first paragraph
    assert "Run control" in result.output and "Model parameters" in result.output
    rows = {line.split("│")[1].strip(): [c.strip() for c in line.split("│")[2:6]]
            for line in result.output.splitlines() if line.startswith("│") and line.split("│")[1].strip()}
    assert set(experiment.schema) <= set(rows)
    assert rows["tau_m"] == ["20.0", "ms", "in (0, 1e+06]", "membrane time constant (ms)"]
    assert rows["v_th"][:3] == ["-50.0", "mV", "in [-1000, 1000]"]
    assert rows["dtype"][:3] == ['"float32"', "", 'one of "float32", "float64"']


def test_show_uses_the_packaged_defaults_a_run_uses():
    _, params, _ = load_experiment_config("distal-reward")
    _, infos = parameters("distal-reward")
    assert {info.name: info.default for info in infos} == params
    assert {info.name: info.unit for info in infos}["tau_c_ms"] == "ms"


@pytest.mark.parametrize("name", sorted(BUILTINS))
def test_config_round_trips_to_the_same_params(name, tmp_path):
    text = config_text(name)
    parsed = tomllib.loads(text)
    assert parsed["experiment"] == name
    lines = text.splitlines()
    for key in get_experiment(name).schema:
        at = next(i for i, line in enumerate(lines) if line.startswith(f"{key} = "))
        assert lines[at - 1].startswith("# ")  # every parameter is explained above it
    path = tmp_path / "my.toml"
    path.write_text(text)
    assert load_experiment_config(str(path))[1] == load_experiment_config(name)[1]


def test_config_command_writes_the_file_and_an_edit_takes_effect(tmp_path):
    result = invoke("config", "cuba")
    assert result.exit_code == 0
    assert result.output == config_text("cuba")
    path = tmp_path / "my.toml"
    path.write_text(result.output.replace("\ntau_m = 20.0\n", "\ntau_m = 12.5\n"))
    params = load_experiment_config(str(path))[1]
    assert params["tau_m"] == 12.5 and params["n"] == load_experiment_config("cuba")[1]["n"]


@pytest.mark.parametrize("command", ["show", "config"])
def test_unknown_experiment_is_exit_2_with_a_suggestion(command):
    result = invoke(command, "cubba")
    assert result.exit_code == 2
    assert "error: unknown experiment 'cubba'; did you mean 'cuba'?" in result.output
    assert "# " not in result.output  # config printed nothing before the error


def test_completion_function_returns_matching_names():
    names = [item.value for item in complete_experiment(None, None, "s")]  # type: ignore[arg-type]
    assert names == sorted(n for n in available() if n.startswith("s")) and "stdp-digits" in names
    assert [item.value for item in complete_experiment(None, None, "zz")] == []  # type: ignore[arg-type]


@pytest.mark.parametrize("words, expected", [
    ("synaptica show cu", ["cuba"]),
    ("synaptica config sym", ["sym-stdp-digits"]),
])
def test_shell_completion_through_click(words, expected):
    env = {"_SYNAPTICA_COMPLETE": "bash_complete", "COMP_WORDS": words, "COMP_CWORD": str(len(words.split()) - 1)}
    result = CliRunner().invoke(main, [], env=env, prog_name="synaptica")
    pairs = [line.split(",", 1) for line in result.output.splitlines()]
    assert [value for kind, value in pairs if kind == "plain"] == expected


def test_run_target_completes_names_and_files():
    param = next(p for p in main.commands["run"].params if p.name == "target")
    ctx = click.Context(main.commands["run"])
    items = param.shell_complete(ctx, "del")
    assert [(i.value, i.type) for i in items] == [("delay-motifs", "plain"), ("del", "file")]


# -- plugins: a fake installed distribution on sys.path -------------------------------------
PLUGIN_MODULE = '''
import numpy as np
from synaptica.config import Field
from synaptica.experiments import Experiment, ExperimentResult

def run(params, progress=None):
    return ExperimentResult(np.array([1.0]), np.array([0]), 1, params["duration_ms"], {"n_spikes": 1})

EXPERIMENT = Experiment("toy-plugin", "a plugin's toy experiment",
                        {"duration_ms": Field(float, 10.0, "simulated time (ms)", minimum=0, exclusive_minimum=True)},
                        run)
'''


@pytest.fixture
def plugin_path(tmp_path: Path) -> Path:
    (tmp_path / "toy_plugin.py").write_text(PLUGIN_MODULE)
    (tmp_path / "broken_plugin.py").write_text("raise RuntimeError('plugin bug at import')\n")
    info = tmp_path / "toy_plugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: toy-plugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(textwrap.dedent("""\
        [synaptica.experiments]
        toy-plugin = toy_plugin:EXPERIMENT
        broken-plugin = broken_plugin:EXPERIMENT
        cuba = toy_plugin:EXPERIMENT
        misnamed = toy_plugin
        """))
    return tmp_path


def _cli(plugin_dir: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(plugin_dir), os.environ.get("PYTHONPATH", "")]),
           "COLUMNS": "300"}
    return subprocess.run([sys.executable, "-c", "from synaptica.cli.main import main; main()", *args],
                          capture_output=True, text=True, env=env, timeout=240)


def test_plugin_experiment_is_listed_and_broken_plugins_only_warn(plugin_path):
    done = _cli(plugin_path, "list")
    assert done.returncode == 0, done.stderr
    listed = {line.split()[0]: line for line in done.stdout.splitlines() if line.strip()}
    assert "toy-plugin" in listed and "a plugin's toy experiment" in listed["toy-plugin"]
    assert "cuba" in listed and "toy" not in listed["cuba"]  # a plugin cannot take a built-in's name
    assert "broken-plugin" not in listed and "misnamed" not in listed
    assert "warning: plugin 'broken-plugin' left out" in done.stderr and "plugin bug at import" in done.stderr
    assert "warning: plugin 'cuba' left out" in done.stderr and "built-in" in done.stderr
    assert "warning: plugin 'misnamed' left out" in done.stderr and "'toy-plugin', not 'misnamed'" in done.stderr


def test_plugin_experiment_shows_and_configures(plugin_path):
    done = _cli(plugin_path, "config", "toy-plugin")
    assert done.returncode == 0, done.stderr
    assert tomllib.loads(done.stdout) == {"experiment": "toy-plugin", "duration_ms": 10.0}
    shown = _cli(plugin_path, "show", "toy-plugin")
    assert shown.returncode == 0 and "a plugin's toy experiment" in shown.stdout and "duration_ms" in shown.stdout
    broken = _cli(plugin_path, "show", "broken-plugin")
    assert broken.returncode == 2 and "plugin bug at import" in broken.stderr
