"""The documentation: every tutorial script runs, the site builds with ``mkdocs build
--strict``, and the tutorial and example pages list what exists on disk."""
from __future__ import annotations

import html
import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TUTORIALS = ROOT / "docs" / "tutorials"
SKIPPED = 3  # exit status of a tutorial whose optional dependency is missing (it prints why)
SCRIPTS = sorted(TUTORIALS.glob("*.py"))


def test_five_tutorials_each_with_a_page():
    assert len(SCRIPTS) == 5
    nav = (ROOT / "mkdocs.yml").read_text()
    for script in SCRIPTS:
        page = TUTORIALS / f"{script.stem}.md"
        assert page.exists(), f"no page for {script.name}"
        assert f'--8<-- "docs/tutorials/{script.name}"' in page.read_text()
        assert f"tutorials/{script.stem}.md" in nav


def test_every_example_is_listed():
    listed = (ROOT / "docs" / "examples.md").read_text()
    for example in sorted([*(ROOT / "examples").glob("*.py"), *(ROOT / "examples").glob("*.toml")]):
        assert f"examples/{example.name}" in listed, f"{example.name} is missing from docs/examples.md"


@pytest.mark.parametrize("script", SCRIPTS, ids=[s.stem for s in SCRIPTS])
def test_tutorial_runs(script: Path, tmp_path: Path):
    env = dict(os.environ, MPLBACKEND="Agg")
    done = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, env=env,
                          timeout=300)
    if done.returncode == SKIPPED:
        pytest.skip(f"{script.name}: {done.stdout.strip()}")
    assert done.returncode == 0, f"{script.name} failed:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}"
    assert done.stdout.strip(), f"{script.name} printed nothing"


def test_docs_build_strict(tmp_path: Path):
    for module in ("mkdocs", "material", "mkdocstrings", "mkdocstrings_handlers.python"):
        if importlib.util.find_spec(module.split(".")[0]) is None or importlib.util.find_spec(module) is None:
            pytest.skip(f"the docs tools are not installed ({module} missing): pip install -e '.[docs]'")
    site = tmp_path / "site"
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1")
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
                          cwd=ROOT, capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-4000:]
    for concept in ("neurons", "synapses", "plasticity", "encoding", "training", "reservoir", "models", "analysis",
                    "io", "cli"):
        page = (site / "api" / concept / "index.html").read_text()
        assert page.count('class="doc doc-heading"') >= 5, f"API page {concept} documents almost nothing"
    assert "DiehlCookNetwork" in (site / "api" / "models" / "index.html").read_text()
    for script in SCRIPTS:  # the script itself is on its page, as code
        text = html.unescape(re.sub(r"<[^>]+>", "", (site / "tutorials" / script.stem / "index.html").read_text()))
        assert "def main(" in text and script.read_text().splitlines()[0].strip('"') in text, script.name
