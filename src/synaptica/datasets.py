"""Image datasets for the learning experiments, as (images in [0, 1], labels).

* ``"digits"``: scikit-learn's bundled 8x8 handwritten digits (1797 images, pixel values
  0..16; Alpaydin & Kaynak 1998, UCI optdigits), shipped with scikit-learn, no download.
* a directory: MNIST in IDX format (``*-images-idx3-ubyte[.gz]`` and
  ``*-labels-idx1-ubyte[.gz]``, e.g. the 10,000-image test split ``t10k-*``).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from synaptica.io.idx import read_idx


def load_images(source: str) -> tuple[np.ndarray, np.ndarray, tuple[int, int]]:
    """``(images (n, pixels) float in [0, 1], labels (n,) int, image shape)``."""
    if source == "digits":
        from sklearn.datasets import load_digits

        data = load_digits()
        return data.data / 16.0, data.target.astype(np.int64), (8, 8)
    folder = Path(source)
    if not folder.is_dir():
        raise ValueError(f"dataset '{source}': not 'digits' and not a directory")
    images = sorted(folder.glob("*images-idx3-ubyte*"))
    labels = sorted(folder.glob("*labels-idx1-ubyte*"))
    if len(images) != 1 or len(labels) != 1:
        raise ValueError(f"dataset '{source}': expected one *images-idx3-ubyte[.gz] and one "
                         f"*labels-idx1-ubyte[.gz] file, found {len(images)} and {len(labels)}")
    x, y = read_idx(images[0]), read_idx(labels[0])
    if x.ndim != 3 or y.ndim != 1 or x.shape[0] != y.shape[0]:
        raise ValueError(f"dataset '{source}': images {x.shape} and labels {y.shape} do not match")
    return x.reshape(len(x), -1) / 255.0, y.astype(np.int64), (x.shape[1], x.shape[2])
