"""Where a network's arrays live: NumPy on the CPU, torch elsewhere.

A CPU network keeps its state, spikes, ring buffers, weights and plastic state in NumPy
arrays, so building and running it on the compiled loop never imports torch (importing
torch takes about 1 s, a third of a small network's first result on an empty kernel
cache). The public API still hands out tensors: reading ``pop.state["v"]``,
``proj.weights`` or ``group.spikes`` turns the stored array into a tensor that shares its
memory (``torch.from_numpy``, no copy) and keeps that tensor, so writes through the tensor
and through the compiled loop's NumPy view see each other, as before. Networks on other
devices store torch tensors from the start.
"""
from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any, Iterator

import numpy as np

FLOAT_TYPES = ("float32", "float64")


def float_type(dtype: Any) -> np.dtype:
    """NumPy float type of ``dtype``: ``torch.float32``/``torch.float64``, a NumPy float
    type or its name ("float32", "float64")."""
    name = str(dtype).removeprefix("torch.") if type(dtype).__module__ == "torch" else None
    if name is None and dtype is not None:   # NumPy reads None as float64: refused, not guessed
        try:
            name = np.dtype(dtype).name
        except TypeError:
            name = repr(dtype)
    if name not in FLOAT_TYPES:
        raise ValueError(f"dtype must be float32 or float64 (torch, NumPy or a name), got {dtype!r}")
    return np.dtype(name)


def torch_dtype(dtype: np.dtype):
    import torch
    return getattr(torch, np.dtype(dtype).name)


def is_tensor(value: Any) -> bool:
    """True for torch tensors, without importing torch."""
    return type(value).__module__.startswith("torch")


def on_cpu(device: Any) -> bool:
    return str(device).split(":")[0] == "cpu"


def zeros(shape: tuple, dtype: np.dtype, device: Any = "cpu"):
    """Zeros of NumPy type ``dtype`` stored for ``device`` (see module doc)."""
    if on_cpu(device):
        return np.zeros(shape, dtype=dtype)
    import torch
    return torch.zeros(shape, dtype=torch_dtype(dtype), device=device)


def stored(array: np.ndarray, device: Any):
    """``array`` as stored for ``device``: itself on the CPU, a tensor copy elsewhere."""
    if on_cpu(device):
        return array
    import torch
    return torch.from_numpy(np.ascontiguousarray(array)).to(device)


def as_tensor(value: Any):
    """A tensor sharing ``value``'s memory (``value`` itself if it is a tensor)."""
    if isinstance(value, np.ndarray):
        import torch
        return torch.from_numpy(value)
    return value


def as_numpy(value: Any) -> np.ndarray:
    """A NumPy view of a stored array or CPU tensor (no copy); CUDA tensors are copied."""
    if isinstance(value, np.ndarray):
        return value
    return value.detach().cpu().numpy()


def assign(target: Any, value: Any, index: Any = Ellipsis) -> None:
    """``target[index] = value`` in place, outside autograd, for arrays and tensors."""
    if isinstance(target, np.ndarray):
        target[index] = as_numpy(value) if is_tensor(value) else value
        return
    import torch
    with torch.no_grad():
        if isinstance(value, np.ndarray):
            value = torch.from_numpy(value)
        if index is Ellipsis and torch.is_tensor(value):
            target.copy_(value)   # casts and crosses devices
        else:
            target[index] = value


def first_non_finite(value: Any) -> tuple[int, ...] | None:
    """Index of the first NaN or infinity in ``value`` (array or tensor), else None.

    A finite sum in the value's own type proves every entry finite in one vectorised pass
    without a copy (a float64 sum would convert every entry first: 0.33 s at 82 M
    synapses); a sum that overflows falls through to the exact element-wise check."""
    if isinstance(value, np.ndarray):
        with np.errstate(over="ignore", invalid="ignore"):   # an overflowing sum only means "look closer"
            total = value.sum()
        if np.isfinite(total):
            return None
        bad = np.argwhere(~np.isfinite(value))
        return tuple(int(i) for i in bad[0]) if bad.size else None
    import torch
    value = value.detach()
    if bool(torch.isfinite(value.sum())):
        return None
    bad = torch.nonzero(~torch.isfinite(value))
    return tuple(int(i) for i in bad[0]) if bad.numel() else None


class TensorAttribute:
    """An attribute stored as a NumPy array or a tensor; reading it gives a tensor (see
    module doc), :func:`raw` gives what is stored."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.slot = "_" + name

    def __get__(self, obj: Any, owner: type | None = None) -> Any:
        if obj is None:
            return self
        value = obj.__dict__.get(self.slot)
        if isinstance(value, np.ndarray):
            value = obj.__dict__[self.slot] = as_tensor(value)
        return value

    def __set__(self, obj: Any, value: Any) -> None:
        obj.__dict__[self.slot] = value


def raw(obj: Any, name: str) -> Any:
    """What a :class:`TensorAttribute` ``name`` of ``obj`` stores (array or tensor)."""
    return obj.__dict__.get("_" + name)


class TensorDict(MutableMapping):
    """A mapping of names to stored arrays; reading an entry gives a tensor (see module
    doc), :meth:`raw` gives what is stored."""

    def __init__(self, values: Any = ()) -> None:
        self._values: dict[str, Any] = dict(values)

    def __getitem__(self, key: str) -> Any:
        value = self._values[key]
        if isinstance(value, np.ndarray):
            value = self._values[key] = as_tensor(value)
        return value

    def __setitem__(self, key: str, value: Any) -> None:
        self._values[key] = value

    def __contains__(self, key: object) -> bool:
        return key in self._values

    def __delitem__(self, key: str) -> None:
        del self._values[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return f"TensorDict({list(self._values)})"

    def raw(self, key: str) -> Any:
        return self._values[key]

    def raw_items(self):
        return self._values.items()
