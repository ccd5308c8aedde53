"""The contract between built-in experiments, the config loader and the CLI.

An experiment is a named, declarative recipe: a schema of typed parameters with
defaults and constraints (validated before anything is simulated), and a ``run``
function that builds and simulates a network and returns an :class:`ExperimentResult`.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np

ProgressCallback = Callable[[int, int], None]  # (steps_done, steps_total)


def config_tag(params: Mapping[str, Any]) -> str:
    """A short fingerprint of resolved parameters: a checkpoint resumes only the same run."""
    return hashlib.sha1(json.dumps(params, sort_keys=True, default=str).encode()).hexdigest()[:16]


@dataclass
class ExperimentResult:
    """What an experiment hands back to the CLI for reporting.

    spike_times_ms: (n_spikes,) float, spike times in ms, sorted.
    spike_ids:      (n_spikes,) int, neuron index in [0, n_neurons).
    n_neurons:      number of recorded neurons.
    duration_ms:    simulated time in ms.
    metrics:        flat JSON-serialisable numbers (written to metrics.json).
    groups:         optional named index ranges of neurons, e.g. {"exc": (0, 3200)}.
    figures:        extra figures: file name (``*.png``) -> function writing it to a path.
    """

    spike_times_ms: np.ndarray
    spike_ids: np.ndarray
    n_neurons: int
    duration_ms: float
    metrics: dict[str, float]
    groups: dict[str, tuple[int, int]] = field(default_factory=dict)
    figures: dict[str, Callable[[Path], None]] = field(default_factory=dict)


@dataclass(frozen=True)
class Experiment:
    """A built-in experiment: name, one-line summary, parameter schema, runner.

    ``run(params, progress, checkpoint=None)``: ``checkpoint`` is an .npz path the runner
    saves its state to periodically and resumes from when it exists (see Network.run).
    """

    name: str
    summary: str
    schema: Mapping[str, Any]  # name -> synaptica.config.Field
    run: Callable[..., ExperimentResult]  # run(params, progress, checkpoint=None)
    checks: tuple[Callable[[dict], str | None], ...] = ()  # cross-field checks: message or None
