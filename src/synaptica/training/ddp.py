"""``torchrun`` entry point: data-parallel training of a spiking classifier.

::

    torchrun --nproc_per_node 2 -m synaptica.training.ddp --epochs 3 --dtype float64

trains a :class:`~synaptica.training.layers.SpikingMLP` on the built-in digits with every
process of the group (:func:`main`). In a program of one's own: call
:func:`init_distributed` in every process, build the model, and pass
``Trainer(..., distributed=True)``; how the batch is split and the gradients summed is in
:mod:`synaptica.training.distributed`.
"""
from __future__ import annotations

import argparse
import os
from typing import Sequence

import numpy as np
import torch
import torch.distributed as dist

from synaptica.training.distributed import init_distributed

__all__ = ["init_distributed", "main"]

DTYPES = {"float32": torch.float32, "float64": torch.float64}


def main(argv: Sequence[str] | None = None) -> None:
    """Train a SpikingMLP on the built-in digits with every process of the torchrun group."""
    from synaptica.datasets import load_images
    from synaptica.training.layers import SpikingMLP
    from synaptica.training.trainer import Trainer

    parser = argparse.ArgumentParser(prog="torchrun ... -m synaptica.training.ddp", description=main.__doc__)
    parser.add_argument("--hidden", type=int, default=128, help="hidden LIF neurons")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=64, help="combined batch over all processes")
    parser.add_argument("--n-steps", type=int, default=16, help="time steps per sample")
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--dtype", choices=sorted(DTYPES), default="float32")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--checkpoint", default=None, help="checkpoint .npz (resumed if present)")
    args = parser.parse_args(argv)
    rank, world = init_distributed()
    local = int(os.environ.get("LOCAL_WORLD_SIZE", world))
    torch.set_num_threads(max(1, (os.cpu_count() or 1) // local))  # the processes share the machine
    images, labels, _ = load_images("digits")
    order = np.random.default_rng(args.seed).permutation(len(images))
    train, test = order[:1400], order[1400:]
    torch.manual_seed(args.seed)
    device = torch.device("cuda") if dist.get_backend() == "nccl" else torch.device("cpu")
    model = SpikingMLP([images.shape[1], args.hidden, 10]).to(device=device, dtype=DTYPES[args.dtype])
    trainer = Trainer(model, lr=args.lr, n_steps=args.n_steps, batch_size=args.batch_size, seed=args.seed,
                      distributed=True)
    trainer.fit(images[train], labels[train], epochs=args.epochs, checkpoint=args.checkpoint)
    accuracy = trainer.score(images[test], labels[test])
    if rank == 0:
        for entry in trainer.history:
            print(f"epoch {entry['epoch']}: loss {entry['loss']:.4f}, train accuracy {entry['train_accuracy']:.3f}")
        print(f"{world} processes, {args.dtype}: test accuracy {accuracy:.3f} on {len(test)} digits")
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
