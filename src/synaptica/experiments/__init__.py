"""Registry of named experiments, and resolution of ``NAME | FILE.toml`` to validated params.

Built-in experiments are imported lazily (they pull in torch/numba, which ``synaptica
--help`` should not pay for): the first call to :func:`get_experiment`,
:func:`available` or :func:`load_builtins` imports every module listed in
:data:`BUILTINS`. A built-in module defines its :class:`Experiment` as ``EXPERIMENT``
(or as its upper-cased name, e.g. ``CUBA``) and ships default parameters in
``synaptica/experiments/<name>.toml`` (flat layout, see :mod:`synaptica.config.loader`).
Every listed module must exist: a missing one, or one that fails to import, is reported
by ``get_experiment`` and ``synaptica list`` (and fails the registry test).

Plugins: an installed distribution adds experiments through the entry point group
:data:`PLUGIN_GROUP` (``synaptica.experiments``), one entry per experiment named like it,
pointing at the :class:`Experiment` object or at a module defining ``EXPERIMENT``::

    [project.entry-points."synaptica.experiments"]
    my-model = "my_package.my_model:EXPERIMENT"

They load with the built-ins. A plugin that fails to import, is no Experiment, names
another experiment than its entry, or takes a built-in's name is left out and reported
by :func:`broken_plugins` (``synaptica list`` warns), never raised.

Read :data:`EXPERIMENTS` directly only after :func:`load_builtins`.
"""
from __future__ import annotations

import difflib
import importlib
from importlib import metadata, resources
from pathlib import Path
from types import ModuleType
from typing import Iterable

from ..config import ConfigError, EXPERIMENT_KEY, experiment_of, load_config, read_toml
from .base import Experiment, ExperimentResult, ProgressCallback

__all__ = [
    "BUILTINS",
    "EXPERIMENTS",
    "Experiment",
    "ExperimentResult",
    "PLUGIN_GROUP",
    "ProgressCallback",
    "UnknownExperimentError",
    "available",
    "broken_builtins",
    "broken_plugins",
    "default_config_text",
    "get_experiment",
    "known_names",
    "load_builtins",
    "load_experiment_config",
    "register",
    "unregister",
]

EXPERIMENTS: dict[str, Experiment] = {}

# ---------------------------------------------------------------------------------------
# Built-in experiments: name -> module defining EXPERIMENT (or <NAME>, e.g. CUBA).
# Add one line per built-in; also add src/synaptica/experiments/<name>.toml.
BUILTINS: dict[str, str] = {
    "cuba": "synaptica.experiments.cuba",
    "stdp-digits": "synaptica.experiments.stdp_digits",
    "sym-stdp-digits": "synaptica.experiments.sym_stdp_digits",
    "distal-reward": "synaptica.experiments.distal_reward",
    "brain-states": "synaptica.experiments.brain_states",
    "sg-mnist": "synaptica.experiments.sg_mnist",
    "brain-modes": "synaptica.experiments.brain_modes",
    "meta-neuron": "synaptica.experiments.meta_neuron",
    "delay-motifs": "synaptica.experiments.delay_motifs",
    "sdr-dendrites": "synaptica.experiments.sdr_dendrites",
    "elm": "synaptica.experiments.elm",
    "ca3-memory": "synaptica.experiments.ca3_memory",
    "hlop-continual": "synaptica.experiments.hlop_continual",
    "nalsm": "synaptica.experiments.nalsm",
    "adaptive-reservoir": "synaptica.experiments.adaptive_reservoir",
    "criticality": "synaptica.experiments.criticality",
}
# ---------------------------------------------------------------------------------------

PLUGIN_GROUP = "synaptica.experiments"

_broken: dict[str, str] = {}
_broken_plugins: dict[str, str] = {}
_builtins_loaded = False
_tried: set[str] = set()   # built-ins whose module was imported (or failed to)


class UnknownExperimentError(ConfigError):
    """No experiment of that name is registered."""


def register(experiment: Experiment, *, replace: bool = False) -> Experiment:
    """Add ``experiment`` under its name and return it (usable as a decorator-style call).

    Registering the same object twice is a no-op; a different experiment with a taken
    name raises ValueError unless ``replace=True``.
    """
    if not isinstance(experiment, Experiment):
        raise TypeError(f"expected an Experiment, got {type(experiment).__name__}")
    current = EXPERIMENTS.get(experiment.name)
    if current is not None and current is not experiment and not replace:
        raise ValueError(f"an experiment named '{experiment.name}' is already registered")
    EXPERIMENTS[experiment.name] = experiment
    return experiment


def unregister(name: str) -> None:
    """Remove an experiment (no error if absent). Mostly for tests."""
    EXPERIMENTS.pop(name, None)


def load_builtins() -> dict[str, str]:
    """Import the built-in experiment modules once; return ``{name: error}`` for broken ones."""
    global _builtins_loaded
    if _builtins_loaded:
        return dict(_broken)
    _builtins_loaded = True
    for name in BUILTINS:
        _load_builtin(name)
    _load_plugins()
    return dict(_broken)


def _load_builtin(name: str) -> None:
    """Import one built-in experiment's module (once). Running one experiment imports only
    its own module, so ``synaptica run cuba`` does not import torch, which other built-ins need."""
    if name in _tried:
        return
    _tried.add(name)
    module_name = BUILTINS[name]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        _broken[name] = (f"{module_name} is listed as a built-in but does not exist" if exc.name == module_name
                         else f"{type(exc).__name__}: {exc}")
        return
    except Exception as exc:  # a bug in the module: keep the CLI usable, report it
        _broken[name] = f"{type(exc).__name__}: {exc}"
        return
    experiment = getattr(module, "EXPERIMENT", None) or getattr(module, name.upper(), None)
    if not isinstance(experiment, Experiment):
        _broken[name] = f"{module_name} defines no Experiment named EXPERIMENT or {name.upper()}"
    elif name not in EXPERIMENTS:  # an explicit register() wins
        EXPERIMENTS[name] = experiment


def _plugin_entries() -> list[metadata.EntryPoint]:
    try:
        return list(metadata.entry_points(group=PLUGIN_GROUP))
    except Exception:  # a corrupt installed distribution's metadata: no plugins, not a crash
        return []


def _load_plugins() -> None:
    """Register the experiments of the :data:`PLUGIN_GROUP` entry points (see the module docstring)."""
    for entry in _plugin_entries():
        source = f"{entry.value}" + (f" (from {entry.dist.name})" if getattr(entry, "dist", None) else "")
        if entry.name in BUILTINS:
            _broken_plugins[entry.name] = f"{source} takes the name of a built-in experiment"
            continue
        try:
            loaded = entry.load()
        except Exception as exc:  # a plugin's bug must not break the CLI
            _broken_plugins[entry.name] = f"{source} failed to import: {type(exc).__name__}: {exc}"
            continue
        experiment = getattr(loaded, "EXPERIMENT", None) if isinstance(loaded, ModuleType) else loaded
        if not isinstance(experiment, Experiment):
            _broken_plugins[entry.name] = f"{source} is no Experiment (got {type(experiment).__name__})"
        elif experiment.name != entry.name:
            _broken_plugins[entry.name] = f"{source} is experiment '{experiment.name}', not '{entry.name}'"
        elif entry.name not in EXPERIMENTS:
            EXPERIMENTS[entry.name] = experiment


def broken_plugins() -> dict[str, str]:
    """Plugins (entry points of :data:`PLUGIN_GROUP`) left out: ``{name: why}``."""
    load_builtins()
    return dict(_broken_plugins)


def known_names() -> list[str]:
    """Sorted names of the built-ins, plugin entry points and registered experiments,
    without importing any of them (fast enough for shell completion)."""
    return sorted(set(BUILTINS) | {entry.name for entry in _plugin_entries()} | set(EXPERIMENTS))


def broken_builtins() -> dict[str, str]:
    """Built-ins that failed to import: ``{name: error}``."""
    return load_builtins()


def available() -> list[str]:
    """Sorted names of all usable experiments (built-ins loaded first)."""
    load_builtins()
    return sorted(EXPERIMENTS)


def get_experiment(name: str) -> Experiment:
    """The experiment registered as ``name``; UnknownExperimentError lists the available ones."""
    if name in BUILTINS:
        _load_builtin(name)
    if name not in EXPERIMENTS:
        load_builtins()
    if name in EXPERIMENTS:
        return EXPERIMENTS[name]
    if name in _broken:
        raise UnknownExperimentError(f"experiment '{name}' failed to import: {_broken[name]}")
    if name in _broken_plugins:
        raise UnknownExperimentError(f"plugin experiment '{name}': {_broken_plugins[name]}")
    names = sorted(EXPERIMENTS)
    close = difflib.get_close_matches(name, names, n=1)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    listing = ", ".join(names) if names else "none"
    raise UnknownExperimentError(f"unknown experiment '{name}'{hint} (available: {listing})")


def default_config_text(name: str) -> str | None:
    """The packaged ``<name>.toml`` of a built-in, or None if it has none."""
    resource = resources.files(__name__).joinpath(f"{name}.toml")
    return resource.read_text(encoding="utf-8") if resource.is_file() else None


def _looks_like_file(target: str) -> bool:
    if target.endswith(".toml") or "/" in target or "\\" in target:
        return True
    try:
        return Path(target).exists()
    except (OSError, ValueError):  # a name too long or holding NUL cannot be an existing file
        return False


def load_experiment_config(target: str, overrides: Iterable[str] = ()) -> tuple[Experiment, dict, str]:
    """Resolve ``NAME`` or ``FILE.toml`` plus overrides to ``(experiment, params, origin)``.

    NAME uses the built-in's packaged ``<name>.toml`` (schema defaults if it has none).
    A FILE must say ``experiment = "<name>"``. Raises ConfigError (nothing is run).
    """
    if target in BUILTINS:
        _load_builtin(target)
    else:
        load_builtins()
    if target in EXPERIMENTS or target in _broken or target in _broken_plugins or not _looks_like_file(target):
        experiment = get_experiment(target)
        text = default_config_text(target)
        origin = f"{target}.toml" if text is not None else f"experiment '{target}'"
        source: object = text if text is not None else {}
    else:
        origin = target
        source = read_toml(Path(target), origin=origin)  # refuses FIFOs, devices, directories, > 1 MiB
        name = experiment_of(source, origin=origin)
        if name is None:
            hint = f' e.g. {EXPERIMENT_KEY} = "{available()[0]}"' if available() else ""
            raise ConfigError(
                f"{origin}: key '{EXPERIMENT_KEY}': missing; say which experiment this file parametrises,{hint}"
            )
        try:
            experiment = get_experiment(name)
        except UnknownExperimentError as exc:
            raise UnknownExperimentError(f"{origin}: key '{EXPERIMENT_KEY}': {exc}") from None
    params = load_config(
        source, experiment.schema, experiment.checks, overrides, origin=origin, experiment=experiment.name
    )
    return experiment, params, origin
