"""``provenance.json``: what produced an output folder, so a result can be traced and redone.

Fields: ``kind`` (``"run"`` or ``"analyze"``), ``command`` (the process's argv),
``working_directory``, ``host``, ``python``, ``packages`` (installed versions of
synaptica, torch, numpy, numba, scipy; null when absent), ``git`` (``commit`` and
``dirty`` when synaptica runs from a git checkout, else null; never an error), ``seed``
(null when the configuration has none), ``started`` and ``finished`` (ISO 8601, UTC).
"""
from __future__ import annotations

import functools
import json
import os
import platform
import socket
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

__all__ = ["PROVENANCE", "provenance", "write_provenance"]

PROVENANCE = "provenance.json"
PACKAGES = ("synaptica", "torch", "numpy", "numba", "scipy")
GIT_TIMEOUT_S = 5.0


def _installed(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        if name == "synaptica":  # running from a source tree without installing
            from .. import __version__

            return __version__
        return None


def _git(folder: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(["git", "-C", str(folder), *args], capture_output=True, text=True,
                              timeout=GIT_TIMEOUT_S, check=False)
    except (OSError, subprocess.SubprocessError):  # no git, or it hangs
        return None
    return done.stdout.strip() if done.returncode == 0 else None


@functools.lru_cache(maxsize=1)
def git_state() -> dict[str, Any] | None:
    """``{"commit", "dirty"}`` of the checkout synaptica is imported from, or None.

    Only when the package's own ``__init__.py`` is tracked there: an installed copy in a
    virtual environment that happens to sit inside some repository reports None.
    """
    package = Path(__file__).resolve().parents[1]
    if _git(package, "ls-files", "--error-unmatch", "__init__.py") is None:
        return None
    commit = _git(package, "rev-parse", "HEAD")
    if not commit:
        return None
    status = _git(package, "status", "--porcelain", "--untracked-files=no", "--", ".")
    return {"commit": commit, "dirty": None if status is None else bool(status)}


def provenance(kind: str, command: list[str], started: str, finished: str, seed: int | None) -> dict[str, Any]:
    """The provenance record (see the module docstring); times are ISO 8601 UTC strings."""
    return {
        "kind": kind, "command": list(command), "working_directory": os.getcwd(), "host": socket.gethostname(),
        "python": platform.python_version(), "packages": {name: _installed(name) for name in PACKAGES},
        "git": git_state(), "seed": seed, "started": started, "finished": finished,
    }


def write_provenance(folder: Path, record: dict[str, Any]) -> None:
    (Path(folder) / PROVENANCE).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
