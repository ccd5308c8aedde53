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
EXP_FUNCTION
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


# exp without a branch or a libm call, so loops that take exp of a per-neuron value
# vectorise: x = k ln2 + r (|r| <= ln2 / 2, Cody-Waite split of ln2), exp(r) by its Taylor
# polynomial, 2^k written into the exponent bits. Within 1 ulp of libm over the normal
# range (float64: degree 13; float32: degree 7, within 0.5 ulp of the exact value);
# below the smallest normal result it returns 0 (no subnormals), above the largest inf,
# and NaN stays NaN.
_EXP_SOURCE = {
    "float64": '''
@numba.njit(inline="always", fastmath=True, error_model="numpy")
def exp(x):
    xc = x if x > -708.0 else -708.0
    xc = xc if xc < 709.0 else 709.0
    k = math.floor(xc * 1.4426950408889634 + 0.5)
    r = (xc - k * 0.6931471803691238) - k * 1.9082149292705877e-10
    p = 1.0 + r * (1.0 + r * (0.5 + r * (1.0 / 6.0 + r * (1.0 / 24.0 + r * (1.0 / 120.0 + r * (1.0 / 720.0 + r * (
        1.0 / 5040.0 + r * (1.0 / 40320.0 + r * (1.0 / 362880.0 + r * (1.0 / 3628800.0 + r * (1.0 / 39916800.0 + r * (
        1.0 / 479001600.0 + r / 6227020800.0))))))))))))
    y = p * np.int64((np.int64(k) + 1023) << 52).view(np.float64)
    y = y if x > -708.0 else 0.0
    y = y if x < 709.0 else math.inf
    return y if x == x else x
''',
    "float32": '''
@numba.njit(inline="always", fastmath=True, error_model="numpy")
def exp(x):
    xc = x if x > F(-87.0) else F(-87.0)
    xc = xc if xc < F(88.0) else F(88.0)
    k = math.floor(xc * F(1.4426950408889634) + F(0.5))
    r = (xc - k * F(0.693359375)) + k * F(2.12194440e-4)
    p = F(1.0) + r * (F(1.0) + r * (F(0.5) + r * (F(1.0 / 6.0) + r * (F(1.0 / 24.0) + r * (F(1.0 / 120.0) + r * (
        F(1.0 / 720.0) + r * F(1.0 / 5040.0)))))))
    y = p * np.int32((np.int32(k) + np.int32(127)) << np.int32(23)).view(np.float32)
    y = y if x > F(-87.0) else F(0.0)
    y = y if x < F(88.0) else F(math.inf)
    return y if x == x else x
''',
}


def numba_primitives_source(float_type: str) -> str:
    """The scalar primitives for the generated CPU loop of a ``float_type`` network."""
    return NUMBA_PRIMITIVES_SOURCE.replace("EXP_FUNCTION", _EXP_SOURCE[float_type])


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
