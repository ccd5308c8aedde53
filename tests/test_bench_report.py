"""bench/report.py: every benchmark owns one titled section of BENCHMARKS.md; a re-run
replaces its own section and nothing else."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
from report import HEADER, replace_section, write_section  # noqa: E402

DOC = (HEADER + "## CUBA network (`bench/cuba.py`)\n\ncuba table\n\n"
       "## CUBA network statistics\n\nstats\n\n"
       "## Analysis: coupled GLM\n\nglm table\n")


def test_rerun_replaces_only_its_own_section():
    out = replace_section(DOC, "CUBA network", "## CUBA network (`bench/cuba.py`)\n\nnew cuba table\n")
    assert out == DOC.replace("cuba table", "new cuba table")
    # a title that merely starts like another one is a different section
    out = replace_section(DOC, "CUBA network statistics", "new stats")
    assert "## CUBA network statistics\n\nnew stats\n\n## Analysis" in out and "\ncuba table" in out


def test_untitled_section_gets_its_heading_and_a_rerun_replaces_it(tmp_path):
    path = tmp_path / "BENCHMARKS.md"
    write_section(path, "Surrogate-gradient training", "Command: `train.py`\n\n| a |\n")
    write_section(path, "Analysis: coupled GLM", "## Analysis: coupled GLM\n\nglm\n")
    write_section(path, "Surrogate-gradient training", "Command: `train.py`\n\n| b |\n")
    text = path.read_text()
    assert text.startswith(HEADER)
    assert text.count("## Surrogate-gradient training") == 1 and "| a |" not in text
    assert text.index("| b |") < text.index("## Analysis")  # replaced where it stood
    # another benchmark's re-run keeps it
    write_section(path, "Analysis: coupled GLM", "## Analysis: coupled GLM\n\nglm 2\n")
    assert "| b |" in path.read_text()


def test_duplicates_collapse_and_a_wrong_heading_is_refused():
    doubled = DOC + "\n## CUBA network (`bench/cuba.py`)\n\nold copy\n"
    out = replace_section(doubled, "CUBA network", "fresh")
    assert out.count("## CUBA network\n") == 1 and "old copy" not in out and "cuba table" not in out
    with pytest.raises(ValueError, match="does not belong"):
        replace_section(DOC, "CUBA network", "## Something else\n\nx")
