"""Thread limits for fits made of many small tensor operations."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator


@contextmanager
def limit_threads(n_threads: int) -> Iterator[None]:
    """Run the block with ``n_threads`` torch intra-op threads and BLAS/OpenMP pools.

    EM and L-BFGS loops over small matrices spend more time waking thread pools than
    computing when the pools are wider than one thread, and on a busy machine each wake-up
    can cost milliseconds, so the fits default to one thread (measured: an HMM-GLM fit of
    6 units x 6000 bins took 114 s with 2 threads beside another job, 4 s with 1).
    """
    import torch
    from threadpoolctl import threadpool_limits

    before = torch.get_num_threads()
    torch.set_num_threads(int(n_threads))
    try:
        with threadpool_limits(limits=int(n_threads)):
            yield
    finally:
        torch.set_num_threads(before)
