"""The run folder: choosing it, checking an experiment's result, writing it safely.

Layout of ``runs/<name>-<timestamp>/``::

    config.toml              fully resolved parameters (+ experiment = "<name>"); re-runnable
    metrics.json             the experiment's metrics (NaN/inf written as null)
    spikes.npz               the spike record, as `synaptica analyze` reads it (synaptica.io.spikes):
                             times (s), ids, n_units, t_start, t_stop, unit:group
    raster.png               raster + population rate
    rate_histogram.png       per-neuron firing rates
    isi_cv_histogram.png     per-neuron ISI CV
    *.png                    figures particular to the experiment (e.g. receptive fields)
    provenance.json          versions, command line, git commit, host, seed, start and end (UTC)
    .synaptica-output.json   marker: this folder is a complete run and the files it holds

The folder is claimed (locked, checked) before the experiment runs and written through
``<dir>.partial``, so a folder under its final name is always a complete run, and a
folder holding anything of the user's is never replaced: see :mod:`synaptica.cli.folder`.
Experiments report spike times in ms (:class:`ExperimentResult`); ``spikes.npz`` stores
them in s over the window ``[0, duration]``, with each unit's group name (``""`` if in
none) when the experiment names groups.
"""
from __future__ import annotations

import json
import math
from datetime import datetime
from numbers import Number
from pathlib import Path
from typing import Any, Callable

import numpy as np
import tomli_w

from ..config import EXPERIMENT_KEY
from ..experiments.base import ExperimentResult
from ..io.spikes import save_spikes
from .folder import MARKER, OutputClaim, check_out_dir, claim_out_dir
from .folder import write_folder as _write_folder
from .provenance import PROVENANCE, provenance, write_provenance

__all__ = ["RUN_FILES", "InvalidResultError", "OutputClaim", "check_out_dir", "check_result", "claim_out_dir",
           "default_out_dir", "write_folder", "write_run"]

RUN_FILES = (
    "config.toml",
    "metrics.json",
    "spikes.npz",
    "raster.png",
    "rate_histogram.png",
    "isi_cv_histogram.png",
    PROVENANCE,
    MARKER,
)


class InvalidResultError(ValueError):
    """An experiment returned something that breaks the ExperimentResult contract."""


def default_out_dir(name: str, root: Path = Path("runs"), now: datetime | None = None) -> Path:
    """``root/<name>-YYYYmmdd-HHMMSS``, with ``-2``, ``-3``... appended if taken."""
    stamp = (now or datetime.now()).strftime("%Y%m%d-%H%M%S")
    candidate = root / f"{name}-{stamp}"
    counter = 2
    while any(p.exists() or p.is_symlink() for p in (candidate, *(candidate.with_name(candidate.name + suffix)
                                                                  for suffix in (".partial", ".lock")))):
        candidate = root / f"{name}-{stamp}-{counter}"
        counter += 1
    return candidate


def _number(value: Any, key: str) -> float | int | bool | None:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bool) or isinstance(value, int):
        return value
    if isinstance(value, Number):
        value = float(value)  # type: ignore[arg-type]
        return value if math.isfinite(value) else None
    raise InvalidResultError(f"metric '{key}' is not a number: {value!r}")


def check_result(result: Any, name: str) -> ExperimentResult:
    """Validate an experiment's return value; return it with canonical dtypes.

    Raises InvalidResultError naming the experiment and the broken field.
    """
    def fail(why: str) -> InvalidResultError:
        return InvalidResultError(f"experiment '{name}' returned an invalid result: {why}")

    if not isinstance(result, ExperimentResult):
        raise fail(f"expected an ExperimentResult, got {type(result).__name__}")
    times = np.asarray(result.spike_times_ms, dtype=np.float64)
    ids = np.asarray(result.spike_ids)
    if times.ndim != 1 or times.shape != ids.shape:
        raise fail(f"spike_times_ms {times.shape} and spike_ids {ids.shape} must be 1-D of equal length")
    if ids.size and not np.issubdtype(ids.dtype, np.integer):
        raise fail(f"spike_ids must be integers, got dtype {ids.dtype}")
    n_neurons = int(result.n_neurons)
    if ids.size and (ids.min() < 0 or ids.max() >= n_neurons):
        raise fail(f"spike_ids must lie in [0, {n_neurons}), got [{ids.min()}, {ids.max()}]")
    duration = float(result.duration_ms)
    if not (duration > 0 and math.isfinite(duration)):
        raise fail(f"duration_ms must be finite and > 0, got {duration}")
    if times.size and not (np.all(np.isfinite(times)) and times.min() >= 0 and times.max() <= duration):
        raise fail(f"spike_times_ms must lie in [0, duration_ms = {duration:g}], "
                   f"got [{np.nanmin(times):g}, {np.nanmax(times):g}] (or NaN)")
    order = np.argsort(times, kind="stable")  # spikes.npz stores them sorted by time
    times, ids = times[order], ids[order]
    if not isinstance(result.metrics, dict):
        raise fail("metrics must be a dict")
    metrics = {str(k): _number(v, str(k)) for k, v in result.metrics.items()}
    groups = {str(k): (int(a), int(b)) for k, (a, b) in result.groups.items()}
    for figure in result.figures:
        if not (figure.endswith(".png") and "/" not in figure and figure not in RUN_FILES):
            raise fail(f"figure names must be new *.png file names, got {figure!r}")
    return ExperimentResult(times, ids.astype(np.int64, copy=False), n_neurons, duration, metrics, groups,
                            dict(result.figures))


def _group_column(result: ExperimentResult) -> dict[str, np.ndarray]:
    """``{"group": name of each unit's first group, "" if in none}``, or ``{}`` without groups."""
    if not result.groups:
        return {}
    column = np.full(result.n_neurons, "", dtype=object)
    for group, (start, stop) in reversed(result.groups.items()):  # the first group wins
        column[start:stop] = group
    return {"group": column.astype(str)}


def _write_files(folder: Path, name: str, params: dict, result: ExperimentResult) -> None:
    from .. import plotting  # matplotlib only when a run finishes

    config = {EXPERIMENT_KEY: name, **params}
    (folder / "config.toml").write_text(tomli_w.dumps(config), encoding="utf-8")
    (folder / "metrics.json").write_text(
        json.dumps(result.metrics, indent=2, allow_nan=False) + "\n", encoding="utf-8"
    )
    save_spikes(folder / "spikes.npz", result.spike_times_ms / 1000.0, result.spike_ids,
                n_units=result.n_neurons, t_stop=result.duration_ms / 1000.0, units=_group_column(result))
    args = (result.spike_ids, result.n_neurons)
    plotting.plot_raster_with_rate(
        result.spike_times_ms, *args, result.duration_ms, folder / "raster.png", groups=result.groups
    )
    plotting.plot_rate_histogram(*args, result.duration_ms, folder / "rate_histogram.png", groups=result.groups)
    plotting.plot_isi_cv_histogram(
        result.spike_times_ms, *args, folder / "isi_cv_histogram.png", groups=result.groups
    )
    for figure, write in result.figures.items():
        write(folder / figure)


def write_run(out_dir: Path, name: str, params: dict, result: ExperimentResult,
              also: Callable[[Path], None] | None = None) -> Path:
    """Write every run file of an experiment's result into ``out_dir`` (see :func:`write_folder`);
    ``also(folder)`` adds optional files (e.g. ``spikes.nwb``) to the folder being written."""
    def write(folder: Path) -> None:
        _write_files(folder, name, params, result)
        if also is not None:
            also(folder)

    return write_folder(out_dir, write, kind="run", seed=params.get("seed"))


def write_folder(out_dir: Path, write_files: Callable[[Path], None], *, kind: str = "run",
                 seed: int | None = None) -> Path:
    """Write an output folder of ``kind`` (``"run"`` or ``"analyze"``) safely: ``write_files(folder)``
    fills it, ``provenance.json`` and the marker are added, and it replaces ``out_dir``
    only if that holds nothing but an earlier ``kind`` output (:mod:`synaptica.cli.folder`).
    Raises :class:`~synaptica.config.ConfigError` when ``out_dir`` may not be written."""
    from .folder import now_utc

    def add_provenance(claim: OutputClaim, folder: Path) -> None:
        write_provenance(folder, provenance(kind, claim.command, claim.started, now_utc(), seed))

    return _write_folder(Path(out_dir), write_files, kind=kind, extra_files=add_provenance)
