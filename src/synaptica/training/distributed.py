"""Data-parallel training over processes (torch.distributed): the pieces the Trainer uses.

Each step every rank sees the same batch (the epoch order comes from the seed, and the
Poisson encoding of the whole batch from the trainer's seeded generator, identical on all
ranks), keeps its shard of it (:func:`shard`: contiguous, sizes differing by at most one),
backpropagates its shard's mean loss and scales the gradients by ``shard size / batch
size``; :func:`all_reduce_gradients` then sums them over ranks. The sum is the gradient of
the mean loss over the whole batch, so N processes take the steps one process would take
on the combined batch (up to float rounding), and every rank's optimiser applies the same
update. Initial weights come from rank 0 (:func:`broadcast_state`), checkpoints are written
by rank 0 and read by every rank. Backend: NCCL when CUDA is available, gloo on CPU.

The ``torchrun`` entry point is :mod:`synaptica.training.ddp`.
"""
from __future__ import annotations

import os
from typing import Sequence

import torch
import torch.distributed as dist


def init_distributed(backend: str | None = None) -> tuple[int, int]:
    """Join the process group described by torchrun's environment (``RANK``, ``WORLD_SIZE``,
    ``MASTER_ADDR``, ``MASTER_PORT``); returns ``(rank, world size)``. ``backend``: "gloo",
    "nccl", or None for NCCL with CUDA and gloo without. With NCCL each process takes the
    GPU ``LOCAL_RANK``."""
    missing = [k for k in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT") if k not in os.environ]
    if missing and not dist.is_initialized():
        raise RuntimeError(f"init_distributed: environment variables {missing} are not set; launch with "
                           "torchrun (e.g. torchrun --nproc_per_node 2 -m synaptica.training.ddp)")
    backend = backend or ("nccl" if torch.cuda.is_available() else "gloo")
    if backend == "nccl":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)))
    if not dist.is_initialized():
        dist.init_process_group(backend)
    return dist.get_rank(), dist.get_world_size()


def require_process_group() -> tuple[int, int]:
    """``(rank, world size)`` of the initialised default process group, or a clear error."""
    if not (dist.is_available() and dist.is_initialized()):
        raise RuntimeError("distributed=True needs an initialised process group: call "
                           "synaptica.training.ddp.init_distributed() in every process (launched by torchrun)")
    return dist.get_rank(), dist.get_world_size()


def shard(n: int, rank: int, world_size: int) -> slice:
    """Rank ``rank``'s contiguous part of ``n`` samples; sizes differ by at most one."""
    return slice(rank * n // world_size, (rank + 1) * n // world_size)


def broadcast_state(model: torch.nn.Module) -> None:
    """Copy rank 0's parameters and buffers to every rank."""
    with torch.no_grad():
        for tensor in model.state_dict().values():
            dist.broadcast(tensor, 0)


def all_reduce_gradients(params: Sequence[torch.nn.Parameter], weight: float,
                         extras: Sequence[float]) -> list[float]:
    """Replace each ``p.grad`` by the sum over ranks of ``weight * p.grad`` (one collective
    for all of them), and return the sums over ranks of ``extras`` (e.g. loss, correct).

    A parameter without a gradient counts as zero; it keeps ``grad = None`` only if no rank
    has a gradient for it (as in one process, where the optimiser then skips it)."""
    ref = params[0]
    parts = [(p.grad if p.grad is not None else torch.zeros_like(p)).reshape(-1) * weight for p in params]
    flags = torch.tensor([p.grad is not None for p in params], dtype=ref.dtype, device=ref.device)
    flat = torch.cat([*parts, flags, torch.tensor(list(extras), dtype=ref.dtype, device=ref.device)])
    dist.all_reduce(flat)
    grads, flags, sums = flat.split([flat.numel() - len(params) - len(extras), len(params), len(extras)])
    for p, grad, used in zip(params, grads.split([p.numel() for p in params]), flags.tolist()):
        p.grad = grad.view_as(p).clone() if used > 0 else None
    return sums.tolist()


def barrier() -> None:
    dist.barrier()
