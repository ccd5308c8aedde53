"""NWB session metadata and the units-table writer behind ``save_record(..., "x.nwb")``.

A file written here passes NWB Inspector (``nwbinspector``) without CRITICAL or
BEST_PRACTICE_VIOLATION messages:

* session: ``session_description``, ``identifier`` (a fresh UUID), ``session_start_time``
  (timezone-aware; the time of writing, UTC, unless given), ``experimenter``,
  ``institution``, ``lab``, ``experiment_description``, ``keywords``;
* subject: a simulated network is no animal, so the default subject says so in its
  description, is born at the session start (``date_of_birth = session_start_time``:
  true of a network built for the run), has sex ``"U"`` (unknown) and species
  :data:`IN_SILICO_SPECIES` (NCBI taxon 32630, "synthetic construct"); give the modelled
  species (e.g. ``"Mus musculus"``) with ``species``;
* units: ``resolution`` (s) is the simulation step when known (``resolution_s``), else the
  finest grid all spike times lie on (:func:`spike_time_grid`, a multiple of the true step);
  ``obs_intervals`` of every unit and one epoch (tag ``"record"``) are the record window
  ``[t_start, t_stop]``, so readers see the time observed, not first-to-last spike
  (pynapple ignores ``obs_intervals`` but loads the epoch: ``nap.load_file(f)["epochs"]``);
* provenance: ``notes`` holds machine-readable JSON (a run's resolved configuration, seed,
  package versions, command), ``data_collection`` one human-readable line.

Importing this module is light; pynwb loads when a file is written.
"""
from __future__ import annotations

import datetime as _dt
import json
import math
import re
import uuid
from dataclasses import dataclass, field, replace
from importlib import metadata as _metadata
from pathlib import Path
from typing import Any, Mapping

import numpy as np

__all__ = ["IN_SILICO_SPECIES", "NWBMetadata", "NWBMetadataError", "parse_start_time", "spike_time_grid",
           "write_units_file"]

IN_SILICO_SPECIES = "http://purl.obolibrary.org/obo/NCBITaxon_32630"  # "synthetic construct"
SEXES = ("M", "F", "U", "O")  # NWB: male, female, unknown, other
# the forms NWB Inspector accepts: a Latin binomial or an NCBI taxonomy term IRI
_SPECIES_FORM = re.compile(r"([A-Z][a-z]* [a-z]+)|(http://purl\.obolibrary\.org/obo/NCBITaxon_\d+)")
_EARLIEST_START = _dt.datetime(1980, 1, 1, tzinfo=_dt.timezone.utc)  # Inspector flags older sessions
_GRID_QUANTUM_S = 1e-9  # spike times are put on a 1 ns grid before the common step is sought
ATTRIBUTE_WARNING = "An attribute .* already exists on"  # pynwb, for a column named like a table attribute


class NWBMetadataError(ValueError):
    """A metadata value NWB (or NWB Inspector) refuses; ``field`` names the metadata field."""

    def __init__(self, field_name: str, problem: str) -> None:
        super().__init__(f"{field_name}: {problem}")
        self.field = field_name
        self.problem = problem


def _text(name: str, value: Any, *, optional: bool) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise NWBMetadataError(name, f"must be text, got {type(value).__name__}")
    if not value.strip():
        raise NWBMetadataError(name, "must not be empty")
    return value.strip()


def parse_start_time(text: str) -> _dt.datetime:
    """An ISO 8601 date-time with a UTC offset (``2024-05-01T09:30:00+02:00`` or ``...Z``).

    A time without an offset is refused: it would be read as the local time of whichever
    machine opens the file."""
    if not isinstance(text, str):
        raise NWBMetadataError("session_start_time", f"must be an ISO 8601 text, got {type(text).__name__}")
    try:
        value = _dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise NWBMetadataError("session_start_time", f"'{text}' is not an ISO 8601 date-time, "
                               "e.g. 2024-05-01T09:30:00+00:00") from None
    return _checked_start(value)


def _checked_start(value: Any) -> _dt.datetime:
    if not isinstance(value, _dt.datetime):
        raise NWBMetadataError("session_start_time", f"must be a datetime, got {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise NWBMetadataError("session_start_time", f"'{value.isoformat()}' has no UTC offset; "
                               "add one, e.g. +00:00 or Z")
    if value < _EARLIEST_START:
        raise NWBMetadataError("session_start_time", f"{value.isoformat()} is before 1980")
    if value > _dt.datetime.now(_dt.timezone.utc) + _dt.timedelta(minutes=5):
        raise NWBMetadataError("session_start_time", f"{value.isoformat()} is in the future")
    return value


@dataclass(frozen=True)
class NWBMetadata:
    """Session, subject and provenance fields of an NWB file (see the module docstring).

    Every field is checked when the object is made (NWBMetadataError naming the field):
    texts non-empty, ``species`` a Latin binomial or an NCBI taxonomy IRI, ``sex`` one of
    M/F/U/O, ``session_start_time`` timezone-aware, from 1980 and not in the future,
    ``resolution_s`` a finite positive number of seconds.
    """

    session_description: str = "spike record written by synaptica"
    subject_id: str = "synaptica-network"
    subject_description: str = ("an in-silico spiking network simulated by synaptica, not an animal; it is built "
                                "at the session start")
    species: str = IN_SILICO_SPECIES
    sex: str = "U"
    session_start_time: _dt.datetime | None = None  # None: the time of writing (UTC)
    experimenter: tuple[str, ...] = ()
    institution: str | None = None
    lab: str | None = None
    experiment_description: str | None = None
    keywords: tuple[str, ...] = ("spiking neural network", "simulation", "synaptica")
    resolution_s: float | None = None  # None: inferred from the spike times (spike_time_grid)
    notes: Mapping[str, Any] = field(default_factory=dict)  # provenance, stored as JSON
    data_collection: str | None = None

    def __post_init__(self) -> None:
        for name in ("session_description", "subject_id", "subject_description", "species", "sex"):
            _text(name, getattr(self, name), optional=False)
        for name in ("institution", "lab", "experiment_description", "data_collection"):
            _text(name, getattr(self, name), optional=True)
        for name in ("experimenter", "keywords"):
            values = getattr(self, name)
            if isinstance(values, str) or not isinstance(values, (tuple, list)):
                raise NWBMetadataError(name, f"must be a tuple of texts, got {type(values).__name__}")
            object.__setattr__(self, name, tuple(_text(name, v, optional=False) for v in values))
        if not _SPECIES_FORM.fullmatch(self.species.strip()):
            raise NWBMetadataError("species", f"'{self.species}' must be a Latin binomial (e.g. 'Mus musculus') "
                                   "or an NCBI taxonomy IRI (http://purl.obolibrary.org/obo/NCBITaxon_<id>)")
        if self.sex not in SEXES:
            raise NWBMetadataError("sex", f"'{self.sex}' must be one of {', '.join(SEXES)}")
        if self.session_start_time is not None:
            _checked_start(self.session_start_time)
        if self.resolution_s is not None:
            value = self.resolution_s
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not (math.isfinite(value)
                                                                                     and value > 0):
                raise NWBMetadataError("resolution_s", f"must be a finite number of seconds > 0, got {value!r}")
        if not isinstance(self.notes, Mapping):
            raise NWBMetadataError("notes", f"must be a mapping, got {type(self.notes).__name__}")
        try:
            json.dumps(dict(self.notes), allow_nan=False)
        except (TypeError, ValueError) as error:
            raise NWBMetadataError("notes", f"must be JSON-serialisable ({error})") from None


def spike_time_grid(times_s: np.ndarray) -> float | None:
    """The coarsest step (s) every spike time is a whole multiple of, on a 1 ns grid.

    Simulated spikes lie on multiples of the step ``dt``, so this is ``dt`` times the
    greatest common divisor of the step counts: ``dt`` itself once the spikes are many,
    never finer. None without a nonzero spike time."""
    ticks = np.rint(np.asarray(times_s, dtype=np.float64) / _GRID_QUANTUM_S).astype(np.int64)
    ticks = ticks[ticks > 0]
    if ticks.size == 0:
        return None
    return float(np.gcd.reduce(ticks)) * _GRID_QUANTUM_S


def _writer_versions() -> dict[str, str | None]:
    from .. import __version__

    versions: dict[str, str | None] = {"synaptica": __version__}
    for name in ("pynwb", "hdmf", "numpy"):
        try:
            versions[name] = _metadata.version(name)
        except _metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def write_units_file(record: Any, columns: Mapping[str, np.ndarray], path: Path, meta: NWBMetadata | None,
                     description: str) -> None:
    """Write ``record`` (a SpikeRecord or its fields: times (s), ids, n_units, t_start,
    t_stop) as an NWB file at ``path``: units table with one row per unit, ``columns`` as
    extra per-unit columns, and the session metadata ``meta`` (defaults when None)."""
    import warnings

    import pynwb
    from hdmf.common import VectorData, VectorIndex
    from pynwb.file import Subject

    meta = meta if meta is not None else NWBMetadata()
    resolution, resolution_source = meta.resolution_s, "given"
    if resolution is None:
        resolution, resolution_source = spike_time_grid(record.times), "inferred from the spike-time grid"
    start = meta.session_start_time or _dt.datetime.now(_dt.timezone.utc)
    notes = {**dict(meta.notes), "nwb_writer": _writer_versions(), "units_resolution_s": resolution,
             "units_resolution_source": resolution_source if resolution is not None else "no spikes"}
    meta = replace(meta, session_start_time=start)

    n = record.n_units
    counts = np.bincount(record.ids, minlength=n)
    by_unit = record.times[np.argsort(record.ids, kind="stable")]  # stable: each train stays sorted
    spikes = VectorData(name="spike_times", description="spike times (s)", data=by_unit)
    windows = VectorData(name="obs_intervals", description="observation window (s): the whole record",
                         data=np.tile(np.array([[record.t_start, record.t_stop]], dtype=np.float64), (n, 1)))
    table = [spikes, VectorIndex(name="spike_times_index", data=np.cumsum(counts), target=spikes),
             windows, VectorIndex(name="obs_intervals_index", data=np.arange(1, n + 1), target=windows)]
    table += [VectorData(name=name, description=f"unit metadata '{name}'", data=column)
              for name, column in columns.items()]
    subject = Subject(subject_id=meta.subject_id, description=meta.subject_description, species=meta.species,
                      sex=meta.sex, date_of_birth=start)
    nwbfile = pynwb.NWBFile(
        session_description=meta.session_description, identifier=str(uuid.uuid4()), session_start_time=start,
        experimenter=list(meta.experimenter) or None, institution=meta.institution, lab=meta.lab,
        experiment_description=meta.experiment_description, keywords=list(meta.keywords) or None,
        notes=json.dumps(notes, sort_keys=True, allow_nan=False), data_collection=meta.data_collection,
        subject=subject)
    with warnings.catch_warnings():  # a column named like a table attribute ('name') is fine here
        warnings.filterwarnings("ignore", message=ATTRIBUTE_WARNING)
        units = pynwb.misc.Units(name="units", description=description, id=np.arange(n), columns=table,
                                 **({"resolution": resolution} if resolution is not None else {}))
        nwbfile.units = units
    nwbfile.add_epoch(start_time=float(record.t_start), stop_time=float(record.t_stop), tags=["record"])
    with pynwb.NWBHDF5IO(str(path), "w") as io:
        io.write(nwbfile)
