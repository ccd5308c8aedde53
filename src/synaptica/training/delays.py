"""Learnable per-synapse delays trained by gradient (DCLS).

Hammouamri, Khalfaoui-Hassani & Masquelier (ICLR 2024), "Learning Delays in Spiking
Neural Networks using Dilated Convolutions with Learnable Spacings": a synapse ``i -> j``
with weight ``w_ji`` and delay ``d_ji`` is a temporal kernel over ``K = max_delay`` taps
(tap ``k`` = a delay of ``k`` steps)::

    kernel_ji[k] = w_ji * g(k - d_ji; sigma),   k = 0 .. K-1

where ``g`` is a bump centred on the real-valued delay: a Gaussian (the paper's choice)
or a triangle of half-width ``sigma`` (with ``normalise="sum"`` and ``sigma = 1``, linear
interpolation between the two neighbouring taps). The input spike trains go through a
causal 1-D convolution with these kernels, so the loss is differentiable in ``d_ji``.
``sigma`` starts wide (``K / 2``, long-range gradients) and is annealed towards 0.5
during training (:func:`annealed_sigma`, :meth:`DelayedLinear.set_sigma`); at inference
:meth:`DelayedLinear.round_delays` rounds the delays to whole steps and the kernel
becomes a one-hot tap: the output is then exactly the integer-delay shift
:func:`integer_delay_current`. Mode "straight_through" trains with the rounded taps in
the forward pass and the bump's gradient backward (a final phase that makes training
see what inference computes).

Normalisation of the bump: DCLS divides it by its sum ("sum": a synapse's total charge
does not depend on sigma, so its peak effect grows as 1/sigma while sigma shrinks).
The default here, "peak", keeps the bump's height at 1 (the peak effect of a spike stays
``w`` whatever sigma). With threshold units downstream this matters: under "sum" the
weights learned at a wide sigma become too strong as it shrinks (we saw detectors fire
on two coincident inputs out of six), and the delays stop being refined. On the
``delay-motifs`` experiment (3 seeds) "peak" aligns every strong synapse of every
detector exactly (0 steps of error, test accuracy 0.935); "sum" is 0.33 steps off on
average (90% within one step) at 0.853.

Cost: one ``conv1d`` over (B, n_in, T + K - 1) with an (n_out, n_in, K) kernel; for
n_in = n_out = 100, K = 50, T = 200, B = 64 a forward and backward pass take about 1 s
on one CPU thread.

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
MODES = ("soft", "straight_through", "hard")
NORMALISATIONS = ("peak", "sum")


def delay_kernel(delays: torch.Tensor, max_delay: int, sigma: float, kind: str = "gaussian",
                 mode: str = "soft", normalise: str = "peak") -> torch.Tensor:
    """Temporal weights ``(*delays.shape, max_delay)`` of the taps 0..max_delay-1.

    ``mode``: "soft", a ``kind`` bump of width ``sigma`` (steps) centred on each delay;
    "hard", a one-hot tap at ``round(delays)`` (no gradient to the delays);
    "straight_through", the hard taps forward and the soft taps' gradient backward.
    ``normalise`` (soft bumps): "peak", height 1 at the centre; "sum", sum 1 over all
    integer taps, inside the window or not (see the comment below).
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if normalise not in NORMALISATIONS:
        raise ValueError(f"normalise must be one of {NORMALISATIONS}, got {normalise!r}")
    if mode != "soft":
        index = delays.detach().round().clamp(0, max_delay - 1).long()
        hard = F.one_hot(index, max_delay).to(delays.dtype)
        if mode == "hard":
            return hard
        soft = delay_kernel(delays, max_delay, sigma, kind, "soft", normalise)
        return soft + (hard - soft).detach()
    # "sum": evaluate the bump on the window plus a margin wide enough to hold its tails
    # and normalise by the sum over all of it: a delay near an edge then loses weight past
    # the edge instead of having its bump's centre of mass pulled inside, which would bias
    # the delay gradient towards the edges while sigma is wide
    margin = int(math.ceil(4.0 * sigma)) + 1 if normalise == "sum" else 0
    taps = torch.arange(-margin, max_delay + margin, dtype=delays.dtype, device=delays.device)
    distance = taps - delays.unsqueeze(-1)
    if kind == "gaussian":
        bump = torch.exp(-0.5 * (distance / sigma) ** 2)
    elif kind == "triangle":
        bump = (1.0 - distance.abs() / sigma).clamp_min(0.0)
    else:
        raise ValueError(f"kind must be one of {KERNELS}, got {kind!r}")
    if normalise == "peak":
        return bump
    return bump[..., margin:margin + max_delay] / bump.sum(-1, keepdim=True).clamp_min(1e-30)


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
    "triangle"; ``normalise``: "peak" or "sum" (module doc). ``sigma``: initial width in
    steps (default K/2, at least 1). ``learn_delays=False``
    keeps the delays fixed (``delay_init`` 0 gives a plain linear layer, the no-delay
    baseline). ``delay_init``: "uniform" (random in [0, K-1], as in DCLS) or a number.

    Delays are kept in range by clamping: the forward pass clamps them with a
    straight-through gradient (a delay pushed past an edge can come back), and
    :meth:`clamp_delays_` clamps the stored values; call it after each optimiser step,
    as DCLS does.
    """

    def __init__(self, n_in: int, n_out: int, max_delay: int, kernel: str = "gaussian",
                 sigma: float | None = None, learn_delays: bool = True, delay_init: str | float = "uniform",
                 bias: bool = False, normalise: str = "peak", name: str = "delayed") -> None:
        super().__init__()
        for label, value in (("n_in", n_in), ("n_out", n_out), ("max_delay", max_delay)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"DelayedLinear: {label} must be a positive integer, got {value!r}")
        if kernel not in KERNELS:
            raise ValueError(f"DelayedLinear: kernel must be one of {KERNELS}, got {kernel!r}")
        if normalise not in NORMALISATIONS:
            raise ValueError(f"DelayedLinear: normalise must be one of {NORMALISATIONS}, got {normalise!r}")
        self.n_in, self.n_out, self.max_delay, self.kernel, self.name = n_in, n_out, max_delay, kernel, name
        self.normalise = normalise
        self.mode = "soft"
        self.set_sigma(max(max_delay / 2.0, 1.0) if sigma is None else sigma)
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
        """Set the kernel width (steps); anneal it during training with :func:`annealed_sigma`.
        A triangle needs ``sigma >= 1``: narrower, a delay between two taps reaches neither."""
        if not (isinstance(sigma, (int, float)) and math.isfinite(sigma) and sigma > 0):
            raise ValueError(f"DelayedLinear: sigma must be a finite number > 0, got {sigma!r}")
        if self.kernel == "triangle" and sigma < 1.0:
            raise ValueError(f"DelayedLinear: sigma must be >= 1 for the triangle kernel, got {sigma!r}")
        self.sigma = float(sigma)

    def set_mode(self, mode: str) -> None:
        """"soft" (training, DCLS), "straight_through" (train with the rounded delays in
        the forward pass, as at inference, and the soft kernel's gradient) or "hard"
        (inference; see :meth:`round_delays`)."""
        if mode not in MODES:
            raise ValueError(f"DelayedLinear: mode must be one of {MODES}, got {mode!r}")
        self.mode = mode

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
        """Round the stored delays to whole steps and switch to mode "hard" (one-hot taps)."""
        self.clamp_delays_()
        self.delay.round_()
        self.mode = "hard"

    def temporal_kernel(self) -> torch.Tensor:
        """The effective kernels ``w * g`` (n_out, n_in, K); tap k = delay of k steps."""
        taps = delay_kernel(self.delays(), self.max_delay, self.sigma, self.kernel, self.mode,
                            self.normalise)
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
                f"normalise={self.normalise}, sigma={self.sigma:g}, learn_delays={learn}, mode={self.mode}")
