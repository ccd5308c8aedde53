"""Discovering experiments: ``synaptica show NAME``, ``synaptica config NAME``, name completion.

``show`` prints the summary, the first paragraph of the experiment module's docstring and
every parameter with the default a run uses, its unit, allowed range and help, grouped
into run control (time, step, seed, precision, sizes of the run) and model parameters.
``config`` prints a commented TOML file to start from; ``synaptica run`` of that file
runs exactly the parameters of ``synaptica run NAME``.

Shell completion of experiment names (bash; zsh and fish alike)::

    eval "$(_SYNAPTICA_COMPLETE=bash_source synaptica)"

Registered on the ``synaptica`` group by one import line in :mod:`synaptica.cli.main`.
"""
from __future__ import annotations

import re
import sys
import textwrap
from typing import Any, NamedTuple

import click
import tomli_w
from click.shell_completion import CompletionItem
from rich.console import Console
from rich.table import Table
from rich.text import Text

from ..config import EXPERIMENT_KEY, ConfigError
from ..experiments import Experiment, known_names, load_experiment_config
from .main import CONFIG_ERROR_EXIT, _fail, main

__all__ = ["ParameterInfo", "complete_experiment", "config_text", "parameters"]

# parameters that say how long, how fine, how reproducibly or at what precision a run goes,
# rather than what the model is
_RUN_CONTROL = re.compile(r"^(seed|dtype|device|duration(_\w+)?|dt(_\w+)?|step_ms|n_steps|record(_\w+)?|"
                          r"epochs?|n_epochs|batch(_size)?|steps?|n_trials|trials|warmup(_\w+)?|mc_steps)$")
_NAME_UNITS = {"_ms": "ms", "_s": "s", "_hz": "Hz", "_mv": "mV", "_pa": "pA", "_ns": "nS", "_um": "um"}
_UNIT_IN_HELP = re.compile(r"\(([A-Za-zµμΩ%/^·*0-9-]{1,8})\)")


class ParameterInfo(NamedTuple):
    """One parameter as ``show`` and ``config`` present it."""

    name: str
    default: Any  # what `synaptica run NAME` uses: the packaged TOML over the schema default
    unit: str  # '' when dimensionless or unknown
    allowed: str  # e.g. '> 0', 'in [0, 1]', 'one of "float32", "float64"', ''
    help: str
    type_name: str
    run_control: bool


def _unit(name: str, help_text: str) -> str:
    """The unit in the help's parentheses ("time step (ms)"), else the name's suffix (``_ms``)."""
    found = _UNIT_IN_HELP.search(help_text)
    if found and not found.group(1).isdigit():
        return found.group(1)
    return next((unit for suffix, unit in _NAME_UNITS.items() if name.lower().endswith(suffix)), "")


def _allowed(field: Any) -> str:
    parts = [field.range_text()]
    if field.choices is not None:
        parts.append("one of " + ", ".join(tomli_w.dumps({"v": c})[4:].strip() for c in field.choices))
    if getattr(field, "max_length", None) is not None:
        parts.append(f"at most {field.max_length} values")
    return "; ".join(p for p in parts if p)


def parameters(name: str) -> tuple[Experiment, list[ParameterInfo]]:
    """The experiment and its parameters, in schema order, with the defaults a run of NAME uses.

    Raises ConfigError (UnknownExperimentError) for a name that is no experiment."""
    experiment, params, _ = load_experiment_config(name)
    infos = [ParameterInfo(key, params[key], _unit(key, field.help), _allowed(field), field.help, field.type_name,
                           bool(_RUN_CONTROL.match(key)))
             for key, field in experiment.schema.items()]
    return experiment, infos


def _doc_paragraph(experiment: Experiment) -> str:
    """First paragraph of the docstring of the module defining the experiment's runner."""
    module = sys.modules.get(getattr(experiment.run, "__module__", "") or "")
    doc = (getattr(module, "__doc__", None) or "").strip()
    return " ".join(doc.split("\n\n")[0].split()) if doc else ""


def config_text(name: str) -> str:
    """A commented TOML file: ``experiment = NAME`` and every parameter at the default a run
    of NAME uses, each under a ``# help (unit), range`` comment."""
    experiment, infos = parameters(name)
    lines = [f"# {experiment.name}: {experiment.summary}"]
    paragraph = _doc_paragraph(experiment)
    lines += ["# " + line for line in textwrap.wrap(paragraph, 88)] if paragraph else []
    lines += ["# Run with: synaptica run <this file>; change a value here or with --set KEY=VALUE.",
              tomli_w.dumps({EXPERIMENT_KEY: experiment.name}).rstrip()]
    for group, title in ((True, "run control"), (False, "model")):
        members = [info for info in infos if info.run_control is group]
        if members:
            lines += ["", f"# --- {title} ---"]
        for info in members:
            comment = info.help or info.name
            if info.unit and f"({info.unit})" not in comment:
                comment += f" ({info.unit})"
            comment += f", {info.allowed}" if info.allowed else ""
            lines += [f"# {' '.join(comment.split())}", tomli_w.dumps({info.name: info.default}).rstrip()]
    return "\n".join(lines) + "\n"


def complete_experiment(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
    """Experiment names starting with ``incomplete`` (no experiment module is imported)."""
    return [CompletionItem(name) for name in known_names() if name.startswith(incomplete)]


def complete_experiment_or_file(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
    """Names as :func:`complete_experiment`, plus the shell's own completion of file paths."""
    return complete_experiment(ctx, param, incomplete) + [CompletionItem(incomplete, type="file")]


def _resolve(name: str) -> tuple[Experiment, list[ParameterInfo]]:
    try:
        return parameters(name)
    except ConfigError as exc:
        _fail(str(exc), CONFIG_ERROR_EXIT)


@main.command("show")
@click.argument("name", shell_complete=complete_experiment)
def show(name: str) -> None:
    """Describe experiment NAME: summary, description and each parameter's default, unit, range and help."""
    experiment, infos = _resolve(name)
    console = Console(highlight=False)
    console.print(Text(f"{experiment.name}: {experiment.summary}", style="bold"), soft_wrap=True)
    paragraph = _doc_paragraph(experiment)
    if paragraph:
        console.print(Text(paragraph))
    for group, title in ((True, "Run control"), (False, "Model parameters")):
        members = [info for info in infos if info.run_control is group]
        if not members:
            continue
        table = Table(title=title, title_justify="left", title_style="bold")
        for column, justify in (("parameter", "left"), ("default", "right"), ("unit", "left"), ("allowed", "left"),
                                ("help", "left")):
            table.add_column(column, justify=justify, overflow="fold")
        for info in members:
            table.add_row(info.name, tomli_w.dumps({"v": info.default})[4:].strip(), info.unit, info.allowed,
                          info.help)
        console.print(table)
    console.print(Text(f"synaptica config {experiment.name} > my.toml   writes these defaults to edit"), soft_wrap=True)


@main.command("config")
@click.argument("name", shell_complete=complete_experiment)
def config(name: str) -> None:
    """Print a commented TOML configuration of NAME to start from (synaptica config NAME > my.toml)."""
    _resolve(name)  # an unknown name exits 2 before anything is printed
    click.echo(config_text(name), nl=False)
