"""Create the benchmark-only virtual environment that holds the peer simulators.

The peers (Brian2, NEST, BindsNET) are never dependencies of synaptica itself; they live in
``bench/.venv-peers``.  Run ``python3 bench/peers_env.py`` (stdlib only) to create it;
it prints the path of the venv's python. ``python3 bench/peers_env.py --analysis`` does the
same for ``bench/.venv-analysis``, the peers of the analysis benchmark (see ensure_analysis_env).  Re-running is cheap: the install is skipped
when the marker file records the same steps (requirement lists and stub version).

Install order matters for BindsNET 0.3.4:
  1. ``torch==2.13.0`` alone first (a CPU build found locally; any other torch version
     would be a multi-gigabyte download).  Every later pip call repeats the pin, so pip
     can never replace it.
  2. The other peers and the modules that ``import bindsnet`` imports at load time.
  3. ``bindsnet==0.3.4`` with ``--no-deps``: it declares torch >= 2.14 and torchvision,
     but runs on torch 2.13.
  4. A *stub* ``torchvision`` package (see TORCHVISION_STUB): the PyPI torchvision wheel
     does not import beside the CPU torch 2.13, and BindsNET only needs its names at
     import time (datasets wrappers, transforms, utils.make_grid).  The benchmark never
     calls them; any real use raises NotImplementedError.
"""
from __future__ import annotations

import os
import subprocess
import venv
from pathlib import Path

VENV_DIR = Path(__file__).resolve().parent / ".venv-peers"
TORCH = "torch==2.13.0"
# Brian2 2.9.0 calls ndarray.ptp, removed in numpy 2.4; cython is needed for the
# Brian2 "cython" target; nest-simulator installs from PyPI as a wheel (OpenMP, GSL).
REQUIREMENTS = ["brian2==2.9.0", "numpy<2.4", "cython", "nest-simulator==3.10.0"]
# What `import bindsnet` (0.3.4) imports at load: gymnasium + ale_py (environment), cv2
# (datasets.preprocess), tensorboardX + pandas (analysis), sklearn (evaluation), scipy
# (models), tqdm (pipeline); matplotlib and PIL come with Brian2's deps already.
# scikit-image, also declared, is never imported.
BINDSNET_DEPS = ["gymnasium", "ale-py", "opencv-python-headless", "tensorboardX",
                 "scikit-learn", "pandas", "scipy", "tqdm", "matplotlib"]
NO_DEPS = ["bindsnet==0.3.4"]
MARKER = VENV_DIR / ".peers-installed"

STUB_VERSION = "0.0.0+bench.stub.1"
TORCHVISION_STUB = {
    "__init__.py": f'''"""STUB torchvision, written by synaptica's bench/peers_env.py: NOT the real package.

The PyPI torchvision wheel does not import beside the CPU torch 2.13.0 of the benchmark
venv, but `import bindsnet` needs torchvision.datasets, .transforms and .utils.  Their
names resolve here; using any of them raises NotImplementedError.
"""
__version__ = "{STUB_VERSION}"
from . import datasets, transforms, utils  # noqa: E402,F401
''',
    "datasets.py": '''"""Stub: any dataset name is a class that refuses to be instantiated."""
_classes = {}


def __getattr__(name):
    if name.startswith("__"):
        raise AttributeError(name)
    if name not in _classes:
        def __init__(self, *args, **kwargs):
            raise NotImplementedError(f"torchvision stub: datasets.{name} is not available")
        _classes[name] = type(name, (), {"__init__": __init__, "__module__": __name__})
    return _classes[name]
''',
    "transforms.py": '''"""Stub: any transform name is a callable that raises NotImplementedError."""


def __getattr__(name):
    if name.startswith("__"):
        raise AttributeError(name)

    def _missing(*args, **kwargs):
        raise NotImplementedError(f"torchvision stub: transforms.{name} is not available")
    return _missing
''',
    "utils.py": '''"""Stub of torchvision.utils."""


def make_grid(*args, **kwargs):
    raise NotImplementedError("torchvision stub: utils.make_grid is not available")
''',
}


def venv_python(venv_dir: Path = VENV_DIR) -> Path:
    return venv_dir / "bin" / "python"


def _steps() -> str:
    """Everything installed, as recorded in the marker file."""
    return "\n".join([TORCH, *REQUIREMENTS, *BINDSNET_DEPS, *(f"--no-deps {r}" for r in NO_DEPS),
                      f"torchvision stub {STUB_VERSION}"]) + "\n"


def write_torchvision_stub(py: Path) -> Path:
    """Write the stub torchvision package into the venv's site-packages; return its folder."""
    site = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          check=True, capture_output=True, text=True).stdout.strip()
    pkg = Path(site) / "torchvision"
    pkg.mkdir(exist_ok=True)
    for name, text in TORCHVISION_STUB.items():
        (pkg / name).write_text(text)
    return pkg


def ensure_peers_env() -> Path:
    """Create the peers venv if missing, install everything once; return its python."""
    py = venv_python()
    if not py.exists():
        venv.EnvBuilder(with_pip=True, clear=True).create(VENV_DIR)
    wanted = _steps()
    if MARKER.exists() and MARKER.read_text() == wanted:
        return py
    pip = [str(py), "-m", "pip", "install"]
    subprocess.run([*pip, "--upgrade", "pip"], check=True)
    subprocess.run([*pip, TORCH], check=True)
    subprocess.run([*pip, TORCH, *REQUIREMENTS, *BINDSNET_DEPS], check=True)
    subprocess.run([*pip, "--no-deps", *NO_DEPS], check=True)
    write_torchvision_stub(py)
    # smoke test; stdout (NEST's banner) is dropped so that callers' stdout stays clean
    subprocess.run([str(py), "-c", "import bindsnet, brian2, nest"], check=True,
                   stdout=subprocess.DEVNULL, env={**os.environ, "PYNEST_QUIET": "1"})
    MARKER.write_text(wanted)
    return py


# The analysis peers live apart (bench/.venv-analysis): NeMoS pulls JAX, and Brian2 above
# needs numpy < 2.4 while these run on numpy 2.4.
ANALYSIS_VENV_DIR = Path(__file__).resolve().parent / ".venv-analysis"
ANALYSIS_REQUIREMENTS = ["elephant==1.2.1", "nemos==0.2.8", "pynapple", "hmmlearn==0.3.3",
                         "mrestimator", "antropy", "powerlaw", "psutil"]
ANALYSIS_MARKER = ANALYSIS_VENV_DIR / ".analysis-installed"


def ensure_analysis_env() -> Path:
    """Create bench/.venv-analysis (Elephant, NeMoS, pynapple, ...) once; return its python."""
    py = venv_python(ANALYSIS_VENV_DIR)
    if not py.exists():
        venv.EnvBuilder(with_pip=True, clear=True).create(ANALYSIS_VENV_DIR)
    wanted = "\n".join([TORCH, *ANALYSIS_REQUIREMENTS]) + "\n"
    if ANALYSIS_MARKER.exists() and ANALYSIS_MARKER.read_text() == wanted:
        return py
    pip = [str(py), "-m", "pip", "install"]
    subprocess.run([*pip, "--upgrade", "pip"], check=True)
    subprocess.run([*pip, TORCH], check=True)
    subprocess.run([*pip, TORCH, *ANALYSIS_REQUIREMENTS], check=True)
    subprocess.run([str(py), "-c", "import elephant, nemos, pynapple, hmmlearn, mrestimator"], check=True)
    ANALYSIS_MARKER.write_text(wanted)
    return py


if __name__ == "__main__":
    import sys

    print(ensure_analysis_env() if "--analysis" in sys.argv[1:] else ensure_peers_env())
