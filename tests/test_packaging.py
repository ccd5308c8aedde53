"""Packaging: the wheel built from this tree carries the licence, the typing marker, the
extras and the one version source (synaptica/__init__.py).

The wheel is built from a copy of the tree in a temporary folder (no build/ or egg-info
left in the shared checkout), without build isolation: setuptools comes from the venv.
"""
from __future__ import annotations

import email.parser
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from importlib import metadata
from pathlib import Path

import pytest

import synaptica

ROOT = Path(__file__).resolve().parents[1]
EXPECTED_EXTRAS = {"nwb", "interop", "nir", "pynn", "ray", "docs", "realdata", "all", "test"}


@pytest.fixture(scope="module")
def pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    pytest.importorskip("setuptools", reason="building the wheel needs setuptools in the venv")
    tree = tmp_path_factory.mktemp("tree")
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy2(ROOT / name, tree / name)
    shutil.copytree(ROOT / "src", tree / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    out = tmp_path_factory.mktemp("dist")
    code = ("import sys, setuptools.build_meta as b; "
            "print(b.build_wheel(sys.argv[1]))")
    done = subprocess.run([sys.executable, "-c", code, str(out)], cwd=tree, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    return out / done.stdout.strip().splitlines()[-1]


def _wheel_metadata(wheel: Path):
    with zipfile.ZipFile(wheel) as archive:
        name = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        return email.parser.Parser().parsestr(archive.read(name).decode())


def test_license_is_an_spdx_expression_with_its_file(pyproject, wheel):
    assert pyproject["project"]["license"] == "MIT"
    assert (ROOT / "LICENSE").read_text().startswith("MIT License")
    meta = _wheel_metadata(wheel)
    assert meta["License-Expression"] == "MIT"
    assert meta.get_all("License-File") == ["LICENSE"]
    with zipfile.ZipFile(wheel) as archive:
        assert any(n.endswith(".dist-info/licenses/LICENSE") for n in archive.namelist())


def test_wheel_ships_py_typed_and_the_experiment_files(wheel):
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    assert "synaptica/py.typed" in names
    assert "synaptica/experiments/cuba.toml" in names
    assert "synaptica/models/diehl_cook.py" in names


def test_extras_declared(pyproject, wheel):
    extras = pyproject["project"]["optional-dependencies"]
    assert EXPECTED_EXTRAS <= set(extras)
    assert set(_wheel_metadata(wheel).get_all("Provides-Extra")) >= EXPECTED_EXTRAS
    docs = " ".join(extras["docs"])
    for tool in ("mkdocs", "mkdocs-material", "mkdocstrings[python]"):
        assert tool in docs
    everything = extras["all"][0]
    assert everything.startswith("synaptica[")
    assert set(everything[len("synaptica["):-1].split(",")) == {"nwb", "interop", "nir", "pynn", "ray"}


def test_makefile_installs_the_realdata_pins_and_the_docs_tools(pyproject):
    """The Makefile installs cect/wormneuroatlas with --no-deps (cect pins numpy<2.4): the
    pins it installs must be the ones the `realdata` extra declares."""
    makefile = (ROOT / "Makefile").read_text()
    no_deps_line = next(line for line in makefile.splitlines() if line.startswith("\t") and "--no-deps" in line)
    assert set(re.findall(r"\S+==\S+", no_deps_line)) == set(pyproject["project"]["optional-dependencies"]["realdata"])
    assert "-e '.[test,docs]'" in makefile


def test_one_version_source(pyproject, wheel):
    assert "version" not in pyproject["project"]
    assert "version" in pyproject["project"]["dynamic"]
    assert pyproject["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "synaptica.__version__"}
    assert _wheel_metadata(wheel)["Version"] == synaptica.__version__
    try:
        installed = metadata.version("synaptica")
    except metadata.PackageNotFoundError:
        pytest.skip("synaptica is not installed (running from a source tree): no installed metadata to compare")
    assert installed == synaptica.__version__
