"""Latency (time-to-first-spike) coding: at most one spike per input, stronger inputs earlier.

Two mappings from an intensity ``x`` in [0, 1] to a spike step ``k`` in ``[0, steps)``:

* ``mode="linear"``: ``t = (1 - x) (steps - 1)``, ``k = round(t)`` (halves up); x = 1
  spikes in step 0, an input just above ``threshold`` near the last step.
* ``mode="log"``: the firing time of an RC circuit (leaky integrator with time constant
  ``tau`` steps, reset to 0) driven by the constant input ``x`` and firing at
  ``threshold``: ``x (1 - exp(-t / tau)) = threshold``, so
  ``t = tau ln(x / (x - threshold))``; ``k = ceil(t)``, the first step at which the
  integrator has reached the threshold. Spikes whose ``k`` falls outside the window
  (``k >= steps``) are dropped. Needs ``threshold > 0``.

In both modes an input spikes if and only if ``x > threshold`` (and, for "log", its
spike falls inside the window); weaker inputs stay silent. The mapping is monotone:
``x1 > x2`` implies ``k1 <= k2``.

References: Thorpe, Delorme & Van Rullen (2001), "Spike-based strategies for rapid
processing", Neural Networks 14:715; Gütig & Sompolinsky (2006), "The tempotron: a
neuron that learns spike timing-based decisions", Nat. Neurosci. 9:420 (latency code
of the inputs); the RC form follows the ``snntorch.spikegen.latency`` convention.
"""
from __future__ import annotations

import math
from typing import Any

import torch

from synaptica.encoding._checks import as_float_tensor, positive_float, positive_int

__all__ = ["latency_encode", "latency_steps"]

MODES = ("linear", "log")


def latency_steps(x: Any, steps: int, *, mode: str = "linear", tau: float = 5.0,
                  threshold: float = 0.0) -> torch.Tensor:
    """Spike step of each input as an int64 tensor of shape ``(batch, n)``; -1 = no spike.

    Same arguments as :func:`latency_encode`.
    """
    x = as_float_tensor(x, "latency_encode: x", "(batch, n)", 2)
    steps = positive_int(steps, "latency_encode: steps")
    if mode not in MODES:
        raise ValueError(f"latency_encode: mode must be one of {list(MODES)}, got {mode!r}")
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not math.isfinite(threshold) \
            or not 0.0 <= threshold < 1.0:
        raise ValueError(f"latency_encode: threshold must be a number in [0, 1), got {threshold!r}")
    if bool(((x < 0) | (x > 1)).any()):
        raise ValueError(f"latency_encode: x must lie in [0, 1], got values in "
                         f"[{x.min().item()}, {x.max().item()}] (normalise the input first)")
    x64 = x.to(torch.float64)
    active = x64 > threshold
    if mode == "linear":
        t = (1.0 - x64) * (steps - 1)
        k = torch.floor(t + 0.5)
    else:
        tau = positive_float(tau, "latency_encode: tau")
        if threshold <= 0.0:
            raise ValueError("latency_encode: mode='log' needs threshold > 0 (the RC circuit's firing "
                             f"level), got {threshold!r}")
        safe = torch.where(active, x64, torch.ones_like(x64))
        t = tau * torch.log(safe / (safe - threshold))
        k = torch.ceil(t - 1e-9)  # float noise must not push an exact hit to the next step
        active = active & (k <= steps - 1)
    return torch.where(active, k, torch.full_like(k, -1.0)).to(torch.int64)


def latency_encode(x: Any, steps: int, *, mode: str = "linear", tau: float = 5.0,
                   threshold: float = 0.0) -> torch.Tensor:
    """Time-to-first-spike code of intensities ``x``: one spike at most per input.

    Args:
        x: intensities in [0, 1], tensor of shape ``(batch, n)`` (dimensionless;
            normalise raw data, e.g. pixel / 255, first).
        steps: length of the coding window in time steps (multiply by the network's
            dt for ms).
        mode: ``"linear"`` (t = (1 - x)(steps - 1)) or ``"log"`` (RC circuit,
            t = tau ln(x / (x - threshold))); see the module documentation.
        tau: RC time constant in steps (``mode="log"`` only), > 0.
        threshold: inputs ``x <= threshold`` do not spike; in ``"log"`` mode also the
            RC firing level (must then be > 0). In [0, 1).

    Returns:
        Tensor of shape ``(steps, batch, n)`` of 0.0 / 1.0 (dtype of ``x`` when
        floating), with at most one 1 along the time axis for each input.

    Raises:
        ValueError: wrong shape, values outside [0, 1] or NaN, bad ``steps`` / ``mode`` /
        ``tau`` / ``threshold``.

    References: Thorpe, Delorme & Van Rullen (2001), Neural Networks 14:715; Gütig &
    Sompolinsky (2006), Nat. Neurosci. 9:420.
    """
    k = latency_steps(x, steps, mode=mode, tau=tau, threshold=threshold)
    x = as_float_tensor(x, "latency_encode: x", "(batch, n)", 2)
    out = torch.zeros((steps, *k.shape), dtype=x.dtype, device=x.device)
    active = k >= 0
    b, i = torch.nonzero(active, as_tuple=True)
    out[k[b, i], b, i] = 1.0
    return out
