"""Benchmark: sequential STDP training of the Diehl & Cook (2015) network, images per second.

100 excitatory neurons, 784 Poisson inputs (MNIST, pixel / 255 * 63.75 Hz), 350 ms per
image at dt = 0.5 ms, batch 1, learning after every spike, state reset and weight
normalisation at each image (see ``synaptica.models.diehl_cook`` and
``bench/peers/dc_brian2.py``, the same network in Brian2 2.9 cpp_standalone; BindsNET
0.3.4 runs its own ``DiehlAndCook2015`` model). Run alone on the machine:

    .venv/bin/python bench/stdp.py            # table into BENCHMARKS.md
    .venv/bin/python bench/stdp.py --skip-peers

synaptica rows: setup = building the network plus compiling (or loading) the numba
kernel (first repeat); images/s = median over ``--repeats`` runs, each timing images
1..``--images`` from a fresh network, the range Brian2 is timed on. Peers run in
bench/.venv-peers.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from report import write_section  # noqa: E402

DATA = HERE.parent.parent / "shared" / "data" / "mnist"


def run_synaptica(data: Path, n_images: int, repeats: int, n_exc: int, batch: int = 1) -> dict:
    """Time images 1..n_images of a training run from a fresh network, as Brian2 is timed
    (later images evoke fewer spikes as thresholds grow, so the range matters): each
    repeat builds a new network, compiles (or loads) its kernel with a zero-step run
    outside the timing, then presents the images."""
    import numpy as np

    from synaptica.datasets import load_images
    from synaptica.models.diehl_cook import DiehlCookConfig, DiehlCookNetwork

    images, _, _ = load_images(str(data))
    rates, spikes, setups = [], [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        model = DiehlCookNetwork(DiehlCookConfig(n_exc=n_exc, max_retries=0, seed=1, batch_size=batch))
        model.net.compile()
        setups.append(time.perf_counter() - t0)
        t = time.perf_counter()
        counts = model.present(images[:n_images], learn=True)
        rates.append(n_images / (time.perf_counter() - t))
        spikes.append(float(counts.sum(1).mean()))
    return {"peer": "synaptica" if batch == 1 else f"synaptica-batch{batch}", "n_images": n_images,
            "setup_s": setups[0], "images_per_s": statistics.median(rates), "all_images_per_s": rates,
            "exc_spikes_per_image": float(np.mean(spikes))}


def run_peer(script: str, data: Path, n_images: int, n_exc: int) -> dict:
    from peers_env import ensure_peers_env

    py = ensure_peers_env()
    cmd = [str(py), str(HERE / "peers" / script), "--data", str(data), "--n-images", str(n_images),
           "--n-exc", str(n_exc), "--seed", "1"]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True,
                         env={**os.environ, "OMP_NUM_THREADS": "1", "OMP_WAIT_POLICY": "PASSIVE"}).stdout
    result = json.loads(out.strip().splitlines()[-1])
    result["setup_s"] = result.get("build_s", 0.0)
    result["exc_spikes_per_image"] = result["exc_spikes"] / result["n_images"]
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--images", type=int, default=1000, help="images per timed run (1..N, as Brian2)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--bindsnet-images", type=int, default=30)
    parser.add_argument("--n-exc", type=int, default=100)
    parser.add_argument("--batch", type=int, default=8, help="copies in the batched (averaged-update) row")
    parser.add_argument("--skip-peers", action="store_true")
    parser.add_argument("--output", default=str(HERE.parent / "BENCHMARKS.md"))
    args = parser.parse_args()
    if not args.data.is_dir():
        sys.exit(f"bench/stdp.py: MNIST folder {args.data} not found (give --data DIR)")
    os.environ.setdefault("NUMBA_NUM_THREADS", "1")
    import torch

    torch.set_num_threads(1)
    rows = [run_synaptica(args.data, args.images, args.repeats, args.n_exc)]
    print(json.dumps(rows[-1]), flush=True)
    rows.append(run_synaptica(args.data, args.images, args.repeats, args.n_exc, batch=args.batch))
    print(json.dumps(rows[-1]), flush=True)
    if not args.skip_peers:
        sys.path.insert(0, str(HERE / "peers"))
        rows.append(run_peer("dc_brian2.py", args.data, args.images, args.n_exc))
        print(json.dumps(rows[-1]), flush=True)
        rows.append(run_peer("dc_bindsnet.py", args.data, args.bindsnet_images, args.n_exc))
        print(json.dumps(rows[-1]), flush=True)
        write_table(rows, args)


def write_table(rows: list[dict], args) -> None:
    ours = rows[0]["images_per_s"]
    lines = ["| engine | images timed | setup s | images/s | synaptica speed-up | exc spikes per image | "
             "60,000-image epoch |", "|---|---|---|---|---|---|---|"]
    names = {"synaptica": "synaptica (compiled CPU path)", f"synaptica-batch{args.batch}":
             f"synaptica batched: {args.batch} copies, averaged updates", "brian2": "Brian2 2.9 cpp_standalone",
             "bindsnet": "BindsNET 0.3.4 (its DiehlAndCook2015)"}
    for row in rows:
        rate = row["images_per_s"]
        lines.append(f"| {names.get(row['peer'], row['peer'])} | {row['n_images']} | {row['setup_s']:.1f} | "
                     f"{rate:.1f} | {ours / rate:.1f}x | {row['exc_spikes_per_image']:.1f} | "
                     f"{60000 / rate / 60:.1f} min |")
    section = "\n".join([
        "## Diehl & Cook STDP training (`bench/stdp.py`)", "",
        f"Command: `.venv/bin/python bench/stdp.py --images {args.images} --repeats {args.repeats}` "
        f"({args.n_exc} excitatory neurons, 784 MNIST Poisson inputs, 350 ms per image at dt 0.5 ms, batch 1, "
        "learning after every spike, one thread, run alone on the 2-core machine). "
        f"Measured {time.strftime('%Y-%m-%d')}.", "", *lines, "",
        "synaptica: median of the repeats; all runs: " + ", ".join(f"{r:.0f}" for r in rows[0]["all_images_per_s"])
        + f" images/s. Every engine is timed on images 1-{args.images} of a training run from a fresh network "
        "(thresholds grow, so later images evoke fewer spikes: the same range keeps the comparison fair). "
        "The batched row trains copies side by side on different "
        "images with averaged weight updates: not the paper's dynamics, and no faster on one CPU core (the "
        "work per image is the same); it is there for GPUs. "
        "Setup: synaptica builds the network and compiles (or loads from its cache) the kernel; "
        "Brian2 generates and compiles C++. BindsNET's model differs (current-based neurons, its own defaults), "
        "so its spike counts differ.", ""])
    write_section(args.output, "Diehl & Cook STDP training", section)


if __name__ == "__main__":
    main()
