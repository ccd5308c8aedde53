"""``synaptica run ... --format nwb``: the run folder also gets ``spikes.nwb``.

``spikes.npz`` stays in every run folder (the one file ``analyze``, sweeps and the plots
share); ``--format nwb`` adds ``spikes.nwb`` beside it, the same spikes with session
metadata that passes NWB Inspector (:mod:`synaptica.io.nwb`). Session metadata comes from
``--nwb-*`` options, not from the experiment's TOML: the TOML is one experiment's
validated, flat parameter set (its fingerprint names a checkpoint), while subject,
experimenter or start time describe the recording session and change no result.

Defaults for a run: session start = the moment the run claimed its folder (the time in
``provenance.json``), session description = the experiment's summary, subject = the
simulated network (see :class:`~synaptica.io.nwb.NWBMetadata`), units ``resolution`` =
the experiment's ``dt_ms`` (or ``step_ms``) in s. ``notes`` holds the resolved
configuration and the provenance record of :mod:`synaptica.cli.provenance` as JSON.
"""
from __future__ import annotations

import datetime as _dt
import json
from pathlib import Path
from typing import Any, Callable

import click

from ..config import ConfigError
from ..experiments import Experiment, ExperimentResult
from ..io.nwb import SEXES, NWBMetadata, NWBMetadataError, parse_start_time
from .folder import OutputClaim, now_utc
from .provenance import provenance

__all__ = ["FORMATS", "NWB_FILE", "nwb_metadata", "nwb_options", "nwb_writer"]

FORMATS = ("npz", "nwb")
NWB_FILE = "spikes.nwb"
STEP_KEYS = ("dt_ms", "step_ms")  # an experiment's simulation step, in ms
# option -> NWBMetadata field it sets
_OPTION_FIELDS = {
    "--nwb-subject": "subject_id", "--nwb-species": "species", "--nwb-sex": "sex",
    "--nwb-description": "session_description", "--nwb-start": "session_start_time",
    "--nwb-experimenter": "experimenter", "--nwb-institution": "institution", "--nwb-lab": "lab",
}
_FIELD_OPTIONS = {field: option for option, field in _OPTION_FIELDS.items()}


def nwb_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Add ``--format`` and the ``--nwb-*`` options to a click command (kwargs ``spikes_format``, ``nwb_*``)."""
    options = [
        click.option("--format", "spikes_format", type=click.Choice(FORMATS), default="npz", show_default=True,
                     help="nwb: also write spikes.nwb (NWB 2, passes nwbinspector) beside spikes.npz."),
        click.option("--nwb-subject", metavar="ID", help="NWB subject id [default: the experiment name]."),
        click.option("--nwb-species", metavar="NAME",
                     help="Species modelled, Latin binomial or NCBI taxonomy IRI [default: NCBITaxon_32630, "
                          "'synthetic construct']."),
        click.option("--nwb-sex", metavar="|".join(SEXES), help="Subject sex M/F/U (unknown)/O [default: U]."),
        click.option("--nwb-description", metavar="TEXT", help="Session description [default: the experiment's summary]."),
        click.option("--nwb-start", metavar="ISO8601",
                     help="Session start with UTC offset, e.g. 2024-05-01T09:30:00+00:00 [default: the run's start]."),
        click.option("--nwb-experimenter", multiple=True, metavar="'LAST, FIRST'", help="Experimenter. Repeatable."),
        click.option("--nwb-institution", metavar="TEXT", help="Institution."),
        click.option("--nwb-lab", metavar="TEXT", help="Lab."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def nwb_metadata(experiment: Experiment, params: dict, spikes_format: str, **given: Any) -> NWBMetadata | None:
    """The session metadata the options ask for (None without ``--format nwb``).

    Checked before anything is simulated: a ConfigError names the offending option."""
    options = {f"--{key.replace('_', '-')}": value for key, value in given.items()}
    unknown = set(options) - set(_OPTION_FIELDS)
    if unknown:
        raise TypeError(f"unexpected NWB options {sorted(unknown)}")
    chosen = {option: value for option, value in options.items() if value not in (None, ())}
    if spikes_format != "nwb":
        if chosen:
            raise ConfigError(f"{min(chosen)}: NWB metadata needs --format nwb")
        return None
    fields: dict[str, Any] = {
        "subject_id": experiment.name, "session_description": f"synaptica run of '{experiment.name}': "
        f"{experiment.summary}", "experiment_description": experiment.summary,
        "keywords": ("spiking neural network", "simulation", "synaptica", experiment.name),
    }
    step = next((params[key] for key in STEP_KEYS if isinstance(params.get(key), (int, float))), None)
    if step is not None:
        fields["resolution_s"] = float(step) / 1000.0
    try:
        for option, value in chosen.items():
            field = _OPTION_FIELDS[option]
            fields[field] = parse_start_time(value) if field == "session_start_time" else value
        return NWBMetadata(**fields)
    except NWBMetadataError as error:
        option = _FIELD_OPTIONS.get(error.field, f"NWB {error.field}")
        raise ConfigError(f"{option}: {error.problem}") from None


def nwb_writer(meta: NWBMetadata, experiment: Experiment, params: dict, result: ExperimentResult,
               claim: OutputClaim) -> Callable[[Path], None]:
    """``write(folder)``: save ``result``'s spikes as ``folder/spikes.nwb`` with ``meta``,
    its provenance (the same record as ``provenance.json``) and resolved ``params``."""
    from ..io.spikes import save_spikes
    from .output import _group_column

    def write(folder: Path) -> None:
        record = provenance("run", claim.command, claim.started, now_utc(), params.get("seed"))
        config = json.loads(json.dumps(params, default=str))  # TOML dates and the like as text
        start = meta.session_start_time or _dt.datetime.fromisoformat(claim.started)
        full = NWBMetadata(**{
            **{name: getattr(meta, name) for name in meta.__dataclass_fields__},
            "session_start_time": start,
            "notes": {"experiment": experiment.name, "config": config, "provenance": record},
            "data_collection": (f"simulated by synaptica {record['packages']['synaptica']}: experiment "
                                f"'{experiment.name}', seed {params.get('seed')}; the resolved configuration, "
                                "package versions and command are JSON in notes"),
        })
        save_spikes(folder / NWB_FILE, result.spike_times_ms / 1000.0, result.spike_ids, n_units=result.n_neurons,
                    t_stop=result.duration_ms / 1000.0, units=_group_column(result), nwb=full)

    return write
