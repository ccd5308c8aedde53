"""``synaptica`` command line: list the built-in experiments, run one, analyse spikes.

    synaptica list
    synaptica run cuba --set tau_m=10 --seed 3 --out runs/cuba
    synaptica run my_run.toml          # a file with experiment = "cuba" and parameters
    synaptica analyze spikes.nwb --states 2 --out runs/analysis
    synaptica analyze runs/cuba/spikes.npz   # a run's spikes: the same file format
    synaptica show cuba                      # parameters: default, unit, range, help
    synaptica config cuba > my.toml          # a commented file to edit, then: synaptica run my.toml

Configuration errors are reported as ``error: <file>: key '<key>': <problem>`` on stderr
with exit code 2, before anything is simulated or written. A run that fails, or whose
results would mean nothing (NonFiniteError), ends with one ``error:`` line and exit code 1;
never a traceback unless ``--debug`` or ``SYNAPTICA_DEBUG=1``. Ctrl-C is not caught.
"""
from __future__ import annotations

import math
import os
import time
from importlib import metadata
from pathlib import Path
from typing import NoReturn, Sequence

import click
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

from ..config import ConfigError, InvalidValue, parse_value
from ..experiments import (
    Experiment,
    ExperimentResult,
    available,
    broken_builtins,
    broken_plugins,
    get_experiment,
    load_experiment_config,
)
from .nwb_export import nwb_metadata, nwb_options, nwb_writer
from .output import claim_out_dir, default_out_dir, write_folder
from .runner import DEBUG_HINT as _DEBUG_HINT
from .runner import RunFailed, execute_run, run_experiment
from .runner import one_line as _one_line

__all__ = ["main"]

CONFIG_ERROR_EXIT = 2


def _version() -> str:
    try:
        return metadata.version("synaptica")
    except metadata.PackageNotFoundError:  # running from a source tree
        from .. import __version__

        return __version__


def _fail(message: str, code: int) -> NoReturn:
    """Print ``error: ...`` (each line) in red on stderr and exit with ``code``."""
    console = Console(stderr=True, highlight=False)
    for line in message.splitlines() or [""]:
        console.print(Text(f"error: {line}", style="red"), soft_wrap=True)
    raise SystemExit(code)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(_version(), "--version", "-V", prog_name="synaptica")
def main() -> None:
    """synaptica: simulate, train and analyse spiking neural networks."""


@main.command("list")
def list_command() -> None:
    """List the experiments (built-in and plugins), one per line."""
    console = Console(highlight=False)
    names = available()
    width = max((len(n) for n in names), default=0)
    for name in names:
        console.print(Text(f"{name:<{width}}  {get_experiment(name).summary}"), soft_wrap=True)
    if not names:
        console.print("no experiments available")
    for name, error in broken_builtins().items():
        Console(stderr=True, highlight=False).print(
            Text(f"warning: built-in '{name}' failed to import: {error}", style="yellow"), soft_wrap=True
        )
    for name, error in broken_plugins().items():
        Console(stderr=True, highlight=False).print(
            Text(f"warning: plugin '{name}' left out: {error}", style="yellow"), soft_wrap=True
        )


def _complete_target(ctx: click.Context, param: click.Parameter, incomplete: str) -> list:
    from .show import complete_experiment_or_file  # show.py imports this module

    return complete_experiment_or_file(ctx, param, incomplete)


def _simulate(experiment: Experiment, params: dict, checkpoint: Path) -> tuple[ExperimentResult, float]:
    """Run with a progress bar on stderr; return the raw result and the wall time in s.

    The run checkpoints to ``checkpoint``; rerunning the same command after an
    interruption resumes from it. It is removed once the run is complete.
    """
    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
    )
    start = time.perf_counter()
    with progress:
        task = progress.add_task(f"running {experiment.name}", total=None)

        def on_progress(steps_done: int, steps_total: int) -> None:
            progress.update(task, completed=steps_done, total=steps_total)

        result = run_experiment(experiment, params, on_progress, checkpoint)
        total = progress.tasks[0].total or 1
        progress.update(task, completed=total, total=total)
    return result, time.perf_counter() - start


def _format_metric(value: object) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _summary(name: str, result: ExperimentResult, wall_s: float, out_dir: Path) -> None:
    table = Table(title=f"{name}: metrics", title_justify="left")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, value in result.metrics.items():
        table.add_row(key, _format_metric(value))
    console = Console(highlight=False)
    console.print(table)
    console.print(
        Text(f"{result.n_neurons} neurons, {result.spike_ids.size} spikes, "
             f"{result.duration_ms:g} ms simulated in {wall_s:.2f} s"),
        soft_wrap=True,
    )
    console.print(Text(f"wrote {out_dir}"), soft_wrap=True)


@main.command()
@click.argument("target", metavar="NAME|FILE.toml", shell_complete=_complete_target)
@click.option("--set", "-s", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override one parameter (VALUE is read as TOML, else as a string). Repeatable.")
@click.option("--out", "-o", "out_dir", type=click.Path(path_type=Path), default=None, metavar="DIR",
              help="Output folder [default: runs/<name>-<timestamp>]. An earlier run there is replaced.")
@click.option("--seed", default=None, metavar="N",
              help="Random seed; shorthand for --set seed=N.")
@click.option("--debug", is_flag=True, help="Show the Python traceback of an unexpected error (or SYNAPTICA_DEBUG=1).")
@nwb_options
def run(target: str, overrides: Sequence[str], out_dir: Path | None, seed: str | None, debug: bool, spikes_format: str,
        **nwb: object) -> None:
    """Run a built-in experiment NAME, or the experiment a FILE.toml parametrises.

    The configuration is validated first; the run folder gets config.toml, metrics.json,
    spikes.npz (times in s, readable by `synaptica analyze`) and PNG plots; with --format nwb
    also spikes.nwb (session metadata from the --nwb-* options). A refused
    configuration exits with code 2, a run that fails or whose results would mean
    nothing (a loss or state became NaN or infinite) with code 1; either way with one
    ``error:`` line and nothing written.
    """
    debug = debug or _debugging()
    overrides = list(overrides)
    origin = target
    try:
        experiment, params, origin = load_experiment_config(target, overrides)
        if seed is not None:
            _check_seed_option(experiment, seed)
            _, params, _ = load_experiment_config(target, overrides + [f"seed={seed}"])
        nwb_meta = nwb_metadata(experiment, params, spikes_format, **nwb)
        out_dir = out_dir if out_dir is not None else default_out_dir(experiment.name)
        claim = click.get_current_context().with_resource(claim_out_dir(out_dir, "run"))  # checked, locked until exit
    except ConfigError as exc:
        _fail(str(exc), CONFIG_ERROR_EXIT)
    except Exception as exc:  # a bug or the system (e.g. memory) while reading the configuration
        if debug:
            raise
        _fail(f"{origin}: cannot prepare the run ({_one_line(exc)}){_DEBUG_HINT}", 1)

    def nwb_files(result: ExperimentResult):
        return None if nwb_meta is None else nwb_writer(nwb_meta, experiment, params, result, claim)

    try:
        result, wall_s = execute_run(experiment, params, origin, out_dir, simulate=_simulate, extra_files=nwb_files)
    except RunFailed as failed:
        if debug and failed.traceback_useful and failed.__cause__ is not None:
            raise failed.__cause__ from None
        _fail(failed.message, failed.code)
    _summary(experiment.name, result, wall_s, out_dir)


def _debugging() -> bool:
    return os.environ.get("SYNAPTICA_DEBUG", "").strip() not in ("", "0")


def _check_seed_option(experiment: Experiment, seed: str) -> None:
    """Refuse ``--seed`` for an experiment without a seed, or a value its seed Field refuses."""
    field = experiment.schema.get("seed")
    if field is None:
        raise ConfigError(f"--seed: experiment '{experiment.name}' has no 'seed' parameter")
    try:
        field.coerce(parse_value(seed, key="seed"))
    except InvalidValue as exc:
        raise ConfigError(f"--seed: key 'seed': {exc}") from None


@main.command()
@click.argument("file", metavar="FILE", type=click.Path(path_type=Path))
@click.option("--out", "-o", "out_dir", type=click.Path(path_type=Path), default=None, metavar="DIR",
              help="Output folder [default: runs/analyze-<file>-<timestamp>]. An earlier analysis there is replaced.")
@click.option("--bin-size", type=float, default=0.001, show_default=True, metavar="S",
              help="Bin in s of correlograms, synchrony, complexity and the GLM.")
@click.option("--max-lag", type=float, default=0.05, show_default=True, metavar="S", help="Correlogram half-width in s.")
@click.option("--count-bin", type=float, default=0.1, show_default=True, metavar="S",
              help="Window in s of Fano factors and spike-count correlations.")
@click.option("--states", type=int, default=None, metavar="K",
              help="Also infer K switching states with an HMM-GLM (states.png).")
@click.option("--state-bin", type=float, default=0.005, show_default=True, metavar="S", help="Bin in s of the HMM-GLM.")
@click.option("--state-prior", type=click.Choice(["onehot", "gaussian", "none"]), default="onehot", show_default=True,
              help="Prior tying the states' connectivity (Li et al. 2024).")
@click.option("--no-connectivity", is_flag=True, help="Skip the coupled Poisson GLM.")
def analyze(file: Path, out_dir: Path | None, bin_size: float, max_lag: float, count_bin: float, states: int | None,
            state_bin: float, state_prior: str, no_connectivity: bool) -> None:
    """Analyse the spike record in FILE (.npz, .h5/.hdf5 or .nwb), e.g. a run's spikes.npz.

    Writes metrics.json (statistics, synchrony, criticality, complexity, connectivity,
    states), analysis.npz (the arrays: per-unit statistics, correlograms, connectivity and
    p-values, state posteriors), report.html (one self-contained page) and figures: raster,
    rates, ISI and CV distributions, correlograms, avalanches, connectivity and, with
    --states, the inferred states over time. Each stage's progress is shown on stderr.
    """
    import json

    from ..analysis.report import AnalysisOptionError, AnalysisStageError, RecordTooLargeError, analyze_record
    from ..io.spikes import SpikeFileError, load_record

    errors = Console(stderr=True, highlight=False)
    # the live bar (terminals only) is cleared at the end; one line per ended stage stays, also in logs
    bar = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                   console=errors, transient=True, disable=not errors.is_terminal)
    task = bar.add_task("loading", total=None)
    n_writes = 3  # figures, arrays, report: steps of Analysis.write

    def on_stage(stage: str, done: int, total: int, seconds: float | None) -> None:
        if seconds is None:
            bar.update(task, description=f"analysing: {stage}", completed=done, total=total + n_writes)
        else:
            bar.update(task, completed=done)
            bar.console.print(Text(f"[{done}/{total + n_writes}] {stage}: {seconds:.2f} s"), soft_wrap=True)

    try:
        bar.start()
        record = load_record(file)
        out_dir = out_dir if out_dir is not None else default_out_dir(f"analyze-{file.stem}")
        # checked and locked before the analysis, released when the command ends
        click.get_current_context().with_resource(claim_out_dir(out_dir, "analyze"))
        analysis = analyze_record(record, bin_size=bin_size, max_lag=max_lag, count_bin=count_bin,
                                  connectivity=not no_connectivity, states=states, state_bin=state_bin,
                                  state_prior=None if state_prior == "none" else state_prior, progress=on_stage)
    except (SpikeFileError, AnalysisStageError) as exc:
        bar.stop()
        _fail(" ".join(f"{exc}".split()) if isinstance(exc, SpikeFileError) else f"{file}: {exc}", 1)
    except ConfigError as exc:
        bar.stop()
        _fail(str(exc), CONFIG_ERROR_EXIT)
    except (AnalysisOptionError, RecordTooLargeError) as exc:
        bar.stop()
        if exc.option is None:  # the record itself is too large: a problem of the file
            _fail(str(exc), 1)
        flag = "--" + exc.option.replace("_", "-")
        text = str(exc)
        _fail(f"{file}: {flag}{text[len(exc.option):]}" if text.startswith(exc.option) else f"{file}: {flag}: {text}",
              CONFIG_ERROR_EXIT)
    except BaseException:  # an unexpected error or ^C: clear the live bar before it is reported
        bar.stop()
        raise

    n_stages = len(analysis.metrics["timings_s"])
    step_start = [time.perf_counter()]

    def on_write(step: str) -> None:
        done = n_stages + ("figures", "arrays", "report").index(step)
        if done > n_stages:  # the previous write step has ended
            on_stage(("figures", "arrays")[done - n_stages - 1], done, n_stages, time.perf_counter() - step_start[0])
        step_start[0] = time.perf_counter()
        bar.update(task, description=f"writing: {step}", completed=done)

    def write(folder: Path) -> None:
        text = json.dumps(_json_safe(analysis.metrics), indent=2, allow_nan=False)
        (folder / "metrics.json").write_text(text + "\n", encoding="utf-8")
        analysis.write(folder, progress=on_write)
        on_stage("report", n_stages + n_writes, n_stages, time.perf_counter() - step_start[0])

    try:
        with bar:
            write_folder(out_dir, write, kind="analyze", seed=0)
    except ConfigError as exc:  # something of the user's appeared in the folder meanwhile
        _fail(str(exc), CONFIG_ERROR_EXIT)
    except Exception as exc:  # a figure or the disk failed: one line, nothing half-written left
        _fail(f"{out_dir}: cannot write the analysis ({type(exc).__name__}: {' '.join(str(exc).split())})", 1)
    console = Console(highlight=False)
    for section, values in analysis.metrics.items():
        if isinstance(values, dict) and values and section not in ("record", "timings_s"):
            shown = ", ".join(f"{k}={_format_metric(v)}" for k, v in values.items() if not isinstance(v, (list, dict)))
            console.print(Text(f"{section}: {shown}"), soft_wrap=True)
    console.print(Text(f"wrote {out_dir}"), soft_wrap=True)


def _json_safe(value: object) -> object:
    """Numbers as JSON numbers, NaN/inf as null, numpy scalars and arrays as Python values."""
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if hasattr(value, "tolist"):
        return _json_safe(value.tolist())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


from . import export as _export  # noqa: E402,F401  (registers `synaptica export`)
from . import sweep as _sweep  # noqa: E402,F401  (registers `synaptica sweep`)
from . import show as _show  # noqa: E402,F401  (registers `synaptica show` and `synaptica config`)

if __name__ == "__main__":  # pragma: no cover
    # `python -m synaptica.cli.main`: the commands registered themselves on the imported
    # module synaptica.cli.main, not on this __main__ copy of it
    from synaptica.cli.main import main as registered_main

    registered_main()
