"""Delta (send-on-delta) coding: a spike whenever the signal has moved by ``threshold``.

Each channel keeps a reference level, initially the first sample ``signal[0]`` (so no
spike is emitted in step 0). In step ``t >= 1``, with ``d = signal[t] - reference``:

* ``d >= threshold``   -> ON event, ``reference <- signal[t]``;
* ``d <= -threshold``  -> OFF event, ``reference <- signal[t]``;
* otherwise nothing.

So a spike marks a change of at least ``threshold`` since the last event (at most one
event per step and channel; a jump of several thresholds gives one event). With
``off_spikes=False`` only the ON events are output; OFF events are still detected and
move the reference, so a falling-then-rising signal spikes again once it has risen by
``threshold`` from its new level. With ``off_spikes=True`` the output has ``2 n``
channels: ``[..., :n]`` the ON events, ``[..., n:]`` the OFF events of the same inputs
(the polarity channels of event cameras / silicon retinas).

Example (threshold 0.25): a ramp ``0.125 t`` spikes (ON) at t = 2, 4, 6, ...

References: Miskowicz (2006), "Send-on-delta concept: an event-based data reporting
strategy", Sensors 6:49; Lichtsteiner, Posch & Delbruck (2008), "A 128x128 120 dB 15 us
latency asynchronous temporal contrast vision sensor", IEEE JSSC 43:566 (ON/OFF events).
"""
from __future__ import annotations

import math
from typing import Any

import torch

from synaptica.encoding._checks import as_float_tensor

__all__ = ["delta_encode"]


def delta_encode(signal: Any, threshold: float, off_spikes: bool = False) -> torch.Tensor:
    """Send-on-delta spikes of a sampled signal.

    Args:
        signal: tensor of shape ``(steps, batch, n)``, one sample per time step (any
            unit; ``threshold`` is in the same unit).
        threshold: minimum change since the last event that triggers a spike, > 0.
        off_spikes: also output OFF (decrease) events as extra channels.

    Returns:
        Tensor of 0.0 / 1.0 of shape ``(steps, batch, n)``, or ``(steps, batch, 2 n)``
        (ON channels then OFF channels) when ``off_spikes`` is true; dtype of ``signal``
        when floating.

    Raises:
        ValueError: wrong shape, non-finite samples, threshold not a positive number.

    Reference: Miskowicz (2006), Sensors 6:49.
    """
    x = as_float_tensor(signal, "delta_encode: signal", "(steps, batch, n)", 3)
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not math.isfinite(threshold) \
            or threshold <= 0:
        raise ValueError(f"delta_encode: threshold must be a positive number, got {threshold!r}")
    steps = x.shape[0]
    on = torch.zeros_like(x)
    off = torch.zeros_like(x)
    if steps:
        reference = x[0].clone()
        for t in range(1, steps):
            d = x[t] - reference
            up = d >= threshold
            down = d <= -threshold
            on[t] = up.to(x.dtype)
            off[t] = down.to(x.dtype)
            reference = torch.where(up | down, x[t], reference)
    return torch.cat([on, off], dim=2) if off_spikes else on
