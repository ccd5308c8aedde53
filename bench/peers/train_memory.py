"""Activation memory of one surrogate-gradient training step, measured from the OS side.

    python bench/peers/train_memory.py PEER T [--batch 128] [--builder module:function]

PEER is a key of ``train_peers.PEERS`` (run with bench/.venv-train's python), or
"synaptica" (or any other name) together with ``--builder module:function``, a callable
with the signature of the ``build_<peer>`` functions of train_peers.py
(``n_in=784, n_hidden=512, n_out=10, seed=0``) returning an object with ``.parameters()``
and ``forward(spikes (T, B, 784)) -> (B, 10)``.  bench/ and bench/peers/ are on sys.path
for the builder's import.  Prints one JSON line:
{"peer", "T", "batch", "activation_mb", "rss_before_mb", "peak_mb"}.

Method: the process runs with MALLOC_MMAP_THRESHOLD_=65536 (it re-executes itself with it
when the variable is not set), so every buffer of 64 KiB or more is its own mmap and goes
back to the OS when freed.  The model and an Adam optimizer are built and one warm-up
training step is done (optimizer state, lazily allocated buffers, and for compiled models
the compilation).  Then ``optimizer.zero_grad()``, VmRSS is read from /proc/self/status,
the peak (VmHWM) is reset by writing 5 to /proc/self/clear_refs, forward + cross-entropy
(graph kept) and backward run, and VmHWM is read again.  activation_mb = VmHWM - VmRSS
before, in MiB: the saved activations, the transient buffers of forward and backward, and
the parameters' gradient buffers (zero_grad sets them to None, as in the timed steps;
1.6 MiB for 784-512-10).  The input spikes are allocated before the baseline.
"""
from __future__ import annotations

import argparse
import gc
import importlib
import json
import os
import sys
from pathlib import Path

from proc_memory import reset_peak, status_mib  # same folder (the script's sys.path[0])

HERE = Path(__file__).resolve().parent
MMAP_ENV = "MALLOC_MMAP_THRESHOLD_"
MMAP_THRESHOLD = "65536"
N_IN, N_HIDDEN, N_OUT = 784, 512, 10
MEAN_RATE = 0.13  # mean spike probability per step, like MNIST intensities


def _builder(peer: str, spec: str | None):
    for path in (HERE, HERE.parent):
        if str(path) not in sys.path:
            sys.path.append(str(path))
    if spec:
        module, _, name = spec.partition(":")
        if not name:
            raise SystemExit(f"--builder must be module:function, got {spec!r}")
        return getattr(importlib.import_module(module), name)
    from train_peers import PEERS
    if peer not in PEERS:
        raise SystemExit(f"unknown peer {peer!r}; known: {', '.join(PEERS)} (or give --builder)")
    return PEERS[peer]


def measure(peer: str, T: int, batch: int = 128, builder: str | None = None, seed: int = 0) -> dict:
    import torch
    import torch.nn.functional as F

    build = _builder(peer, builder)
    g = torch.Generator().manual_seed(seed)
    rates = torch.rand(batch, N_IN, generator=g) * (2 * MEAN_RATE)  # uniform, mean 0.13
    spikes = torch.bernoulli(rates.expand(T, batch, N_IN), generator=g).contiguous()
    labels = torch.randint(0, N_OUT, (batch,), generator=g)
    model = build(n_in=N_IN, n_hidden=N_HIDDEN, n_out=N_OUT, seed=seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)

    def step():
        if getattr(model, "online", False):  # memory-lean mode: the model runs its own step
            model.train_step(spikes, labels, optimizer)
            return
        optimizer.zero_grad()
        F.cross_entropy(model.forward(spikes), labels).backward()
        optimizer.step()

    step()  # warm-up
    optimizer.zero_grad()
    gc.collect()
    rss_before = status_mib("VmRSS")
    reset_peak()
    if getattr(model, "online", False):
        step()  # includes the optimiser step (Adam state exists already: no new buffers)
    else:
        loss = F.cross_entropy(model.forward(spikes), labels)
        loss.backward()
    peak = status_mib("VmHWM")
    return {"peer": peer, "T": T, "batch": batch, "activation_mb": round(peak - rss_before, 2),
            "rss_before_mb": round(rss_before, 1), "peak_mb": round(peak, 1)}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("peer")
    ap.add_argument("T", type=int)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--builder", help="module:function building the model (needed for synaptica)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, help="torch.set_num_threads (default: torch's)")
    args = ap.parse_args(argv)
    if args.threads:
        import torch
        torch.set_num_threads(args.threads)
    print(json.dumps(measure(args.peer, args.T, args.batch, args.builder, args.seed)), flush=True)


if __name__ == "__main__":
    if os.environ.get(MMAP_ENV) is None:
        # glibc reads it at start-up only: run again with it, same interpreter and arguments
        os.execve(sys.executable, [sys.executable, *sys.argv],
                  {**os.environ, MMAP_ENV: MMAP_THRESHOLD})
    main()
