"""Projections: synapses from one group to a receptor (state variable) of a population.

A spike of presynaptic neuron ``i`` adds ``w_ij`` to the receptor variable (e.g.
``i_exc``, in pA) of postsynaptic neuron ``j`` after a delay of ``d_ij`` steps
(``d_ij >= 1``: a spike emitted in step t acts from step t + d on, like NEST's minimum
delay of one step). Delivery goes through a ring buffer per receptor, and only the
synapses of neurons that spiked are touched (event-driven) on the compiled CPU path.

Storage: ``dense`` keeps a (n_pre, n_post) matrix; ``sparse`` keeps CSR arrays (indptr
over presynaptic neurons, post indices, weights). One-to-one and convolutional
projections are sparse; a convolution shares its kernel through ``kernel_index``.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch

SIGNS = {None: 0, "excitatory": 1, "inhibitory": -1}


class Projection:
    """Synapses ``pre -> post.target``; build them with :meth:`Network.connect`."""

    def __init__(self, pre, post, target: str, *, weights: Any = None, pre_index=None, post_index=None,
                 kernel=None, kernel_index=None, delay_steps: Any = 1, sign: str | None = None,
                 name: str = "") -> None:
        self.pre, self.post, self.target, self.name = pre, post, target, name
        if target not in getattr(post.model, "receptors", ()):
            raise ValueError(f"Projection '{name}': '{post.name}' ({type(post.model).__name__}) has no "
                             f"receptor '{target}'; receptors: {list(post.model.receptors)}")
        if sign not in SIGNS:
            raise ValueError(f"Projection '{name}': sign must be 'excitatory', 'inhibitory' or None, got {sign!r}")
        self.sign = sign
        # Conductance receptors take non-negative increments (nS); inhibition comes from
        # the reversal potential, so "inhibitory" only selects the receptor.
        self.conductance = bool(getattr(post.model, "conductance_based", False))
        self.kind = "dense" if pre_index is None else "sparse"
        self.kernel_index = None
        if self.kind == "dense":
            w = np.broadcast_to(np.asarray(weights, dtype=float), (pre.n, post.n))
            self.weights = torch.tensor(np.array(w))
            n_synapses = pre.n * post.n
        else:
            pre_index = np.asarray(pre_index, dtype=np.int64)
            post_index = np.asarray(post_index, dtype=np.int64)
            if pre_index.shape != post_index.shape:
                raise ValueError(f"Projection '{name}': pre and post index arrays differ in length")
            if pre_index.size and (pre_index.min() < 0 or pre_index.max() >= pre.n
                                   or post_index.min() < 0 or post_index.max() >= post.n):
                raise ValueError(f"Projection '{name}': synapse indices out of range "
                                 f"(pre < {pre.n}, post < {post.n})")
            order = np.argsort(pre_index, kind="stable")
            pre_index, post_index = pre_index[order], post_index[order]
            self.indptr = np.searchsorted(pre_index, np.arange(pre.n + 1)).astype(np.int64)
            self.indices = post_index.astype(np.int64)
            n_synapses = pre_index.size
            if kernel is not None:
                self.kernel_index = np.asarray(kernel_index, dtype=np.int64)[order]
                self.weights = torch.tensor(np.asarray(kernel, dtype=float))
            else:
                w = np.broadcast_to(np.asarray(weights, dtype=float), (n_synapses,))
                if np.ndim(weights) == 1:
                    w = np.asarray(weights, dtype=float)[order]
                self.weights = torch.tensor(np.array(w))
        self._check_weights()
        delays = np.asarray(delay_steps)
        if delays.ndim and delays.size != n_synapses:
            raise ValueError(f"Projection '{name}': {delays.size} delays for {n_synapses} synapses")
        if np.any(delays < 1):
            raise ValueError(f"Projection '{name}': every delay must be at least one step (dt)")
        if delays.ndim and self.kind == "sparse":
            delays = delays[order]
        self.delay_steps = delays.astype(np.int64) if delays.ndim else int(delays)
        self.n_synapses = n_synapses

    def _check_weights(self) -> None:
        w = self.weights.detach().cpu().numpy()
        if not np.all(np.isfinite(w)):
            raise ValueError(f"Projection '{self.name}': weights contain NaN or infinity")
        if self.conductance:
            if np.any(w < 0):
                raise ValueError(f"Projection '{self.name}': conductance increments (nS) onto "
                                 f"'{self.target}' must be >= 0")
            return
        if self.sign == "excitatory" and np.any(w < 0):
            raise ValueError(f"Projection '{self.name}': excitatory (Dale's law) but has negative weights")
        if self.sign == "inhibitory" and np.any(w > 0):
            raise ValueError(f"Projection '{self.name}': inhibitory (Dale's law) but has positive weights")

    @property
    def max_delay(self) -> int:
        return int(np.max(self.delay_steps)) if np.size(self.delay_steps) else 1

    def effective_weights(self, weights: torch.Tensor | None = None) -> torch.Tensor:
        """Weights with the sign constraint applied (a trained raw weight keeps its sign)."""
        w = self.weights if weights is None else weights
        if self.sign is None:
            return w
        return (1 if self.conductance else SIGNS[self.sign]) * w.abs()

    def synapse_weights(self, weights: torch.Tensor | None = None) -> torch.Tensor:
        """Per-synapse weights (sparse) or the matrix (dense), sign applied."""
        w = self.effective_weights(weights)
        if self.kernel_index is not None:
            return w.reshape(-1)[torch.as_tensor(self.kernel_index, device=w.device)]
        return w
