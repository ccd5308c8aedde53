"""How the fused kernels use the application's threads, robustly on a shared machine.

The two heavy kernels (the spike-list products of :mod:`synaptica.training.kernels`) come
in two forms: serial, and a thin numba ``prange`` wrapper that runs the serial kernel on
ranges of samples on numba's threads. Neither form is always faster:

* on a quiet machine the parallel form is ~1.8x faster with 2 threads. With numba's
  OpenMP layer, its OpenMP calls bind to the libgomp torch loaded first, so the wrapper
  runs on torch's own intra-op threads, which are still spinning from torch's last op,
  instead of competing with them for the cores;
* beside a busy process, a thread of the team may be descheduled and the others wait
  for it at the end of the loop (a static split), so the serial form can be faster.

So :func:`run` measures both forms as it goes (seconds per unit of work, per kernel and
dtype) and calls the faster one, trying the other again every :data:`PROBE_EVERY` calls:
when the machine gets busy or quiet, the choice follows within a few training steps.

The thread count is the application's: ``torch.get_num_threads()`` (set it with
``torch.set_num_threads``), capped at numba's pool size. It is set for numba only around
the call, in the calling thread (numba's setting is thread-local), and restored; nothing
process-wide is changed.
"""
from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Callable, Iterator

import numba
import torch

#: Below this many element operations a kernel runs serially: starting a parallel
#: region costs 10-50 us, as much as ~100,000 additions.
MIN_PARALLEL_WORK = 200_000
#: Every this many calls the form not in use is timed again.
PROBE_EVERY = 16
#: Weight of a new timing in the running mean of a form's seconds per unit of work.
SMOOTHING = 0.3


def threads() -> int:
    """Threads the kernels may use: the application's torch setting, capped at numba's pool."""
    return max(1, min(torch.get_num_threads(), numba.config.NUMBA_NUM_THREADS))


@contextmanager
def numba_threads(n: int) -> Iterator[None]:
    """Run the block with numba's thread count (thread-local) at ``n``, then restore it."""
    previous = numba.get_num_threads()
    numba.set_num_threads(n)
    try:
        yield
    finally:
        numba.set_num_threads(previous)


@dataclass
class _Timing:
    """Running mean of seconds per unit of work of the serial [0] and parallel [1] forms."""

    rate: list = field(default_factory=lambda: [None, None])
    seen: list = field(default_factory=lambda: [0, 0])
    calls: int = 0

    def pick(self) -> int:
        """1 for the parallel form, 0 for the serial one."""
        self.calls += 1
        for form in (1, 0):  # time each form twice first: its first call may compile
            if self.seen[form] < 2:
                return form
        best = int(self.rate[1] < self.rate[0])
        return 1 - best if self.calls % PROBE_EVERY == 0 else best

    def record(self, form: int, seconds_per_work: float) -> None:
        self.seen[form] += 1
        if self.seen[form] == 1:
            return  # may include compiling
        old = self.rate[form]
        self.rate[form] = seconds_per_work if old is None else old + SMOOTHING * (seconds_per_work - old)


_timings: dict[str, _Timing] = {}


def run(name: str, work: float, serial: Callable[[], None], parallel: Callable[[int], None]) -> int:
    """Call ``serial()`` or ``parallel(n_threads)`` (module doc) and time it.

    ``name`` identifies the kernel, dtype and layer shape (each has its own timings: the
    time per unit of work differs between a 784x512 and a 512x10 product); ``work`` is
    the number of element operations. Returns the number of threads used.
    """
    n = threads()
    if n == 1 or work < MIN_PARALLEL_WORK:
        serial()
        return 1
    timing = _timings.setdefault(name, _Timing())
    form = timing.pick()
    start = time.perf_counter()
    if form:
        with numba_threads(n):
            parallel(n)
    else:
        serial()
    timing.record(form, (time.perf_counter() - start) / work)
    return n if form else 1
