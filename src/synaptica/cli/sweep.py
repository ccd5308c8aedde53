"""``synaptica sweep NAME --grid key=v1,v2 ... --seeds 1-5``: a parameter sweep on Ray.

Every point of the Cartesian product of the grid values, times every seed, is one run of
the experiment, written as a ``synaptica run`` folder (same files, marker, provenance,
checkpoint; :func:`synaptica.cli.runner.execute_run`). Layout of the sweep folder::

    sweep.json               what was swept: experiment, target, --set overrides, grid, seeds
    points/<k>=<v>_..._seed=<s>/   one run folder per point and seed
    summary.csv              one row per point and seed: status, swept values, seed, wall_s,
                             every metric (empty where missing); summary.parquet if pyarrow
    plots/<metric>.png       the metric against each swept key (one panel per key): mean +- std
                             over seeds as error bars, each seed as a dot

Restarting the same command after an interruption (even ``kill -9``) skips points whose
folder is a complete marked run of the same parameters and resumes the others from their
checkpoints when the experiment checkpoints. Points run on Ray (a local instance by
default, ``--address`` for a cluster, whose workers must see the sweep folder), at most
``--workers`` at a time, each with ``--cpus-per-point`` threads (torch, numba, OpenMP), so
workers x cpus-per-point <= cores does not oversubscribe. ``--backend local`` runs the
points one after another in this process (no Ray needed).

Exit codes: 2 for a refused grid, seed list or configuration (every point's configuration
is validated first and all problems are reported, before anything runs), 1 when Ray is
missing or a point failed (the others still run; the summary lists the failure).
"""
from __future__ import annotations

import csv
import difflib
import hashlib
import itertools
import json
import math
import os
import re
import sys
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Sequence

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.text import Text

from ..config import EXPERIMENT_KEY, ConfigError, InvalidValue, format_value, parse_value, resolve
from ..experiments import Experiment, get_experiment, load_builtins, load_experiment_config
from .folder import OutputClaim, _check_path, _read_marker, check_out_dir, claim_out_dir, now_utc
from .main import CONFIG_ERROR_EXIT, _debugging, _fail, main
from .output import default_out_dir
from .runner import RunFailed, execute_run, one_line, quiet_simulate

__all__ = ["Point", "SweepPlan", "parse_grid", "parse_seeds", "plan_sweep", "run_point", "sweep"]

GRID_ORIGIN = "--grid"
SEEDS_ORIGIN = "--seeds"
SWEEP_FILE = "sweep.json"
SWEEP_FORMAT = "synaptica.sweep"
POINTS = "points"
PLOTS = "plots"
MAX_NAME_BYTES = 120  # point folder names; the rest of NAME_MAX is left for the .lock/.checkpoint suffixes
INSTALL_HINT = ("Ray is not installed: pip install 'synaptica[ray]' (or pip install ray); "
                "or pass --backend local to run the points one after another in this process")
THREAD_VARIABLES = ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


# --------------------------------------------------------------------------- input

def split_values(text: str) -> list[str]:
    """Split ``v1,v2,...`` at the commas outside brackets and quotes (TOML arrays and
    strings may hold commas). Empty items are kept (and refused by the caller)."""
    items, depth, quote, current = [], 0, "", []
    for char in text:
        if quote:
            quote = "" if char == quote else quote
        elif char in "\"'":
            quote = char
        elif char in "[{":
            depth += 1
        elif char in "]}":
            depth -= 1
        elif char == "," and depth == 0:
            items.append("".join(current).strip())
            current = []
            continue
        current.append(char)
    items.append("".join(current).strip())
    return items


def parse_grid(items: Sequence[str], experiment: Experiment) -> dict[str, list[Any]]:
    """``["tau_m=10,20", "w_exc=1.5,2"]`` -> ``{"tau_m": [10.0, 20.0], "w_exc": [1.5, 2.0]}``.

    Every value is coerced by the key's schema Field. Raises ConfigError listing every
    problem: no ``=``, unknown key (with the closest known one), key given twice, an empty
    value list or empty value, a repeated value, a value the schema refuses.
    """
    grid: dict[str, list[Any]] = {}
    errors: list[str] = []
    for item in items:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not key or not sep:
            errors.append(f"{GRID_ORIGIN}: expected KEY=V1,V2,... got {item!r}")
            continue
        field_ = experiment.schema.get(key)
        if key == EXPERIMENT_KEY or field_ is None:
            message = f"{GRID_ORIGIN}: key '{key}': unknown parameter of experiment '{experiment.name}'"
            close = difflib.get_close_matches(key, list(experiment.schema), n=1, cutoff=0.6)
            errors.append(message + (f"; did you mean '{close[0]}'?" if close else
                                     f"; known parameters: {', '.join(sorted(experiment.schema))}"))
            continue
        if key in grid:
            errors.append(f"{GRID_ORIGIN}: key '{key}': given twice; list all its values in one --grid {key}=V1,V2")
            continue
        texts = split_values(raw)
        if all(not text for text in texts):
            errors.append(f"{GRID_ORIGIN}: key '{key}': empty value list; give at least one value, e.g. {key}=V1,V2")
            continue
        values = []
        for text in texts:
            if not text:
                errors.append(f"{GRID_ORIGIN}: key '{key}': empty value in {raw.strip()!r}")
                continue
            try:
                value = field_.coerce(parse_value(text, key=key))
            except InvalidValue as exc:
                errors.append(f"{GRID_ORIGIN}: key '{key}': value {text}: {exc}")
                continue
            if value in values:
                errors.append(f"{GRID_ORIGIN}: key '{key}': value {text} given twice")
                continue
            values.append(value)
        grid[key] = values
    if errors:
        raise ConfigError(errors)
    return grid


def parse_seeds(text: str) -> list[int]:
    """``"1-5"`` -> [1, 2, 3, 4, 5]; ``"1,4,9"`` and ``"1-3,7"`` also work. Raises ConfigError."""
    seeds: list[int] = []
    for part in text.split(","):
        part = part.strip()
        match = re.fullmatch(r"(\d+)(?:\s*-\s*(\d+))?", part)
        if match is None:
            raise ConfigError(f"{SEEDS_ORIGIN}: expected N, A-B or a comma list of them (e.g. 1-5 or 1,3,7) "
                              f"with non-negative integers, got {part!r}")
        first = int(match.group(1))
        last = int(match.group(2)) if match.group(2) is not None else first
        if last < first:
            raise ConfigError(f"{SEEDS_ORIGIN}: range {part!r} is empty (its end is below its start); write {last}-{first}")
        for seed in range(first, last + 1):
            if seed in seeds:
                raise ConfigError(f"{SEEDS_ORIGIN}: seed {seed} given twice")
            seeds.append(seed)
    return seeds


@dataclass(frozen=True)
class Point:
    """One run of a sweep: the swept values (grid keys, plus ``seed``) and the resolved params."""

    values: dict[str, Any]
    params: dict[str, Any]
    name: str  # folder name under points/


@dataclass
class SweepPlan:
    experiment: Experiment
    origin: str
    target: str
    overrides: list[str]
    grid: dict[str, list[Any]]
    seeds: list[int] | None  # None: the configuration's own seed, not swept
    points: list[Point] = field(default_factory=list)

    @property
    def keys(self) -> list[str]:
        """The swept keys, ``seed`` last when seeds are swept."""
        return list(self.grid) + (["seed"] if self.seeds is not None else [])

    def manifest(self) -> dict[str, Any]:
        return {"format": SWEEP_FORMAT, "experiment": self.experiment.name, "target": self.target,
                "overrides": self.overrides, "grid": self.grid, "seeds": self.seeds}


def _slug(value: Any) -> str:
    text = format(value, "g") if isinstance(value, float) else str(value).lower() if isinstance(value, bool) else str(value)
    return re.sub(r"[^A-Za-z0-9._+-]+", "-", text).strip("-") or "x"


def point_names(values: list[dict[str, Any]]) -> list[str]:
    """Folder names ``key=value_..._seed=s``, made unique and short with a hash suffix when
    sanitising or length would make two names equal or a name too long."""
    names = ["_".join(f"{k}={_slug(v)}" for k, v in point.items()) or "default" for point in values]
    clash = len(set(names)) < len(names)
    result = []
    for name, point in zip(names, values):
        if clash or len(name.encode()) > MAX_NAME_BYTES:
            digest = hashlib.sha1(json.dumps(point, sort_keys=True, default=str).encode()).hexdigest()[:10]
            name = name.encode()[:MAX_NAME_BYTES - 11].decode(errors="ignore") + "-" + digest
        result.append(name)
    return result


def plan_sweep(target: str, overrides: Sequence[str], grid_items: Sequence[str], seeds_text: str | None) -> SweepPlan:
    """Validate everything and list the points; raises ConfigError with every problem found.

    The configuration (``target`` + ``--set``) is resolved once; each point's values are
    then checked against the schema's cross-field checks, and the problems of all points
    reported together (each once).
    """
    overrides = list(overrides)
    experiment, base, origin = load_experiment_config(target, overrides)
    errors: list[str] = []
    grid: dict[str, list[Any]] = {}
    try:
        grid = parse_grid(grid_items, experiment)
    except ConfigError as exc:
        errors += exc.errors
    seeds = None
    if seeds_text is not None:
        try:
            seeds = parse_seeds(seeds_text)
            if "seed" not in experiment.schema:
                raise ConfigError(f"{SEEDS_ORIGIN}: experiment '{experiment.name}' has no 'seed' parameter")
            if "seed" in grid:
                raise ConfigError(f"{SEEDS_ORIGIN}: 'seed' is also swept by --grid; give the seeds in one place")
            bad = [str(s) for s in seeds if _refused(experiment, "seed", s)]
            if bad:
                raise ConfigError(f"{SEEDS_ORIGIN}: key 'seed': {_refused(experiment, 'seed', int(bad[0]))} "
                                  f"(seeds {', '.join(bad[:5])})")
        except ConfigError as exc:
            errors += exc.errors
    if not grid_items and seeds_text is None:
        errors.append(f"{GRID_ORIGIN}: nothing to sweep; give --grid KEY=V1,V2 and/or --seeds A-B")
    if errors:
        raise ConfigError(errors)
    plan = SweepPlan(experiment, origin, target, overrides, grid, seeds)
    combos = [dict(zip(grid, values)) for values in itertools.product(*grid.values())]
    values = [{**combo, "seed": seed} for combo in combos for seed in seeds] if seeds is not None else combos
    for point, name in zip(values, point_names(values)):
        try:
            params = resolve(experiment.schema, experiment.checks, [(origin, base), (GRID_ORIGIN, point)],
                             experiment=experiment.name)
        except ConfigError as exc:
            label = ", ".join(f"{k}={format_value(v)}" for k, v in point.items())
            errors += [f"{message} (point {label})" if GRID_ORIGIN in message else message for message in exc.errors]
            continue
        plan.points.append(Point(point, params, name))
    if errors:
        raise ConfigError(list(dict.fromkeys(errors)))
    return plan


def _refused(experiment: Experiment, key: str, value: Any) -> str | None:
    try:
        experiment.schema[key].coerce(value)
    except InvalidValue as exc:
        return str(exc)
    return None


# --------------------------------------------------------------------------- the sweep folder

class SweepClaim(OutputClaim):
    """Exclusive use of a sweep folder: the ``<out>.lock`` of :class:`OutputClaim`, but the
    folder may be (partly) filled by an earlier attempt at the same sweep."""

    def __init__(self, out_dir: Path, plan: SweepPlan) -> None:
        super().__init__(out_dir, "sweep")
        self.plan = plan

    def acquire(self) -> None:
        _check_path(self.out_dir)
        self._make_parents()
        try:
            self._lock()
            check_sweep_dir(self.out_dir, self.plan)
            self.out_dir.mkdir(exist_ok=True)
        except BaseException:
            self.release()
            raise
        self.started = now_utc()


def check_sweep_dir(out_dir: Path, plan: SweepPlan) -> None:
    """Refuse (ConfigError) a folder that is neither absent, empty, nor a sweep of the same experiment."""
    if out_dir.is_symlink() or (out_dir.exists() and not out_dir.is_dir()):
        check_out_dir(out_dir, "sweep")  # says why
    if not out_dir.exists() or not any(out_dir.iterdir()):
        return
    try:
        manifest = json.loads((out_dir / SWEEP_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        manifest = None
    if not isinstance(manifest, dict) or manifest.get("format") != SWEEP_FORMAT:
        raise ConfigError(f"--out: '{out_dir}' exists and is not a synaptica sweep (no readable {SWEEP_FILE}); "
                          "refusing to write into it, choose a new folder")
    if manifest.get("experiment") != plan.experiment.name:
        raise ConfigError(f"--out: '{out_dir}' holds a sweep of experiment '{manifest.get('experiment')}', "
                          f"not '{plan.experiment.name}'; choose a new folder")


def is_finished(point_dir: Path, experiment: str, params: dict[str, Any]) -> bool:
    """True when ``point_dir`` is a complete marked run of exactly ``params``."""
    marker = _read_marker(point_dir)
    if marker is None or marker.get("kind") != "run" or marker.get("state") != "complete":
        return False
    try:
        check_out_dir(point_dir, "run")
        config = tomllib.loads((point_dir / "config.toml").read_text(encoding="utf-8"))
        json.loads((point_dir / "metrics.json").read_text(encoding="utf-8"))
    except (ConfigError, OSError, ValueError):
        return False
    return config == {EXPERIMENT_KEY: experiment, **params}


# --------------------------------------------------------------------------- running one point

def _set_threads(n_threads: int) -> None:
    """Limit torch and numba to ``n_threads`` in this process (numba within its pool size)."""
    import torch

    torch.set_num_threads(n_threads)
    try:
        import numba

        numba.set_num_threads(max(1, min(n_threads, numba.config.NUMBA_NUM_THREADS)))
    except (ImportError, ValueError):  # no numba, or its pool was sized below n_threads
        pass


def run_point(spec: dict[str, Any]) -> dict[str, Any]:
    """Run one point (a worker's task; plain data in and out so Ray can ship it).

    ``spec``: experiment, origin, params, out_dir (absolute), threads, command. Returns
    ``{"status": "done", "metrics", "wall_s"}`` (wall_s: the whole point in s, writing
    included) or ``{"status": "failed", "error", "code"}``.
    """
    _set_threads(spec["threads"])
    load_builtins()
    experiment = get_experiment(spec["experiment"])
    out_dir = Path(spec["out_dir"])
    start = time.perf_counter()
    try:
        with claim_out_dir(out_dir, "run", command=spec["command"]):
            result, _ = execute_run(experiment, spec["params"], spec["origin"], out_dir, simulate=quiet_simulate)
    except RunFailed as failed:
        return {"status": "failed", "error": failed.message, "code": failed.code}
    except ConfigError as exc:  # the point's folder may not be written (locked, foreign files)
        return {"status": "failed", "error": str(exc), "code": CONFIG_ERROR_EXIT}
    except Exception as exc:  # a bug: one point fails, the sweep goes on
        return {"status": "failed", "error": f"{spec['origin']}: {one_line(exc)}", "code": 1}
    return {"status": "done", "metrics": result.metrics, "wall_s": time.perf_counter() - start}


def _run_local(specs: list[dict[str, Any]]) -> Iterator[tuple[int, dict[str, Any]]]:
    import torch

    saved = torch.get_num_threads()
    try:
        for index, spec in enumerate(specs):
            yield index, run_point(spec)
    finally:
        torch.set_num_threads(saved)


def _run_ray(specs: list[dict[str, Any]], address: str | None, workers: int, cpus: int) -> Iterator[tuple[int, dict]]:
    """Run the points on Ray, at most ``workers`` at once, yielding ``(index, outcome)`` as they end."""
    import logging

    import ray

    started_here = not ray.is_initialized()
    if started_here:
        if address is None:  # a private local instance sized to the sweep, never more than the machine
            ray.init(num_cpus=min(workers * cpus, os.cpu_count() or 1), include_dashboard=False,
                     logging_level=logging.WARNING, log_to_driver=False)
        else:
            ray.init(address=address, logging_level=logging.WARNING, log_to_driver=False)
    try:
        env = {name: str(cpus) for name in THREAD_VARIABLES}
        task = ray.remote(run_point).options(num_cpus=cpus, max_retries=0, runtime_env={"env_vars": env})
        pending: dict[Any, int] = {}
        queue = list(enumerate(specs))
        while queue or pending:
            while queue and len(pending) < workers:
                index, spec = queue.pop(0)
                pending[task.remote(spec)] = index
            done, _ = ray.wait(list(pending), num_returns=1)
            for ref in done:
                index = pending.pop(ref)
                try:
                    outcome = ray.get(ref)
                except Exception as exc:  # the worker died (memory, signal)
                    outcome = {"status": "failed", "error": f"worker failed: {one_line(exc)}", "code": 1}
                yield index, outcome
    finally:
        if started_here:
            ray.shutdown()


# --------------------------------------------------------------------------- summary

def _read_metrics(point_dir: Path) -> dict[str, Any]:
    try:
        metrics = json.loads((point_dir / "metrics.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return metrics if isinstance(metrics, dict) else {}


def write_summary(out_dir: Path, plan: SweepPlan, rows: list[dict[str, Any]]) -> list[Path]:
    """Write summary.csv (and summary.parquet when pyarrow is installed) and the plots.

    ``rows``: one per point, with ``point``, ``status``, the swept values, ``wall_s`` and
    the metrics. Files are written under a temporary name and renamed. Returns the paths.
    """
    metrics = list(dict.fromkeys(k for row in rows for k in row.get("metrics", {})))
    columns = ["point", "status", *plan.keys, "wall_s", *metrics, "error"]
    table = [{"point": r["point"], "status": r["status"], **r["values"], "wall_s": r.get("wall_s"),
              **r.get("metrics", {}), "error": r.get("error", "")} for r in rows]
    written = [out_dir / "summary.csv"]
    partial = out_dir / "summary.csv.partial"
    with partial.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        for row in table:
            writer.writerow({k: "" if row.get(k) is None else row.get(k) for k in columns})
    os.replace(partial, written[0])
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        pass
    else:
        partial = out_dir / "summary.parquet.partial"
        pq.write_table(pa.Table.from_pylist([{k: row.get(k) for k in columns} for row in table]), partial)
        os.replace(partial, out_dir / "summary.parquet")
        written.append(out_dir / "summary.parquet")
    plots = out_dir / PLOTS
    plots.mkdir(exist_ok=True)
    for metric in metrics:
        values = [row.get(metric) for row in table]
        if any(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in values):
            written.append(plot_metric(plots / f"{_slug(metric)}.png", metric, plan, table))
    return written


MAX_LINES = 6  # lines per panel (combinations of the other grid keys); beyond, they are pooled


def plot_metric(path: Path, metric: str, plan: SweepPlan, table: list[dict[str, Any]]) -> Path:
    """One panel per grid key (per seed if only seeds are swept): ``metric`` against the
    key's values, one line per combination of the other grid keys (pooled when there are
    more than MAX_LINES), mean +- std over seeds as error bars and every run as a dot.
    Runs without a finite value are left out."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    keys = list(plan.grid) or ["seed"]
    fig = Figure(figsize=(3.8 * len(keys), 3.2), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, len(keys), squeeze=False)[0]
    for ax, key in zip(axes, keys):
        levels = plan.grid.get(key) or plan.seeds or []
        numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in levels)
        xs = [float(v) if numeric else i for i, v in enumerate(levels)]
        others = [k for k in plan.grid if k != key]
        combos = list(itertools.product(*(plan.grid[k] for k in others)))
        if len(combos) > MAX_LINES:
            others, combos = [], [()]
        for colour, combo in enumerate(combos):
            fixed = dict(zip(others, combo))
            rows = [r for r in table if all(_key(r.get(k)) == _key(v) for k, v in fixed.items())]
            line_x, means, spreads = [], [], []
            for x, level in zip(xs, levels):
                ys = [float(r[metric]) for r in rows if _key(r.get(key)) == _key(level) and _finite(r.get(metric))]
                if not ys:
                    continue
                ax.plot([x] * len(ys), ys, "o", color=f"C{colour}", alpha=0.35, markersize=3)
                line_x.append(x)
                means.append(sum(ys) / len(ys))
                spreads.append(math.sqrt(sum((y - means[-1]) ** 2 for y in ys) / len(ys)))
            label = ", ".join(f"{k}={format_value(v)}" for k, v in fixed.items()) or None
            ax.errorbar(line_x, means, yerr=spreads, fmt="-o", color=f"C{colour}", capsize=3, label=label)
        if not numeric:
            ax.set_xticks(xs, [str(v) for v in levels])
        ax.set_xlabel(key)
        ax.set_ylabel(metric)
        if others:
            ax.legend(fontsize=7)
    spread = "std over seeds" if plan.seeds is not None and len(plan.seeds) > 1 else "std"
    fig.suptitle(f"{plan.experiment.name}: {metric} (mean ± {spread}; dots: single runs)", fontsize=9)
    fig.savefig(path, dpi=100)
    return path


def _key(value: Any) -> str:
    return json.dumps(value, default=str)


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


# --------------------------------------------------------------------------- command

def _label(point: Point) -> str:
    return " ".join(f"{k}={format_value(v)}" for k, v in point.values.items())


@main.command("sweep")
@click.argument("target", metavar="NAME|FILE.toml")
@click.option("--grid", "-g", "grid_items", multiple=True, metavar="KEY=V1,V2,...",
              help="Sweep KEY over the values (each read as TOML); repeat for a Cartesian product.")
@click.option("--seeds", default=None, metavar="A-B",
              help="Seeds to run every point with: A-B, N or a comma list (e.g. 1-5).")
@click.option("--set", "-s", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override one parameter for every point (as in `synaptica run`). Repeatable.")
@click.option("--out", "-o", "out_dir", type=click.Path(path_type=Path), default=None, metavar="DIR",
              help="Sweep folder [default: runs/sweep-<name>-<timestamp>]. Rerun with the same --out to resume.")
@click.option("--backend", type=click.Choice(["ray", "local"]), default="ray", show_default=True,
              help="ray: points in parallel on Ray; local: one after another in this process.")
@click.option("--address", default=None, metavar="ADDR", help="Ray cluster to use (e.g. auto or ray://host:10001).")
@click.option("--workers", type=click.IntRange(min=1), default=None, metavar="N",
              help="Points running at once [default: cores // cpus-per-point].")
@click.option("--cpus-per-point", type=click.IntRange(min=1), default=1, show_default=True, metavar="C",
              help="CPUs (and threads) each point uses.")
@click.option("--debug", is_flag=True, help="Show the Python traceback of an unexpected error (or SYNAPTICA_DEBUG=1).")
def sweep(target: str, grid_items: Sequence[str], seeds: str | None, overrides: Sequence[str], out_dir: Path | None,
          backend: str, address: str | None, workers: int | None, cpus_per_point: int, debug: bool) -> None:
    """Run experiment NAME (or FILE.toml) at every point of a parameter grid, times seeds.

    Each point and seed gets a run folder under DIR/points; DIR/summary.csv has one row
    per point and seed (parameters and every metric), DIR/plots one figure per metric.
    Rerunning the same command skips finished points and resumes interrupted ones.
    """
    debug = debug or _debugging()
    try:
        plan = plan_sweep(target, overrides, grid_items, seeds)
    except ConfigError as exc:
        _fail(str(exc), CONFIG_ERROR_EXIT)
    if address is not None and backend != "ray":
        _fail("--address: only with --backend ray", CONFIG_ERROR_EXIT)
    if backend == "ray":
        try:
            import ray  # noqa: F401
        except ImportError:
            _fail(INSTALL_HINT, 1)
    if workers is None:
        workers = max(1, (os.cpu_count() or 1) // cpus_per_point)
    out_dir = out_dir if out_dir is not None else default_out_dir(f"sweep-{plan.experiment.name}")
    try:
        click.get_current_context().with_resource(SweepClaim(out_dir, plan))
    except ConfigError as exc:
        _fail(str(exc), CONFIG_ERROR_EXIT)
    try:
        failures = _execute(plan, out_dir.absolute(), backend, address, workers, cpus_per_point)
    except Exception as exc:
        if debug:
            raise
        _fail(f"{out_dir}: sweep failed ({one_line(exc)})", 1)
    if failures:
        _fail(f"{failures} of {len(plan.points)} points failed; see {out_dir / 'summary.csv'} "
              "(rerun the same command to retry them)", 1)


def _execute(plan: SweepPlan, out_dir: Path, backend: str, address: str | None, workers: int, cpus: int) -> int:
    """Run the unfinished points, write the summary; return the number of failed points."""
    errors = Console(stderr=True, highlight=False)
    (out_dir / SWEEP_FILE).write_text(json.dumps(plan.manifest(), indent=2, default=str) + "\n", encoding="utf-8")
    (out_dir / POINTS).mkdir(exist_ok=True)
    rows: list[dict[str, Any]] = []
    todo: list[int] = []
    for point in plan.points:
        point_dir = out_dir / POINTS / point.name
        row = {"point": point.name, "status": "done", "values": point.values}
        if is_finished(point_dir, plan.experiment.name, point.params):
            row["metrics"] = _read_metrics(point_dir)
        else:
            todo.append(len(rows))
        rows.append(row)
    skipped = len(rows) - len(todo)
    where = "this process" if backend == "local" else f"Ray ({address or 'local'}), {workers} at a time"
    errors.print(Text(f"sweep {plan.experiment.name}: {len(rows)} points, {skipped} finished earlier (skipped), "
                      f"{len(todo)} to run on {where}"), soft_wrap=True)
    specs = [{"experiment": plan.experiment.name, "origin": plan.origin, "params": plan.points[i].params,
              "out_dir": str(out_dir / POINTS / plan.points[i].name), "threads": cpus, "command": list(sys.argv)}
             for i in todo]
    outcomes = _run_local(specs) if backend == "local" else _run_ray(specs, address, workers, cpus)
    failures = 0
    progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                        console=errors)
    start = time.perf_counter()
    with progress:
        bar = progress.add_task(f"sweep {plan.experiment.name}", total=len(rows), completed=skipped)
        for done, (index, outcome) in enumerate(outcomes, start=1):
            row = rows[todo[index]]
            point = plan.points[todo[index]]
            if outcome["status"] == "done":
                row.update(metrics=outcome["metrics"], wall_s=outcome["wall_s"])
                message = f"done in {outcome['wall_s']:.2f} s"
            else:
                failures += 1
                row.update(status="failed", error=outcome["error"])
                message = f"failed: {outcome['error']}"
            progress.update(bar, advance=1)
            progress.console.print(Text(f"[{done}/{len(todo)}] {_label(point)}: {message}"), soft_wrap=True)
    written = write_summary(out_dir, plan, rows)
    console = Console(highlight=False)
    console.print(Text(f"ran {len(todo) - failures} points, skipped {skipped} finished, {failures} failed "
                       f"in {time.perf_counter() - start:.1f} s"), soft_wrap=True)
    console.print(Text(f"wrote {out_dir} ({', '.join(p.relative_to(out_dir).as_posix() for p in written[:3])}"
                       f"{', ...' if len(written) > 3 else ''})"), soft_wrap=True)
    return failures

