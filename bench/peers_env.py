"""Create the benchmark-only virtual environment that holds the peer simulators.

The peers (Brian2, NEST, PyNN, BindsNET) are never dependencies of synaptica itself; they live in
``bench/.venv-peers``.  Run ``python3 bench/peers_env.py`` (stdlib only) to create it;
it prints the path of the venv's python. ``python3 bench/peers_env.py --analysis`` does the
same for ``bench/.venv-analysis``, the peers of the analysis benchmark (see ensure_analysis_env),
and ``--train`` for ``bench/.venv-train``, the peers of the surrogate-gradient training benchmark
(snnTorch, SpikingJelly, Norse; see ensure_train_env), and ``--reservoir`` for ``bench/.venv-reservoir``
(ReservoirPy 0.4 beside synaptica itself; see ensure_reservoir_env).  Re-running is cheap: the install is skipped
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
import tempfile
import venv
from pathlib import Path

VENV_DIR = Path(__file__).resolve().parent / ".venv-peers"
TORCH = "torch==2.13.0"
# Brian2 2.9.0 calls ndarray.ptp, removed in numpy 2.4; cython is needed for the
# Brian2 "cython" target; nest-simulator installs from PyPI as a wheel (OpenMP, GSL);
# PyNN 0.13 runs the networks synaptica exports (bench/pynn_check.py) on that NEST.
REQUIREMENTS = ["brian2==2.9.0", "numpy<2.4", "cython", "nest-simulator==3.10.0", "pyNN==0.13.0"]
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


def _pip(py: Path) -> list[str]:
    return [str(py), "-m", "pip", "install"]


def _ensure_venv(venv_dir: Path, marker: Path, wanted: str, install) -> Path:
    """Create ``venv_dir`` if missing and run ``install(py)`` unless ``marker`` already
    records the steps ``wanted``; write the marker after a successful install; return the
    venv's python."""
    py = venv_python(venv_dir)
    if not py.exists():
        venv.EnvBuilder(with_pip=True, clear=True).create(venv_dir)
    if marker.exists() and marker.read_text() == wanted:
        return py
    subprocess.run([*_pip(py), "--upgrade", "pip"], check=True)
    subprocess.run([*_pip(py), TORCH], check=True)
    install(py)
    marker.write_text(wanted)
    return py


def ensure_peers_env() -> Path:
    """Create the peers venv if missing, install everything once; return its python."""
    def install(py: Path) -> None:
        subprocess.run([*_pip(py), TORCH, *REQUIREMENTS, *BINDSNET_DEPS], check=True)
        subprocess.run([*_pip(py), "--no-deps", *NO_DEPS], check=True)
        write_torchvision_stub(py)
        # smoke test; stdout (NEST's banner) is dropped so that callers' stdout stays clean
        subprocess.run([str(py), "-c", "import bindsnet, brian2, nest, pyNN.nest"], check=True,
                       stdout=subprocess.DEVNULL, env={**os.environ, "PYNEST_QUIET": "1"})
    return _ensure_venv(VENV_DIR, MARKER, _steps(), install)


# The analysis peers live apart (bench/.venv-analysis): NeMoS pulls JAX, and Brian2 above
# needs numpy < 2.4 while these run on numpy 2.4.
ANALYSIS_VENV_DIR = Path(__file__).resolve().parent / ".venv-analysis"
ANALYSIS_REQUIREMENTS = ["elephant==1.2.1", "nemos==0.2.8", "pynapple", "hmmlearn==0.3.3",
                         "mrestimator", "antropy", "powerlaw", "psutil"]
ANALYSIS_MARKER = ANALYSIS_VENV_DIR / ".analysis-installed"


def ensure_analysis_env() -> Path:
    """Create bench/.venv-analysis (Elephant, NeMoS, pynapple, ...) once; return its python."""
    def install(py: Path) -> None:
        subprocess.run([*_pip(py), TORCH, *ANALYSIS_REQUIREMENTS], check=True)
        subprocess.run([str(py), "-c", "import elephant, nemos, pynapple, hmmlearn, mrestimator"],
                       check=True)
    return _ensure_venv(ANALYSIS_VENV_DIR, ANALYSIS_MARKER,
                        "\n".join([TORCH, *ANALYSIS_REQUIREMENTS]) + "\n", install)


# The surrogate-gradient training peers (bench/.venv-train): snnTorch, SpikingJelly, Norse,
# all on the same CPU torch 2.13.0.
TRAIN_VENV_DIR = Path(__file__).resolve().parent / ".venv-train"
TRAIN_MARKER = TRAIN_VENV_DIR / ".train-installed"
# snntorch 1.0.0 is a clean wheel.  SpikingJelly 2.0.0 is installed with --no-deps, so its
# runtime deps are listed here.  Norse 1.1.0 declares numpy, torch, torchvision, nir and
# nirtorch; ``import norse`` needs nir and nirtorch (norse.torch.utils), not torchvision
# (only its example tasks import it), so torchvision stays out (see PEERS.md).
# setuptools + setuptools_scm are Norse's build requirements (built without isolation).
TRAIN_REQUIREMENTS = ["snntorch==1.0.0", "numpy", "psutil",
                      "scipy", "h5py", "loguru", "matplotlib",
                      "nir", "nirtorch", "setuptools>=64", "setuptools_scm>=8"]
TRAIN_NO_DEPS = ["spikingjelly==2.0.0"]
# Norse 1.1.0 has no wheel: its sdist is fetched and built here as PEERS.md records, without
# build isolation (its build needs only setuptools and setuptools_scm, installed above).
TRAIN_SDIST = "norse==1.1.0"


def ensure_train_env() -> Path:
    """Create bench/.venv-train (snnTorch, SpikingJelly, Norse) once; return its python."""
    def install(py: Path) -> None:
        subprocess.run([*_pip(py), TORCH, *TRAIN_REQUIREMENTS], check=True)
        subprocess.run([*_pip(py), "--no-deps", TORCH, *TRAIN_NO_DEPS], check=True)
        with tempfile.TemporaryDirectory() as tmp:
            subprocess.run([str(py), "-m", "pip", "download", "--no-deps", "-d", tmp, TRAIN_SDIST],
                           check=True)
            (sdist,) = Path(tmp).glob("norse-*.tar.gz")
            subprocess.run([*_pip(py), "--no-deps", "--no-build-isolation", TORCH, str(sdist)],
                           check=True)
        subprocess.run([str(py), "-c",
                        "import snntorch, spikingjelly.activation_based, norse.torch"], check=True)
    wanted = "\n".join([TORCH, *TRAIN_REQUIREMENTS, *(f"--no-deps {r}" for r in TRAIN_NO_DEPS),
                         f"sdist --no-deps --no-build-isolation {TRAIN_SDIST}"]) + "\n"
    return _ensure_venv(TRAIN_VENV_DIR, TRAIN_MARKER, wanted, install)


# The reservoir-computing peer (bench/.venv-reservoir): ReservoirPy 0.4 and synaptica itself,
# installed editable, so that bench/reservoir.py runs both on the same weights in one process.
RESERVOIR_VENV_DIR = Path(__file__).resolve().parent / ".venv-reservoir"
RESERVOIR_MARKER = RESERVOIR_VENV_DIR / ".reservoir-installed"
RESERVOIR_REQUIREMENTS = ["reservoirpy==0.4.2"]
REPO_ROOT = Path(__file__).resolve().parent.parent


def ensure_reservoir_env() -> Path:
    """Create bench/.venv-reservoir (ReservoirPy 0.4 + synaptica editable) once; return its python."""
    def install(py: Path) -> None:
        subprocess.run([*_pip(py), TORCH, *RESERVOIR_REQUIREMENTS], check=True)
        subprocess.run([*_pip(py), TORCH, "-e", str(REPO_ROOT)], check=True)
        subprocess.run([str(py), "-c", "import reservoirpy, synaptica.reservoir.esn"], check=True)
    wanted = "\n".join([TORCH, *RESERVOIR_REQUIREMENTS, f"-e {REPO_ROOT}"]) + "\n"
    return _ensure_venv(RESERVOIR_VENV_DIR, RESERVOIR_MARKER, wanted, install)


if __name__ == "__main__":
    import sys

    args = sys.argv[1:]
    print(ensure_analysis_env() if "--analysis" in args
          else ensure_train_env() if "--train" in args
          else ensure_reservoir_env() if "--reservoir" in args else ensure_peers_env())
