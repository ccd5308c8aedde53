"""``report.html`` of ``synaptica analyze``: one self-contained page.

The page holds the metrics as tables (one per section, plus the skipped analyses and
the stage timings), a table of the saved arrays (name, shape, dtype, meaning) and every
figure embedded as a base64 ``data:`` URI. It references nothing outside itself (no
scripts, style sheets, fonts or links), so it opens offline, from any folder, or mailed.
"""
from __future__ import annotations

import base64
import html
import math
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

__all__ = ["render_report", "write_report"]

_MIME = {".png": "image/png", ".svg": "image/svg+xml", ".jpg": "image/jpeg", ".jpeg": "image/jpeg"}
_STYLE = """
body { font-family: sans-serif; margin: 2em auto; max-width: 70em; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; }
th, td { border: 1px solid #ccc; padding: 0.2em 0.6em; text-align: left; vertical-align: top; }
td.number { text-align: right; font-variant-numeric: tabular-nums; }
figure { margin: 1em 0 2em; }
figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
"""


def _number(value: Any) -> tuple[str, bool]:
    """(text, is_number) of a metric value: 4 significant digits, lists shortened."""
    if isinstance(value, bool) or value is None:
        return ("n/a" if value is None else str(value)), False
    if isinstance(value, (int, np.integer)):
        return str(int(value)), True
    if isinstance(value, (float, np.floating)):
        return (f"{float(value):.4g}" if math.isfinite(value) else str(float(value))), True
    if isinstance(value, (list, tuple, np.ndarray)):
        items = [_number(v)[0] for v in list(value)[:12]]
        return "[" + ", ".join(items) + (", ..." if len(value) > 12 else "") + "]", False
    return str(value), False


def _table(rows: Sequence[Sequence[str]], header: Sequence[str], numeric: Sequence[Sequence[bool]] | None = None) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = []
    for r, row in enumerate(rows):
        cells = []
        for c, cell in enumerate(row):
            css = ' class="number"' if numeric and numeric[r][c] else ""
            cells.append(f"<td{css}>{html.escape(cell)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _section(title: str, values: Mapping[str, Any]) -> str:
    rows, numeric = [], []
    for name, value in values.items():
        text, is_number = _number(value)
        rows.append([str(name), text])
        numeric.append([False, is_number])
    return f"<h2>{html.escape(title)}</h2>" + _table(rows, ["metric", "value"], numeric)


def _figure(path: Path) -> str:
    mime = _MIME.get(path.suffix.lower())
    if mime is None:
        raise ValueError(f"{path}: cannot embed a figure of suffix {path.suffix!r} (known: {', '.join(_MIME)})")
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    name = html.escape(path.name)
    return (f'<figure id="{html.escape(path.stem)}"><img alt="{name}" src="data:{mime};base64,{data}">'
            f"<figcaption>{name}</figcaption></figure>")


def render_report(metrics: Mapping[str, Any], arrays: Mapping[str, np.ndarray], figure_paths: Sequence[Path],
                  array_docs: Mapping[str, str], arrays_file: str = "analysis.npz") -> str:
    """The page as text: ``metrics`` (section -> name -> value, as in metrics.json),
    ``arrays`` (name -> array, described by ``array_docs``) and the figures read from
    ``figure_paths`` (PNG, SVG or JPEG files)."""
    record = metrics.get("record", {})
    title = f"synaptica analysis of {record.get('source') or 'a spike record'}"
    parts = [f"<h1>{html.escape(title)}</h1>"]
    if record:
        parts.append(_section("record", record))
    for section, values in metrics.items():
        if section in ("record", "skipped", "timings_s") or not isinstance(values, Mapping):
            continue
        parts.append(_section(section, values))
    skipped = metrics.get("skipped") or {}
    parts.append("<h2>skipped analyses</h2>" + (_table([[k, str(v)] for k, v in skipped.items()], ["analysis", "reason"])
                                               if skipped else "<p>none: every analysis ran.</p>"))
    if metrics.get("timings_s"):
        parts.append(_section("stage timings (s)", metrics["timings_s"]))
    rows = [[name, " x ".join(map(str, np.shape(value))) or "scalar", str(np.asarray(value).dtype),
             array_docs.get(name, "")] for name, value in arrays.items()]
    parts.append(f"<h2>arrays in {html.escape(arrays_file)}</h2>" + _table(rows, ["name", "shape", "dtype", "meaning"]))
    parts.append("<h2>figures</h2>" + "".join(_figure(Path(p)) for p in figure_paths))
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            f"<title>{html.escape(title)}</title>\n<style>{_STYLE}</style>\n</head>\n<body>\n"
            + "\n".join(parts) + "\n</body>\n</html>\n")


def write_report(metrics: Mapping[str, Any], arrays: Mapping[str, np.ndarray], figure_paths: Sequence[Path],
                 path: Path, array_docs: Mapping[str, str]) -> Path:
    """Write :func:`render_report`'s page to ``path`` (UTF-8); return ``path``."""
    path = Path(path)
    path.write_text(render_report(metrics, arrays, figure_paths, array_docs), encoding="utf-8")
    return path
