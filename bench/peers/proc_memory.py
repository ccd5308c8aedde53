"""Resident memory of this process from /proc (Linux), shared by the memory benchmarks."""
from __future__ import annotations


def status_mib(field: str) -> float:
    """A /proc/self/status field in MiB, e.g. "VmRSS" (now) or "VmHWM" (peak)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024.0  # "VmRSS:    123456 kB"
    raise RuntimeError(f"{field} not in /proc/self/status")


def reset_peak() -> None:
    """Reset VmHWM to the current RSS, so the next peak is this phase's own."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
