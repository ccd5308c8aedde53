"""Rate coding with Poisson spike trains.

Each input neuron emits, independently in every time step, a spike with probability
``rate * dt`` (the Bernoulli approximation of a homogeneous Poisson process, exact in
the limit dt -> 0; Heeger 2000, "Poisson model of spike generation"; Dayan & Abbott
2001, *Theoretical Neuroscience*, sec. 1.4). This is the same per-step rule as
:meth:`synaptica.engine.network.Network.add_poisson`.
"""
from __future__ import annotations

from typing import Any

import torch

from synaptica.encoding._checks import as_float_tensor, positive_float, positive_int

__all__ = ["poisson_encode"]


def poisson_encode(rates_hz: Any, steps: int, dt_ms: float,
                   generator: torch.Generator | None = None) -> torch.Tensor:
    """Poisson (Bernoulli per step) spike trains for given firing rates.

    Args:
        rates_hz: firing rates in Hz, tensor of shape ``(batch, n)``; finite and >= 0.
        steps: number of time steps (positive integer).
        dt_ms: step length in ms; ``rate * dt`` (with dt in s) is the spike probability
            per step and must not exceed 1.
        generator: optional ``torch.Generator`` for reproducible draws (on the device
            of ``rates_hz``).

    Returns:
        Tensor of shape ``(steps, batch, n)`` of 0.0 / 1.0 (dtype of ``rates_hz`` when
        floating, else the default dtype), on the device of ``rates_hz``.

    Raises:
        ValueError: wrong shape, negative / NaN / infinite rates, ``rate * dt > 1``,
        non-positive ``steps`` or ``dt_ms``.

    Reference: Heeger (2000), Poisson model of spike generation; Dayan & Abbott (2001),
    Theoretical Neuroscience, MIT Press, ch. 1.4.
    """
    rates = as_float_tensor(rates_hz, "poisson_encode: rates_hz", "(batch, n)", 2)
    steps = positive_int(steps, "poisson_encode: steps")
    dt_ms = positive_float(dt_ms, "poisson_encode: dt_ms")
    if bool((rates < 0).any()):
        raise ValueError(f"poisson_encode: rates_hz must be >= 0 Hz, got minimum {rates.min().item()}")
    probability = rates * (dt_ms * 1e-3)
    if bool((probability > 1.0).any()):
        raise ValueError(f"poisson_encode: rate x dt exceeds one spike per step (max rate "
                         f"{rates.max().item()} Hz, dt {dt_ms} ms: at most {1e3 / dt_ms} Hz)")
    draw = torch.rand((steps, *rates.shape), generator=generator, dtype=rates.dtype, device=rates.device)
    return (draw < probability).to(rates.dtype)
