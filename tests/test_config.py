"""Config schema, TOML loading, --set overrides and the experiment registry."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from synaptica.config import ConfigError, Field, load_config, parse_overrides, parse_value
from synaptica.experiments import (
    BUILTINS,
    Experiment,
    ExperimentResult,
    UnknownExperimentError,
    default_config_text,
    get_experiment,
    load_experiment_config,
    register,
    unregister,
)

SCHEMA = {
    "n_neurons": Field(int, 100, "number of neurons", minimum=1),
    "tau_m": Field(float, 20.0, "membrane time constant (ms)", minimum=0, exclusive_minimum=True),
    "p_connect": Field(float, 0.02, "connection probability", minimum=0, maximum=1),
    "dt": Field(float, 0.1, "time step (ms)", minimum=0, exclusive_minimum=True),
    "delay": Field(float, 1.0, "synaptic delay (ms)", minimum=0),
    "record_v": Field(bool, False, "record membrane potentials"),
    "method": Field(str, "euler", "integration method", choices=["euler", "exact"]),
    "weights": Field(list[float], [0.5, -2.0], "synaptic weights (mV)"),
}


def dt_vs_delay(params: dict) -> str | None:
    if params["dt"] > params["delay"]:
        return f"dt ({params['dt']}) must not be larger than delay ({params['delay']})"
    return None


CHECKS = (dt_vs_delay,)


def load(text: str, overrides: list[str] = (), origin: str = "cuba.toml") -> dict:
    return load_config(text, SCHEMA, CHECKS, overrides, origin=origin)


def error_of(text: str, overrides: list[str] = (), origin: str = "cuba.toml") -> str:
    with pytest.raises(ConfigError) as info:
        load(text, overrides, origin)
    return str(info.value)


# --- happy path --------------------------------------------------------------------------

def test_defaults_filled_and_values_typed():
    params = load('experiment = "cuba"\ntau_m = 10\nweights = [1, 2.5]\n')
    assert params == {**{k: f.default for k, f in SCHEMA.items()}, "tau_m": 10.0, "weights": [1.0, 2.5]}
    assert isinstance(params["tau_m"], float)  # int accepted for float, widened
    assert "experiment" not in params


def test_reads_a_path_and_overrides_win(tmp_path: Path):
    path = tmp_path / "run.toml"
    path.write_text("tau_m = 10.0\nmethod = 'exact'\n")
    params = load_config(path, SCHEMA, CHECKS, ["tau_m=5", "method=euler", "tau_m=7"], origin="run.toml")
    assert params["tau_m"] == 7.0 and params["method"] == "euler"


def test_set_values_are_toml_else_bare_strings():
    assert parse_value("3") == 3 and parse_value("2.5") == 2.5 and parse_value("true") is True
    assert parse_value("[1, 2]") == [1, 2] and parse_value('"x y"') == "x y"
    assert parse_value("fast") == "fast" and parse_value(" exact ") == "exact"
    assert parse_overrides(["a=1", " b = x=y "]) == {"a": 1, "b": "x=y"}


# --- one test per kind of bad configuration ------------------------------------------------

def test_unknown_key_suggests_closest():
    message = error_of("tau_mem = 10.0\n")
    assert message.startswith("cuba.toml: key 'tau_mem': unknown parameter")
    assert "did you mean 'tau_m'?" in message


def test_unknown_key_without_close_match_lists_known_keys():
    message = error_of("zzz = 1\n")
    assert "cuba.toml: key 'zzz'" in message and "known parameters: delay, dt," in message


def test_params_table_is_not_the_layout():
    message = error_of("[params]\ntau_m = 10.0\n")
    assert "cuba.toml: key 'params'" in message and "top level" in message


def test_wrong_type():
    message = error_of('n_neurons = "many"\n')
    assert message == 'cuba.toml: key \'n_neurons\': expected an integer, got string "many"'
    assert "key 'n_neurons': expected an integer, got float 2.5" in error_of("n_neurons = 2.5\n")
    assert "key 'method': expected a string, got integer 3" in error_of("method = 3\n")


@pytest.mark.parametrize("key", ["n_neurons", "tau_m"])
def test_bool_rejected_for_number(key: str):
    message = error_of(f"{key} = true\n")
    assert f"cuba.toml: key '{key}': expected " in message and "got boolean true" in message


def test_negative_time_constant():
    assert error_of("tau_m = -5.0\n") == "cuba.toml: key 'tau_m': must be > 0, got -5.0"
    assert error_of("tau_m = 0\n") == "cuba.toml: key 'tau_m': must be > 0, got 0.0"


def test_probability_above_one():
    assert error_of("p_connect = 1.5\n") == "cuba.toml: key 'p_connect': must be in [0, 1], got 1.5"
    assert "key 'p_connect': must be in [0, 1], got -0.1" in error_of("", ["p_connect=-0.1"])


def test_nan_and_infinity_rejected():
    assert "key 'tau_m': expected a finite number, got nan" in error_of("tau_m = nan\n")
    assert "key 'tau_m': expected a finite number, got inf" in error_of("tau_m = inf\n")
    assert "key 'p_connect': expected a finite number, got -inf" in error_of("", ["p_connect=-inf"])
    assert "key 'weights': element 1: expected a finite number, got inf" in error_of("weights = [1.0, inf]\n")


def test_field_bounds_and_list_length_are_checked():
    with pytest.raises(ValueError, match="bounds must be finite"):
        Field(float, 1.0, maximum=float("inf"))
    with pytest.raises(TypeError, match="max_length needs a list"):
        Field(int, 1, max_length=3)
    field = Field(list[int], [1], minimum=1, maximum=10, max_length=2)
    assert field.coerce([1, 10]) == [1, 10]
    with pytest.raises(ValueError, match="at most 2 elements, got 3"):
        field.coerce([1, 2, 3])


def test_choice_and_list_elements():
    assert 'key \'method\': must be one of "euler", "exact", got "exakt"; did you mean "exact"?' in error_of(
        'method = "exakt"\n'
    )
    assert "key 'weights': element 1: expected a number, got string \"a\"" in error_of('weights = [1.0, "a"]\n')
    assert "key 'weights': expected an array of float" in error_of("weights = 1.0\n")


def test_cross_field_check():
    message = error_of("dt = 2.0\ndelay = 1.0\n")
    assert message == "cuba.toml: keys 'dt', 'delay': dt (2.0) must not be larger than delay (1.0)"


def test_cross_field_check_names_set_when_an_override_is_involved():
    message = error_of("delay = 1.0\n", ["dt=2"])
    assert message.startswith("cuba.toml, --set: keys 'dt', 'delay':")


def test_malformed_toml_reports_file_line_and_column():
    message = error_of("tau_m = 10.0\n\ndt 0.1\n", origin="broken.toml")
    assert message.startswith("broken.toml: line 3, column ")
    assert "invalid TOML" in message and message.endswith("dt 0.1")


def test_unreadable_file(tmp_path: Path):
    with pytest.raises(ConfigError, match=r"missing\.toml: no such file"):
        load_config(tmp_path / "missing.toml", SCHEMA, origin="missing.toml")


def test_set_without_equals():
    message = error_of("", ["tau_m"])
    assert message == "--set: key 'tau_m': expected KEY=VALUE, got 'tau_m' (no '=')"


def test_set_without_key():
    assert error_of("", ["=3"]).startswith("--set: expected KEY=VALUE with a parameter name before '='")


def test_set_errors_name_set_and_key():
    assert error_of("", ["tau_m=-1"]) == "--set: key 'tau_m': must be > 0, got -1.0"
    assert error_of("", ["taum=1"]).startswith("--set: key 'taum': unknown parameter; did you mean 'tau_m'?")
    assert error_of("", ["tau_m=fast"]) == "--set: key 'tau_m': expected a number, got string \"fast\""
    assert error_of("", ["experiment=other"]).startswith("--set: key 'experiment': cannot be overridden")


def test_all_field_errors_reported_together():
    with pytest.raises(ConfigError) as info:
        load("tau_m = -1\nn_neurons = 0\n", ["bogus=1"])
    assert [e.split(":")[0:2] for e in info.value.errors] == [
        ["cuba.toml", " key 'tau_m'"],
        ["cuba.toml", " key 'n_neurons'"],
        ["--set", " key 'bogus'"],
    ]


def test_config_error_is_a_value_error():
    assert issubclass(ConfigError, ValueError)


def test_schema_mistakes_fail_at_definition():
    with pytest.raises(ValueError, match="invalid default"):
        Field(float, -1.0, "tau", minimum=0)
    with pytest.raises(TypeError, match="unsupported Field type"):
        Field(dict, {}, "table")
    with pytest.raises(TypeError, match="numeric"):
        Field(str, "a", "name", minimum=0)


# --- registry and NAME|FILE resolution -----------------------------------------------------

def _dummy_run(params: dict, progress=None) -> ExperimentResult:
    return ExperimentResult(np.zeros(0), np.zeros(0, dtype=np.int64), 1, 1.0, {})


@pytest.fixture
def dummy():
    experiment = register(Experiment("dummy_cfg", "a test experiment", SCHEMA, _dummy_run, CHECKS))
    yield experiment
    unregister(experiment.name)


def test_unknown_experiment_name_lists_available(dummy):
    with pytest.raises(UnknownExperimentError) as info:
        get_experiment("dummy_cgf")
    message = str(info.value)
    assert "unknown experiment 'dummy_cgf'" in message and "did you mean 'dummy_cfg'?" in message
    assert "available:" in message and "dummy_cfg" in message


def test_unknown_experiment_in_file_names_file_and_key(tmp_path: Path, dummy):
    path = tmp_path / "mine.toml"
    path.write_text('experiment = "nope"\n')
    with pytest.raises(UnknownExperimentError) as info:
        load_experiment_config(str(path))
    assert str(info.value).startswith(f"{path}: key 'experiment': unknown experiment 'nope'")


def test_file_without_experiment_key(tmp_path: Path, dummy):
    path = tmp_path / "mine.toml"
    path.write_text("tau_m = 3.0\n")
    with pytest.raises(ConfigError, match=r"mine\.toml: key 'experiment': missing"):
        load_experiment_config(str(path))


def test_file_resolves_to_experiment_and_params(tmp_path: Path, dummy):
    path = tmp_path / "mine.toml"
    path.write_text('experiment = "dummy_cfg"\ntau_m = 3\n')
    experiment, params, origin = load_experiment_config(str(path), ["dt=0.5"])
    assert experiment is dummy and origin == str(path)
    assert params["tau_m"] == 3.0 and params["dt"] == 0.5


def test_mismatched_experiment_key():
    with pytest.raises(ConfigError, match="this file is for experiment 'other', not 'cuba'"):
        load_config('experiment = "other"\n', SCHEMA, origin="x.toml", experiment="cuba")


def test_register_refuses_a_different_experiment_under_a_taken_name(dummy):
    register(dummy)  # same object: fine
    with pytest.raises(ValueError, match="already registered"):
        register(Experiment("dummy_cfg", "other", {}, _dummy_run))


@pytest.mark.parametrize("name", sorted(BUILTINS))
def test_builtin_default_toml_is_valid(name: str):
    assert importlib.util.find_spec(BUILTINS[name]) is not None, f"built-in '{name}': {BUILTINS[name]} is missing"
    experiment = get_experiment(name)
    text = default_config_text(name)
    assert text is not None, f"missing src/synaptica/experiments/{name}.toml"
    params = load_config(text, experiment.schema, experiment.checks, origin=f"{name}.toml", experiment=name)
    assert set(params) == set(experiment.schema)


def test_a_listed_builtin_whose_module_is_missing_is_reported(monkeypatch):
    import synaptica.experiments as registry

    monkeypatch.setitem(registry.BUILTINS, "ghost", "synaptica.experiments.ghost_module")
    monkeypatch.setattr(registry, "_builtins_loaded", False)
    monkeypatch.setattr(registry, "_broken", {})
    broken = registry.load_builtins()
    assert "ghost" in broken and "does not exist" in broken["ghost"]
