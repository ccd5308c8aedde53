"""The primitive operations a neuron model's update may use, for each engine path.

Every neuron model is described once, as plain Python functions of arithmetic on
state and parameters plus the primitives below (``exp``, ``where``, ``minimum``,
``maximum``, ``spike``, ``detach``). The same function object then runs

* on NumPy arrays (the reference path, handy for tests): the module-level names here;
* inside the compiled whole-run CPU loop: its source is copied into a generated module
  where the primitives are scalar numba functions (:data:`NUMBA_PRIMITIVES_SOURCE`);
* on torch tensors with autograd and on CUDA: :func:`bind` rebinds the names to torch
  operations, with ``spike`` a surrogate-gradient Heaviside.

So there is no second hand-written copy of any model for another path.
"""
from __future__ import annotations

import types
from typing import Callable

import numpy as np

PRIMITIVE_NAMES = ("exp", "where", "minimum", "maximum", "spike", "detach")


def spike(x):
    """Heaviside step: 1 where ``x >= 0`` (threshold reached), else 0."""
    return np.where(np.asarray(x) >= 0, 1.0, 0.0)


def detach(x):
    """Identity outside autograd; the torch path may stop gradients through resets."""
    return x


exp = np.exp
where = np.where
minimum = np.minimum
maximum = np.maximum

# Scalar versions compiled into the generated CPU loop (see engine/cpu.py).
# Scalar versions compiled into the generated CPU loop (see engine/cpu.py). ``F`` is the
# network's float type (np.float32 or np.float64), defined by the generated module: every
# literal is of that type, so a float32 network computes in float32 (NumPy's promotion
# rules would widen every operation with a float64 literal to float64 and convert back).
NUMBA_PRIMITIVES_SOURCE = '''
@numba.njit(inline="always", fastmath=True, error_model="numpy")
def exp(x):
    # Per-step decay factors have small arguments: there a degree-8 Taylor polynomial is
    # exact to double precision (relative error < 3e-16 for |x| < 1/16) and twice as
    # fast as the libm call, which numba cannot vectorise here.
    if x > F(-0.0625) and x < F(0.0625):
        return F(1.0) + x * (F(1.0) + x * (F(0.5) + x * (F(1.0 / 6.0) + x * (F(1.0 / 24.0) + x * (
            F(1.0 / 120.0) + x * (F(1.0 / 720.0) + x * (F(1.0 / 5040.0) + x * F(1.0 / 40320.0))))))))
    return F(math.exp(x))

@numba.njit(inline="always", fastmath=True, error_model="numpy")
def where(condition, a, b):
    return a if condition else b

@numba.njit(inline="always", fastmath=True, error_model="numpy")
def minimum(a, b):
    return a if a < b else b

@numba.njit(inline="always", fastmath=True, error_model="numpy")
def maximum(a, b):
    return a if a > b else b

@numba.njit(inline="always", fastmath=True, error_model="numpy")
def spike(x):
    return F(1.0) if x >= F(0.0) else F(0.0)

@numba.njit(inline="always", fastmath=True, error_model="numpy")
def detach(x):
    return x
'''


def torch_primitives(spike_function: Callable, detach_reset: bool = False) -> dict:
    """Primitive table for tensors; ``spike_function`` carries the surrogate gradient."""
    import torch

    def _where(condition, a, b):
        if not torch.is_tensor(condition):  # constant coefficients: plain numbers
            return np.where(condition, a, b) if np.ndim(condition) else (a if condition else b)
        return torch.where(condition, a, b)

    def _minimum(a, b):
        return torch.clamp(a, max=b) if not torch.is_tensor(b) else torch.minimum(a, b)

    def _maximum(a, b):
        return torch.clamp(a, min=b) if not torch.is_tensor(b) else torch.maximum(a, b)

    def _exp(x):
        return torch.exp(x) if torch.is_tensor(x) else np.exp(x)

    return {
        "exp": _exp,
        "where": _where,
        "minimum": _minimum,
        "maximum": _maximum,
        "spike": spike_function,
        "detach": (lambda x: x.detach()) if detach_reset else (lambda x: x),
    }


def bind(function: types.FunctionType, primitives: dict) -> types.FunctionType:
    """Return ``function`` with its primitive names resolved from ``primitives``."""
    namespace = dict(function.__globals__)
    namespace.update(primitives)
    bound = types.FunctionType(
        function.__code__, namespace, function.__name__, function.__defaults__, function.__closure__
    )
    bound.__doc__ = function.__doc__
    return bound
