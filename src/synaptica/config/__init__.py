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
from .budget import check_memory, check_work, first_problem, format_bytes, memory_limit_bytes
from .loader import (
    EXPERIMENT_KEY,
    MAX_FILE_BYTES,
    SET_ORIGIN,
    Check,
    check_regular_file,
    experiment_of,
    load_config,
    mentioned_keys,
    parse_overrides,
    parse_value,
    read_toml,
    resolve,
)
from .schema import MAX_SEED, ConfigError, Field, InvalidValue, format_value, toml_type_name

__all__ = [
    "EXPERIMENT_KEY",
    "MAX_FILE_BYTES",
    "MAX_SEED",
    "SET_ORIGIN",
    "Check",
    "ConfigError",
    "Field",
    "InvalidValue",
    "check_memory",
    "check_regular_file",
    "check_work",
    "experiment_of",
    "first_problem",
    "format_bytes",
    "memory_limit_bytes",
    "format_value",
    "load_config",
    "mentioned_keys",
    "parse_overrides",
    "parse_value",
    "read_toml",
    "resolve",
    "toml_type_name",
]
