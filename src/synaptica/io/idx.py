"""Reader for the IDX format of the MNIST files (LeCun et al. 1998), plain or gzipped.

Header: two zero bytes, a type code (0x08 = unsigned byte), the number of dimensions,
then one big-endian uint32 per dimension, then the data. A file that is not IDX (wrong
magic number), has an impossible header, or whose data is truncated or followed by extra
bytes raises :class:`IDXError` (a ValueError) naming the file and what is wrong.
"""
from __future__ import annotations

import gzip
import math
import zlib
from pathlib import Path

import numpy as np

__all__ = ["IDXError", "read_idx"]

_TYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
MAX_DIMENSIONS = 8


class IDXError(ValueError):
    """An IDX file cannot be read; the message names the file and the problem."""


def read_idx(path: str | Path) -> np.ndarray:
    """The array stored in an IDX file (``.gz`` is decompressed), shape as in its header."""
    path = Path(path)
    try:
        raw = gzip.open(path).read() if path.suffix == ".gz" else path.read_bytes()
    except (OSError, EOFError, zlib.error) as error:  # missing, unreadable, or a broken gzip stream
        raise IDXError(f"{path}: cannot read IDX file ({error})") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _TYPES:
        raise IDXError(f"{path}: not an IDX file (bad magic number {raw[:4].hex() or 'none'})")
    ndim = raw[3]
    if not 1 <= ndim <= MAX_DIMENSIONS:
        raise IDXError(f"{path}: IDX header declares {ndim} dimensions (1 to {MAX_DIMENSIONS} expected)")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise IDXError(f"{path}: truncated IDX header ({len(raw)} bytes, {header} needed)")
    shape = tuple(int.from_bytes(raw[4 + 4 * k: 8 + 4 * k], "big") for k in range(ndim))
    dtype = np.dtype(_TYPES[raw[2]])
    expected = header + math.prod(shape) * dtype.itemsize  # Python ints: no overflow on absurd headers
    if len(raw) != expected:
        what = "truncated" if len(raw) < expected else "extra bytes after the data"
        raise IDXError(f"{path}: IDX data has {len(raw)} bytes, the header {shape} needs {expected} ({what})")
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape)
