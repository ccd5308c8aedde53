"""Brain modes: adapt a frozen network by per-neuron excitability, not by its weights.

After Ghasemlou (2026), "Dopamine: Brain Modes, Not Brains" (arXiv:2602.11726): a
neuromodulator does not rewire a circuit, it changes how excitable its neurons are. A
*mode* here is a set of per-neuron thresholds ``theta`` and gains ``g`` applied to the
frozen pre-activations ``z`` of a rate (threshold-linear) layer::

    y = g * s((z - theta) / tau) * (z - theta)

``s`` is the gate. While training it is a sigmoid with temperature ``tau`` (same units as
``z``), so thresholds get gradients from neurons just below them; at inference it is
hardened to the Heaviside step, ``y = g * relu(z - theta)``: each neuron either takes
part (gate open) or is silent. With ``g = 1, theta = 0`` the hardened mode *is* a ReLU
layer, so a mode starts as the base network and switching it off restores the base
exactly. Raising ``theta`` silences neurons, lowering it recruits neurons the base keeps
below threshold; ``g`` rescales what passes. In this threshold-linear form the threshold
acts like a learned bias shift (bias tuning) and the gain like IA^3's rescaling, as the
paper notes; what the gate adds is an explicit, binary "which neurons fire" per input.

:class:`LoRALinear` is the weight-space comparison (Hu et al. 2022, "LoRA: Low-Rank
Adaptation of Large Language Models"): a frozen ``nn.Linear`` plus ``(alpha / r) B A``.
"""
from __future__ import annotations

import math

import torch

from synaptica.training.parametrise import Positive, Unconstrained


class NeuronModulation(torch.nn.Module):
    """A mode of ``n`` neurons: learnable thresholds and positive gains with a gate.

    Input ``z``: pre-activations ``(batch, n)``; output ``(batch, n)``.
    ``temperature``: sigmoid gate width in the units of ``z`` (> 0); set ``hard = True``
    (or call :meth:`harden`) for the binary gate used at inference.
    Trainable parameters: exactly ``2 n`` (``threshold.raw`` and ``gain.raw``).
    """

    def __init__(self, n: int, temperature: float = 0.1, threshold: float = 0.0, gain: float = 1.0,
                 name: str = "mode") -> None:
        super().__init__()
        if not isinstance(n, int) or n < 1:
            raise ValueError(f"{name}: n must be a positive int, got {n!r}")
        self.n, self.name = n, name
        self.threshold = Unconstrained(torch.full((n,), float(threshold)), f"{name}.threshold")
        self.gain = Positive(torch.full((n,), float(gain)), 0.0, f"{name}.gain")  # g <= 0 would flip/erase units
        self.temperature = temperature
        self.hard = False

    @property
    def temperature(self) -> float:
        return self._temperature

    @temperature.setter
    def temperature(self, value: float) -> None:
        if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
            raise ValueError(f"{self.name}: temperature must be a finite number > 0, got {value!r}")
        self._temperature = float(value)

    def harden(self, hard: bool = True) -> "NeuronModulation":
        """Switch to the binary gate (inference) or back to the sigmoid gate (training)."""
        self.hard = bool(hard)
        return self

    def gate(self, z: torch.Tensor) -> torch.Tensor:
        """Gate values in [0, 1], ``(batch, n)``: 1 where a neuron takes part."""
        return self._gate(self._check(z) - self.threshold())

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        u = self._check(z) - self.threshold()
        return self.gain() * self._gate(u) * u

    def _gate(self, u: torch.Tensor) -> torch.Tensor:
        if self.hard:
            return (u > 0).to(u.dtype)
        return torch.sigmoid(u / self._temperature)

    def _check(self, z: torch.Tensor) -> torch.Tensor:
        if z.ndim != 2 or z.shape[1] != self.n:
            raise ValueError(f"{self.name}: expected pre-activations of shape (batch, {self.n}), "
                             f"got {tuple(z.shape)}")
        return z

    def extra_repr(self) -> str:
        return f"n={self.n}, temperature={self._temperature:g}, hard={self.hard}"


class LoRALinear(torch.nn.Module):
    """A frozen ``nn.Linear`` plus a trainable low-rank update: ``W x + b + (alpha/r) B A x``.

    ``A``: ``(rank, in)``, random (std ``1/sqrt(in)``); ``B``: ``(out, rank)``, zeros, so the
    adapter starts as the identity. Trainable parameters: ``rank * (in + out)``.
    ``enabled = False`` switches the adapter off (the base layer alone).
    """

    def __init__(self, base: torch.nn.Linear, rank: int, alpha: float | None = None,
                 generator: torch.Generator | None = None) -> None:
        super().__init__()
        if not isinstance(base, torch.nn.Linear):
            raise ValueError(f"LoRALinear: base must be a torch.nn.Linear, got {type(base).__name__}")
        if not isinstance(rank, int) or not 1 <= rank <= min(base.in_features, base.out_features):
            raise ValueError(f"LoRALinear: rank must be an int in [1, {min(base.in_features, base.out_features)}] "
                             f"for a {base.in_features}->{base.out_features} layer, got {rank!r}")
        self.base = base
        for p in self.base.parameters():
            p.requires_grad_(False)
        self.rank = rank
        self.scale = (float(alpha) if alpha is not None else float(rank)) / rank
        a = torch.randn(rank, base.in_features, generator=generator) / math.sqrt(base.in_features)
        self.A = torch.nn.Parameter(a)
        self.B = torch.nn.Parameter(torch.zeros(base.out_features, rank))
        self.enabled = True

    @property
    def in_features(self) -> int:
        return self.base.in_features

    @property
    def out_features(self) -> int:
        return self.base.out_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.base(x)
        if self.enabled:
            y = y + self.scale * (x @ self.A.T) @ self.B.T
        return y

    def extra_repr(self) -> str:
        return f"rank={self.rank}, scale={self.scale:g}, enabled={self.enabled}"


def count_trainable(module: torch.nn.Module) -> int:
    """Number of scalar parameters of ``module`` with ``requires_grad``."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def lora_rank_for_budget(layer_shapes: list[tuple[int, int]], budget: int) -> int:
    """Largest LoRA rank (>= 1) whose total ``sum rank * (in + out)`` over ``layer_shapes``
    (``(in, out)`` per layer) does not exceed ``budget``; 1 if even rank 1 exceeds it."""
    per_rank = sum(i + o for i, o in layer_shapes)
    if per_rank <= 0:
        raise ValueError(f"lora_rank_for_budget: layer_shapes must be non-empty (in, out) pairs, got {layer_shapes}")
    return max(1, budget // per_rank)
