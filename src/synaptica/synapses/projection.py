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

import functools
from typing import Any

import numpy as np

from synaptica.engine.storage import TensorAttribute, TensorDict, as_numpy, assign, float_type, raw, zeros
from synaptica.synapses import connectivity
from synaptica.synapses.connectivity import index_dtype

SIGNS = {None: 0, "excitatory": 1, "inhibitory": -1}


class Projection:
    """Synapses ``pre -> post.target``; build them with :meth:`Network.connect`.

    ``weights`` reads as a tensor; on the CPU it is stored as a NumPy array that the
    compiled loop uses in place (see :mod:`synaptica.engine.storage`)."""

    weights = TensorAttribute()

    def __init__(self, pre, post, target: str, *, weights: Any = None, pre_index=None, post_index=None,
                 kernel=None, kernel_index=None, delay_steps: Any = 1, sign: str | None = None,
                 name: str = "", dtype: Any = None) -> None:
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
        wdtype = float_type(dtype if dtype is not None else np.float64)
        if self.kind == "dense":
            w = np.broadcast_to(np.asarray(weights, dtype=float), (pre.n, post.n))
            self.weights = np.array(w, dtype=wdtype)
            n_synapses = pre.n * post.n
        else:
            pre_index, post_index = np.asarray(pre_index), np.asarray(post_index)
            if pre_index.shape != post_index.shape:
                raise ValueError(f"Projection '{name}': pre and post index arrays differ in length")
            if pre_index.size and (pre_index.dtype.kind not in "iu" or post_index.dtype.kind not in "iu"):
                raise ValueError(f"Projection '{name}': synapse indices must be integers")
            if pre_index.size and (pre_index.min() < 0 or pre_index.max() >= pre.n
                                   or post_index.min() < 0 or post_index.max() >= post.n):
                raise ValueError(f"Projection '{name}': synapse indices out of range "
                                 f"(pre < {pre.n}, post < {post.n})")
            # CSR over presynaptic neurons; builders return pairs sorted already (no copy then)
            order = None
            if not connectivity.is_sorted(pre_index):
                order = np.argsort(pre_index, kind="stable")
                pre_index, post_index = pre_index[order], post_index[order]
            self.indptr = connectivity.csr_pointer(pre_index, pre.n)
            self.indices = np.ascontiguousarray(post_index, dtype=index_dtype(post.n))
            n_synapses = pre_index.size
            del pre_index, post_index
            if kernel is not None:
                self.kernel_index = np.asarray(kernel_index, dtype=np.int64)
                if order is not None:
                    self.kernel_index = self.kernel_index[order]
                self.weights = np.array(kernel, dtype=float).astype(wdtype)
            elif np.ndim(weights) == 0:   # one value for all: no float64 temporary per synapse
                self.weights = connectivity.synapse_array(n_synapses, wdtype)
                raw(self, "weights").fill(float(weights))
            else:
                w = np.asarray(weights, dtype=float)
                if w.shape != (n_synapses,):
                    raise ValueError(f"Projection '{name}': {w.size} weights for {n_synapses} synapses")
                self.weights = np.array(w if order is None else w[order], dtype=wdtype)
        self._check_weights()
        delays = np.asarray(delay_steps)
        if delays.ndim and delays.size != n_synapses:
            raise ValueError(f"Projection '{name}': {delays.size} delays for {n_synapses} synapses")
        if np.any(delays < 1):
            raise ValueError(f"Projection '{name}': every delay must be at least one step (dt)")
        if delays.ndim and self.kind == "sparse" and order is not None:
            delays = delays[order]
        self.delay_steps = delays.astype(np.int64) if delays.ndim else int(delays)
        self.n_synapses = n_synapses
        self.plasticity = None   # a PlasticityRule, see attach()
        self.stp = None          # short-term plasticity (TsodyksMarkram), see attach()
        self.plastic_state = TensorDict()
        self.built_fingerprint: np.ndarray | None = None   # set by Network.connect (static weights)

    # -- plasticity --------------------------------------------------------------------
    def attach(self, batch: int, dtype, device, plasticity=None, stp=None) -> None:
        """Attach a long-term rule and/or short-term plasticity and allocate the state each
        declares (:meth:`~synaptica.plasticity.mechanism.PlasticMechanism.state_blocks`):
        a (rows, batch, n_pre | n_post | n_synapses) tensor per block, of float type ``dtype``."""
        self.plasticity, self.stp = plasticity, stp
        sizes = {"pre": self.pre.n, "post": self.post.n, "synapse": self.n_synapses}
        self.plastic_state = TensorDict()
        for block in self.state_blocks():
            self.plastic_state[block.key] = zeros((len(block.names), batch, sizes[block.over]),
                                                  float_type(dtype), device)
        self.reset_plastic_state()

    def state_blocks(self) -> tuple:
        """The state blocks of every plastic mechanism of this projection."""
        return tuple(b for m in (self.plasticity, self.stp) if m is not None for b in m.state_blocks())

    def reset_plastic_state(self) -> None:
        """Every mechanism's state back to its declared initial values (trial starts)."""
        for block in self.state_blocks():
            for row, value in enumerate(block.initial):
                assign(self.plastic_state.raw(block.key), value, row)

    @property
    def negated_in_kernel(self) -> bool:
        """Plastic inhibitory current synapses: the rule sees weight magnitudes, so the
        compiled loop keeps magnitudes and subtracts them."""
        return self.sign == "inhibitory" and not self.conductance and self.plasticity is not None

    def kernel_weights(self) -> np.ndarray:
        """Per-synapse weights as the compiled loop uses them: magnitudes for plastic
        inhibitory current synapses (see :attr:`negated_in_kernel`), else signed. A view
        of :attr:`weights` whenever they satisfy their sign already (no pass that copies
        every synapse), in the network's dtype, so plastic weights have one precision
        whether a run is cut into chunks or not."""
        w = as_numpy(raw(self, "weights"))
        # a shared kernel becomes one weight per synapse; the sign is applied below
        w = np.ascontiguousarray(w.reshape(-1)[self.kernel_index] if self.kernel_index is not None else w)
        if self.sign is None or w.size == 0:
            return w
        if self.conductance or self.sign == "excitatory" or self.negated_in_kernel:
            return w if w.min() >= 0 else np.abs(w)
        return w if w.max() <= 0 else -np.abs(w)

    def weight_fingerprint(self) -> np.ndarray:
        """A short summary of the weights that a rebuild from another seed, training or an
        edit changes: the float64 sum of every block of 2^16 synapses and a strided sample
        of 64 values. One pass without a copy, and deterministic (NumPy's pairwise sums do
        not depend on thread counts), so a checkpoint can store it in place of the weights."""
        w = np.ascontiguousarray(as_numpy(raw(self, "weights"))).reshape(-1)
        block = 1 << 16
        whole = (w.size // block) * block
        sums = w[:whole].reshape(-1, block).sum(axis=1, dtype=np.float64)
        tail = w[whole:].sum(dtype=np.float64, keepdims=True)
        sample = w[:: max(1, w.size // 64)][:64].astype(np.float64)
        return np.concatenate([[float(w.size)], sums, tail, sample])

    def store_kernel_weights(self, w: np.ndarray) -> None:
        """Write weights changed by plasticity on the compiled path back into ``weights``."""
        target = raw(self, "weights")
        assign(target, w.reshape(tuple(target.shape)))

    @functools.cached_property
    def _index(self) -> tuple[np.ndarray, np.ndarray]:
        if self.kind == "dense":
            return (np.repeat(np.arange(self.pre.n), self.post.n), np.tile(np.arange(self.post.n), self.pre.n))
        return np.repeat(np.arange(self.pre.n), np.diff(self.indptr)), self.indices

    def synapse_index(self) -> tuple[np.ndarray, np.ndarray]:
        """(pre, post) neuron of every synapse in flat order (i * n_post + j when dense);
        computed once (the wiring never changes)."""
        return self._index

    @functools.cached_property
    def _incoming(self) -> tuple[np.ndarray, np.ndarray]:
        _, post = self.synapse_index()
        order = np.argsort(post, kind="stable").astype(np.int64)
        return connectivity.csr_pointer(post[order], self.post.n), order

    def incoming(self) -> tuple[np.ndarray, np.ndarray]:
        """CSC view: ``ptr`` (n_post + 1) and the flat synapse indices onto each neuron."""
        return self._incoming

    def _check_weights(self) -> None:
        w = as_numpy(raw(self, "weights"))
        # two reductions, no boolean temporaries (NaN propagates through min and max)
        low, high = (float(w.min()), float(w.max())) if w.size else (0.0, 0.0)
        if not (np.isfinite(low) and np.isfinite(high)):
            raise ValueError(f"Projection '{self.name}': weights contain NaN or infinity")
        if self.conductance:
            if low < 0:
                raise ValueError(f"Projection '{self.name}': conductance increments (nS) onto "
                                 f"'{self.target}' must be >= 0")
            return
        if self.sign == "excitatory" and low < 0:
            raise ValueError(f"Projection '{self.name}': excitatory (Dale's law) but has negative weights")
        if self.sign == "inhibitory" and high > 0:
            raise ValueError(f"Projection '{self.name}': inhibitory (Dale's law) but has positive weights")

    @property
    def max_delay(self) -> int:
        return int(np.max(self.delay_steps)) if np.size(self.delay_steps) else 1

    def effective_weights(self, weights: Any = None) -> Any:
        """Weights with the sign constraint applied (a trained raw weight keeps its sign)."""
        w = self.weights if weights is None else weights
        if self.sign is None:
            return w
        return (1 if self.conductance else SIGNS[self.sign]) * w.abs()

    def synapse_weights(self, weights: Any = None) -> Any:
        """Per-synapse weights (sparse) or the matrix (dense), sign applied (tensors)."""
        w = self.effective_weights(weights)
        if self.kernel_index is not None:
            import torch
            return w.reshape(-1)[torch.as_tensor(self.kernel_index, device=w.device)]
        return w
