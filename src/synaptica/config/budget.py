"""Refuse configurations whose memory or run time would be absurd, before anything runs.

Experiments estimate what a configuration costs from its sizes (bytes of their largest
arrays, elementary updates of their main loop) and call :func:`check_memory` /
:func:`check_work` from their cross-field checks; a message such as::

    key 'n_steps': n_steps = 1000000000 would need 218 TiB of memory (limit 3.8 GiB, ...)

is returned when the estimate exceeds the limit. The estimates are deliberately rough
(the largest terms only): they exist to refuse runs that are off by orders of magnitude,
not to predict peak memory.

Limits:

* memory: half of the machine's physical RAM (``os.sysconf``), or the number of bytes in
  the environment variable ``SYNAPTICA_MEMORY_LIMIT`` (e.g. ``8e9``);
* work: :data:`MAX_UPDATES` elementary updates (a neuron step, a synaptic event, a
  multiply-add of a trained layer), about a week at an optimistic 1e9 updates per
  second; ``SYNAPTICA_MAX_UPDATES`` overrides it.
"""
from __future__ import annotations

import math
import os

__all__ = ["MAX_UPDATES", "check_memory", "check_work", "first_problem", "format_bytes", "memory_limit_bytes",
           "work_limit"]

MAX_UPDATES = 6e14  # ~7 days at 1e9 updates/s: no built-in experiment is meant to run that long
_FALLBACK_RAM = 8 * 2**30  # bytes, when the platform does not report its RAM
_UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB")


def _env_number(name: str) -> float | None:
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return None
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"environment variable {name}: expected a number, got {raw!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"environment variable {name}: expected a finite number > 0, got {raw!r}")
    return value


def memory_limit_bytes() -> float:
    """Largest memory estimate a run may have, in bytes (module doc)."""
    override = _env_number("SYNAPTICA_MEMORY_LIMIT")
    if override is not None:
        return override
    try:
        ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):  # not a POSIX system
        ram = _FALLBACK_RAM
    return ram / 2 if ram > 0 else _FALLBACK_RAM / 2


def work_limit() -> float:
    """Most elementary updates a run may need (module doc)."""
    return _env_number("SYNAPTICA_MAX_UPDATES") or MAX_UPDATES


def format_bytes(n_bytes: float) -> str:
    """``1.46 TiB``-style size; ``inf B`` for an overflowed estimate."""
    if not math.isfinite(n_bytes):
        return "inf B"
    value, unit = float(n_bytes), 0
    while value >= 1024 and unit < len(_UNITS) - 1:
        value /= 1024
        unit += 1
    return f"{value:.3g} {_UNITS[unit]}"


def _estimate(sizes: float) -> float:
    """A product of sizes as a float (``inf`` rather than an OverflowError)."""
    try:
        return float(sizes)
    except OverflowError:
        return math.inf


def check_memory(key: str, what: str, n_bytes: float) -> str | None:
    """None if ``n_bytes`` fits the memory limit, else a message for the check of ``key``.

    key:     the parameter to blame (the one whose size dominates the estimate).
    what:    the sizes in words, e.g. ``"n_steps = 1000000000 x n_train = 1000 trials"``.
    n_bytes: the estimate in bytes (an int or float; may be huge).
    """
    estimate, limit = _estimate(n_bytes), memory_limit_bytes()
    if estimate <= limit:
        return None
    return (f"key '{key}': {what} would need {format_bytes(estimate)} of memory "
            f"(limit {format_bytes(limit)}: half the machine's RAM, or SYNAPTICA_MEMORY_LIMIT bytes)")


def check_work(key: str, what: str, n_updates: float) -> str | None:
    """None if ``n_updates`` elementary updates fit the run-time limit, else a message for ``key``."""
    estimate, limit = _estimate(n_updates), work_limit()
    if estimate <= limit:
        return None
    days = estimate / 1e9 / 86400
    return (f"key '{key}': {what} needs about {estimate:.3g} updates, {days:.3g} days at 1e9 updates/s "
            f"(limit {limit:.3g}, or SYNAPTICA_MAX_UPDATES)")


def first_problem(*messages: str | None) -> str | None:
    """The first non-empty message (checks compose their estimates with it)."""
    return next((m for m in messages if m), None)
