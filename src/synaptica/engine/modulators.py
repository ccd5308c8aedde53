"""Neuromodulators: named signals the network broadcasts to plasticity rules.

A modulator (dopamine-like reward-prediction error, an error signal, an attention gate,
astrocyte activity) has one value per batch entry. Each step (at step 5, before the
rules run) it decays towards zero with ``tau`` ms (``tau=None``: holds its value), then
gains

* the amounts of pulses scheduled for this step (:meth:`Modulator.deliver`), and
* ``gain`` for each spike this step of an optional ``source`` group (e.g. dopaminergic
  neurons, or an astrocyte driven by a population's activity).

Between runs the value can also be set directly (``modulator.value[:] = ...``).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from synaptica.engine.storage import TensorAttribute, raw


class Modulator:
    value = TensorAttribute()   # (batch,) float64; stored as NumPy until read (engine.storage)

    def __init__(self, name: str, tau: float | None, source, gain: float, batch: int, dt: float) -> None:
        if tau is not None and not (np.isfinite(tau) and tau > 0):
            raise ValueError(f"Modulator '{name}': tau must be a positive time (ms) or None, got {tau!r}")
        if not np.isfinite(gain):
            raise ValueError(f"Modulator '{name}': gain must be finite, got {gain!r}")
        self.name, self.tau, self.source, self.gain, self.dt = name, tau, source, float(gain), dt
        self.value = np.zeros(batch)
        self.pulse_steps = np.zeros(0, dtype=np.int64)
        self.pulse_amounts = np.zeros(0)

    @property
    def decay(self) -> float:
        return 1.0 if self.tau is None else float(np.exp(-self.dt / self.tau))

    def deliver(self, times_ms: Any, amounts: Any) -> None:
        """Schedule pulses: at each time (ms, absolute network time) the value jumps by the amount."""
        times = np.atleast_1d(np.asarray(times_ms, dtype=float))
        amounts = np.broadcast_to(np.asarray(amounts, dtype=float), times.shape)
        if not (np.all(np.isfinite(times)) and np.all(np.isfinite(amounts))):
            raise ValueError(f"Modulator '{self.name}': pulse times and amounts must be finite")
        if np.any(times < 0):
            raise ValueError(f"Modulator '{self.name}': pulse times must be >= 0 ms")
        steps = np.concatenate([self.pulse_steps, np.round(times / self.dt).astype(np.int64)])
        values = np.concatenate([self.pulse_amounts, amounts])
        order = np.argsort(steps, kind="stable")
        self.pulse_steps, self.pulse_amounts = steps[order], values[order]

    def pulses_at(self, step: int) -> float:
        lo, hi = np.searchsorted(self.pulse_steps, [step, step + 1])
        return float(self.pulse_amounts[lo:hi].sum())

    def arrays(self) -> dict[str, Any]:
        return {"value": raw(self, "value")}
