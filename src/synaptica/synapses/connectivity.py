"""Connectivity builders. Each returns (pre, post) index arrays of the synapses, sorted
by presynaptic neuron, ready to become a compressed sparse row (CSR) projection."""
from __future__ import annotations

import mmap

import numpy as np


def index_dtype(*sizes: int):
    """int32 indices while every size fits (half the memory per synapse), else int64."""
    return np.int32 if max(sizes, default=0) < 2**31 else np.int64


# Gaps turned into pairs at a time. Small enough that the temporaries (2 MB of gaps)
# stay below NumPy's 4 MB threshold for asking the kernel for huge pages: blocks of 2^22
# made fresh huge-page allocations whose faults stall on memory compaction where THP
# defrag is on, and 82 M synapses took 3.3-7.6 s instead of 1.3 s (bench/cuba.py, N = 64000).
_BLOCK = 1 << 18


def csr_pointer(sorted_index: np.ndarray, n: int) -> np.ndarray:
    """(n + 1,) int64 offsets of each neuron's run in ``sorted_index`` (sorted ids < n)."""
    # queries in a type the indices already have (or a small one): int64 queries would
    # convert every index first, a 0.5 GB copy and 1.6 s at 65 M int32 synapses
    dtype = np.promote_types(sorted_index.dtype, np.min_scalar_type(n))
    return np.searchsorted(sorted_index, np.arange(n + 1, dtype=dtype)).astype(np.int64)


def synapse_array(size: int, dtype) -> np.ndarray:
    """An uninitialised 1-D array for per-synapse data (indices, weights).

    Large ones are anonymous memory maps rather than NumPy allocations: NumPy asks the
    kernel for transparent huge pages on allocations of 4 MB and more, and where THP
    defragmentation is on (Linux's default for such requests), first touching them can
    stall on memory compaction. Building CUBA's 82 M synapses (N = 64000) then took 1.5
    to 6.8 s from run to run on the same machine (bench/cuba.py). Plain pages fault in
    without that stall; the memory is freed with the array as usual.
    """
    dtype = np.dtype(dtype)
    if size * dtype.itemsize < 1 << 22:
        return np.empty(size, dtype=dtype)
    return np.frombuffer(mmap.mmap(-1, size * dtype.itemsize), dtype=dtype)


def random_pairs(n_pre: int, n_post: int, p: float, rng: np.random.Generator,
                 allow_self: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Each ordered pair connected independently with probability ``p`` (Bernoulli).

    Drawn by geometric skipping over the n_pre * n_post pairs, so the cost grows with
    the number of synapses, not with the number of pairs. The gaps are drawn in rounds
    of ``expected`` values (the random stream, and so every network built from a seed,
    does not depend on the block size) and turned into indices a block at a time, so the
    temporary memory stays small beside the (pre, post) result (int32 where sizes allow).
    """
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"connection probability must be in [0, 1], got {p}")
    dtype = index_dtype(n_pre, n_post)
    total = n_pre * n_post
    if p == 0.0 or total == 0:
        empty = np.zeros(0, dtype=dtype)
        return empty, empty.copy()
    if p == 1.0:
        pre, post = np.divmod(np.arange(total, dtype=np.int64), n_post)
        pre, post = pre.astype(dtype), post.astype(dtype)
    else:
        # filled block by block (no per-block pieces to concatenate: one allocation each)
        expected = int(total * p + 6 * np.sqrt(total * p) + 16)
        pre, post = synapse_array(expected, dtype), synapse_array(expected, dtype)
        count, position = 0, -1
        while position < total:
            if count:   # a further round (beyond mean + 6 sd: practically never)
                pre, post = np.resize(pre, count + expected), np.resize(post, count + expected)
            for start in range(0, expected, _BLOCK):
                gaps = rng.geometric(p, size=min(_BLOCK, expected - start))
                if position >= total:
                    continue   # the rest of this round's draws: consumed, as one draw would
                # for a tiny p the draw overflows int64 (negative); any gap past the last pair
                # ends the draw (two reductions find out; the masked write is rarely needed)
                if gaps.min() <= 0 or gaps.max() > total:
                    gaps[(gaps <= 0) | (gaps > total)] = total + 1
                flat = np.cumsum(gaps, out=gaps)
                flat += position
                position = int(flat[-1])
                if position >= total:
                    flat = flat[: np.searchsorted(flat, total)]
                _split_rows(flat, n_post, pre[count: count + flat.size], post[count: count + flat.size])
                count += flat.size
        pre, post = pre[:count], post[:count]
    if not allow_self:
        keep = pre != post
        pre, post = pre[keep], post[keep]
    return pre, post


def _split_rows(flat: np.ndarray, n_post: int, pre: np.ndarray, post: np.ndarray) -> None:
    """Write (pre, post) of sorted flat pair indices ``pre * n_post + post`` into ``pre``
    and ``post``. With many synapses per row there is no 64-bit division per synapse: row
    starts are found by a search, each synapse takes its row by repetition and its column
    by one subtraction (block-sized temporaries); rows sparser than that take the division."""
    if flat.size == 0:
        return
    first, last = int(flat[0]) // n_post, int(flat[-1]) // n_post
    if flat.size < 64 * (last - first + 1):   # a few synapses per row: one division each
        pre[:], post[:] = np.divmod(flat, n_post)
        return
    rows = np.arange(first, last + 2, dtype=np.int64)
    row_of = np.repeat(rows[:-1], np.diff(np.searchsorted(flat, rows * n_post)))
    pre[:] = row_of
    row_of *= n_post
    np.subtract(flat, row_of, out=post, casting="unsafe")


def is_sorted(index: np.ndarray) -> bool:
    """Whether ``index`` is non-decreasing, compared a block at a time (no temporary as
    large as the synapses)."""
    for start in range(0, index.size - 1, _BLOCK):
        stop = min(start + _BLOCK, index.size - 1)
        if np.any(index[start + 1: stop + 1] < index[start: stop]):
            return False
    return True


def all_to_all(n_pre: int, n_post: int) -> tuple[np.ndarray, np.ndarray]:
    return random_pairs(n_pre, n_post, 1.0, np.random.default_rng(0))


def one_to_one(n: int) -> tuple[np.ndarray, np.ndarray]:
    idx = np.arange(n, dtype=index_dtype(n))
    return idx, idx.copy()


def convolution(in_shape: tuple[int, int, int], kernel_shape: tuple[int, int, int, int],
                stride: int = 1, padding: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple]:
    """Synapses of a 2-D convolution (cross-correlation, as torch's conv2d).

    in_shape (C_in, H, W); kernel_shape (C_out, C_in, kH, kW). Neurons are numbered in
    C-order over (C, H, W). Returns pre, post, the flat kernel index of each synapse
    (weights are shared through it) and the output shape (C_out, H_out, W_out).
    """
    c_in, h, w = in_shape
    c_out, k_in, kh, kw = kernel_shape
    if k_in != c_in:
        raise ValueError(f"convolution: kernel expects {k_in} input channels, input has {c_in}")
    h_out = (h + 2 * padding - kh) // stride + 1
    w_out = (w + 2 * padding - kw) // stride + 1
    if h_out <= 0 or w_out <= 0:
        raise ValueError(f"convolution: kernel {kh}x{kw} does not fit input {h}x{w} with padding {padding}")
    co, ci, dy, dx, oy, ox = np.meshgrid(np.arange(c_out), np.arange(c_in), np.arange(kh), np.arange(kw),
                                         np.arange(h_out), np.arange(w_out), indexing="ij")
    iy = oy * stride + dy - padding
    ix = ox * stride + dx - padding
    inside = (iy >= 0) & (iy < h) & (ix >= 0) & (ix < w)
    pre = ((ci * h + iy) * w + ix)[inside]
    post = ((co * h_out + oy) * w_out + ox)[inside]
    kernel_index = (((co * c_in + ci) * kh + dy) * kw + dx)[inside]
    order = np.lexsort((post, pre))
    return pre[order], post[order], kernel_index[order], (c_out, h_out, w_out)
