"""Neurons with active dendritic segments: NMDA-like segment spikes that depolarise or drive the soma.

After Ahmad S. & Hawkins J. (2016), "How do neurons operate on sparse distributed
representations? A mathematical theory of sparsity, neurons and active dendrites"
(arXiv:1601.00720), and Hawkins J. & Ahmad S. (2016), "Why neurons have thousands of
synapses, a theory of sequence memory in neocortex" (Front. Neural Circuits 10:23).

A dendritic segment is a set of synapses with a threshold theta (synapses): it emits an
NMDA-like segment spike in a step in which at least theta of its synapses receive a
presynaptic spike (coincidence window = one step dt, so choose dt as the window)::

    c_k(t) = sum_j w_kj x_j(t - d)          (each synapse contributes w = 1 by default)
    segment spike_k(t) = [c_k(t) >= theta_k];  c_k is cleared every step

A segment spike acts on the soma of its cell in one of two ways:

* modulatory (basal/distal, "prediction"): it depolarises the soma by ``plateau_mv`` (mV)
  for ``plateau_ms`` (ms, whole steps, restarted by every new segment spike) without making
  it fire; the depolarised ("predictive") cell then fires on proximal input that alone
  would stay below threshold;
* driver: it makes the soma spike in the step it arrives (unless refractory).

The soma is the exactly integrated LIF of :mod:`synaptica.neurons.lif` (proximal input on
``i_exc`` / ``i_inh``, pA), whose spike test uses the effective threshold
``v_th - plateau_mv [plateau > 0]`` (depolarising v by plateau_mv is the same test).

How segments live in the engine: each (cell, segment) pair is one unit of a
:class:`DendriticSegment` population (n_cells x n_segments units, cell-major), whose
receptor ``synaptic_count`` sums the synapses that received a spike this step. A fixed
many-to-one projection (weight 1, delay dt) carries segment spikes into the soma's
receptor ``dend_mod`` (modulatory) or ``dend_drive`` (driver). :func:`add_dendritic_population`
builds the two populations and that wiring; :meth:`DendritePopulation.connect_synapses`
places synapses onto chosen segments. Both engine paths run the same descriptions, so
segment and somatic spikes are identical on them. Timing: a presynaptic spike at step t
reaches the segment at t + d (d >= 1 step) and a segment spike reaches the soma one step later.
Units: ms, mV, pA, GOhm; counts and theta in synapses.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from synaptica.neurons.base import NeuronModel, Parameter
from synaptica.neurons.lif import LIF, lif_fire, lif_membrane
from synaptica.primitives import maximum, minimum, spike, where

ROLES = ("modulatory", "driver")


def segment_coefficients(dt, theta):
    return {"theta": theta}


def segment_update(synaptic_count, theta):
    """Segment spike when at least theta synapses were active this step; the count is cleared."""
    return 0.0 * synaptic_count, spike(synaptic_count - theta)


class DendriticSegment(NeuronModel):
    """One dendritic segment per unit: a coincidence detector of its synapses (see module doc)."""

    state = ("synaptic_count",)
    receptors = ("synaptic_count",)
    parameters = {"theta": Parameter(10.0, "synapses", positive=True,
                                     help="NMDA spike threshold: coincident active synapses needed")}
    coefficients_function = staticmethod(segment_coefficients)
    update_function = staticmethod(segment_update)

    def __init__(self, **values: Any) -> None:
        super().__init__(**values)
        theta = np.asarray(self.values["theta"])
        if np.any(theta != np.round(theta)):
            raise ValueError(f"DendriticSegment: parameter 'theta' must be a whole number of synapses, got {theta!r}")

    def initial_state(self) -> dict[str, Any]:
        return {"synaptic_count": 0.0}


def dendritic_soma_coefficients(dt, plateau_mv, plateau_ms):
    return {"plateau_mv": plateau_mv, "plateau_steps": (plateau_ms / dt + 0.5) // 1.0}


def dendritic_soma_update(v, i_exc, i_inh, refractory, dend_mod, dend_drive, plateau, i_ext, decay_m, decay_exc,
                          decay_inh, couple_exc, couple_inh, drive_ext, v_rest, v_reset, v_th, refractory_steps,
                          subtract, plateau_steps, plateau_mv):
    # a new modulatory segment spike restarts the plateau; otherwise it counts down (steps)
    plateau = where(dend_mod > 0.5, plateau_steps, maximum(plateau - 1.0, 0.0))
    v, i_exc, i_inh, refractory = lif_membrane(v, i_exc, i_inh, refractory, i_ext, decay_m, decay_exc, decay_inh,
                                               couple_exc, couple_inh, drive_ext, v_rest)
    # v is held at v_reset while refractory: the plateau must not lift it over threshold then
    threshold = v_th - where((plateau > 0.0) & (refractory <= 0.0), plateau_mv, 0.0 * v)
    threshold = where((dend_drive > 0.5) & (refractory <= 0.0), minimum(threshold, v), threshold)
    v, refractory, s = lif_fire(v, refractory, threshold, v_reset, refractory_steps, subtract)
    return v, i_exc, i_inh, refractory, 0.0 * dend_mod, 0.0 * dend_drive, plateau, s


class DendriticSoma(LIF):
    """LIF soma with receptors for modulatory (``dend_mod``) and driver (``dend_drive``)
    segment spikes (see module doc); ``plateau`` counts the remaining depolarised steps."""

    state = ("v", "i_exc", "i_inh", "refractory", "dend_mod", "dend_drive", "plateau")
    receptors = ("i_exc", "i_inh", "dend_mod", "dend_drive")
    parameters = {
        **LIF.parameters,
        "plateau_mv": Parameter(10.0, "mV", non_negative=True,
                                help="somatic depolarisation while a modulatory segment spike lasts"),
        "plateau_ms": Parameter(50.0, "ms", non_negative=True,
                                help="duration of the depolarisation (rounded to whole steps)"),
    }
    coefficients_function = staticmethod(dendritic_soma_coefficients)
    update_function = staticmethod(dendritic_soma_update)
    helpers = (lif_membrane, lif_fire)

    def __init__(self, **values: Any) -> None:
        super().__init__(**values)
        gap = np.asarray(self.values["v_th"]) - np.asarray(self.values["v_rest"])
        if np.any(np.asarray(self.values["plateau_mv"]) >= gap):
            raise ValueError("DendriticSoma: parameter 'plateau_mv' must be below v_th - v_rest: a modulatory "
                             "segment spike depolarises without firing (use a driver segment to fire)")

    def initial_state(self) -> dict[str, Any]:
        return {**super().initial_state(), "dend_mod": 0.0, "dend_drive": 0.0, "plateau": 0.0}

    def check_state(self, variable: str, values: np.ndarray) -> str | None:
        if variable == "plateau" and np.any(values < 0):
            return f"must be >= 0 (steps), got a minimum of {values.min():g}"
        return super().check_state(variable, values)


@dataclass
class DendritePopulation:
    """Cells with dendritic segments in a network: ``soma`` (n_cells) and ``segments``
    (n_cells x n_segments units; unit ``cell * n_segments + segment``)."""

    soma: Any          # Population of DendriticSoma (or any model with the dendritic receptors)
    segments: Any      # Population of DendriticSegment
    n_cells: int
    n_segments: int
    roles: np.ndarray  # (n_cells, n_segments) "modulatory" / "driver"

    def segment_index(self, cell: Any, segment: Any) -> np.ndarray:
        """Unit index in ``segments`` of (cell, segment) pairs (broadcast int arrays)."""
        cell, segment = np.broadcast_arrays(np.asarray(cell), np.asarray(segment))
        for name, value, size in (("cell", cell, self.n_cells), ("segment", segment, self.n_segments)):
            if value.size and (not np.issubdtype(value.dtype, np.integer) or value.min() < 0 or value.max() >= size):
                raise ValueError(f"DendritePopulation: {name} indices must be integers in [0, {size})")
        return (cell.astype(np.int64) * self.n_segments + segment).ravel()

    def segments_of(self, cell: int):
        """View of the segment units of one cell (for monitors or wiring)."""
        return self.segments[cell * self.n_segments:(cell + 1) * self.n_segments]

    def connect_synapses(self, net, pre, pre_index: Any, cell: Any, segment: Any, weight: Any = 1.0,
                         delay: Any = None, name: str | None = None):
        """Synapses from ``pre`` neurons ``pre_index`` onto segment ``segment`` of cell
        ``cell`` (equal-length int arrays, or scalars broadcast); ``weight`` 1 counts one
        active synapse. A (pre, segment) pair may appear only once."""
        pre_index = np.asarray(pre_index)
        cell, segment = (np.broadcast_to(np.asarray(x), pre_index.shape) for x in (cell, segment))
        post = self.segment_index(cell, segment)
        pre_flat = pre_index.ravel().astype(np.int64)
        if pre_flat.size and np.unique(pre_flat * self.segments.n + post).size != pre_flat.size:
            raise ValueError("DendritePopulation.connect_synapses: a presynaptic neuron is connected twice "
                             "to the same segment")
        return net.connect(pre, self.segments, pre_index=pre_flat, post_index=post, weight=weight, delay=delay,
                           target="synaptic_count", name=name)


def add_dendritic_population(net, n_cells: int, n_segments: int, theta: Any = 10.0, soma: NeuronModel | None = None,
                             roles: Any = "modulatory", name: str = "dendritic") -> DendritePopulation:
    """Add ``n_cells`` cells with ``n_segments`` segments each to ``net``.

    ``theta``: segment threshold (synapses): a scalar, or (n_cells, n_segments).
    ``soma``: the somatic model (default :class:`DendriticSoma()`); it needs the receptors
    ``dend_mod`` / ``dend_drive`` of the roles used. ``roles``: "modulatory", "driver", or
    an (n_cells, n_segments) array of those. Segment spikes reach the soma after one step.
    """
    for label, value in (("n_cells", n_cells), ("n_segments", n_segments)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"add_dendritic_population: {label} must be a positive integer, got {value!r}")
    shape = (int(n_cells), int(n_segments))
    roles = np.broadcast_to(np.asarray(roles, dtype=object), shape) if np.ndim(roles) == 0 else np.asarray(roles)
    if roles.shape != shape or not set(roles.ravel().tolist()) <= set(ROLES):
        raise ValueError(f"add_dendritic_population: roles must be one of {ROLES} or an array of them of shape {shape}")
    theta = np.asarray(theta, dtype=float)
    if theta.ndim and theta.shape != shape:
        raise ValueError(f"add_dendritic_population: theta must be a scalar or of shape {shape}, got {theta.shape}")
    soma = soma if soma is not None else DendriticSoma()
    receptor = {"modulatory": "dend_mod", "driver": "dend_drive"}
    missing = sorted({receptor[r] for r in roles.ravel().tolist()} - set(type(soma).receptors))
    if missing:
        raise ValueError(f"add_dendritic_population: soma model {type(soma).__name__} lacks receptor(s) {missing}")
    segments = net.add_population(shape[0] * shape[1], DendriticSegment(theta=theta.ravel() if theta.ndim else
                                                                        float(theta)), name=f"{name}_segments")
    cells = net.add_population(shape[0], soma, name=f"{name}_soma")
    owner = np.repeat(np.arange(shape[0]), shape[1])
    for role in ROLES:
        units = np.flatnonzero(roles.ravel() == role)
        if units.size:
            net.connect(segments, cells, pre_index=units, post_index=owner[units], weight=1.0,
                        target=receptor[role], name=f"{name}_{role}")
    return DendritePopulation(cells, segments, shape[0], shape[1], np.array(roles, dtype=object))
