"""Trainable spiking layers: thin ``torch.nn.Module`` wrappers of :mod:`.functional`.

Inputs and outputs are time-major, ``(T, B, features)``. A layer owns its weights and its
neuron parameters; the neuron parameters can be learned per neuron through the
parametrisations of :mod:`synaptica.training.parametrise` (``beta`` kept in (0, 1) --
equivalently ``tau_m = -dt / ln(beta) > 0`` -- and ``threshold`` kept > 0).
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import torch

from synaptica.training.functional import RESETS, lif_sequence, lif_step, spike_linear
from synaptica.training.parametrise import Bounded, Positive, heterogeneous
from synaptica.primitives.surrogate import Surrogate, as_surrogate


def check_sequence(x: torch.Tensor, n_features: int, where: str) -> None:
    """Raise a clear error unless ``x`` is (T, B, n_features)."""
    if x.dim() != 3 or x.shape[2] != n_features:
        raise ValueError(f"{where}: expected input of shape (T, B, {n_features}) (time, batch, features), "
                         f"got {tuple(x.shape)}")


def _all_finite(x: torch.Tensor) -> bool:
    x = x.detach()
    if x.device.type == "cpu" and x.dtype in (torch.float32, torch.float64):
        # NumPy, in this thread: a torch op may wait for its thread pool, which on a busy
        # machine can cost a scheduler tick
        return bool(np.isfinite(x.numpy()).all())
    return bool(torch.isfinite(x).all())


def check_finite(v_final: torch.Tensor, current: torch.Tensor, where: str) -> None:
    """Raise FloatingPointError naming ``where`` and the first step whose input current is
    not finite. A NaN or inf anywhere in the sequence reaches the final membrane, so
    only that (B, N) tensor is tested on the normal path."""
    if _all_finite(v_final):
        return
    bad = (~torch.isfinite(current.detach())).flatten(1).any(1).nonzero()
    step = int(bad[0]) if len(bad) else None
    detail = f"input current is NaN/inf at step {step}" if step is not None else \
        "membrane overflowed (check learning rate and weights)"
    raise FloatingPointError(f"population '{where}': state 'v' is not finite: {detail}")


class LIFNeurons(torch.nn.Module):
    """Per-neuron LIF parameters (``beta``, ``threshold``), fixed or learnable.

    ``beta``: membrane decay per step, scalar or (n,); ``beta_spread`` draws heterogeneous
    values via a gamma-distributed ``tau_m = -1/ln(beta)`` (coefficient of variation
    ``beta_spread``). ``learn_beta``/``learn_threshold`` make them trainable.
    """

    def __init__(self, n: int, beta: float | torch.Tensor = 0.9, threshold: float | torch.Tensor = 1.0,
                 reset: str = "subtract", detach_reset: bool = False,
                 surrogate: Surrogate | str | None = None, learn_beta: bool = False,
                 learn_threshold: bool = False, beta_spread: float = 0.0) -> None:
        super().__init__()
        if reset not in RESETS:
            raise ValueError(f"reset must be one of {RESETS}, got {reset!r}")
        beta = torch.as_tensor(beta, dtype=torch.get_default_dtype()).expand(n).clone()
        if ((beta <= 0) | (beta >= 1)).any():
            raise ValueError(f"beta must lie strictly inside (0, 1), got {beta.min().item()}..{beta.max().item()}")
        if beta_spread > 0:
            tau = heterogeneous(n, float((-1.0 / torch.log(beta)).mean()), beta_spread)
            beta = torch.exp(-1.0 / tau.clamp_min(1e-3)).clamp(1e-6, 1 - 1e-6)
        threshold = torch.as_tensor(threshold, dtype=torch.get_default_dtype()).expand(n).clone()
        if (threshold <= 0).any():
            raise ValueError("threshold must be > 0")
        self.n, self.reset, self.detach_reset = n, reset, detach_reset
        self.surrogate = as_surrogate(surrogate)
        self.beta_param = Bounded(beta, 0.0, 1.0, "beta") if learn_beta else None
        self.threshold_param = Positive(threshold, 0.0, "threshold") if learn_threshold else None
        self.register_buffer("beta_fixed", beta)
        self.register_buffer("threshold_fixed", threshold)

    def beta(self) -> torch.Tensor:
        return self.beta_param() if self.beta_param is not None else self.beta_fixed

    def threshold(self) -> torch.Tensor:
        return self.threshold_param() if self.threshold_param is not None else self.threshold_fixed

    def forward(self, current: torch.Tensor, v0: torch.Tensor | None = None, overwrite_current: bool = False):
        return lif_sequence(current, self.beta(), self.threshold(), v0, self.reset, self.detach_reset,
                            self.surrogate, overwrite_current)


class LIFLayer(torch.nn.Module):
    """Linear projection followed by LIF neurons: (T, B, n_in) -> (T, B, n_out) spikes.

    The projection uses :func:`spike_linear`, so binary sparse inputs are summed rather
    than multiplied. Extra keywords go to :class:`LIFNeurons`. After ``forward`` the layer
    keeps ``last_v`` (final membrane, (B, n_out)) for losses and inspection.
    """

    def __init__(self, n_in: int, n_out: int, bias: bool = True, name: str = "lif", **neuron) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(n_in, n_out, bias=bias)
        self.neurons = LIFNeurons(n_out, **neuron)
        self.n_in, self.n_out, self.name = n_in, n_out, name

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_sequence(x, self.n_in, f"{type(self).__name__} '{self.name}'")
        current = spike_linear(x, self.linear.weight, self.linear.bias)
        # the current is this layer's own temporary: the kernel may keep h_t in its memory
        # (a NaN in I_t stays a NaN in h_t, so check_finite still finds the step)
        spikes, self.last_v = self.neurons(current, overwrite_current=True)
        check_finite(self.last_v, current, self.name)
        return spikes


class LeakyReadout(torch.nn.Module):
    """Non-spiking leaky integrator readout: ``v_t = beta v_{t-1} + W x_t + b``.

    Returns the membrane trace (T, B, n_out), e.g. for :func:`max_membrane_cross_entropy`.
    """

    def __init__(self, n_in: int, n_out: int, beta: float = 0.9, bias: bool = True, name: str = "readout") -> None:
        super().__init__()
        if not 0.0 <= beta < 1.0:
            raise ValueError(f"beta must lie in [0, 1), got {beta}")
        self.linear = torch.nn.Linear(n_in, n_out, bias=bias)
        self.beta, self.n_in, self.name = beta, n_in, name

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_sequence(x, self.n_in, f"{type(self).__name__} '{self.name}'")
        current = spike_linear(x, self.linear.weight, self.linear.bias)
        v = torch.zeros_like(current[0])
        trace = []
        for i_t in current.unbind(0):
            v = self.beta * v + i_t
            trace.append(v)
        trace = torch.stack(trace)
        check_finite(v, current, self.name)
        return trace


class RecurrentLIFLayer(LIFLayer):
    """LIF layer with recurrent weights: ``I_t = W x_t + b + W_rec s_{t-1}``.

    ``recurrent_density`` < 1 keeps a fixed random sparse mask on ``W_rec`` (sparse
    recurrent connectivity; masked entries stay zero through training). The recurrence is
    unrolled step by step with tensor ops (the fused kernel covers feed-forward layers).
    """

    def __init__(self, n_in: int, n_out: int, bias: bool = True, name: str = "lif",
                 recurrent_density: float = 1.0, **neuron) -> None:
        super().__init__(n_in, n_out, bias, name, **neuron)
        if not 0.0 < recurrent_density <= 1.0:
            raise ValueError(f"recurrent_density must be in (0, 1], got {recurrent_density}")
        self.recurrent = torch.nn.Parameter(torch.empty(n_out, n_out))
        torch.nn.init.uniform_(self.recurrent, -1 / math.sqrt(n_out), 1 / math.sqrt(n_out))
        mask = (torch.rand(n_out, n_out) < recurrent_density).float()
        self.register_buffer("recurrent_mask", mask)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_sequence(x, self.n_in, f"{type(self).__name__} '{self.name}'")
        feedforward = spike_linear(x, self.linear.weight, self.linear.bias)
        w_rec = self.recurrent * self.recurrent_mask
        neurons = self.neurons
        beta, threshold = neurons.beta(), neurons.threshold()
        v = feedforward.new_zeros(feedforward.shape[1:])
        s = torch.zeros_like(v)
        out = []
        for i_t in feedforward.unbind(0):
            v, s = lif_step(v, i_t + s @ w_rec.t(), beta, threshold, neurons.reset, neurons.detach_reset,
                            neurons.surrogate)
            out.append(s)
        self.last_v = v
        check_finite(v, feedforward, self.name)
        return torch.stack(out)


class SpikingMLP(torch.nn.Module):
    """A stack of LIF layers (e.g. 784-512-10); ``forward`` returns output spikes (T, B, n_out).

    ``recurrent=True`` makes the hidden layers recurrent. Neuron keywords apply to all layers.
    With ``keep_hidden = True`` each forward keeps every layer's spikes in ``hidden_spikes``
    (for activity regularisers and rasters; off by default to save memory).
    """

    def __init__(self, sizes: Sequence[int], recurrent: bool = False, **neuron) -> None:
        super().__init__()
        if len(sizes) < 2 or any(int(s) <= 0 for s in sizes):
            raise ValueError(f"sizes must list at least two positive layer widths, got {list(sizes)}")
        layers = []
        for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
            hidden = i < len(sizes) - 2
            cls = RecurrentLIFLayer if (recurrent and hidden) else LIFLayer
            layers.append(cls(a, b, name=f"hidden{i + 1}" if hidden else "output", **neuron))
        self.layers = torch.nn.ModuleList(layers)
        self.sizes = list(sizes)
        self.keep_hidden = False
        self.hidden_spikes: list[torch.Tensor] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_sequence(x, self.sizes[0], type(self).__name__)
        self.hidden_spikes = []
        for layer in self.layers:
            x = layer(x)
            if self.keep_hidden:
                self.hidden_spikes.append(x)
        return x
