"""Populations: groups of model neurons, and input sources that only emit spikes.

State tensors are shaped ``(batch, n)``; on the CPU they are stored as the NumPy arrays
the compiled loop works on, and read as tensors that share their memory (see
:mod:`synaptica.engine.storage`), so either view can be read or written between runs.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from synaptica.engine.storage import TensorAttribute, TensorDict, as_numpy, assign, is_tensor, raw, stored, zeros
from synaptica.neurons.base import NeuronModel


class Group:
    """Anything that emits spikes: a population or an input source."""

    kind = "group"
    spikes = TensorAttribute()   # (batch, n) spikes of the last step

    def __init__(self, n: int, name: str) -> None:
        if not isinstance(n, (int, np.integer)) or n <= 0:
            raise ValueError(f"{type(self).__name__} '{name}': size must be a positive integer, got {n!r}")
        self.n = int(n)
        self.name = name
        self.spikes = None

    def allocate(self, batch: int, dtype: np.dtype, device: Any) -> None:
        """Zeroed run state for ``batch`` entries of float type ``dtype`` on ``device``."""
        self.spikes = zeros((batch, self.n), dtype, device)

    def arrays(self) -> dict[str, Any]:
        """Stored arrays (NumPy or tensors) that make up the run state (saved in checkpoints)."""
        return {"spikes": raw(self, "spikes")}

    def __getitem__(self, index: Any) -> "GroupView":
        """A subset of the neurons (``group[:3200]``, an index array or a boolean mask),
        accepted by :meth:`Network.connect` on either side, like Brian2's subgroups."""
        return GroupView(self, index)

    def __len__(self) -> int:
        return self.n


class GroupView:
    """Neurons ``indices`` of ``group``: connect to or from a part of a population."""

    def __init__(self, group: Group, index: Any) -> None:
        if isinstance(group, GroupView):
            group, index = group.group, group.indices[index]
        full = np.arange(group.n)
        try:
            indices = np.atleast_1d(full[index])
        except IndexError as error:
            raise IndexError(f"'{group.name}'[{index!r}]: {error}") from None
        if indices.size == 0:
            raise ValueError(f"'{group.name}'[{index!r}] selects no neurons")
        if np.unique(indices).size != indices.size:
            raise ValueError(f"'{group.name}'[{index!r}] selects a neuron twice")
        self.group, self.indices = group, indices.astype(np.int32 if group.n < 2**31 else np.int64)
        self.n = int(indices.size)
        self.name = f"{group.name}[{_describe(index)}]"

    def __getitem__(self, index: Any) -> "GroupView":
        return GroupView(self, index)

    def __len__(self) -> int:
        return self.n

    def __repr__(self) -> str:
        return f"GroupView({self.name}, n={self.n})"


def _describe(index: Any) -> str:
    if isinstance(index, slice):
        return ":".join("" if v is None else str(v) for v in (index.start, index.stop)) + (
            f":{index.step}" if index.step is not None else "")
    return "..." if np.ndim(index) else str(index)


class Population(Group):
    """``n`` neurons of one model. ``state[name]`` is a (batch, n) tensor per variable.

    ``i_ext`` is an injected current (pA), a (batch, n) tensor, constant until changed.
    """

    kind = "population"
    i_ext = TensorAttribute()

    def __init__(self, n: int, model: NeuronModel, name: str) -> None:
        super().__init__(n, name)
        if not isinstance(model, NeuronModel):
            raise TypeError(f"Population '{name}': model must be a NeuronModel instance, got {model!r}")
        for key, value in model.values.items():
            if np.ndim(value) not in (0,) and np.shape(value) != (self.n,):
                raise ValueError(f"Population '{name}': parameter '{key}' has shape {np.shape(value)}, "
                                 f"expected a scalar or ({self.n},)")
        self.model = model
        self.intrinsic = None  # intrinsic plasticity, see Network.add_intrinsic
        # Gradient training (torch path): surrogate of the spike (None: engine default),
        # whether the reset is excluded from gradients, and learnable parameters
        # (name -> module returning the constrained tensor; see training.parametrise).
        self.surrogate = None
        self.detach_reset = False
        self.learnable: dict[str, Any] = {}
        self.state = TensorDict()
        self.i_ext = None

    @property
    def state(self) -> TensorDict:
        """Variable name -> (batch, n) tensor (stored as NumPy on the CPU, see module doc)."""
        return self.__dict__["_state"]

    @state.setter
    def state(self, values: Any) -> None:
        self.__dict__["_state"] = values if isinstance(values, TensorDict) else TensorDict(values)

    def allocate(self, batch: int, dtype: np.dtype, device: Any) -> None:
        super().allocate(batch, dtype, device)
        initial = self.model.initial_state()
        self.state = TensorDict()
        for var in self.model.state:
            self.state[var] = stored(np.array(np.broadcast_to(initial[var], (batch, self.n)), dtype=dtype), device)
        self.i_ext = zeros((batch, self.n), dtype, device)

    def arrays(self) -> dict[str, Any]:
        return {**super().arrays(), "i_ext": raw(self, "i_ext"),
                **{f"state.{k}": v for k, v in self.state.raw_items()}}

    def set_state(self, **values: Any) -> None:
        """Set state variables, e.g. ``pop.set_state(v=rng.uniform(-60, -50, pop.n))``.

        Each value is a scalar, one per neuron ``(n,)`` or one per batch entry and neuron
        ``(batch, n)``, in the variable's unit (see the model). Refused with a message:
        unknown names, wrong shapes, NaN or infinity, and values the model forbids
        (:meth:`NeuronModel.check_state`, e.g. negative conductances).
        """
        model = type(self.model).__name__
        checked = {}
        for var, value in values.items():
            if var not in self.state:
                raise ValueError(f"Population '{self.name}': {model} has no state variable '{var}'; "
                                 f"variables: {list(self.state)}")
            current = self.state.raw(var)
            array = np.asarray(as_numpy(value) if is_tensor(value) else value, dtype=np.float64)
            if array.shape not in ((), (self.n,), tuple(current.shape)):
                raise ValueError(f"Population '{self.name}': state '{var}' needs a scalar, ({self.n},) or "
                                 f"{tuple(current.shape)}, got shape {array.shape}")
            if not np.all(np.isfinite(array)):
                raise ValueError(f"Population '{self.name}': state '{var}' must be finite")
            problem = self.model.check_state(var, array)
            if problem:
                raise ValueError(f"Population '{self.name}': state '{var}': {problem}")
            checked[var] = np.array(np.broadcast_to(array, tuple(current.shape)))
        for var, array in checked.items():   # all or nothing; in place: the compiled path shares this memory
            assign(self.state.raw(var), array)

    def __getattr__(self, key: str) -> Any:
        state = self.__dict__.get("_state", {})
        if key in state:
            return state[key]
        raise AttributeError(f"Population '{self.__dict__.get('name')}' has no attribute '{key}'")


class PoissonInput(Group):
    """Independent Poisson spike trains (Hz): ``rate_hz`` a scalar, one rate per neuron
    (n,), or a table (trials, n) whose row ``t`` drives trial ``t`` (see
    :meth:`Network.set_trials`; the last row repeats if the run outlasts the table), or
    (trials, batch, n) with different rates for each batch entry.

    Each step a neuron spikes with probability ``rate * dt`` (must stay <= 1). The
    compiled path draws a block of up to ``block_steps`` steps at a time (blocks also end
    at trial boundaries): for each neuron the gaps between its spikes come from the
    geometric distribution, and the block's spikes are sorted by step, so the cost grows
    with the number of spikes, not with neurons x steps. Rates may be changed between
    runs via :meth:`set_rates`.
    """

    kind = "poisson"

    def __init__(self, n: int, rate_hz: Any, name: str, dt: float) -> None:
        super().__init__(n, name)
        self.dt = dt
        self.rates_hz = np.zeros((1, 1, self.n))
        self.block_steps = max(1, min(1024, 4_000_000 // self.n))
        self.block: np.ndarray | None = None
        self.set_rates(rate_hz)

    def allocate(self, batch: int, dtype: np.dtype, device: Any) -> None:
        super().allocate(batch, dtype, device)
        capacity = self.n * self.block_steps
        # current block: first step and length; each entry's spikes sorted by step (CSR)
        self.block = np.zeros(2, dtype=np.int64)
        self.block_ids = np.zeros((batch, capacity), dtype=np.int32)
        self.block_index = np.zeros((batch, self.block_steps + 1), dtype=np.int64)
        self.scratch = (np.zeros(capacity, dtype=np.int64), np.zeros(capacity, dtype=np.int32),
                        np.zeros(self.block_steps + 1, dtype=np.int64))

    def set_rates(self, rate_hz: Any, first_trial: int = 0) -> None:
        """New rates (see class doc); row 0 of a table drives trial ``first_trial``."""
        rates = np.asarray(rate_hz, dtype=float)
        batch = None if raw(self, "spikes") is None else raw(self, "spikes").shape[0]
        if rates.ndim == 3 and rates.shape[2] == self.n and rates.shape[1] in (1, batch):
            rates = rates.copy()
        elif rates.ndim == 2 and rates.shape[1] == self.n:
            rates = rates[:, None, :].copy()
        else:
            try:
                rates = np.broadcast_to(rates, (self.n,))[None, None].copy()
            except ValueError:
                raise ValueError(f"PoissonInput '{self.name}': rates must be a scalar, ({self.n},), "
                                 f"(trials, {self.n}) or (trials, {batch}, {self.n}), got shape {rates.shape}"
                                 ) from None
        if not np.all(np.isfinite(rates)) or np.any(rates < 0):
            raise ValueError(f"PoissonInput '{self.name}': rates must be finite and >= 0 Hz")
        if np.any(rates * self.dt * 1e-3 > 1.0):
            raise ValueError(f"PoissonInput '{self.name}': rate x dt exceeds one spike per step "
                             f"(max rate {1e3 / self.dt:g} Hz at dt = {self.dt} ms)")
        self.rates_hz = rates
        with np.errstate(divide="ignore"):  # log(1 - rate dt), the geometric distribution's parameter
            self._log_no_spike = np.log1p(-rates * self.dt * 1e-3)
        self.first_trial = int(first_trial)
        if self.block is not None:
            self.block[1] = 0  # draw a new block at the new rates

    def row(self, trial: int) -> int:
        """Row of the rate table that drives ``trial``."""
        return min(max(trial - self.first_trial, 0), self.rates_hz.shape[0] - 1)

    def log_no_spike(self) -> np.ndarray:
        """(rows, batch or 1, n) log(1 - rate dt), the geometric distribution's parameter."""
        return self._log_no_spike

    def arrays(self) -> dict[str, Any]:
        return {**super().arrays(), "block": self.block, "block_ids": self.block_ids,
                "block_index": self.block_index}


class SpikeGeneratorInput(Group):
    """Spikes at given times: ``times_ms`` (k,) and ``ids`` (k,), the same in every batch entry."""

    kind = "generator"

    def __init__(self, n: int, times_ms: Any, ids: Any, name: str) -> None:
        super().__init__(n, name)
        times = np.asarray(times_ms, dtype=float).ravel()
        ids = np.asarray(ids).ravel()
        if times.shape != ids.shape:
            raise ValueError(f"SpikeGeneratorInput '{name}': times_ms and ids differ in length "
                             f"({times.size} vs {ids.size})")
        if ids.size and (not np.issubdtype(ids.dtype, np.integer) or ids.min() < 0 or ids.max() >= n):
            raise ValueError(f"SpikeGeneratorInput '{name}': ids must be integers in [0, {n})")
        if not np.all(np.isfinite(times)) or np.any(times < 0):
            raise ValueError(f"SpikeGeneratorInput '{name}': times must be finite and >= 0 ms")
        order = np.lexsort((ids, times))
        self.times_ms = times[order]
        self.ids = ids[order].astype(np.int64)

    def event_steps(self, dt: float) -> np.ndarray:
        return np.round(self.times_ms / dt).astype(np.int64)


class CurrentInput:
    """A current trace (pA) injected into a population, one value per step from ``start_step``.

    ``values``: (steps, n) — the same in every batch entry — or (steps, batch, n). Outside
    the trace it contributes nothing; it adds to the population's constant ``i_ext``.
    """

    def __init__(self, population: "Population", values: Any, start_step: int, batch: int, name: str) -> None:
        array = np.asarray(values, dtype=float)
        if array.ndim == 2:
            array = np.broadcast_to(array[:, None, :], (array.shape[0], batch, array.shape[1]))
        if array.ndim != 3 or array.shape[1:] != (batch, population.n):
            raise ValueError(f"CurrentInput '{name}': values must be (steps, {population.n}) or "
                             f"(steps, {batch}, {population.n}), got {np.shape(values)}")
        if not np.all(np.isfinite(array)):
            raise ValueError(f"CurrentInput '{name}': values contain NaN or infinity")
        self.population, self.name, self.start_step = population, name, int(start_step)
        self.values = np.ascontiguousarray(array)
