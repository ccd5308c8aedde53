"""Stop a training experiment whose loss or parameters became NaN or infinite.

A non-finite loss makes every later number of the run meaningless (accuracies of a
NaN network are chance or worse and would be reported as results), so the training
loops of the built-in experiments call these after each step and raise
:class:`synaptica.engine.errors.NonFiniteError` naming the experiment, the phase, the
epoch and the step; the CLI reports it with exit code 1 and writes nothing.
"""
from __future__ import annotations

from typing import Iterable

from synaptica.engine.errors import NonFiniteError

__all__ = ["require_finite_loss", "require_finite_parameters"]


def require_finite_loss(loss, *, experiment: str, phase: str, epoch: int, step: int) -> None:
    """Raise NonFiniteError if the scalar tensor ``loss`` is NaN or infinite.

    epoch, step: 0-based position in the training loop (reported 0-based, as the loop counts).
    """
    value = float(loss.detach())
    if value != value or value in (float("inf"), float("-inf")):
        raise NonFiniteError(f"{experiment}: {phase} loss is not finite at epoch {epoch}, step {step} "
                             f"(it is {value}; a learning rate or another parameter too large?)")


def require_finite_parameters(parameters: Iterable, *, experiment: str, phase: str, epoch: int) -> None:
    """Raise NonFiniteError naming the first tensor of ``parameters`` holding NaN or infinity
    (checked once per epoch: an update that overflows leaves a finite loss until the next step)."""
    import torch

    for index, tensor in enumerate(parameters):
        if not bool(torch.isfinite(tensor.detach()).all()):
            shape = tuple(tensor.shape)
            raise NonFiniteError(f"{experiment}: {phase} parameter {index} (shape {shape}) became NaN or infinite "
                                 f"in epoch {epoch} (a learning rate or another parameter too large?)")
