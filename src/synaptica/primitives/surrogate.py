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

The same formulas are used by the engine's torch path, by the fused CPU kernels of the
training layers (:mod:`synaptica.training.kernels`, through :data:`SURROGATE_IDS`) and by
the plain-PyTorch reference the tests compare against.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

#: Kernel ids of the surrogates (the fused kernels switch on these numbers).
SURROGATE_IDS = {"fast_sigmoid": 0, "arctan": 1, "triangle": 2, "exponential": 3, "straight_through": 4}
DEFAULT_WIDTH = {"fast_sigmoid": 0.04, "arctan": 0.5, "triangle": 1.0, "exponential": 0.1,
                 "straight_through": 0.5}


def surrogate_derivative(x: torch.Tensor, name: str, width: float) -> torch.Tensor:
    """``sigma'(x)`` of surrogate ``name`` (see module table), elementwise."""
    a = x.abs() / width
    if name == "fast_sigmoid":
        return 1.0 / (1.0 + a) ** 2
    if name == "arctan":
        return 1.0 / (1.0 + (0.5 * math.pi * a) ** 2)
    if name == "triangle":
        return (1.0 - a).clamp_min(0.0)
    if name == "exponential":
        return torch.exp(-a)
    if name == "straight_through":
        return (a < 1.0).to(x.dtype)
    raise ValueError(f"unknown surrogate {name!r}; choose one of {sorted(SURROGATE_IDS)}")


@dataclass(frozen=True)
class Surrogate:
    """A named surrogate with its width; ``surrogate(x)`` is the spike ``H(x)``."""

    name: str = "arctan"
    width: float | None = None

    def __post_init__(self) -> None:
        if self.name not in SURROGATE_IDS:
            raise ValueError(f"unknown surrogate {self.name!r}; choose one of {sorted(SURROGATE_IDS)}")
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
