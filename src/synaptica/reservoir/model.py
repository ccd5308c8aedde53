"""A reservoir and a trained readout in one scikit-learn style estimator.

``ReservoirModel(reservoir, readout).fit(u, y, washout=w)`` runs the reservoir (rate ESN
or spiking liquid: anything with ``n_inputs``, ``n_features`` and ``run(inputs) ->
states``), drops the first ``w`` steps of every sequence (the transient from the initial
state; Lukosevicius 2012, "A practical guide to applying echo state networks", sec. 4.1)
and fits the readout on what remains.

Targets come in one of two forms:

* per step (``pool=None``): y (T,) / (T, k) for inputs (T, n_inputs), or (batch, T) /
  (batch, T, k) for batched inputs; ``predict`` returns one output per kept step.
* per sequence (``pool`` set): batched inputs (batch, T, n_inputs) and one target per
  sequence, (batch,) labels or (batch, k) values; each sequence's states after washout
  are pooled: ``"last"`` state, ``"mean"`` over time or ``"flatten"`` (all kept states
  concatenated, for readouts that need the time course, e.g. row-by-row digits).
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch

from synaptica.reservoir._inputs import as_sequences, check_washout, positive_int

__all__ = ["ReservoirModel"]

POOLS = (None, "last", "mean", "flatten")


class ReservoirModel:
    """Reservoir + readout (see module doc).

    Args:
        reservoir: an :class:`~synaptica.reservoir.esn.EchoStateNetwork`, a
            :class:`~synaptica.reservoir.liquid.Liquid` or anything with the same interface.
        readout: a readout of :mod:`synaptica.reservoir.readout` (``fit``, ``predict``, ``score``).
        include_input: append the input u[t] to the features x[t] (Lukosevicius 2012, eq. 3).
        pool: None (targets per step) or how sequences become one feature vector each.
    """

    def __init__(self, reservoir, readout, include_input: bool = False, pool: str | None = None) -> None:
        if pool not in POOLS:
            raise ValueError(f"ReservoirModel: pool must be one of {POOLS}, got {pool!r}")
        self.reservoir, self.readout = reservoir, readout
        self.include_input, self.pool = bool(include_input), pool

    def features(self, inputs: Any, washout: int = 0) -> np.ndarray:
        """Readout features: (samples, F') -- kept steps of all sequences stacked in order,
        or one pooled row per sequence."""
        sequences, _ = as_sequences(inputs, self.reservoir.n_inputs, "ReservoirModel")
        washout = check_washout(washout, sequences.shape[1], "ReservoirModel")
        states = np.asarray(self.reservoir.run(sequences if torch.is_tensor(sequences) else np.asarray(sequences)))
        if self.include_input:
            u = sequences.cpu().numpy() if torch.is_tensor(sequences) else sequences
            states = np.concatenate([states, u.astype(states.dtype)], axis=-1)
        kept = states[:, washout:]
        if self.pool is None:
            return kept.reshape(-1, kept.shape[-1])
        if self.pool == "last":
            return kept[:, -1]
        if self.pool == "mean":
            return kept.mean(axis=1)
        return kept.reshape(len(kept), -1)

    def _targets(self, inputs: Any, targets: Any, washout: int) -> np.ndarray:
        sequences, batched = as_sequences(inputs, self.reservoir.n_inputs, "ReservoirModel")
        batch, n_steps = sequences.shape[:2]
        y = np.asarray(targets.detach().cpu() if torch.is_tensor(targets) else targets)
        if self.pool is not None:
            if not batched or y.shape[:1] != (batch,) or y.ndim > 2:
                raise ValueError(f"ReservoirModel (pool={self.pool!r}): needs batched inputs (batch, T, n_inputs) "
                                 f"and one target per sequence, ({batch},) or ({batch}, k); got inputs "
                                 f"{tuple(sequences.shape) if batched else tuple(sequences.shape[1:])} and targets {y.shape}")
            return y
        lead = (batch, n_steps) if batched else (n_steps,)
        if y.shape[:len(lead)] != lead or y.ndim > len(lead) + 1:
            raise ValueError(f"ReservoirModel: per-step targets must have shape {lead} or {lead + ('k',)} to match "
                             f"the inputs, got {y.shape}")
        y = y if batched else y[None]
        kept = y[:, washout:]
        return kept.reshape(-1, *y.shape[2:])

    def fit(self, inputs: Any, targets: Any, washout: int = 0) -> "ReservoirModel":
        """Run the reservoir on ``inputs``, drop ``washout`` steps per sequence, fit the readout."""
        y = self._targets(inputs, targets, washout)
        self.readout.fit(self.features(inputs, washout), y)
        return self

    def predict(self, inputs: Any, washout: int = 0) -> np.ndarray:
        """Outputs: (T - washout[, k]) or (batch, T - washout[, k]) per step; (batch[, k]) pooled."""
        sequences, batched = as_sequences(inputs, self.reservoir.n_inputs, "ReservoirModel")
        out = np.asarray(self.readout.predict(self.features(inputs, washout)))
        if self.pool is not None or not batched:
            return out
        return out.reshape(sequences.shape[0], sequences.shape[1] - washout, *out.shape[1:])

    def score(self, inputs: Any, targets: Any, washout: int = 0) -> float:
        """The readout's score: R^2 for regression, accuracy for classification."""
        return self.readout.score(self.features(inputs, washout), self._targets(inputs, targets, washout))

    def generate(self, warmup: Any, n_steps: int) -> np.ndarray:
        """Free-running (generative) prediction of a one-step-ahead model (trained on
        u[t] -> u[t+1]): run the reservoir on ``warmup`` (T, n_inputs), then feed every
        output back as the next input for ``n_steps``; returns (n_steps, n_inputs)."""
        n_steps = positive_int(n_steps, "ReservoirModel.generate: n_steps")
        if self.pool is not None or not hasattr(self.reservoir, "step"):
            raise ValueError("ReservoirModel.generate: needs per-step targets and a reservoir with step() "
                             "(the rate ESN)")
        sequences, batched = as_sequences(warmup, self.reservoir.n_inputs, "ReservoirModel.generate")
        if batched:
            raise ValueError("ReservoirModel.generate: warmup must be one sequence (T, n_inputs)")
        states = np.asarray(self.reservoir.run(np.asarray(sequences[0])))
        x, u = self.reservoir.last_state, np.asarray(sequences[0, -1])
        outputs = np.empty((n_steps, self.reservoir.n_inputs))
        feature = states[-1]
        with torch.no_grad():
            for t in range(n_steps):
                row = np.concatenate([feature, u]) if self.include_input else feature
                u = np.asarray(self.readout.predict(row[None])).reshape(self.reservoir.n_inputs)
                outputs[t] = u
                x = self.reservoir.step(x, u[None])
                feature = x[0].cpu().numpy()
        return outputs
