"""Learnable per-synapse delays trained by gradient (DCLS).

Hammouamri, Khalfaoui-Hassani & Masquelier (ICLR 2024), "Learning Delays in Spiking
Neural Networks using Dilated Convolutions with Learnable Spacings": a synapse ``i -> j``
with weight ``w_ji`` and delay ``d_ji`` is a temporal kernel over ``K = max_delay`` taps
(tap ``k`` = a delay of ``k`` steps)::

    kernel_ji[k] = w_ji * g(k - d_ji; sigma),   k = 0 .. K-1

where ``g`` is a bump centred on the real-valued delay: a Gaussian (the paper's choice)
or a triangle of half-width ``sigma`` (``sigma = 1`` is linear interpolation between the
two neighbouring taps), normalised to sum 1 over the window. The input spike trains go
through a causal 1-D convolution with these kernels, so the loss is differentiable in
``d_ji``. ``sigma`` starts wide (``K / 2``, long-range gradients) and is annealed towards
0.5 during training (:func:`annealed_sigma`, :meth:`DelayedLinear.set_sigma`); at
inference :meth:`DelayedLinear.round_delays` rounds the delays to whole steps and the
kernel becomes a one-hot tap: the output is then exactly the integer-delay shift
:func:`integer_delay_current`.

Units: time in steps (the caller's ``dt``); delays in steps, kept in ``[0, K-1]``.
Shapes: time-major, input spikes ``(T, B, n_in)`` -> current ``(T, B, n_out)``, which
goes into :class:`~synaptica.training.layers.LIFNeurons`.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from synaptica.training.layers import check_sequence

KERNELS = ("gaussian", "triangle")


def delay_kernel(delays: torch.Tensor, max_delay: int, sigma: float, kind: str = "gaussian",
                 hard: bool = False) -> torch.Tensor:
    """Temporal weights ``(*delays.shape, max_delay)`` of the taps 0..max_delay-1.

    ``hard``: a one-hot tap at ``round(delays)`` (no gradient to the delays); otherwise
    a ``kind`` bump of width ``sigma`` (steps) centred on each delay, normalised to sum 1.
    """
    taps = torch.arange(max_delay, dtype=delays.dtype, device=delays.device)
    if hard:
        index = delays.detach().round().clamp(0, max_delay - 1).long()
        return F.one_hot(index, max_delay).to(delays.dtype)
    distance = taps - delays.unsqueeze(-1)
    if kind == "gaussian":
        bump = torch.exp(-0.5 * (distance / sigma) ** 2)
    elif kind == "triangle":
        bump = (1.0 - distance.abs() / sigma).clamp_min(0.0)
    else:
        raise ValueError(f"kind must be one of {KERNELS}, got {kind!r}")
    # normalise so a synapse's total weight does not depend on sigma or on the delay's
    # distance from the window edge (DCLS normalises the same way)
    return bump / (bump.sum(-1, keepdim=True) + 1e-12)


def integer_delay_current(x: torch.Tensor, weight: torch.Tensor, delays: torch.Tensor) -> torch.Tensor:
    """Plain integer-delay shift: ``out[t, b, j] = sum_i w[j, i] x[t - d[j, i], b, i]``
    (terms with ``t - d < 0`` are zero). ``x``: (T, B, n_in); ``weight``, ``delays``:
    (n_out, n_in), delays whole numbers of steps >= 0. Returns (T, B, n_out).

    One matrix multiply per distinct delay value: the reference the rounded
    :class:`DelayedLinear` must reproduce, and a fast inference path on its own.
    """
    if weight.dim() != 2 or delays.shape != weight.shape:
        raise ValueError(f"integer_delay_current: weight and delays must both be (n_out, n_in), "
                         f"got {tuple(weight.shape)} and {tuple(delays.shape)}")
    check_sequence(x, weight.shape[1], "integer_delay_current")
    steps = delays.round().long()
    if (steps < 0).any() or not torch.equal(steps.to(delays.dtype), delays.to(delays.dtype)):
        raise ValueError("integer_delay_current: delays must be whole numbers of steps >= 0")
    n_steps = x.shape[0]
    out = x.new_zeros(n_steps, x.shape[1], weight.shape[0])
    for k in torch.unique(steps).tolist():
        if k >= n_steps:
            continue
        w_k = torch.where(steps == k, weight, torch.zeros_like(weight))
        out[k:] += x[: n_steps - k] @ w_k.t()
    return out


def annealed_sigma(progress: float, start: float, end: float = 0.5) -> float:
    """Kernel width at training ``progress`` in [0, 1]: geometric from ``start`` to
    ``end`` (DCLS shrinks sigma from ``max_delay / 2`` to 0.5 over training)."""
    if not 0.0 <= progress <= 1.0:
        raise ValueError(f"progress must lie in [0, 1], got {progress}")
    if start <= 0 or end <= 0:
        raise ValueError(f"sigma start and end must be > 0, got {start} and {end}")
    return float(start * (end / start) ** progress)


class DelayedLinear(torch.nn.Module):
    """Dense projection ``n_in -> n_out`` with a weight and a learnable delay per synapse.

    ``forward(x)``: spikes (T, B, n_in) -> current (T, B, n_out), the causal convolution
    of each input with its synapse's kernel ``w * g(k - d; sigma)`` (module doc).

    ``max_delay``: number of taps K (delays 0..K-1 steps). ``kernel``: "gaussian" or
    "triangle". ``sigma``: initial width in steps (default K/2). ``learn_delays=False``
    keeps the delays fixed (``delay_init`` 0 gives a plain linear layer, the no-delay
    baseline). ``delay_init``: "uniform" (random in [0, K-1], as in DCLS) or a number.

    Delays are kept in range by clamping: the forward pass clamps them with a
    straight-through gradient (a delay pushed past an edge can come back), and
    :meth:`clamp_delays_` clamps the stored values; call it after each optimiser step,
    as DCLS does.
    """

    def __init__(self, n_in: int, n_out: int, max_delay: int, kernel: str = "gaussian",
                 sigma: float | None = None, learn_delays: bool = True, delay_init: str | float = "uniform",
                 bias: bool = False, name: str = "delayed") -> None:
        super().__init__()
        for label, value in (("n_in", n_in), ("n_out", n_out), ("max_delay", max_delay)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"DelayedLinear: {label} must be a positive integer, got {value!r}")
        if kernel not in KERNELS:
            raise ValueError(f"DelayedLinear: kernel must be one of {KERNELS}, got {kernel!r}")
        self.n_in, self.n_out, self.max_delay, self.kernel, self.name = n_in, n_out, max_delay, kernel, name
        self.hard = False
        self.set_sigma(max_delay / 2.0 if sigma is None else sigma)
        bound = 1.0 / math.sqrt(n_in)
        self.weight = torch.nn.Parameter(torch.empty(n_out, n_in).uniform_(-bound, bound))
        self.bias = torch.nn.Parameter(torch.zeros(n_out)) if bias else None
        if delay_init == "uniform":
            delays = torch.rand(n_out, n_in) * (max_delay - 1)
        elif isinstance(delay_init, (int, float)) and not isinstance(delay_init, bool):
            if not 0 <= delay_init <= max_delay - 1:
                raise ValueError(f"DelayedLinear: delay_init must lie in [0, {max_delay - 1}], got {delay_init}")
            delays = torch.full((n_out, n_in), float(delay_init))
        else:
            raise ValueError(f"DelayedLinear: delay_init must be 'uniform' or a number, got {delay_init!r}")
        if learn_delays:
            self.delay = torch.nn.Parameter(delays)
        else:
            self.register_buffer("delay", delays)

    def set_sigma(self, sigma: float) -> None:
        """Set the kernel width (steps); anneal it during training with :func:`annealed_sigma`."""
        if not (isinstance(sigma, (int, float)) and math.isfinite(sigma) and sigma > 0):
            raise ValueError(f"DelayedLinear: sigma must be a finite number > 0, got {sigma!r}")
        self.sigma = float(sigma)

    def delays(self) -> torch.Tensor:
        """Delays (n_out, n_in) in steps, clamped to [0, K-1] (straight-through gradient)."""
        d = self.delay
        return d + (d.clamp(0.0, self.max_delay - 1.0) - d).detach()

    @torch.no_grad()
    def clamp_delays_(self) -> None:
        """Clamp the stored delays to [0, K-1] in place (after an optimiser step)."""
        self.delay.clamp_(0.0, self.max_delay - 1.0)

    @torch.no_grad()
    def round_delays(self) -> None:
        """Round the delays to whole steps and switch to hard (one-hot tap) kernels."""
        self.clamp_delays_()
        self.delay.round_()
        self.hard = True

    def temporal_kernel(self) -> torch.Tensor:
        """The effective kernels ``w * g`` (n_out, n_in, K); tap k = delay of k steps."""
        taps = delay_kernel(self.delays(), self.max_delay, self.sigma, self.kernel, self.hard)
        return self.weight.unsqueeze(-1) * taps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_sequence(x, self.n_in, f"{type(self).__name__} '{self.name}'")
        kernel = self.temporal_kernel().to(x.dtype)
        # conv1d correlates: out[t] = sum_m w[m] xpad[t + m]; with K-1 zeros of left padding
        # and the taps reversed, tap k meets x[t - k] (causal)
        signal = F.pad(x.permute(1, 2, 0), (self.max_delay - 1, 0))
        out = F.conv1d(signal, kernel.flip(-1)).permute(2, 0, 1)
        return out if self.bias is None else out + self.bias

    def extra_repr(self) -> str:
        learn = isinstance(self.delay, torch.nn.Parameter)
        return (f"{self.n_in} -> {self.n_out}, max_delay={self.max_delay}, kernel={self.kernel}, "
                f"sigma={self.sigma:g}, learn_delays={learn}, hard={self.hard}")
