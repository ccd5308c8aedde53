"""Input validation shared by the reservoirs, readouts and tasks (messages name the problem)."""
from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch


def as_sequences(inputs: Any, n_inputs: int, name: str) -> tuple[np.ndarray | torch.Tensor, bool]:
    """``inputs`` (T, n_inputs) or (batch, T, n_inputs) as a 3-D array (batch, T, n_inputs)
    and whether it came batched. Tensors stay tensors (detached), anything else becomes a
    float64 NumPy array. Raises ValueError for another shape, an empty axis, NaN or infinity."""
    if isinstance(inputs, torch.Tensor):
        array = inputs.detach()
        if not array.is_floating_point():
            array = array.to(torch.get_default_dtype())
    else:
        try:
            array = np.asarray(inputs, dtype=np.float64)
        except (TypeError, ValueError) as error:
            raise ValueError(f"{name}: inputs must be numeric, shape (T, {n_inputs}) or (batch, T, {n_inputs}); "
                             f"{error}") from None
    shape = tuple(array.shape)
    if len(shape) not in (2, 3) or shape[-1] != n_inputs:
        raise ValueError(f"{name}: inputs must have shape (T, {n_inputs}) or (batch, T, {n_inputs}), got {shape}")
    if min(shape) < 1:
        raise ValueError(f"{name}: inputs of shape {shape} have an empty axis")
    finite = bool(torch.isfinite(array).all()) if isinstance(array, torch.Tensor) else bool(np.isfinite(array).all())
    if not finite:
        raise ValueError(f"{name}: inputs contain NaN or infinity")
    batched = len(shape) == 3
    return (array if batched else array[None]), batched


def as_float64(value: Any) -> np.ndarray:
    """A tensor (detached, on the CPU) or array-like as a float64 NumPy array."""
    return np.asarray(value.detach().cpu() if torch.is_tensor(value) else value, dtype=np.float64)


def positive_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name}: expected a positive integer, got {value!r}")
    return int(value)


def finite_float(value: Any, name: str, low: float = -math.inf, high: float = math.inf,
                 low_open: bool = False) -> float:
    """``value`` as a finite float in [low, high] (``(low, high]`` with ``low_open``)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
            or not math.isfinite(value):
        raise ValueError(f"{name}: expected a finite number, got {value!r}")
    value = float(value)
    if value > high or value < low or (low_open and value == low):
        bracket = "(" if low_open else "["
        raise ValueError(f"{name}: must lie in {bracket}{low:g}, {high:g}], got {value!r}")
    return value


def check_washout(washout: Any, n_steps: int, name: str) -> int:
    """A washout (steps dropped at the start of each sequence) that leaves at least one step."""
    if isinstance(washout, bool) or not isinstance(washout, (int, np.integer)) or washout < 0:
        raise ValueError(f"{name}: washout must be a non-negative integer, got {washout!r}")
    if washout >= n_steps:
        raise ValueError(f"{name}: washout={washout} leaves no step of sequences of length T={n_steps}")
    return int(washout)
