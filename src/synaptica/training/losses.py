"""Losses and activity regularisers for spiking outputs (time-major ``(T, B, C)``).

Losses take the output spikes (or membrane) and integer class labels ``(B,)``:

* :func:`spike_count_cross_entropy` -- cross-entropy on spike counts as logits;
* :func:`count_mse` -- squared error to target counts (snnTorch's ``mse_count_loss`` idea:
  the correct class should fire on a fraction ``correct_rate`` of steps, others on
  ``incorrect_rate``);
* :func:`first_spike_time_loss` -- cross-entropy on negative first-spike times, made
  differentiable by counting the steps before the first spike as
  ``sum_t prod_{u<=t} (1 - s_u)`` (a time-to-first-spike code, cf. Mostafa 2018;
  Göltz et al. 2021), so the correct class learns to fire first;
* :func:`max_membrane_cross_entropy` -- cross-entropy on the maximum over time of a
  non-spiking readout's membrane (Cramer et al. 2020, Heidelberg spiking datasets).

Regularisers return a scalar to add to the loss:

* :func:`firing_rate_regulariser` -- squared deviation of each neuron's rate (spikes per
  step) outside ``[low, high]`` (Zenke & Vogels 2021 use such bounds on rates);
* :func:`hoyer_regulariser` -- Hoyer's sparsity measure ``(sum |x|)^2 / sum x^2``
  (Hoyer 2004; used as an activity regulariser by Kurtz et al. 2020).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def _check(output: torch.Tensor, labels: torch.Tensor, where: str) -> None:
    if output.dim() != 3:
        raise ValueError(f"{where}: expected output of shape (T, B, classes), got {tuple(output.shape)}")
    if labels.shape != (output.shape[1],):
        raise ValueError(f"{where}: expected labels of shape ({output.shape[1]},), got {tuple(labels.shape)}")
    if labels.numel() and (labels.min() < 0 or labels.max() >= output.shape[2]):
        raise ValueError(f"{where}: labels must lie in 0..{output.shape[2] - 1}")


def spike_count_cross_entropy(spikes: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Cross-entropy with the spike counts (B, C) as logits."""
    _check(spikes, labels, "spike_count_cross_entropy")
    return F.cross_entropy(spikes.sum(0), labels)


def count_mse(spikes: torch.Tensor, labels: torch.Tensor, correct_rate: float = 0.8,
              incorrect_rate: float = 0.2) -> torch.Tensor:
    """Mean squared error between counts and ``rate * T`` targets per class."""
    _check(spikes, labels, "count_mse")
    n_steps = spikes.shape[0]
    target = torch.full_like(spikes[0], incorrect_rate * n_steps)
    target.scatter_(1, labels[:, None], correct_rate * n_steps)
    return F.mse_loss(spikes.sum(0), target)


def first_spike_times(spikes: torch.Tensor) -> torch.Tensor:
    """Differentiable number of steps before each output's first spike, (B, C); a unit
    that never fires gets T."""
    silent = torch.cumprod(1.0 - spikes, dim=0)
    return silent.sum(0)


def first_spike_time_loss(spikes: torch.Tensor, labels: torch.Tensor, scale: float = 1.0) -> torch.Tensor:
    """Cross-entropy on ``-scale * first_spike_time``: the correct class should fire first."""
    _check(spikes, labels, "first_spike_time_loss")
    return F.cross_entropy(-scale * first_spike_times(spikes), labels)


def max_membrane_cross_entropy(membrane: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Cross-entropy with ``max_t membrane`` (B, C) as logits."""
    _check(membrane, labels, "max_membrane_cross_entropy")
    return F.cross_entropy(membrane.max(0).values, labels)


def firing_rate_regulariser(spikes: torch.Tensor, low: float = 0.0, high: float = 1.0,
                            strength: float = 1.0) -> torch.Tensor:
    """``strength * mean_neurons(relu(low - r)^2 + relu(r - high)^2)`` with ``r`` each
    neuron's spikes per step averaged over time and batch; spikes (T, B, N)."""
    if not 0.0 <= low <= high:
        raise ValueError(f"firing_rate_regulariser: need 0 <= low <= high, got {low}, {high}")
    rate = spikes.mean(dim=(0, 1))
    return strength * (F.relu(low - rate) ** 2 + F.relu(rate - high) ** 2).mean()


def hoyer_regulariser(activity: torch.Tensor, strength: float = 1.0, eps: float = 1e-12) -> torch.Tensor:
    """``strength * (sum |x|)^2 / sum x^2`` over all elements (smaller is sparser)."""
    return strength * activity.abs().sum() ** 2 / (activity.pow(2).sum() + eps)
