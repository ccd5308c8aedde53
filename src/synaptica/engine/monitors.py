"""Monitors: what a run records.

* :class:`SpikeMonitor` stores spikes as events (step, neuron, batch entry): memory
  grows with the number of spikes, never with n x steps.
* :class:`StateMonitor` samples one state variable of chosen neurons every ``every`` steps.
* :class:`RateMonitor` counts the spikes of a group in every step (population rate).

All record after the step's update and spike delivery (see :class:`Network`). Spike
times are stamped with the start of the step in which the threshold was crossed
(step * dt, as Brian2 does); state samples with the end of the step, (step + 1) * dt,
the time their values belong to.
"""
from __future__ import annotations

import numpy as np


class SpikeMonitor:
    """Spikes as events: ``steps``, ``ids`` and ``batch`` hold one entry per spike.

    The compiled loop writes into preallocated buffers that grow geometrically
    (:meth:`reserve`); the public arrays are views of their filled part only.
    """

    def __init__(self, group, name: str) -> None:
        self.group, self.name = group, name
        self.buffers = {"steps": np.zeros(0, dtype=np.int64), "ids": np.zeros(0, dtype=np.int32),
                        "batch": np.zeros(0, dtype=np.int32)}
        self.count = 0
        self.dt = None

    def reserve(self, capacity: int) -> None:
        """Grow the event buffers (geometrically) to hold at least ``capacity`` events."""
        if capacity <= self.capacity:
            return
        size = max(capacity, 2 * self.capacity, 1 << 14)
        for key, old in self.buffers.items():
            new = np.zeros(size, dtype=old.dtype)
            new[: self.count] = old[: self.count]
            self.buffers[key] = new

    @property
    def capacity(self) -> int:
        return self.buffers["steps"].size

    @property
    def buffer_bytes(self) -> int:
        return sum(b.nbytes for b in self.buffers.values())

    def record(self, steps: np.ndarray, ids: np.ndarray, batch: np.ndarray) -> None:
        self.reserve(self.count + steps.size)
        end = self.count + steps.size
        for key, values in (("steps", steps), ("ids", ids), ("batch", batch)):
            self.buffers[key][self.count:end] = values
        self.count = end

    @property
    def steps(self) -> np.ndarray:
        """(spikes,) step of each spike."""
        return self.buffers["steps"][: self.count]

    @property
    def ids(self) -> np.ndarray:
        """(spikes,) neuron index of each spike."""
        return self.buffers["ids"][: self.count]

    @property
    def batch(self) -> np.ndarray:
        """(spikes,) batch entry of each spike."""
        return self.buffers["batch"][: self.count]

    @property
    def times_ms(self) -> np.ndarray:
        return self.steps * self.dt

    neuron_ids = ids
    batch_ids = batch

    def arrays(self) -> dict[str, np.ndarray]:
        return {"steps": self.steps, "ids": self.ids, "batch": self.batch}

    def restore(self, arrays: dict[str, np.ndarray]) -> None:
        self.count = 0
        self.record(arrays["steps"], arrays["ids"], arrays["batch"])


class StateMonitor:
    """Samples of one state variable of chosen neurons, taken after every ``every``-th
    step; with ``initial=True`` also the state before the first step of the first run
    (t = the network's time then, usually 0)."""

    def __init__(self, population, variable: str, every: int, neurons, name: str, initial: bool = False) -> None:
        if variable not in population.model.state:
            raise ValueError(f"StateMonitor: '{population.name}' has no state variable '{variable}'; "
                             f"variables: {list(population.model.state)}")
        if every < 1:
            raise ValueError(f"StateMonitor: every must be >= 1 step, got {every}")
        idx = np.arange(population.n) if neurons is None else np.asarray(neurons, dtype=np.int64).ravel()
        if idx.size and (idx.min() < 0 or idx.max() >= population.n):
            raise ValueError(f"StateMonitor: neuron indices out of range [0, {population.n})")
        self.group, self.variable, self.every, self.neurons, self.name = population, variable, every, idx, name
        self.chunks: list[np.ndarray] = []
        self.step_chunks: list[np.ndarray] = []
        self.dt = None
        self.initial_pending = bool(initial)

    def record_initial(self, step: int) -> None:
        """Record the state as it is before ``step`` runs (stamped (step - 1) + 1 = step)."""
        if self.initial_pending:
            values = self.group.state[self.variable].detach().cpu().numpy()[:, self.neurons]
            self.record(np.array([step - 1]), values[None].astype(np.float64))
            self.initial_pending = False

    def record(self, steps: np.ndarray, values: np.ndarray) -> None:
        self.step_chunks.append(steps)
        self.chunks.append(values)

    @property
    def steps(self) -> np.ndarray:
        return np.concatenate(self.step_chunks) if self.step_chunks else np.zeros(0, dtype=np.int64)

    @property
    def times_ms(self) -> np.ndarray:
        """Time of each sample: the end of the step it was taken after, (step + 1) * dt."""
        return (self.steps + 1) * self.dt

    @property
    def values(self) -> np.ndarray:
        """(samples, batch, neurons)."""
        if not self.chunks:
            return np.zeros((0, 0, self.neurons.size))
        return np.concatenate(self.chunks)

    def arrays(self) -> dict[str, np.ndarray]:
        return {"steps": self.steps, "values": self.values}

    def restore(self, arrays: dict[str, np.ndarray]) -> None:
        self.step_chunks, self.chunks = [arrays["steps"]], [arrays["values"]]
        self.initial_pending = self.initial_pending and arrays["steps"].size == 0


class RateMonitor:
    def __init__(self, group, name: str) -> None:
        self.group, self.name = group, name
        self.chunks: list[np.ndarray] = []
        self.dt = None

    def record(self, counts: np.ndarray) -> None:
        self.chunks.append(counts)

    @property
    def counts(self) -> np.ndarray:
        """(steps, batch) spike counts of the group."""
        return np.concatenate(self.chunks) if self.chunks else np.zeros((0, 0), dtype=np.int64)

    @property
    def rate_hz(self) -> np.ndarray:
        """(steps, batch) population rate in Hz."""
        return self.counts / (self.group.n * self.dt * 1e-3)

    def arrays(self) -> dict[str, np.ndarray]:
        return {"counts": self.counts}

    def restore(self, arrays: dict[str, np.ndarray]) -> None:
        self.chunks = [arrays["counts"]]


class CountMonitor:
    """Spike count of every neuron in every trial: ``counts`` is (trials, batch, n)."""

    def __init__(self, group, batch: int, name: str) -> None:
        self.group, self.name = group, name
        self.buffer = np.zeros((0, batch, group.n), dtype=np.int64)  # grows geometrically
        self.rows = 0

    @property
    def counts(self) -> np.ndarray:
        return self.buffer[: self.rows]

    def reserve(self, trials: int) -> None:
        """Make room for trials [0, trials)."""
        if trials > self.buffer.shape[0]:
            grown = np.zeros((max(trials, 2 * self.buffer.shape[0]), *self.buffer.shape[1:]), dtype=np.int64)
            grown[: self.rows] = self.buffer[: self.rows]
            self.buffer = grown
        self.rows = max(self.rows, trials)

    def arrays(self) -> dict[str, np.ndarray]:
        return {"counts": self.counts}

    def restore(self, arrays: dict[str, np.ndarray]) -> None:
        self.buffer = arrays["counts"].copy()
        self.rows = self.buffer.shape[0]
