"""Resumable training of a sequence model (used by ``elm``): Adamax, cosine schedule, clipping.

A long unit (the ELM at Hochreiter & Schmidhuber's budget for T = 1000 trains for about half
an hour) saves its position every ``every_s`` seconds of wall time to a checkpoint beside
the run's, so an interrupted run continues from the last save and gives the same numbers as
an uninterrupted one: the model's parameters, Adamax's moments and step counts, the
schedule's learning rate and position, the random state the batches are drawn from (at the
start of the current epoch, with the batches already used of it), the losses so far and the
training time. The file is an ``.npz`` of plain arrays and JSON text (no pickle); every
field is checked before anything is restored (:class:`synaptica.engine.checkpoints.Fields`).
"""
from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from synaptica.experiments.finite import require_finite_loss, require_finite_parameters

Batch = tuple  # (inputs, index of the step read out, targets)


class BatchStream:
    """Batches drawn from one NumPy generator, epoch by epoch: ``draw_epoch(rng)`` yields an
    epoch's ``per_epoch`` batches (for a stream without epochs, one batch). The generator's
    state at the start of an epoch and the batches used of it are enough to continue."""

    def __init__(self, rng: np.random.Generator, draw_epoch: Callable[[np.random.Generator], Iterator[Batch]],
                 per_epoch: int, n_batches: int) -> None:
        self.rng, self.draw_epoch, self.per_epoch, self.n_batches = rng, draw_epoch, per_epoch, n_batches
        self.epoch_state = dict(rng.bit_generator.state)

    def state_before(self, step: int) -> dict:
        """The generator state to restore to continue at update ``step`` (called between
        updates: at an epoch boundary the current state starts the next epoch)."""
        return dict(self.rng.bit_generator.state) if step % self.per_epoch == 0 else self.epoch_state

    def batches(self, start: int) -> Iterator[tuple[int, Batch]]:
        """``(update index, batch)`` from update ``start`` on; the generator must hold the
        state of the start of ``start``'s epoch."""
        index = start - start % self.per_epoch
        while index < self.n_batches:
            self.epoch_state = dict(self.rng.bit_generator.state)
            for batch in self.draw_epoch(self.rng):
                if index >= start:
                    yield index, batch
                index += 1
                if index >= self.n_batches:
                    return


class TrainingCheckpoint:
    """Save and restore the position of :func:`train` (module docstring)."""

    def __init__(self, path: str | Path | None, settings: dict, every_s: float = 60.0) -> None:
        self.path = None if path is None else Path(path)
        self.settings, self.every_s = settings, every_s

    def save(self, model, optimiser, schedule, stream: BatchStream, step: int, losses: list[float],
             train_s: float) -> None:
        import torch

        from synaptica.engine.checkpoints import encode_settings

        if self.path is None:
            return
        arrays = {f"model/{k}": v.detach().cpu().numpy() for k, v in model.state_dict().items()}
        for i, parameter in enumerate(model.parameters()):
            for key, value in optimiser.state.get(parameter, {}).items():
                arrays[f"optimizer/{i}/{key}"] = torch.as_tensor(value).detach().cpu().numpy()
        arrays.update({"step": np.array(step, dtype=np.int64), "lr": np.array(optimiser.param_groups[0]["lr"]),
                       "schedule_epoch": np.array(schedule.last_epoch, dtype=np.int64),
                       "rng": np.array(json.dumps(stream.state_before(step))), "losses": np.array(losses, dtype=np.float64),
                       "train_s": np.array(train_s), "tag": np.array(encode_settings(self.settings))})
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp.npz")
        np.savez(tmp, **arrays)
        os.replace(tmp, self.path)

    def restore(self, model, optimiser, schedule, stream: BatchStream, n_batches: int) -> tuple[int, list[float], float]:
        """Restore from the file if there is one: ``(next update, losses, training seconds)``;
        ``(0, [], 0.0)`` without one. A file of other settings or with impossible fields
        raises :class:`~synaptica.engine.checkpoints.CheckpointError` before anything changes."""
        import torch

        from synaptica.engine.checkpoints import Fields, check_settings, read_checkpoint

        if self.path is None or not self.path.exists():
            return 0, [], 0.0
        arrays = read_checkpoint(self.path)
        check_settings(self.path, arrays, self.settings)
        fields = Fields(self.path, arrays)
        model_state = {f"model/{k}": v.detach().cpu().numpy() for k, v in model.state_dict().items()}
        parameters = list(model.parameters())
        # Adamax keeps (step, exp_avg, exp_inf) per parameter that has had a gradient
        saved = {i for i in range(len(parameters)) if f"optimizer/{i}/step" in arrays}
        moments = {f"optimizer/{i}/{name}": parameters[i].detach().cpu().numpy()
                   for i in saved for name in ("exp_avg", "exp_inf")}
        steps = {f"optimizer/{i}/step" for i in saved}
        fields.only({*model_state, *moments, *steps, "step", "lr", "schedule_epoch", "rng", "losses", "train_s", "tag"})
        for key, value in model_state.items():
            fields.get(key, value.dtype, shape=value.shape)
        step = fields.integer("step", 1, n_batches)
        for key in steps:
            fields.get(key, np.float32, shape=(), low=1.0, high=step)
        for key, value in moments.items():
            fields.get(key, value.dtype, shape=value.shape, low=0.0 if key.endswith("exp_inf") else None)
        lr = float(fields.get("lr", np.float64, shape=(), low=0.0))
        fields.integer("schedule_epoch", step, step)
        state = fields.numpy_generator_state("rng")
        losses = fields.get("losses", np.float64, shape=(step,))
        train_s = float(fields.get("train_s", np.float64, shape=(), low=0.0))
        # all checked: restore
        model.load_state_dict({k[len("model/"):]: torch.from_numpy(arrays[k].copy()) for k in model_state})
        optimiser.state.clear()
        for key in (*moments, *steps):
            _, i, name = key.split("/")
            optimiser.state[parameters[int(i)]][name] = torch.from_numpy(arrays[key].copy())
        for group in optimiser.param_groups:
            group["lr"] = lr
        schedule.last_epoch = step
        stream.rng.bit_generator.state = state
        return step, [float(v) for v in losses], train_s

    def remove(self) -> None:
        if self.path is not None:
            self.path.unlink(missing_ok=True)


def train(model, stream: BatchStream, loss_of, p: dict, phase: str,
          checkpoint: TrainingCheckpoint | None = None) -> tuple[list[float], float]:
    """Adamax with a cosine-annealed learning rate over the stream's updates (the ELM
    authors' optimiser and schedule) and gradients clipped at ``p["clip"]``; resumes from
    and saves to ``checkpoint``. Returns the loss of every update and the training seconds."""
    import torch

    checkpoint = checkpoint or TrainingCheckpoint(None, {})
    optimiser = torch.optim.Adamax(model.parameters(), lr=p["lr"])
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, T_max=max(1, stream.n_batches))
    start, losses, train_s = checkpoint.restore(model, optimiser, schedule, stream, stream.n_batches)
    t0 = last_save = time.perf_counter()
    for step, (x, last, target) in stream.batches(start):
        loss = loss_of(model(x), last, target)
        require_finite_loss(loss, experiment="elm", phase=phase, epoch=0, step=step)
        optimiser.zero_grad()
        loss.backward()
        if p["clip"] > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), p["clip"])
        optimiser.step()
        schedule.step()
        losses.append(float(loss.detach()))
        now = time.perf_counter()
        if now - last_save >= checkpoint.every_s and step + 1 < stream.n_batches:
            checkpoint.save(model, optimiser, schedule, stream, step + 1, losses, train_s + now - t0)
            last_save = now
    require_finite_parameters(model.parameters(), experiment="elm", phase=phase, epoch=0)
    return losses, train_s + time.perf_counter() - t0
