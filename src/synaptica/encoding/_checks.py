"""Input validation shared by the encoders (clear messages: expected vs given)."""
from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch


def as_float_tensor(x: Any, name: str, expected: str, ndim: int) -> torch.Tensor:
    """``x`` as a floating tensor of ``ndim`` dimensions, else ValueError naming the shape."""
    if isinstance(x, torch.Tensor):
        tensor = x.detach()
    else:
        try:
            tensor = torch.as_tensor(np.asarray(x, dtype=float))
        except (TypeError, ValueError) as error:
            raise ValueError(f"{name}: expected a numeric tensor of shape {expected}, got {type(x).__name__} "
                             f"({error})") from None
    if tensor.dim() != ndim:
        raise ValueError(f"{name}: expected shape {expected} ({ndim}-D), got shape {tuple(tensor.shape)}")
    if not tensor.is_floating_point():
        tensor = tensor.to(torch.get_default_dtype())
    if not bool(torch.isfinite(tensor).all()):
        raise ValueError(f"{name}: values must be finite (no NaN or infinity)")
    return tensor


def positive_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name}: expected a positive integer, got {value!r}")
    return int(value)


def positive_float(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
            or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name}: expected a positive finite number, got {value!r}")
    return float(value)
