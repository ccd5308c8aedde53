"""Supervised training of spiking classifiers, with exact resume from checkpoints.

:class:`Trainer` follows scikit-learn's estimator contract (``fit``, ``predict``,
``score``; settings in ``__init__``) around a time-major spiking model such as
:class:`~synaptica.training.layers.SpikingMLP`. Images in [0, 1] are Poisson encoded on
the fly (spike probability per step = intensity), the loss is one of :data:`LOSSES`
plus an optional firing-rate regulariser on the hidden layers, and the optimiser is Adam.

``mode="bptt"`` backpropagates through time (fused kernels); ``mode="online"`` uses the
memory-lean OTTT rule of :mod:`synaptica.training.online`.

Checkpoints (``fit(..., checkpoint=path)``) are plain ``.npz`` files (no pickle): model
and optimiser tensors, the position (epoch, batch), the encoder's random state and the
history. Each epoch's order comes from ``(seed, epoch)``, so a run resumed from a
checkpoint continues exactly as if it had not stopped.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from synaptica.training.losses import (count_mse, first_spike_time_loss, firing_rate_regulariser,
                                       spike_count_cross_entropy)
from synaptica.training.online import online_backward

LOSSES: dict[str, Callable] = {"count_ce": spike_count_cross_entropy, "count_mse": count_mse,
                               "first_spike": first_spike_time_loss}
MODES = ("bptt", "online")


def poisson_encode(images: torch.Tensor, n_steps: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """(B, F) intensities in [0, 1] -> (T, B, F) spikes with P(spike per step) = intensity."""
    draw = torch.rand((n_steps, *images.shape), generator=generator, dtype=images.dtype)
    return (draw < images).to(images.dtype)


class Trainer:
    """Train a spiking classifier with surrogate gradients (see module doc).

    Parameters: ``model`` (T, B, F) -> (T, B, C) spikes; ``loss`` a name in :data:`LOSSES`;
    ``lr`` Adam learning rate; ``n_steps`` time steps per sample; ``batch_size``;
    ``rate_bounds`` (low, high, strength) for :func:`firing_rate_regulariser` on hidden
    spikes, or None; ``mode`` "bptt" or "online"; ``seed``; ``checkpoint_every`` batches.
    """

    def __init__(self, model: torch.nn.Module, loss: str = "count_ce", lr: float = 1e-3, n_steps: int = 25,
                 batch_size: int = 128, rate_bounds: tuple[float, float, float] | None = None,
                 mode: str = "bptt", seed: int = 0, checkpoint_every: int = 50) -> None:
        if loss not in LOSSES:
            raise ValueError(f"loss must be one of {sorted(LOSSES)}, got {loss!r}")
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        for name, value in (("n_steps", n_steps), ("batch_size", batch_size), ("checkpoint_every", checkpoint_every)):
            if not isinstance(value, int) or value <= 0:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if not lr > 0:
            raise ValueError(f"lr must be > 0, got {lr!r}")
        self.model, self.loss, self.lr, self.n_steps = model, loss, lr, n_steps
        self.batch_size, self.rate_bounds, self.mode, self.seed = batch_size, rate_bounds, mode, seed
        self.checkpoint_every = checkpoint_every
        self.optimizer = torch.optim.Adam(model.parameters(), lr=lr)
        if rate_bounds is not None:
            model.keep_hidden = True  # the regulariser reads every layer's spikes
        self.generator = torch.Generator().manual_seed(seed)
        self.history: list[dict] = []
        self._position = (0, 0)  # (epoch, batch) of the next batch
        self._running = [0.0, 0, 0]  # loss sum, correct, seen in the current epoch

    # -- one optimisation step -----------------------------------------------------------
    def train_step(self, spikes: torch.Tensor, labels: torch.Tensor) -> tuple[float, torch.Tensor]:
        """One update on encoded spikes (T, B, F); returns (loss, output counts (B, C))."""
        if spikes.dim() == 3 and labels.shape[0] != spikes.shape[1] and labels.shape[0] == spikes.shape[0]:
            raise ValueError(f"spikes of shape {tuple(spikes.shape)} look batch-major; expected (T, B, F) = "
                             f"({spikes.shape[1]}, {spikes.shape[0]}, {spikes.shape[2]})")
        loss_fn = LOSSES[self.loss]
        self.optimizer.zero_grad(set_to_none=True)
        if self.mode == "online":
            loss, counts = online_backward(self.model, spikes, labels, loss_fn)
        else:
            out = self.model(spikes)
            total = loss_fn(out, labels)
            if self.rate_bounds is not None:
                low, high, strength = self.rate_bounds
                for hidden in getattr(self.model, "hidden_spikes", [])[:-1]:
                    total = total + firing_rate_regulariser(hidden, low, high, strength)
            if not torch.isfinite(total.detach()):
                raise FloatingPointError(f"loss '{self.loss}' is not finite ({float(total)}); the populations' "
                                         "states were finite, so check the learning rate")
            total.backward()
            loss, counts = float(total.detach()), out.detach().sum(0)
        self.optimizer.step()
        return loss, counts

    # -- estimator API -------------------------------------------------------------------
    def fit(self, images: np.ndarray, labels: np.ndarray, epochs: int = 1, checkpoint: str | Path | None = None,
            progress: Callable[[int, int], None] | None = None) -> "Trainer":
        """Train for ``epochs`` passes over (images (n, F) in [0, 1], labels (n,))."""
        x, y = _as_data(images, labels)
        n_batches = -(-len(x) // self.batch_size)
        if checkpoint is not None and Path(checkpoint).exists():
            self.load_checkpoint(checkpoint)
        epoch, start = self._position
        while epoch < epochs:
            order = np.random.default_rng((self.seed, epoch)).permutation(len(x))
            t0 = time.perf_counter()
            for b in range(start, n_batches):
                idx = torch.as_tensor(order[b * self.batch_size:(b + 1) * self.batch_size])
                spikes = poisson_encode(x[idx], self.n_steps, self.generator)
                loss, counts = self.train_step(spikes, y[idx])
                self._running[0] += loss * len(idx)
                self._running[1] += int((counts.argmax(1) == y[idx]).sum())
                self._running[2] += len(idx)
                self._position = (epoch, b + 1)
                if progress is not None:
                    progress(epoch * n_batches + b + 1, epochs * n_batches)
                if checkpoint is not None and (b + 1) % self.checkpoint_every == 0:
                    self.save_checkpoint(checkpoint)
            loss_sum, correct, seen = self._running
            self.history.append({"epoch": epoch + 1, "loss": loss_sum / max(seen, 1),
                                 "train_accuracy": correct / max(seen, 1), "seconds": time.perf_counter() - t0})
            self._running = [0.0, 0, 0]
            epoch, start = epoch + 1, 0
            self._position = (epoch, 0)
            if checkpoint is not None:
                self.save_checkpoint(checkpoint)
        return self

    @torch.no_grad()
    def predict_counts(self, images: np.ndarray, seed: int = 12345) -> torch.Tensor:
        """Output spike counts (n, C); the test encoding uses its own seeded generator."""
        x = _as_data(images)[0]
        generator = torch.Generator().manual_seed(seed)
        self.model.eval()
        out = [self.model(poisson_encode(x[i:i + 256], self.n_steps, generator)).sum(0)
               for i in range(0, len(x), 256)]
        self.model.train()
        return torch.cat(out)

    def predict(self, images: np.ndarray) -> np.ndarray:
        return self.predict_counts(images).argmax(1).numpy()

    def score(self, images: np.ndarray, labels: np.ndarray) -> float:
        """Accuracy (fraction correct) on (images, labels)."""
        return float(np.mean(self.predict(images) == np.asarray(labels)))

    # -- checkpoints ---------------------------------------------------------------------
    def _tag(self) -> str:
        return json.dumps({"loss": self.loss, "lr": self.lr, "n_steps": self.n_steps, "batch": self.batch_size,
                           "mode": self.mode, "seed": self.seed, "rate_bounds": self.rate_bounds,
                           "params": [list(p.shape) for p in self.model.parameters()]})

    def save_checkpoint(self, path: str | Path) -> None:
        """Write model, optimiser, position and random state to ``path`` (.npz) atomically."""
        arrays = {f"model/{k}": v.detach().cpu().numpy() for k, v in self.model.state_dict().items()}
        params = list(self.model.parameters())
        for i, p in enumerate(params):
            for key, value in self.optimizer.state.get(p, {}).items():
                arrays[f"optimizer/{i}/{key}"] = torch.as_tensor(value).cpu().numpy()
        arrays["position"] = np.array(self._position)
        arrays["running"] = np.array(self._running, dtype=float)
        arrays["generator"] = self.generator.get_state().numpy()
        arrays["history"] = np.array(json.dumps(self.history))
        arrays["tag"] = np.array(self._tag())
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp.npz")
        np.savez(tmp, **arrays)
        os.replace(tmp, path)

    def load_checkpoint(self, path: str | Path) -> None:
        """Restore from :meth:`save_checkpoint`; refuses a checkpoint of other settings."""
        try:
            with np.load(path, allow_pickle=False) as data:
                arrays = {k: data[k] for k in data.files}
        except Exception as error:  # zip/npz errors come in many types
            raise ValueError(f"checkpoint '{path}': unreadable ({error})") from None
        if "tag" not in arrays or str(arrays["tag"]) != self._tag():
            raise ValueError(f"checkpoint '{path}': written by a run with other settings; delete it to start over")
        state = {k[len("model/"):]: torch.from_numpy(v) for k, v in arrays.items() if k.startswith("model/")}
        self.model.load_state_dict(state)
        params = list(self.model.parameters())
        for key, value in arrays.items():
            if key.startswith("optimizer/"):
                _, i, name = key.split("/")
                self.optimizer.state[params[int(i)]][name] = torch.from_numpy(value.copy())
        self._position = tuple(int(v) for v in arrays["position"])
        loss_sum, correct, seen = arrays["running"]
        self._running = [float(loss_sum), int(correct), int(seen)]
        self.generator.set_state(torch.from_numpy(arrays["generator"].copy()))
        self.history = json.loads(str(arrays["history"]))


def _as_data(images, labels=None):
    x = torch.as_tensor(np.asarray(images, dtype=np.float32))
    if x.dim() != 2:
        raise ValueError(f"images must have shape (n, features), got {tuple(x.shape)}")
    if not torch.isfinite(x).all() or x.min() < 0 or x.max() > 1:
        raise ValueError("images must be finite intensities in [0, 1]")
    if labels is None:
        return x, None
    y = torch.as_tensor(np.asarray(labels, dtype=np.int64))
    if y.shape != (x.shape[0],):
        raise ValueError(f"labels must have shape ({x.shape[0]},), got {tuple(y.shape)}")
    return x, y
