"""Surrogate gradients: a Heaviside spike forward, a smooth pseudo-derivative backward.

The spike is ``s = H(x)`` with ``x = v - threshold``; its true derivative is zero almost
everywhere, so backpropagation uses a pseudo-derivative ``sigma'(x)`` of width ``width``
(in the units of ``x``: mV for engine neurons, threshold units for the discrete-time
layers). Every surrogate here peaks at ``sigma'(0) = 1``:

=================  ======================================  =================================
name               ``sigma'(x)``                           reference
=================  ======================================  =================================
fast_sigmoid       ``1 / (1 + |x| / width)^2``             SuperSpike, Zenke & Ganguli 2018
arctan             ``1 / (1 + (pi x / (2 width))^2)``      Fang et al. 2021 (SpikingJelly ATan;
                                                           alpha = 1 / width)
triangle           ``max(0, 1 - |x| / width)``             Esser et al. 2016; Bellec et al. 2018
exponential        ``exp(-|x| / width)``                   Shrestha & Orchard 2018 (SLAYER)
straight_through   ``1 if |x| < width else 0``             Bengio et al. 2013 (a boxcar;
                                                           ``width=inf`` is the pure estimator)
=================  ======================================  =================================

Each ``sigma'`` is written once, below, as a scalar function of plain arithmetic and the
primitives ``exp``, ``maximum`` and ``where`` of :mod:`synaptica.primitives`. As written
it runs on floats and NumPy arrays; :func:`surrogate_derivative` runs it on torch tensors
(primitives rebound with :func:`~synaptica.primitives.bind`), and the fused CPU kernels of
the training layers (:mod:`synaptica.training.kernels`) compile the very same functions
with numba's scalar primitives. There is no second copy of any formula.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable

import torch

from synaptica.primitives import bind, exp, maximum, torch_primitives, where


def fast_sigmoid(x, width):
    """SuperSpike: ``1 / (1 + |x| / width)^2``."""
    a = 1.0 + abs(x) / width
    return 1.0 / (a * a)


def arctan(x, width):
    """Derivative of ``arctan(pi x / (2 width)) / pi``, rescaled to peak 1."""
    a = x * (0.5 * math.pi / width)
    return 1.0 / (1.0 + a * a)


def triangle(x, width):
    """``max(0, 1 - |x| / width)``."""
    return maximum(1.0 - abs(x) / width, 0.0)


def exponential(x, width):
    """``exp(-|x| / width)``."""
    return exp(-abs(x) / width)


def straight_through(x, width):
    """Boxcar ``1 if |x| < width else 0``."""
    return where(abs(x) < width, 1.0, 0.0)


#: name -> ``sigma'(x, width)``, the single definition of every surrogate.
DERIVATIVES: dict[str, Callable] = {f.__name__: f for f in (fast_sigmoid, arctan, triangle, exponential,
                                                            straight_through)}
#: Stable numbering of the surrogates (kept for callers that store a surrogate as a number).
SURROGATE_IDS = {name: i for i, name in enumerate(DERIVATIVES)}
DEFAULT_WIDTH = {"fast_sigmoid": 0.04, "arctan": 0.5, "triangle": 1.0, "exponential": 0.1,
                 "straight_through": 0.5}


@lru_cache(maxsize=None)
def _torch_derivative(name: str) -> Callable:
    # spike/detach are not used by any sigma'; the table only supplies exp/maximum/where
    return bind(DERIVATIVES[name], torch_primitives(spike_function=None))


def surrogate_derivative(x, name: str, width: float):
    """``sigma'(x)`` of surrogate ``name`` (see module table), elementwise; ``x`` a float,
    NumPy array or torch tensor (the result has ``x``'s type and, for tensors, dtype)."""
    if name not in DERIVATIVES:
        raise ValueError(f"unknown surrogate {name!r}; choose one of {sorted(DERIVATIVES)}")
    if not torch.is_tensor(x):
        return DERIVATIVES[name](x, width)
    # where(c, 1.0, 0.0) of scalars comes out in torch's default dtype: cast back
    return torch.as_tensor(_torch_derivative(name)(x, width), dtype=x.dtype)


@dataclass(frozen=True)
class Surrogate:
    """A named surrogate with its width; ``surrogate(x)`` is the spike ``H(x)``."""

    name: str = "arctan"
    width: float | None = None

    def __post_init__(self) -> None:
        if self.name not in DERIVATIVES:
            raise ValueError(f"unknown surrogate {self.name!r}; choose one of {sorted(DERIVATIVES)}")
        if self.width is None:
            object.__setattr__(self, "width", DEFAULT_WIDTH[self.name])
        if not (self.width > 0):  # also rejects NaN
            raise ValueError(f"surrogate {self.name!r}: width must be > 0, got {self.width!r}")

    @property
    def kernel_id(self) -> int:
        return SURROGATE_IDS[self.name]

    def derivative(self, x: torch.Tensor) -> torch.Tensor:
        return surrogate_derivative(x, self.name, float(self.width))

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return _SpikeFunction.apply(x, self)


def as_surrogate(value: "Surrogate | str | None") -> Surrogate:
    """Accept a :class:`Surrogate`, a name (default width) or None (arctan)."""
    if value is None:
        return Surrogate()
    if isinstance(value, str):
        return Surrogate(value)
    if isinstance(value, Surrogate):
        return value
    raise TypeError(f"surrogate must be a name or a Surrogate, got {value!r}")


class _SpikeFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, surrogate):
        ctx.save_for_backward(x)
        ctx.surrogate = surrogate
        return (x >= 0).to(x.dtype)

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        return grad_output * ctx.surrogate.derivative(x), None
