"""Learnable neuron parameters kept inside their valid range by construction.

A parameter is stored as an unconstrained tensor ``raw`` and used as ``f(raw)``, where
``f`` maps the real line onto the valid range, so no optimiser step can produce a
negative time constant or a decay factor outside (0, 1):

* :class:`Positive` -- ``low + eps + softplus(raw)``: time constants (ms), gains, widths
  (``eps`` = 1e-6 keeps values strictly above ``low`` where softplus underflows);
* :class:`Bounded`  -- ``low + (high - low) sigmoid(raw)``: decay factors, probabilities;
* :class:`Unconstrained` -- ``raw``: thresholds, biases.

Each is a ``torch.nn.Module`` whose ``forward()`` returns the constrained per-neuron tensor
of shape ``(n,)``. :func:`heterogeneous` draws per-neuron initial values (Perez-Nieves et
al. 2021 showed heterogeneous time constants help learning), and :func:`make_learnable`
turns a parameter of an engine :class:`~synaptica.engine.population.Population` into one
of these, so BPTT through :meth:`Network.run(backend="torch")` trains it.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F


class _Constrained(torch.nn.Module):
    def __init__(self, value: Any, name: str = "parameter") -> None:
        super().__init__()
        value = torch.as_tensor(value, dtype=torch.get_default_dtype()).detach().clone()
        if not torch.isfinite(value).all():
            raise ValueError(f"{name}: initial value must be finite")
        self.name = name
        self._check(value)
        self.raw = torch.nn.Parameter(self._inverse(value))

    def _check(self, value: torch.Tensor) -> None:
        pass

    def forward(self) -> torch.Tensor:
        return self._map(self.raw)

    def extra_repr(self) -> str:
        return f"{self.name}, shape={tuple(self.raw.shape)}"


class Unconstrained(_Constrained):
    """Any real value (thresholds, biases)."""

    def _map(self, raw):
        return raw

    def _inverse(self, value):
        return value


class Positive(_Constrained):
    """``low + eps + softplus(raw)``: values strictly above ``low`` (default 0)."""

    eps = 1e-6

    def __init__(self, value: Any, low: float = 0.0, name: str = "parameter") -> None:
        self.low = float(low)
        super().__init__(value, name)

    def _check(self, value):
        if (value <= self.low).any():
            raise ValueError(f"{self.name}: initial values must be > {self.low}, got min {value.min().item()}")

    def _map(self, raw):
        return self.low + self.eps + F.softplus(raw)

    def _inverse(self, value):
        y = (value - self.low - self.eps).clamp_min(1e-12)
        return y + torch.log(-torch.expm1(-y))  # softplus^-1, stable for large y


class Bounded(_Constrained):
    """``low + (high - low) sigmoid(raw)``: values strictly inside (low, high)."""

    def __init__(self, value: Any, low: float, high: float, name: str = "parameter") -> None:
        if not high > low:
            raise ValueError(f"{name}: high ({high}) must be above low ({low})")
        self.low, self.high = float(low), float(high)
        super().__init__(value, name)

    def _check(self, value):
        if ((value <= self.low) | (value >= self.high)).any():
            raise ValueError(f"{self.name}: initial values must lie strictly inside ({self.low}, {self.high})")

    def _map(self, raw):
        return self.low + (self.high - self.low) * torch.sigmoid(raw)

    def _inverse(self, value):
        p = (value - self.low) / (self.high - self.low)
        return torch.log(p) - torch.log1p(-p)


def heterogeneous(n: int, mean: float, spread: float = 0.0, distribution: str = "gamma",
                  generator: torch.Generator | None = None) -> torch.Tensor:
    """``n`` initial values with the given mean and coefficient of variation ``spread``.

    ``distribution``: "gamma" (positive; shape 1/spread^2, as for time constants in
    Perez-Nieves et al. 2021), "uniform" (mean +- spread*mean*sqrt(3)) or "normal".
    ``spread = 0`` gives the homogeneous value.
    """
    if n <= 0 or not math.isfinite(mean) or spread < 0:
        raise ValueError(f"heterogeneous: need n > 0, finite mean and spread >= 0; got {n}, {mean}, {spread}")
    if spread == 0:
        return torch.full((n,), float(mean))
    if distribution == "gamma":
        if mean <= 0:
            raise ValueError("heterogeneous: a gamma distribution needs mean > 0")
        shape = 1.0 / spread ** 2
        rng = np.random.default_rng(None if generator is None else int(generator.initial_seed()))
        return torch.as_tensor(rng.gamma(shape, mean / shape, n), dtype=torch.get_default_dtype())
    if distribution == "uniform":
        half = spread * abs(mean) * math.sqrt(3.0)
        return mean + half * (2 * torch.rand(n, generator=generator) - 1)
    if distribution == "normal":
        return mean + spread * abs(mean) * torch.randn(n, generator=generator)
    raise ValueError(f"heterogeneous: distribution must be 'gamma', 'uniform' or 'normal', got {distribution!r}")


def make_learnable(population, name: str, init: Any = None) -> _Constrained:
    """Make parameter ``name`` of an engine population learnable, per neuron.

    The parametrisation follows the parameter's declaration: ``positive`` -> :class:`Positive`,
    ``non_negative`` -> :class:`Positive` (initial zeros raised to 1e-6), otherwise
    :class:`Unconstrained`. ``init``: initial values (scalar or (n,)); default the model's
    current value. Returns the module; its ``raw`` tensor is what an optimiser
    updates. Only the torch path (``backend="torch"``) uses it.
    """
    model = population.model
    spec = model.parameters.get(name)
    if spec is None or spec.choices is not None:
        raise ValueError(f"Population '{population.name}': '{name}' is not a numeric parameter of "
                         f"{type(model).__name__}; numeric ones: "
                         f"{sorted(k for k, s in model.parameters.items() if s.choices is None)}")
    value = np.broadcast_to(np.asarray(model.values[name] if init is None else init, dtype=float),
                            (population.n,)).copy()
    label = f"{population.name}.{name}"
    if spec.positive:
        module = Positive(value, 0.0, label)
    elif spec.non_negative:
        module = Positive(np.maximum(value, 1e-6), 0.0, label)
    else:
        module = Unconstrained(value, label)
    population.learnable[name] = module
    return module
