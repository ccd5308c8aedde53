"""Finished units of a long experiment, kept in the run's checkpoint so a resumed run skips them.

A long experiment (many seeds x models x tasks) is a list of independent units, each drawing
its own data and weights from its seed, so skipping a finished unit changes nothing else.
:class:`UnitResults` holds each finished unit's numbers as named float64 arrays of declared
shapes, writes them all to one .npz after every unit (atomically: a temporary file replaced),
and on resuming checks the file's run settings and every field's shape and finiteness before
trusting it (no pickle). Used by ``elm`` and ``hlop-continual``.
"""
from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np


class UnitResults:
    """Arrays of finished units, saved to ``path`` (None: kept in memory only).

    settings: the run's resolved parameters (a checkpoint of other settings is refused).
    shapes: every key a run may write and its array shape; ``low``: smallest valid value.
    """

    def __init__(self, path: str | Path | None, settings: Mapping[str, Any],
                 shapes: Mapping[str, tuple[int, ...]], low: float | None = None) -> None:
        from synaptica.engine.checkpoints import run_settings

        self.path = None if path is None else Path(path)
        self.settings = run_settings(dict(settings))
        self.shapes = dict(shapes)
        self.done: dict[str, np.ndarray] = {}
        if self.path is not None and self.path.exists():
            self._load(low)

    def _load(self, low: float | None) -> None:
        from synaptica.engine.checkpoints import Fields, check_settings, read_checkpoint

        arrays = read_checkpoint(self.path)
        check_settings(self.path, arrays, self.settings)
        fields = Fields(self.path, arrays)
        fields.only({"tag"} | set(self.shapes))
        for key, shape in self.shapes.items():
            if key in arrays:
                self.done[key] = fields.get(key, np.float64, shape=shape, low=low)

    def get(self, key: str) -> np.ndarray | None:
        """The saved array of ``key``, or None if its unit has not finished."""
        return self.done.get(key)

    def save(self, **arrays: Any) -> None:
        """Record one finished unit's arrays (all of them in one write)."""
        from synaptica.engine.checkpoints import encode_settings

        for key, value in arrays.items():
            if key not in self.shapes:
                raise KeyError(f"unit result '{key}' is not declared")
            value = np.asarray(value, dtype=np.float64)
            if value.shape != tuple(self.shapes[key]):
                raise ValueError(f"unit result '{key}' has shape {value.shape}, declared {self.shapes[key]}")
            self.done[key] = value
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp.npz")
        np.savez(tmp, tag=np.array(encode_settings(self.settings)), **self.done)
        tmp.replace(self.path)

    def partial_path(self, unit: str) -> Path | None:
        """Where a unit in progress may save its own position (``<checkpoint>.<unit>.npz``)."""
        return None if self.path is None else self.path.with_name(f"{self.path.name}.{unit}.npz")
