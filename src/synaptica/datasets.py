"""Image datasets for the learning experiments, as (images in [0, 1], labels).

* ``"digits"``: scikit-learn's bundled 8x8 handwritten digits (1797 images, pixel values
  0..16; Alpaydin & Kaynak 1998, UCI optdigits), shipped with scikit-learn, no download.
* a directory: MNIST in IDX format (``*-images-idx3-ubyte[.gz]`` and
  ``*-labels-idx1-ubyte[.gz]``, e.g. the 10,000-image test split ``t10k-*``).

A folder whose files do not form such a dataset is refused with a :class:`DatasetError`
(a ValueError) naming the file: not IDX or truncated (:mod:`synaptica.io.idx`), images
that are not unsigned bytes of shape ``(n, height, width)``, labels that are not
integers ``(n,)`` in ``0 .. n_classes - 1``, or image and label counts that differ.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from synaptica.io.idx import read_idx

__all__ = ["DatasetError", "load_images"]

N_CLASSES = 10  # MNIST's digits 0..9


class DatasetError(ValueError):
    """A dataset cannot be used; the message names the file and the problem."""


def _check_images(path: Path, x: np.ndarray) -> None:
    if x.ndim != 3 or x.dtype != np.uint8:
        raise DatasetError(f"{path}: expected images as unsigned bytes (n, height, width), "
                           f"got shape {x.shape} and dtype {x.dtype}")
    if min(x.shape) < 1:
        raise DatasetError(f"{path}: images of shape {x.shape[1:]} x {x.shape[0]}: no pixels or no images")


def _check_labels(path: Path, y: np.ndarray, n_classes: int) -> None:
    if y.ndim != 1 or y.dtype.kind not in "iu":
        raise DatasetError(f"{path}: expected integer labels (n,), got shape {y.shape} and dtype {y.dtype}")
    outside = np.flatnonzero((y < 0) | (y >= n_classes))
    if outside.size:
        i = int(outside[0])
        raise DatasetError(f"{path}: label {int(y[i])} at index {i} is outside 0..{n_classes - 1} "
                           f"({outside.size} such labels)")


def load_images(source: str, n_classes: int = N_CLASSES) -> tuple[np.ndarray, np.ndarray, tuple[int, int]]:
    """``(images (n, pixels) float in [0, 1], labels (n,) int64, image shape)``.

    ``n_classes``: labels of an IDX folder must lie in ``0 .. n_classes - 1``.
    Raises :class:`DatasetError` (see the module docstring).
    """
    if source == "digits":
        from sklearn.datasets import load_digits

        data = load_digits()
        return data.data / 16.0, data.target.astype(np.int64), (8, 8)
    folder = Path(source)
    if not folder.is_dir():
        raise DatasetError(f"dataset '{source}': not 'digits' and not a directory")
    images = sorted(folder.glob("*images-idx3-ubyte*"))
    labels = sorted(folder.glob("*labels-idx1-ubyte*"))
    if len(images) != 1 or len(labels) != 1:
        raise DatasetError(f"dataset '{source}': expected one *images-idx3-ubyte[.gz] and one "
                           f"*labels-idx1-ubyte[.gz] file, found {len(images)} and {len(labels)}")
    x, y = read_idx(images[0]), read_idx(labels[0])
    _check_images(images[0], x)
    _check_labels(labels[0], y, n_classes)
    if x.shape[0] != y.shape[0]:
        raise DatasetError(f"dataset '{source}': {images[0].name} holds {x.shape[0]} images but "
                           f"{labels[0].name} holds {y.shape[0]} labels")
    return x.reshape(len(x), -1) / 255.0, y.astype(np.int64), (x.shape[1], x.shape[2])
