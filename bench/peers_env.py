"""Create the benchmark-only virtual environment that holds the peer simulators.

The peers (Brian2, NEST) are never dependencies of synaptica itself; they live in
``bench/.venv-peers``.  Run ``python3 bench/peers_env.py`` (stdlib only) to create it;
it prints the path of the venv's python.  Re-running is cheap: the install is skipped
when the marker file records the same requirement list.
"""
from __future__ import annotations

import subprocess
import venv
from pathlib import Path

VENV_DIR = Path(__file__).resolve().parent / ".venv-peers"
# Brian2 2.9.0 calls ndarray.ptp, removed in numpy 2.4; cython is needed for the
# Brian2 "cython" target; nest-simulator installs from PyPI as a wheel (OpenMP, GSL).
REQUIREMENTS = ["brian2==2.9.0", "numpy<2.4", "cython", "nest-simulator==3.10.0"]
MARKER = VENV_DIR / ".peers-installed"


def venv_python(venv_dir: Path = VENV_DIR) -> Path:
    return venv_dir / "bin" / "python"


def ensure_peers_env() -> Path:
    """Create the peers venv if missing, install REQUIREMENTS once; return its python."""
    py = venv_python()
    if not py.exists():
        venv.EnvBuilder(with_pip=True, clear=True).create(VENV_DIR)
    wanted = "\n".join(REQUIREMENTS) + "\n"
    if MARKER.exists() and MARKER.read_text() == wanted:
        return py
    subprocess.run([str(py), "-m", "pip", "install", "--upgrade", "pip"], check=True)
    subprocess.run([str(py), "-m", "pip", "install", *REQUIREMENTS], check=True)
    MARKER.write_text(wanted)
    return py


if __name__ == "__main__":
    print(ensure_peers_env())
