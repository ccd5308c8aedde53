"""Declarative experiment parameters: typed fields, TOML files, ``--set`` overrides.

Typical use by an experiment module::

    from synaptica.config import Field

    SCHEMA = {
        "tau_m": Field(float, 20.0, "membrane time constant (ms)", minimum=0, exclusive_minimum=True),
        "p_connect": Field(float, 0.02, "connection probability", minimum=0, maximum=1),
    }

and by the CLI::

    params = load_config(Path("cuba.toml"), SCHEMA, checks, ["tau_m=10"], origin="cuba.toml")

See :mod:`synaptica.config.loader` for the file layout.
"""
from .loader import (
    EXPERIMENT_KEY,
    SET_ORIGIN,
    Check,
    experiment_of,
    load_config,
    parse_overrides,
    parse_value,
    read_toml,
    resolve,
)
from .schema import ConfigError, Field, InvalidValue, format_value, toml_type_name

__all__ = [
    "EXPERIMENT_KEY",
    "SET_ORIGIN",
    "Check",
    "ConfigError",
    "Field",
    "InvalidValue",
    "experiment_of",
    "format_value",
    "load_config",
    "parse_overrides",
    "parse_value",
    "read_toml",
    "resolve",
    "toml_type_name",
]
