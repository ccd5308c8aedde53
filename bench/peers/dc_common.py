"""Shared parts of the Diehl & Cook (2015) peer scripts: CLI, MNIST loading, input rates, output.

Importing this module pins OpenMP / BLAS to one passive thread, so import it before the
simulator.  Stdlib + numpy only.
"""
from __future__ import annotations

import argparse
import gzip
import json
import os
from pathlib import Path

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[_var] = "1"
os.environ["OMP_WAIT_POLICY"] = "PASSIVE"  # busy-waiting barriers ruin timings on a shared machine

import numpy as np  # noqa: E402

IMAGE_MS = 350.0  # presentation time per image (no rest period)
DT = 0.5  # ms
MAX_RATE_HZ = 63.75  # pixel 255 -> 63.75 Hz: Diehl & Cook's pixel / 8 * intensity 2


def make_parser(doc: str, n_images: int) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default="/work/shared/data/mnist",
                   help="folder with t10k-images-idx3-ubyte.gz (or train-images-...)")
    p.add_argument("--n-images", type=int, default=n_images, help="images trained on (timed)")
    p.add_argument("--n-exc", type=int, default=100, help="excitatory (= inhibitory) neurons")
    p.add_argument("--seed", type=int, default=1)
    return p


def _read_idx(path: Path) -> np.ndarray:
    """An IDX file (optionally gzipped) as a uint8 array of its declared shape."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        data = f.read()
    zero, dtype_code, ndim = data[0] * 256 + data[1], data[2], data[3]
    if zero != 0 or dtype_code != 0x08:
        raise ValueError(f"{path}: not an unsigned-byte IDX file")
    shape = tuple(int.from_bytes(data[4 + 4 * k: 8 + 4 * k], "big") for k in range(ndim))
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def load_mnist(data_dir: str, n: int, split: str = "t10k") -> tuple[np.ndarray, np.ndarray]:
    """The first n images as uint8 (n, 784) and their labels (n,); cycles if n > file size."""
    d = Path(data_dir)
    images = _read_idx(d / f"{split}-images-idx3-ubyte.gz").reshape(-1, 784)
    labels = _read_idx(d / f"{split}-labels-idx1-ubyte.gz")
    idx = np.arange(n) % len(images)
    return images[idx], labels[idx]


def input_rates_hz(images: np.ndarray) -> np.ndarray:
    """Poisson rates (Hz, float64) of the 784 input neurons: pixel / 255 * 63.75."""
    return images.astype(np.float64) / 255.0 * MAX_RATE_HZ


def report(args, peer: str, build_s: float, sim_s: float, exc_spikes: int, **extra) -> None:
    """Print the one JSON result line (last line of stdout)."""
    result = dict(peer=peer, n_images=args.n_images, n_exc=args.n_exc, seed=args.seed,
                  build_s=round(build_s, 4), sim_s=round(sim_s, 4),
                  images_per_s=args.n_images / sim_s, exc_spikes=int(exc_spikes),
                  exc_spikes_per_image=exc_spikes / args.n_images, **extra)
    print(json.dumps(result), flush=True)
