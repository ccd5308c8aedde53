"""Time surrogate-gradient training steps of one library (run by bench/train.py).

    python bench/peers/train_timing.py PEER IMAGES.npy --steps 25 --batches 20 --warmup 3

PEER is a key of train_peers.PEERS (synaptica ones in the main .venv, the others in
bench/.venv-train). Each batch: 128 images drawn in order, Poisson encoded (P(spike per
step) = intensity) *outside* the timed region; the timed region runs from
``optimizer.zero_grad()`` to ``optimizer.step()`` (Adam, lr 1e-3), cross-entropy on the
output spike counts. Prints one JSON line with every batch time and the median.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))


def main(argv=None) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("peer")
    ap.add_argument("images")
    ap.add_argument("--steps", type=int, default=25)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--batches", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)

    import numpy as np
    import torch
    import torch.nn.functional as F

    torch.set_num_threads(args.threads)
    from train_peers import PEERS

    images = torch.as_tensor(np.load(args.images), dtype=torch.float32)
    labels_all = torch.as_tensor(np.load(args.images.replace(".npy", "_labels.npy")), dtype=torch.long)
    t_build = time.perf_counter()
    model = PEERS[args.peer](seed=0)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    generator = torch.Generator().manual_seed(0)
    times, losses = [], []
    first_step_s = None
    for b in range(args.warmup + args.batches):
        idx = torch.arange(b * args.batch, (b + 1) * args.batch) % len(images)
        x = images[idx]
        spikes = (torch.rand((args.steps, *x.shape), generator=generator) < x).float()
        labels = labels_all[idx]
        t0 = time.perf_counter()
        if getattr(model, "online", False):
            model.train_step(spikes, labels, optimizer)
        else:
            optimizer.zero_grad()
            loss = F.cross_entropy(model.forward(spikes), labels)
            loss.backward()
            optimizer.step()
            losses.append(float(loss.detach()))
        elapsed = time.perf_counter() - t0
        if b == 0:
            first_step_s = time.perf_counter() - t_build  # includes any compilation
        if b >= args.warmup:
            times.append(elapsed)
    median = statistics.median(times)
    print(json.dumps({"peer": args.peer, "T": args.steps, "batch": args.batch, "threads": args.threads,
                      "median_batch_s": median, "samples_per_s": args.batch / median,
                      "first_step_s": first_step_s, "batch_times_s": times,
                      "input_density": float(spikes.mean())}), flush=True)


if __name__ == "__main__":
    main()
