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
checkpoint continues exactly as if it had not stopped. A checkpoint is tied to the
trainer's settings and to ``settings`` (everything else that changes the result: data,
model hyper-parameters); one of other settings, or with a value no run could write, is
refused with a :class:`~synaptica.engine.errors.CheckpointError` naming what differs or
which field is wrong. A loss that stops being finite stops training with a
:class:`~synaptica.engine.errors.NonFiniteError` naming the epoch and batch.

Device and dtype follow the model's parameters (e.g. ``model.double()`` or
``model.to("cuda")``): images, their encodings and the labels are converted to them,
checkpoints keep the model's dtype (a checkpoint of another dtype is refused). A model
whose floating-point parameters and buffers mix dtypes or devices is refused. The encoder
draws on the CPU (its random state is the same on every device) and the spikes are moved.

``distributed=True`` trains data-parallel over the processes of a torch.distributed group
(:mod:`synaptica.training.distributed`; a torchrun entry point is
:mod:`synaptica.training.ddp`): each rank backpropagates its shard of every batch and the
gradients are summed, so N processes take the steps one process takes on the combined
batch. Checkpoints are written by rank 0 and read by all ranks; one written by N processes
resumes in any number of processes.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np
import torch

from synaptica.engine.checkpoints import Fields, check_settings, encode_settings, read_checkpoint, run_settings
from synaptica.engine.errors import NonFiniteError
from synaptica.training import distributed as ddp
from synaptica.training.losses import (count_mse, first_spike_time_loss, firing_rate_regulariser,
                                       spike_count_cross_entropy)
from synaptica.training.online import online_backward

LOSSES: dict[str, Callable] = {"count_ce": spike_count_cross_entropy, "count_mse": count_mse,
                               "first_spike": first_spike_time_loss}
MODES = ("bptt", "online")


def poisson_encode(images: torch.Tensor, n_steps: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """(B, F) intensities in [0, 1] -> (T, B, F) spikes with P(spike per step) = intensity,
    in ``images``' dtype, drawn on ``generator``'s device."""
    draw = torch.rand((n_steps, *images.shape), generator=generator, dtype=images.dtype,
                      device=generator.device if generator is not None else images.device)
    return (draw < images.to(draw.device)).to(images.dtype)


def model_dtype_device(model: torch.nn.Module) -> tuple[torch.dtype, torch.device]:
    """The one floating dtype and the one device of ``model``'s parameters and buffers;
    ValueError naming the tensors if they mix dtypes or devices."""
    tensors = [(name, t) for name, t in (*model.named_parameters(), *model.named_buffers())]
    floating = [(name, t) for name, t in tensors if t.is_floating_point()]
    if not floating:
        raise ValueError(f"{type(model).__name__} has no floating-point parameters to train")
    for what, key in (("dtypes", lambda t: t.dtype), ("devices", lambda t: t.device)):
        groups: dict[Any, list[str]] = {}
        for name, t in (floating if what == "dtypes" else tensors):
            groups.setdefault(key(t), []).append(name)
        if len(groups) > 1:
            listed = "; ".join(f"{k}: {', '.join(v[:3])}{', ...' if len(v) > 3 else ''}" for k, v in groups.items())
            raise ValueError(f"{type(model).__name__} mixes {what} ({listed}); convert the whole model first, "
                             f"e.g. model.to(torch.float64) or model.to('cuda')")
    return floating[0][1].dtype, floating[0][1].device


class Trainer:
    """Train a spiking classifier with surrogate gradients (see module doc).

    Parameters: ``model`` (T, B, F) -> (T, B, C) spikes; ``loss`` a name in :data:`LOSSES`;
    ``lr`` Adam learning rate; ``n_steps`` time steps per sample; ``batch_size``;
    ``rate_bounds`` (low, high, strength) for :func:`firing_rate_regulariser` on hidden
    spikes, or None; ``mode`` "bptt" or "online"; ``seed``; ``checkpoint_every`` batches;
    ``settings``: every other setting that changes the result (data, model
    hyper-parameters; e.g. an experiment's parameters), which checkpoints are tied to;
    ``distributed``: data-parallel over the initialised torch.distributed group (module doc;
    rank 0's initial weights are copied to all ranks).
    """

    def __init__(self, model: torch.nn.Module, loss: str = "count_ce", lr: float = 1e-3, n_steps: int = 25,
                 batch_size: int = 128, rate_bounds: tuple[float, float, float] | None = None,
                 mode: str = "bptt", seed: int = 0, checkpoint_every: int = 50,
                 settings: Mapping[str, Any] | None = None, distributed: bool = False) -> None:
        if loss not in LOSSES:
            raise ValueError(f"loss must be one of {sorted(LOSSES)}, got {loss!r}")
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        for name, value in (("n_steps", n_steps), ("batch_size", batch_size), ("checkpoint_every", checkpoint_every)):
            if not isinstance(value, int) or value <= 0:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if not lr > 0:
            raise ValueError(f"lr must be > 0, got {lr!r}")
        model_dtype_device(model)
        if distributed and rate_bounds is not None:
            raise ValueError("rate_bounds cannot be used with distributed=True: the rate regulariser is a "
                             "non-linear function of the whole batch's rates, not a sum over shards")
        self.rank, self.world_size = ddp.require_process_group() if distributed else (0, 1)
        self.distributed = distributed
        if distributed:
            ddp.broadcast_state(model)
        self.model, self.loss, self.lr, self.n_steps = model, loss, lr, n_steps
        self.batch_size, self.rate_bounds, self.mode, self.seed = batch_size, rate_bounds, mode, seed
        self.checkpoint_every = checkpoint_every
        self.settings = dict(settings or {})
        self.optimizer = torch.optim.Adam(model.parameters(), lr=lr)
        if rate_bounds is not None:
            model.keep_hidden = True  # the regulariser reads every layer's spikes
        self.generator = torch.Generator().manual_seed(seed)
        self.history: list[dict] = []
        self._position = (0, 0)  # (epoch, batch) of the next batch
        self._running = [0.0, 0, 0]  # loss sum, correct, seen in the current epoch

    # -- one optimisation step -----------------------------------------------------------
    def train_step(self, spikes: torch.Tensor, labels: torch.Tensor) -> tuple[float, torch.Tensor]:
        """One update on the encoded batch (T, B, F); returns (mean loss over the batch,
        output counts (B', C) of the samples this process ran: B' = B, or its shard)."""
        loss, _, counts = self._update(spikes, labels)
        return loss, counts

    def _update(self, spikes: torch.Tensor, labels: torch.Tensor) -> tuple[float, int, torch.Tensor]:
        """:meth:`train_step`, also returning the number correct in the whole batch."""
        if spikes.dim() == 3 and labels.shape[0] != spikes.shape[1] and labels.shape[0] == spikes.shape[0]:
            raise ValueError(f"spikes of shape {tuple(spikes.shape)} look batch-major; expected (T, B, F) = "
                             f"({spikes.shape[1]}, {spikes.shape[0]}, {spikes.shape[2]})")
        dtype, device = model_dtype_device(self.model)
        spikes, labels = spikes.to(device=device, dtype=dtype), labels.to(device)
        batch = len(labels)
        if self.distributed:
            part = ddp.shard(batch, self.rank, self.world_size)
            spikes, labels = spikes[:, part], labels[part]
        self.optimizer.zero_grad(set_to_none=True)
        loss, counts = self._backward(spikes, labels) if len(labels) else (0.0, spikes.new_zeros(0, 1))
        correct = int((counts.argmax(1) == labels).sum()) if len(labels) else 0
        if self.distributed:  # shard means weighted by shard size: the whole batch's mean
            weight = len(labels) / batch
            loss, correct = ddp.all_reduce_gradients(list(self.model.parameters()), weight,
                                                     [loss * weight, correct])
            correct = int(round(correct))
        if not np.isfinite(loss):
            raise NonFiniteError(f"loss '{self.loss}' is not finite ({loss}); lower the learning rate "
                                 f"(lr = {self.lr:g})")
        self.optimizer.step()
        return loss, correct, counts

    def _backward(self, spikes: torch.Tensor, labels: torch.Tensor) -> tuple[float, torch.Tensor]:
        """Gradients of the mean loss over ``labels`` into ``.grad``; (loss, counts (B, C))."""
        loss_fn = LOSSES[self.loss]
        if self.mode == "online":
            return online_backward(self.model, spikes, labels, loss_fn)
        out = self.model(spikes)
        total = loss_fn(out, labels)
        if self.rate_bounds is not None:
            low, high, strength = self.rate_bounds
            for hidden in getattr(self.model, "hidden_spikes", [])[:-1]:
                total = total + firing_rate_regulariser(hidden, low, high, strength)
        loss = float(total.detach())
        if np.isfinite(loss):   # else no backward: the parameters stay as they were
            total.backward()
        return loss, out.detach().sum(0)

    # -- estimator API -------------------------------------------------------------------
    def fit(self, images: np.ndarray, labels: np.ndarray, epochs: int = 1, checkpoint: str | Path | None = None,
            progress: Callable[[int, int], None] | None = None) -> "Trainer":
        """Train for ``epochs`` passes over (images (n, F) in [0, 1], labels (n,))."""
        x, y = _as_data(images, labels, model_dtype_device(self.model)[0])
        n_batches = -(-len(x) // self.batch_size)
        if checkpoint is not None and Path(checkpoint).exists():
            self.load_checkpoint(checkpoint, epochs=epochs, n_samples=len(x))
        epoch, start = self._position
        while epoch < epochs:
            order = np.random.default_rng((self.seed, epoch)).permutation(len(x))
            t0 = time.perf_counter()
            for b in range(start, n_batches):
                idx = torch.as_tensor(order[b * self.batch_size:(b + 1) * self.batch_size])
                spikes = poisson_encode(x[idx], self.n_steps, self.generator)
                try:
                    loss, correct, _ = self._update(spikes, y[idx])
                except NonFiniteError as error:
                    raise NonFiniteError(f"training stopped at epoch {epoch + 1}, batch {b + 1} of {n_batches}: "
                                         f"{error}") from None
                self._running[0] += loss * len(idx)
                self._running[1] += correct
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
        dtype, device = model_dtype_device(self.model)
        x = _as_data(images, dtype=dtype)[0]
        generator = torch.Generator().manual_seed(seed)
        self.model.eval()
        out = [self.model(poisson_encode(x[i:i + 256], self.n_steps, generator).to(device)).sum(0).cpu()
               for i in range(0, len(x), 256)]
        self.model.train()
        return torch.cat(out)

    def predict(self, images: np.ndarray) -> np.ndarray:
        return self.predict_counts(images).argmax(1).numpy()

    def score(self, images: np.ndarray, labels: np.ndarray) -> float:
        """Accuracy (fraction correct) on (images, labels)."""
        return float(np.mean(self.predict(images) == np.asarray(labels)))

    # -- checkpoints ---------------------------------------------------------------------
    def _settings(self) -> dict[str, Any]:
        """Everything a checkpoint is tied to: the trainer's settings, the model's
        parameter shapes and the caller's ``settings``."""
        own = {"loss": self.loss, "lr": self.lr, "n_steps": self.n_steps, "batch": self.batch_size,
               "mode": self.mode, "seed": self.seed, "rate_bounds": self.rate_bounds,
               "model": type(self.model).__name__, "params": [list(p.shape) for p in self.model.parameters()]}
        clash = sorted(set(own) & set(self.settings))
        return run_settings({**own, **{f"settings.{k}" if k in clash else k: v for k, v in self.settings.items()}})

    def save_checkpoint(self, path: str | Path) -> None:
        """Write model, optimiser, position and random state to ``path`` (.npz) atomically;
        distributed: rank 0 writes, and every rank waits until it has."""
        if self.rank == 0:
            self._write_checkpoint(path)
        if self.distributed:
            ddp.barrier()

    def _write_checkpoint(self, path: str | Path) -> None:
        arrays = {f"model/{k}": v.detach().cpu().numpy() for k, v in self.model.state_dict().items()}
        params = list(self.model.parameters())
        for i, p in enumerate(params):
            for key, value in self.optimizer.state.get(p, {}).items():
                arrays[f"optimizer/{i}/{key}"] = torch.as_tensor(value).cpu().numpy()
        arrays["position"] = np.array(self._position, dtype=np.int64)
        arrays["running"] = np.array(self._running, dtype=float)
        arrays["generator"] = self.generator.get_state().numpy()
        arrays["history"] = np.array(json.dumps(self.history))
        arrays["tag"] = np.array(encode_settings(self._settings()))
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp.npz")
        np.savez(tmp, **arrays)
        os.replace(tmp, path)

    def load_checkpoint(self, path: str | Path, epochs: int | None = None, n_samples: int | None = None) -> None:
        """Restore from :meth:`save_checkpoint`. Refused (:class:`CheckpointError`, before
        anything is restored): a checkpoint of other settings (naming them), and fields no
        run of this trainer could write -- other dtypes or shapes, NaN or infinity, a
        position past ``epochs`` (or a batch past the ``n_samples`` images), an invalid
        random state, a history that does not fit the position."""
        arrays = read_checkpoint(path)
        check_settings(path, arrays, self._settings())
        fields = Fields(path, arrays)
        model = {f"model/{k}": v.detach().cpu().numpy() for k, v in self.model.state_dict().items()}
        optimizer = self._optimizer_fields(fields)
        fields.only({*model, *optimizer, "position", "running", "generator", "history", "tag"})
        for key, value in model.items():
            fields.get(key, value.dtype, shape=value.shape)
        n_batches = -(-n_samples // self.batch_size) if n_samples is not None else None
        epoch, batch = (int(v) for v in fields.get("position", "int", shape=(2,), low=0))
        if epochs is not None and (epoch > epochs or epoch == epochs and batch > 0):
            fields.fail("position", f"is epoch {epoch}, batch {batch}: past this run's {epochs} epochs")
        if n_batches is not None and batch > n_batches:
            fields.fail("position", f"is batch {batch}, an epoch has {n_batches}")
        loss_sum, correct, seen = (float(v) for v in fields.get("running", np.float64, shape=(3,), low=0.0))
        if correct != int(correct) or seen != int(seen) or correct > seen or seen > batch * self.batch_size:
            fields.fail("running", f"counts {correct} correct of {seen} after {batch} batches of {self.batch_size}")
        generator = fields.torch_generator_state("generator")
        try:
            history = json.loads(fields.text("history"))
            if not isinstance(history, list) or len(history) != epoch:
                raise ValueError(f"{epoch} epochs done, not a list of as many")
            for entry in history:
                if set(entry) != {"epoch", "loss", "train_accuracy", "seconds"} or not all(
                        isinstance(v, (int, float)) and np.isfinite(v) for v in entry.values()):
                    raise ValueError(f"entry {entry!r}")
        except (ValueError, TypeError) as error:
            fields.fail("history", f"is not this run's history ({error})")
        # all checked: restore
        self.model.load_state_dict({k[len("model/"):]: torch.from_numpy(arrays[k].copy()) for k in model})
        params = list(self.model.parameters())
        self.optimizer.state.clear()
        for key, value in optimizer.items():
            _, i, name = key.split("/")
            value = torch.from_numpy(arrays[key].copy())
            # Adam keeps its step count on the CPU and the moments beside the parameter
            self.optimizer.state[params[int(i)]][name] = value if name == "step" else value.to(params[int(i)].device)
        self._position = (epoch, batch)
        self._running = [loss_sum, int(correct), int(seen)]
        self.generator.set_state(generator)
        self.history = history

    def _optimizer_fields(self, fields: Fields) -> dict[str, None]:
        """Check the saved Adam state (per parameter: none, or step, exp_avg, exp_avg_sq with
        the parameter's shape); return the names of its fields."""
        names: dict[str, None] = {}
        amsgrad = self.optimizer.defaults.get("amsgrad", False)
        for i, p in enumerate(self.model.parameters()):
            prefix = f"optimizer/{i}/"
            present = [k for k in fields.arrays if k.startswith(prefix)]
            if not present:
                continue
            moments = ["exp_avg", "exp_avg_sq"] + (["max_exp_avg_sq"] if amsgrad else [])
            dtype = p.detach().cpu().numpy().dtype
            step = fields.get(prefix + "step", np.float32, shape=(), low=0.0)
            if float(step) != int(step):
                fields.fail(prefix + "step", f"is {float(step)}, not a whole number of steps")
            fields.get(prefix + "exp_avg", dtype, shape=tuple(p.shape))
            for name in moments[1:]:
                fields.get(prefix + name, dtype, shape=tuple(p.shape), low=0.0)
            names.update(dict.fromkeys(prefix + k for k in ["step", *moments]))
        return names


def _as_data(images, labels=None, dtype: torch.dtype = torch.float32):
    """(images (n, F) as ``dtype`` CPU tensor, labels (n,) int64 or None), checked."""
    x = torch.as_tensor(np.asarray(images, dtype=np.float64)).to(dtype)  # one rounding, to dtype
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
