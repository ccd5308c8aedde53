"""Shared by the benchmark scripts: replace one ``## `` section of BENCHMARKS.md."""
from __future__ import annotations

from pathlib import Path

HEADER = "# Benchmarks\n\nEvery figure here comes with the command that produced it.\n\n"


def write_section(path: str | Path, heading: str, section: str) -> None:
    """Put ``section`` (starting with ``## heading``) in place of the old one, or append it."""
    path = Path(path)
    text = path.read_text() if path.exists() else HEADER
    start = text.find(f"## {heading}")
    if start >= 0:
        end = text.find("\n## ", start + 1)
        text = text[:start] + section + (text[end + 1:] if end >= 0 else "")
    else:
        text = text.rstrip() + "\n\n" + section
    path.write_text(text)
    print(f"wrote {path}")
