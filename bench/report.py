"""Shared by the benchmark scripts: each owns one titled ``## `` section of BENCHMARKS.md.

A section runs from its heading line to the next ``## `` heading. Its heading line is
``## <title>``, optionally followed by `` (...)`` (e.g. the script's name). A re-run
replaces the section with the same title and leaves every other section as it was.
"""
from __future__ import annotations

from pathlib import Path

HEADER = "# Benchmarks\n\nEvery figure here comes with the command that produced it.\n\n"


def _owns(line: str, title: str) -> bool:
    """Whether ``line`` is the heading line of the section titled ``title``."""
    return line == f"## {title}" or line.startswith(f"## {title} (")


def replace_section(text: str, title: str, section: str) -> str:
    """``text`` (a whole BENCHMARKS.md) with the section titled ``title`` set to ``section``.

    ``section`` may start with its heading line (which must belong to ``title``); without
    one, ``## title`` is put in front. The old section is replaced where it stood (any
    further copies are dropped); a new one is appended at the end.
    """
    body = section.strip("\n")
    first = body.split("\n", 1)[0]
    if not first.startswith("## "):
        body = f"## {title}\n\n{body}"
    elif not _owns(first, title):
        raise ValueError(f"section heading {first!r} does not belong to the title {title!r}")
    lines = text.split("\n")
    starts = [i for i, line in enumerate(lines) if line.startswith("## ")] + [len(lines)]
    blocks = ["\n".join(lines[:starts[0]]).rstrip("\n")]
    blocks += ["\n".join(lines[a:b]).strip("\n") for a, b in zip(starts[:-1], starts[1:])]
    out, placed = [blocks[0]], False
    for block in blocks[1:]:
        if _owns(block.split("\n", 1)[0], title):
            if not placed:
                out.append(body)
                placed = True
            continue
        out.append(block)
    if not placed:
        out.append(body)
    return "\n\n".join(b for b in out if b) + "\n"


def write_section(path: str | Path, title: str, section: str) -> None:
    """Write ``section`` into the Markdown file ``path`` as the section titled ``title``
    (see :func:`replace_section`); the file is created with a short header if missing."""
    path = Path(path)
    text = path.read_text() if path.exists() else HEADER
    path.write_text(replace_section(text, title, section))
    print(f"wrote {path}")
