"""``synaptica export NAME --to pynn --out model.py``: write an experiment's network as a
self-contained PyNN script (see :mod:`synaptica.io.pynn`), run elsewhere with
``python model.py --simulator nest``.

Registered on the ``synaptica`` command group by one import line in :mod:`synaptica.cli.main`.
Exit codes as ``synaptica run``: 2 for a refused configuration or a network PyNN cannot
express (the message names what), 1 for an unexpected failure.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Sequence

import click
from rich.console import Console
from rich.text import Text

from ..config import ConfigError
from ..experiments import load_experiment_config
from .main import CONFIG_ERROR_EXIT, _fail, _one_line, main


def _cuba_network(p: dict) -> Any:
    from ..experiments.cuba import build_cuba
    return build_cuba(p)[0]


def _distal_reward_network(p: dict) -> Any:
    from ..experiments.distal_reward import build_distal_reward
    return build_distal_reward(p)[0]


#: Experiments whose runner exposes its network: name -> resolved parameters -> Network.
NETWORK_BUILDERS: dict[str, Callable[[dict], Any]] = {
    "cuba": _cuba_network,
    "distal-reward": _distal_reward_network,
}


@main.command("export")
@click.argument("target", metavar="NAME|FILE.toml")
@click.option("--to", "fmt", type=click.Choice(["pynn"]), required=True, help="Export format.")
@click.option("--out", "-o", "out", type=click.Path(path_type=Path), required=True, metavar="FILE.py",
              help="The script to write; its arrays go beside it as FILE.npz.")
@click.option("--set", "-s", "overrides", multiple=True, metavar="KEY=VALUE", help="Override one parameter. Repeatable.")
@click.option("--duration", type=float, default=None, metavar="MS",
              help="Default simulated time of the script [default: the experiment's duration_ms, else 1000].")
def export(target: str, fmt: str, out: Path, overrides: Sequence[str], duration: float | None) -> None:
    """Export the network of experiment NAME (or FILE.toml) to a PyNN script plus .npz arrays.

    Networks using anything PyNN cannot express (models, plasticity rules, modulators,
    ...) are refused with every reason named, before anything is written.
    """
    from ..io.pynn import PyNNExportError, write_script

    try:
        experiment, params, origin = load_experiment_config(target, list(overrides))
    except ConfigError as exc:
        _fail(str(exc), CONFIG_ERROR_EXIT)
    builder = NETWORK_BUILDERS.get(experiment.name)
    if builder is None:
        _fail(f"{origin}: experiment '{experiment.name}' does not expose its network for export "
              f"(exportable: {', '.join(sorted(NETWORK_BUILDERS))})", CONFIG_ERROR_EXIT)
    duration_ms = duration if duration is not None else float(params.get("duration_ms", 1000.0))
    try:
        net = builder(params)
        script, arrays = write_script(net, out, duration_ms, source=f"{experiment.name} ({origin})")
    except PyNNExportError as exc:
        _fail(f"{origin}: {exc}", CONFIG_ERROR_EXIT)
    except (ValueError, OSError) as exc:
        _fail(f"{origin}: cannot export ({_one_line(exc)})", CONFIG_ERROR_EXIT if isinstance(exc, ValueError) else 1)
    Console(highlight=False).print(Text(f"wrote {script} and {arrays}"), soft_wrap=True)
