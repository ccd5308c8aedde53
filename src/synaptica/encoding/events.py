"""Convert a dense spike tensor into event lists for :meth:`Network.add_spike_generator`."""
from __future__ import annotations

from typing import Any

import numpy as np
import torch

from synaptica.encoding._checks import positive_float

__all__ = ["spikes_to_events"]


def spikes_to_events(spikes: Any, dt_ms: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Event lists of a ``(steps, batch, n)`` 0/1 spike tensor (e.g. an encoder's output).

    Step ``k`` maps to time ``k * dt_ms``, so a network with the same ``dt`` emits the
    spike again in step ``k`` (``add_spike_generator`` rounds ``time / dt``).

    Args:
        spikes: tensor or array of shape ``(steps, batch, n)``; nonzero = spike.
        dt_ms: step length in ms.

    Returns:
        ``(times_ms, ids, batch_ids)``: float64 times (ms), int64 neuron ids in ``[0, n)``
        and int64 batch entries, sorted by time, then batch entry, then id. A spike
        generator replays the same events in every batch entry, so feed one entry:
        ``net.add_spike_generator(n, times[batch_ids == b], ids[batch_ids == b])``.

    Raises:
        ValueError: if ``spikes`` is not 3-D or ``dt_ms`` is not positive.

    Reference: the (time, address) event representation of neuromorphic systems,
    Mahowald (1992), *VLSI analogs of neuronal visual processing*, Caltech thesis.
    """
    dt_ms = positive_float(dt_ms, "spikes_to_events: dt_ms")
    array = spikes.detach().cpu().numpy() if isinstance(spikes, torch.Tensor) else np.asarray(spikes)
    if array.ndim != 3:
        raise ValueError(f"spikes_to_events: expected shape (steps, batch, n) (3-D), got shape {array.shape}")
    step, batch, ids = np.nonzero(array)  # C order: step, then batch, then id
    return step.astype(np.float64) * dt_ms, ids.astype(np.int64), batch.astype(np.int64)
