"""Real recordings and connectomes read straight from data files that Python packages ship.

Package folders are located with :func:`importlib.util.find_spec`, which does not run the
package's code: nitime's and wormneuroatlas's imports are heavy and cect pins
``numpy<2.4``, so cect and wormneuroatlas are installed without their dependencies
(``pip install --no-deps cect==0.3.5 wormneuroatlas==0.0.7.3``) and never imported.

* :func:`load_grasshopper`: spike trains of an auditory receptor neuron of the locust
  *Locusta migratoria*, recorded intracellularly while a 10 s amplitude-modulated tone was
  played (Rokem et al. 2006, J Neurophysiol 95:2541-52), as shipped in nitime's
  ``data`` folder: ``grasshopper_spike_times{1,2}.txt`` hold one spike time per line in
  microseconds after a ``# key: value`` header; ``grasshopper_stimulus{1,2}.txt`` the
  stimulus envelope sampled every 50 us (20 kHz, 200000 samples = 10 s), first column the
  time in us. Recording 1 used a noise envelope with a 200 Hz cut-off, recording 2 one
  with an 800 Hz cut-off (same cell, separate presentations).
* :func:`load_celegans_connectome`: the connectomes that cect 0.3.5 (C. elegans
  Connectome Toolbox, OpenWorm) ships pre-read in ``cect/cache/<Dataset>Reader.json``:
  node names and one dense ``[pre, post]`` matrix per synapse class. Cell types come from
  ``cect/data/all_cell_info.csv``.
* :func:`load_signal_propagation_atlas`: the neural signal propagation atlas (Randi et
  al. 2023, Nature 623:406-414), shipped by wormneuroatlas 0.0.7.3 as
  ``wormneuroatlas/data/funatlas.h5``.
"""
from __future__ import annotations

import csv
import importlib.util
import json
from pathlib import Path
from typing import NamedTuple, Sequence

import numpy as np

from synaptica.record import SpikeRecord

__all__ = ["load_grasshopper", "load_grasshopper_stimulus", "GRASSHOPPER_DURATION", "Connectome", "celegans_neurons",
           "celegans_connectomes", "load_celegans_connectome", "SignalPropagationAtlas",
           "load_signal_propagation_atlas", "package_dir"]

GRASSHOPPER_DURATION = 10.0  # s: the stimulus files hold 200000 samples at 50 us
_INSTALL = {"nitime": "pip install nitime",
            "cect": "pip install --no-deps cect==0.3.5",
            "wormneuroatlas": "pip install --no-deps wormneuroatlas==0.0.7.3"}


def package_dir(package: str) -> Path:
    """The folder of an installed package, found without importing it."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        install = _INSTALL.get(package, f"pip install {package}")
        raise ImportError(f"the data of package '{package}' is not installed: {install}")
    return Path(list(spec.submodule_search_locations)[0])


def _data_file(package: str, *parts: str) -> Path:
    path = package_dir(package).joinpath(*parts)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: data file missing from the installed '{package}' package")
    return path


# -- grasshopper auditory receptor (nitime) --------------------------------------------------
def _read_grasshopper_spikes(path: Path) -> tuple[np.ndarray, dict[str, str]]:
    header, values = {}, []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        line = line.strip()
        if line.startswith("#"):
            key, _, value = line[1:].partition(":")
            header[key.strip()] = value.strip()
        elif line:
            try:
                values.append(float(line))
            except ValueError:
                raise ValueError(f"{path}:{number}: expected a spike time in us, got '{line}'") from None
    return np.asarray(values) / 1e6, header  # us -> s (division by 1e6 rounds once)


def load_grasshopper(recordings: Sequence[int] = (1, 2)) -> SpikeRecord:
    """The locust auditory-receptor spike trains shipped with nitime (Rokem et al. 2006).

    Each recording becomes one unit over ``[0, 10]`` s (the recordings are of the same
    cell but were not simultaneous: treat units as trials). Metadata per unit:
    ``recording`` (1 or 2), ``cutoff_hz`` (cut-off of the stimulus noise envelope),
    ``intensity_db`` (stimulus intensity, dB SPL), ``carrier_khz`` (tone frequency),
    ``stimulus`` (the stimulus file name in the lab's records).
    """
    recordings = [int(r) for r in recordings]
    if not recordings or any(r not in (1, 2) for r in recordings):
        raise ValueError(f"grasshopper recordings are 1 and 2, got {recordings}")
    trains, meta = [], {"recording": [], "cutoff_hz": [], "intensity_db": [], "carrier_khz": [], "stimulus": []}
    for r in recordings:
        path = _data_file("nitime", "data", f"grasshopper_spike_times{r}.txt")
        times, header = _read_grasshopper_spikes(path)
        trains.append(times)
        meta["recording"].append(r)
        meta["cutoff_hz"].append(float(header.get("cut-off frequency (Hz)", "nan")))
        meta["intensity_db"].append(float(header.get("intensity (dB)", "nan")))
        meta["carrier_khz"].append(float(header.get("carrier freq (kHz)", "nan")))
        meta["stimulus"].append(Path(header.get("stimulus file", "")).name)
    units = {k: np.asarray(v) for k, v in meta.items()}
    return SpikeRecord.from_trains(trains, t_start=0.0, t_stop=GRASSHOPPER_DURATION, units=units,
                                   source="nitime grasshopper")


def load_grasshopper_stimulus(recording: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """``(times, envelope)`` of the stimulus of a grasshopper recording: times in s (every
    50 us), the amplitude envelope as stored (relative, maximum 1). nitime's example maps it
    to dB SPL as ``intensity_db + 20 * log10(envelope / envelope.max())``."""
    if recording not in (1, 2):
        raise ValueError(f"grasshopper recordings are 1 and 2, got {recording}")
    data = np.loadtxt(_data_file("nitime", "data", f"grasshopper_stimulus{recording}.txt"))
    return data[:, 0] / 1e6, data[:, 1]


# -- C. elegans connectomes (cect) -----------------------------------------------------------
class Connectome(NamedTuple):
    """A connectome: ``weights[i, j]`` is the strength from ``names[i]`` (pre) to
    ``names[j]`` (post), summed over ``classes``, of synapse kind ``synapse``. Units are the
    source's (Cook et al. 2019: EM serial sections of contact; gap junctions symmetric)."""
    names: tuple[str, ...]
    weights: np.ndarray
    synapse: str
    classes: tuple[str, ...]


# synapse classes of cect's datasets -> kind (monoamines and peptides act extrasynaptically)
_KINDS = {"Generic_GJ": "electrical", "Contact": "contact", "Functional": "functional", "Peptidergic": "extrasynaptic",
          "Dopamine": "extrasynaptic", "Serotonin": "extrasynaptic", "Tyramine": "extrasynaptic",
          "Octopamine": "extrasynaptic"}
_NON_NEURON_WORDS = ("muscle", "cell", "epithelium", "membrane", "gland", "hypodermis", "intestine", "proctodeum",
                     "gonad")


def _kind(synclass: str) -> str:
    return _KINDS.get(synclass, "chemical")


def celegans_connectomes() -> list[str]:
    """Names of the datasets cect ships pre-read (e.g. ``Cook2019Herm``, ``Witvliet8``)."""
    cache = package_dir("cect") / "cache"
    names = []
    for path in sorted(cache.glob("*.json")):
        name = path.stem.replace("DataReader", "").replace("Reader", "")
        if name not in ("symmetry_measures", "Test"):
            names.append(name)
    return names


def _cache_file(name: str) -> Path:
    cache = package_dir("cect") / "cache"
    for stem in (f"{name}Reader", f"{name}DataReader", name):
        if (cache / f"{stem}.json").is_file():
            return cache / f"{stem}.json"
    digits = name.rstrip("0123456789")
    if digits != name and (cache / f"{digits}DataReader{name[len(digits):]}.json").is_file():
        return cache / f"{digits}DataReader{name[len(digits):]}.json"  # Witvliet8 -> WitvlietDataReader8
    raise ValueError(f"no C. elegans connectome '{name}' in cect; available: {', '.join(celegans_connectomes())}")


def celegans_neurons(hermaphrodite_only: bool = False) -> set[str]:
    """Names of the C. elegans neurons in cect's cell table (302 in the hermaphrodite)."""
    path = _data_file("cect", "data", "all_cell_info.csv")
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    neurons = set()
    for row in rows:
        kind = row["Type"].lower()
        if any(word in kind for word in _NON_NEURON_WORDS):
            continue
        if hermaphrodite_only and "male" in kind:
            continue
        neurons.add(row["Cell name"])
    return neurons


def load_celegans_connectome(name: str = "Cook2019Herm", *, synapse: str = "chemical",
                             neurons_only: bool = True) -> Connectome:
    """A C. elegans connectome from cect's pre-read datasets (no ``import cect``).

    name:    dataset, see :func:`celegans_connectomes`; default the adult hermaphrodite of
             Cook et al. 2019 (Nature 571:63-71).
    synapse: ``"chemical"`` (all neurotransmitter classes), ``"electrical"`` (gap
             junctions), ``"extrasynaptic"`` (monoamines, peptides), ``"contact"``,
             ``"functional"``, or one exact class name (e.g. ``"GABA"``).
    neurons_only: drop muscles and other cells (keeps the dataset's order).
    Returns a :class:`Connectome` with ``weights`` (n, n) float64, ``[pre, post]``.
    """
    path = _cache_file(name)
    with open(path) as handle:
        data = json.load(handle)
    nodes = [str(n) for n in data["nodes"]]
    available = list(data["connections"])
    classes = [c for c in available if c == synapse or _kind(c) == synapse]
    if not classes:
        raise ValueError(f"connectome '{name}' has no '{synapse}' synapses; its classes are "
                         f"{', '.join(f'{c} ({_kind(c)})' for c in available)}")
    weights = np.zeros((len(nodes), len(nodes)))
    for synclass in classes:
        matrix = np.asarray(data["connections"][synclass], dtype=np.float64)
        if matrix.shape != weights.shape:
            raise ValueError(f"{path}: class {synclass} has shape {matrix.shape}, expected {weights.shape}")
        weights += matrix
    if neurons_only:
        neurons = celegans_neurons()
        keep = np.array([n in neurons for n in nodes])
        nodes = [n for n, k in zip(nodes, keep) if k]
        weights = weights[np.ix_(keep, keep)]
    return Connectome(tuple(nodes), weights, synapse, tuple(classes))


# -- signal propagation atlas (wormneuroatlas) -----------------------------------------------
class SignalPropagationAtlas(NamedTuple):
    """Responses to optogenetic stimulation of single neurons (Randi et al. 2023), all
    (n, n) with rows = stimulated neuron, columns = responding neuron (the source's
    matrices transposed, to match connectomes' ``[pre, post]``):

    response: mean dF/F of the responder after stimulation, averaged over a time window
              and trials; NaN where the pair was never observed.
    q:        q-value (false-discovery-rate corrected) of the test for a response.
    n_trials: number of stimulation trials with the responder observed.
    """
    names: tuple[str, ...]
    response: np.ndarray
    q: np.ndarray
    n_trials: np.ndarray


def load_signal_propagation_atlas(strain: str = "wt") -> SignalPropagationAtlas:
    """The signal propagation atlas of wormneuroatlas (no ``import wormneuroatlas``):
    ``strain="wt"`` (wild type) or ``"unc31"`` (unc-31 mutants, no dense-core-vesicle,
    i.e. neuropeptide, release). 300 neurons."""
    if strain not in ("wt", "unc31"):
        raise ValueError(f"strain must be 'wt' or 'unc31', got '{strain}'")
    import h5py

    path = _data_file("wormneuroatlas", "data", "funatlas.h5")
    with h5py.File(path, "r") as f:
        names = tuple(n.decode() for n in f["neuron_ids"][()])
        group = f[strain]
        response, q, trials = (np.ascontiguousarray(group[k][()].T) for k in ("dFF", "q", "occ1"))
    return SignalPropagationAtlas(names, response, q, trials)
