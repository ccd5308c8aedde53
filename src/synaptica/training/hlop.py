"""Hebbian learning based orthogonal projection (HLOP) for continual learning.

After Xiao, Meng, Zhang, He & Lin (2024), "Hebbian learning based orthogonal projection for
continual learning of spiking neural networks", ICLR 2024 (arXiv:2402.11984).

Each protected layer ``l`` (weights ``W`` of shape (n_out, n_in)) gets a set of lateral
neurons with weights ``U`` (k, n_in) that read the layer's presynaptic activity ``x``
(a rate, spikes per step, or an input intensity; shape (n_in,)) and feed back to it:

    y    = U x                                   lateral responses (k,)
    xhat = U^T y                                 feedback reconstruction (n_in,)
    dU   = eta * y (x - xhat)^T                  Hebbian (y x^T) + anti-Hebbian (-y y^T U) term

averaged over a minibatch, with momentum (``dU <- m dU + (1 - m) dU_batch``), clipped to
+-``clip`` element-wise and repeated ``iterations`` times per batch (the authors' code: eta
= 1e-3 for the image input and 1e-2 for hidden layers, m = 0.9, 5 iterations, clip 10).
This is Oja's (1989) subspace rule: its stable fixed points are the ``U`` whose rows form an
orthonormal basis of the principal k-dimensional subspace of E[x x^T] (uncentred: no mean is
subtracted). Per task, new lateral neurons are added (initialised as random orthonormal
rows) and only they learn; the old neurons take part in the reconstruction, so the new ones
learn the principal subspace of what the old subspace does not already explain.

When a later task is trained, every weight update of the layer is projected orthogonally to
the subspace learnt so far (``P = I - Q Q^T``, ``Q`` (n_in, K) an orthonormal basis of the
rows of all frozen ``U``):

    dW  <-  dW P = dW - (dW Q) Q^T

so ``dW x = 0`` for every activity ``x`` in the subspace: the layer's response to old tasks'
activity is unchanged. In the paper the lateral circuit computes ``x - U^T U x`` itself
(the rule drives ``U U^T`` to I); here ``Q`` is the QR orthonormalisation of ``U^T`` (the same
subspace), so the projected update is orthogonal to float precision even where the rule
has not fully converged; :meth:`HebbianSubspace.orthonormality_error` reports how far the
raw Hebbian weights are from orthonormal. For a weight gradient ``sum_t delta_t x_t^T``
projecting the summed gradient equals projecting each ``x_t`` (P is linear), which is what
the paper does on presynaptic traces. Plain SGD keeps the projected gradient's direction;
an adaptive optimiser (Adam) rescales coordinates and would break the orthogonality.
"""
from __future__ import annotations

from typing import Iterable, Sequence

import torch

__all__ = ["HLOP", "HebbianSubspace"]


class HebbianSubspace:
    """The lateral neurons of one layer (module doc): ``U`` of shape (k, n_in).

    n_in: presynaptic width; lr: Hebbian rate eta (dimensionless: x in activity units);
    momentum: m in [0, 1); iterations: updates per minibatch; clip: bound of one update.
    """

    def __init__(self, n_in: int, lr: float = 0.01, momentum: float = 0.9, iterations: int = 5,
                 clip: float = 10.0, name: str = "layer") -> None:
        if not isinstance(n_in, int) or n_in <= 0:
            raise ValueError(f"{name}: n_in must be a positive integer, got {n_in!r}")
        if not (lr > 0 and lr < float("inf")):
            raise ValueError(f"{name}: lr (Hebbian rate) must be finite and > 0, got {lr!r}")
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f"{name}: momentum must lie in [0, 1), got {momentum!r}")
        if not isinstance(iterations, int) or iterations <= 0:
            raise ValueError(f"{name}: iterations must be a positive integer, got {iterations!r}")
        self.n_in, self.lr, self.momentum, self.iterations, self.clip, self.name = \
            n_in, lr, momentum, iterations, clip, name
        self.weight = torch.zeros(0, n_in, dtype=torch.float64)   # U: frozen rows first, then learning ones
        self.velocity = torch.zeros(0, n_in, dtype=torch.float64)
        self.n_frozen = 0
        self._basis: torch.Tensor | None = None

    @property
    def n_neurons(self) -> int:
        return self.weight.shape[0]

    def add_neurons(self, k: int, generator: torch.Generator | None = None) -> None:
        """Add ``k`` learning lateral neurons (random orthonormal rows, like the paper's init).
        Refused if the total would exceed ``n_in`` (no more independent directions exist)."""
        if not isinstance(k, int) or k < 0:
            raise ValueError(f"{self.name}: n_lateral must be an integer >= 0, got {k!r}")
        if self.n_neurons + k > self.n_in:
            raise ValueError(f"{self.name}: n_lateral: {self.n_neurons} + {k} lateral neurons exceed the input "
                             f"dimension {self.n_in} (a subspace cannot have more directions than its space)")
        if k == 0:
            return
        draw = torch.randn(self.n_in, k, generator=generator, dtype=torch.float64)
        q, _ = torch.linalg.qr(draw)
        self.weight = torch.cat([self.weight, q.T])
        self.velocity = torch.cat([self.velocity, torch.zeros(k, self.n_in, dtype=torch.float64)])
        self._basis = None

    def hebbian_step(self, x: torch.Tensor) -> None:
        """``iterations`` updates of the learning neurons on a batch ``x`` (B, n_in)."""
        if x.dim() != 2 or x.shape[1] != self.n_in:
            raise ValueError(f"{self.name}: expected activity of shape (batch, {self.n_in}), got {tuple(x.shape)}")
        if x.shape[0] == 0:
            raise ValueError(f"{self.name}: n_samples: an empty batch has no activity to learn from")
        if not bool(torch.isfinite(x).all()):
            raise ValueError(f"{self.name}: activity holds NaN or infinity")
        if self.n_neurons == self.n_frozen:
            return
        x = x.to(torch.float64)
        f = self.n_frozen
        for _ in range(self.iterations):
            y = x @ self.weight.T                     # (B, k) lateral responses
            residual = x - y @ self.weight            # x - U^T y
            update = (y[:, f:].T @ residual / x.shape[0]).clamp(-self.clip, self.clip)
            self.velocity[f:] = self.momentum * self.velocity[f:] + (1 - self.momentum) * update
            self.weight[f:] += self.lr * self.velocity[f:]
        if not bool(torch.isfinite(self.weight).all()):
            raise FloatingPointError(f"{self.name}: lateral weights became NaN/inf (Hebbian lr {self.lr:g} too large)")
        self._basis = None

    def learn(self, batches: Iterable[torch.Tensor]) -> None:
        """:meth:`hebbian_step` on every batch (B, n_in) of ``batches``."""
        for x in batches:
            self.hebbian_step(x)

    def freeze(self) -> None:
        """End of a task: the current neurons stop learning (the paper's merged subspace)."""
        self.n_frozen = self.n_neurons
        self.velocity.zero_()
        self._basis = None

    def basis(self, frozen_only: bool = True) -> torch.Tensor:
        """Orthonormal basis Q (n_in, K) of the span of the (frozen) lateral weights."""
        rows = self.weight[: self.n_frozen] if frozen_only else self.weight
        if rows.shape[0] == 0:
            return torch.zeros(self.n_in, 0, dtype=torch.float64)
        if frozen_only and self._basis is not None:
            return self._basis
        q, _ = torch.linalg.qr(rows.T)
        if frozen_only:
            self._basis = q
        return q

    def project(self, update: torch.Tensor) -> torch.Tensor:
        """``update (n_out, n_in)`` projected orthogonally to the frozen subspace: dW (I - Q Q^T)."""
        if update.dim() != 2 or update.shape[1] != self.n_in:
            raise ValueError(f"{self.name}: expected an update of shape (n_out, {self.n_in}), got {tuple(update.shape)}")
        q = self.basis().to(update.dtype)
        if q.shape[1] == 0:
            return update
        return update - (update @ q) @ q.T

    def captured_energy(self, x: torch.Tensor) -> float:
        """Share of the activity ``x`` (n, n_in)'s energy inside the frozen subspace,
        ``|x Q|^2 / |x|^2`` in [0, 1]: the part of it that later projected updates leave alone."""
        total = float((x.double() ** 2).sum())
        if total == 0.0:
            return 1.0
        return float(((x.double() @ self.basis()) ** 2).sum()) / total

    def orthonormality_error(self) -> float:
        """max |U U^T - I| of the raw Hebbian weights (0 when the rule has converged)."""
        if self.n_neurons == 0:
            return 0.0
        gram = self.weight @ self.weight.T
        return float((gram - torch.eye(self.n_neurons, dtype=gram.dtype)).abs().max())


class HLOP:
    """HLOP on a list of linear maps (module doc): one :class:`HebbianSubspace` per layer.

    layers: modules with a ``weight`` parameter of shape (n_out, n_in) (e.g. the
    ``linear`` of each :class:`~synaptica.training.layers.LIFLayer`); lrs: Hebbian rate per
    layer; further keywords go to every :class:`HebbianSubspace`.
    """

    def __init__(self, layers: Sequence[torch.nn.Module], lrs: Sequence[float], **rule) -> None:
        if len(layers) == 0:
            raise ValueError("HLOP needs at least one layer to protect")
        if len(lrs) != len(layers):
            raise ValueError(f"lrs: one Hebbian rate per layer ({len(layers)}), got {len(lrs)}")
        self.layers = list(layers)
        self.subspaces = [HebbianSubspace(int(m.weight.shape[1]), lr=float(lr), name=f"layer {i}", **rule)
                          for i, (m, lr) in enumerate(zip(layers, lrs))]

    def add_neurons(self, counts: Sequence[int], generator: torch.Generator | None = None) -> None:
        """Add ``counts[l]`` learning lateral neurons to layer ``l`` (all checked first)."""
        if len(counts) != len(self.subspaces):
            raise ValueError(f"n_lateral: one count per layer ({len(self.subspaces)}), got {len(counts)}")
        for s, k in zip(self.subspaces, counts):
            if not isinstance(k, int) or k < 0 or s.n_neurons + k > s.n_in:
                s.add_neurons(k)  # raises the message naming the problem
        for s, k in zip(self.subspaces, counts):
            s.add_neurons(k, generator)

    def learn(self, activity_batches: Iterable[Sequence[torch.Tensor]]) -> None:
        """Hebbian updates from batches of per-layer presynaptic activity [(B, n_in_l), ...]."""
        for batch in activity_batches:
            if len(batch) != len(self.subspaces):
                raise ValueError(f"expected activity for {len(self.subspaces)} layers, got {len(batch)}")
            for s, x in zip(self.subspaces, batch):
                s.hebbian_step(x)

    def freeze(self) -> None:
        for s in self.subspaces:
            s.freeze()

    @torch.no_grad()
    def project_gradients(self) -> None:
        """Replace each protected layer's ``weight.grad`` by its projection (call between
        ``backward()`` and ``optimizer.step()``)."""
        for m, s in zip(self.layers, self.subspaces):
            if m.weight.grad is not None and s.n_frozen:
                m.weight.grad.copy_(s.project(m.weight.grad))

    def n_neurons(self) -> list[int]:
        return [s.n_neurons for s in self.subspaces]
