"""Analysis of spiking activity, simulated or recorded, on one data model (:class:`SpikeRecord`).

One module per analysis: ``stats`` (rates, ISI measures, Fano), ``correlation``
(correlograms, STTC, synchrony), ``distances``, ``avalanches`` + ``powerlaw`` + ``branching``
(criticality), ``complexity`` (Lempel-Ziv), ``glm`` (functional connectivity), ``hmm`` and
``hmm_glm`` (switching states), ``energy`` (NeuroBench operation counts), ``synthetic``
(networks with known ground truth) and ``report`` (everything at once, as ``synaptica
analyze``). Times are in seconds throughout. :class:`SpikeRecord` itself lives in
:mod:`synaptica.record`.

The names below load lazily, on first use: ``from synaptica.analysis import cv`` or
``import synaptica.analysis.stats`` imports NumPy only, not the torch, numba, scipy and
scikit-learn that the GLM, HMM and criticality modules need.
"""
from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "avalanches": ["AvalancheAnalysis", "Avalanches", "find_avalanches"],
    "basis": ["history_features", "raised_cosine_basis"],
    "branching": ["MultistepRegression", "branching_ratio_naive", "mr_estimate", "simulate_branching_network"],
    "complexity": ["LempelZiv", "lempel_ziv_complexity", "population_complexity", "spike_train_complexity"],
    "correlation": ["correlogram_lags", "cross_correlograms", "golomb_chi", "spike_count_correlation", "sttc"],
    "distances": ["van_rossum_distance", "victor_purpura_distance"],
    "energy": ["HOROWITZ_45NM", "OperationCounts", "count_model_operations", "count_network_operations",
               "energy_estimate"],
    "glm": ["CoupledPoissonGLM"],
    "hmm": ["PoissonHMM", "forward_backward", "viterbi"],
    "hmm_glm": ["HMMGLM"],
    "powerlaw": ["PowerLawFit", "compare_power_law", "fit_power_law"],
    "record": ["SpikeRecord", "SpikeRecordError"],
    "stats": ["cv", "cv2", "fano_factor", "firing_rates", "isi", "isi_cv", "lv", "population_rate", "psth", "rates"],
    "synthetic": ["markov_states", "random_coupling", "simulate_coupled_glm"],
}
_WHERE = {name: module for module, names in _EXPORTS.items() for name in names}
_SUBMODULES = {*_EXPORTS, "figures", "glm_kernels", "report"}  # reachable as attributes, as before
__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    """Import the submodule defining ``name`` (or the submodule ``name``) on first access (PEP 562)."""
    if name in _WHERE:
        value = getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
        globals()[name] = value  # later lookups skip this function
        return value
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module '{__name__}' has no attribute '{name}'")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
