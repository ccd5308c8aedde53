"""One run of an experiment into a claimed folder: shared by ``synaptica run`` and the
points of ``synaptica sweep``.

:func:`execute_run` simulates (checkpointing to ``<out>.checkpoint.npz``, resuming from it
when an earlier attempt was interrupted), checks the result, writes the run folder and
removes the checkpoint. Any failure is raised as :class:`RunFailed` with the ``error:``
message and exit code the command line reports; the original exception is its cause.
"""
from __future__ import annotations

import inspect
import re
import time
from pathlib import Path
from typing import Callable

from ..config import ConfigError, mentioned_keys
from ..engine.errors import CheckpointError
from ..experiments import Experiment, ExperimentResult
from .output import InvalidResultError, check_result, write_run

__all__ = ["DEBUG_HINT", "RunFailed", "checkpoint_path", "execute_run", "one_line", "remove_checkpoints",
           "run_experiment", "run_failure"]

CONFIG_ERROR_EXIT = 2
DEBUG_HINT = "; SYNAPTICA_DEBUG=1 or --debug shows the traceback"

ProgressCallback = Callable[[int, int], None]
# simulate(experiment, params, checkpoint) -> (raw result, wall time in s)
Simulate = Callable[[Experiment, dict, Path], "tuple[ExperimentResult, float]"]


class RunFailed(Exception):
    """A run that failed; ``message`` and ``code`` are what the command reports.

    ``traceback_useful`` is False when the cause is the user's (a folder that may not be
    written), where ``--debug`` should still print one line rather than a traceback.
    """

    def __init__(self, message: str, code: int, *, traceback_useful: bool = True) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.traceback_useful = traceback_useful


def one_line(exc: BaseException) -> str:
    """``Type: message`` on one line (messages of numpy/torch errors span several)."""
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def checkpoint_path(out_dir: Path) -> Path:
    """Where a run into ``out_dir`` checkpoints: ``<out>.checkpoint.npz`` beside it."""
    return out_dir.with_name(out_dir.name + ".checkpoint.npz")


def remove_checkpoints(checkpoint: Path) -> None:
    """Remove a run's checkpoint and its per-phase files (``<checkpoint>.<phase>.npz``)."""
    checkpoint.unlink(missing_ok=True)
    for path in checkpoint.parent.glob(checkpoint.name + ".*.npz"):
        path.unlink(missing_ok=True)


def run_experiment(experiment: Experiment, params: dict, on_progress: ProgressCallback | None,
                   checkpoint: Path) -> ExperimentResult:
    """Call the experiment's runner, passing ``checkpoint`` only to runners that take one."""
    if "checkpoint" in inspect.signature(experiment.run).parameters:
        return experiment.run(params, on_progress, checkpoint=checkpoint)
    return experiment.run(params, on_progress)


def run_failure(exc: Exception, origin: str, experiment: Experiment) -> tuple[str, int, bool]:
    """``(message, exit code, deterministic)`` for an exception raised by a run.

    ConfigError and ValueError are parameters an experiment or a library constructor
    refused (exit 2; the keys the message names are put in front); FloatingPointError
    (NonFiniteError) a run whose results would mean nothing (exit 1). Both would fail the
    same way again. Anything else (memory, a bug) exits 1 and keeps the checkpoint.
    """
    text = " ".join(str(exc).split())
    if isinstance(exc, (InvalidResultError, CheckpointError)):
        return text, 1, False
    if isinstance(exc, (ConfigError, ValueError)):
        if text.startswith(origin) or text.startswith("--"):
            return str(exc), CONFIG_ERROR_EXIT, True
        keys = [] if re.match(r"keys? '", text) else mentioned_keys(text, experiment.schema)
        label = ("key " if len(keys) == 1 else "keys ") + ", ".join(f"'{k}'" for k in keys) + ": " if keys else ""
        return f"{origin}: {label}{text}", CONFIG_ERROR_EXIT, True
    if isinstance(exc, FloatingPointError):
        return f"{origin}: run stopped, its results would mean nothing: {text}", 1, True
    if isinstance(exc, MemoryError):
        return f"{origin}: out of memory while running '{experiment.name}' ({one_line(exc)})", 1, False
    return f"{origin}: run of '{experiment.name}' failed: {one_line(exc)}{DEBUG_HINT}", 1, False


def quiet_simulate(experiment: Experiment, params: dict, checkpoint: Path) -> tuple[ExperimentResult, float]:
    """A :data:`Simulate` without progress display (sweep workers)."""
    start = time.perf_counter()
    result = run_experiment(experiment, params, None, checkpoint)
    return result, time.perf_counter() - start


def execute_run(experiment: Experiment, params: dict, origin: str, out_dir: Path,
                simulate: Simulate = quiet_simulate,
                extra_files: Callable[[ExperimentResult], Callable[[Path], None] | None] | None = None,
                ) -> tuple[ExperimentResult, float]:
    """Run ``experiment`` with ``params`` and write its folder ``out_dir``.

    The caller holds the claim of ``out_dir`` (:func:`synaptica.cli.folder.claim_out_dir`).
    ``extra_files(result)`` may return a writer of optional files (e.g. ``spikes.nwb``)
    called on the folder being written.
    Returns the checked result and the simulation's wall time in s. The checkpoint is kept
    when rerunning could succeed (a crash, a failed write) so a rerun resumes, and removed
    otherwise. Raises :class:`RunFailed`.
    """
    checkpoint = checkpoint_path(out_dir)
    try:
        raw, wall_s = simulate(experiment, params, checkpoint)
        result = check_result(raw, experiment.name)
    except Exception as exc:
        message, code, deterministic = run_failure(exc, origin, experiment)
        if deterministic:  # rerunning would fail the same way: nothing to resume
            remove_checkpoints(checkpoint)
        raise RunFailed(message, code) from exc
    try:
        also = extra_files(result) if extra_files is not None else None
        if also is None:
            write_run(out_dir, experiment.name, params, result)
        else:
            write_run(out_dir, experiment.name, params, result, also=also)
    except ConfigError as exc:  # something of the user's appeared in the folder meanwhile
        raise RunFailed(str(exc), CONFIG_ERROR_EXIT, traceback_useful=False) from exc
    except Exception as exc:  # a figure or the disk failed; the checkpoint is kept, a rerun resumes
        raise RunFailed(f"{out_dir}: cannot write the run ({one_line(exc)}){DEBUG_HINT}", 1) from exc
    remove_checkpoints(checkpoint)
    return result, wall_s
