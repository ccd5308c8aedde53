"""Checkpoint files are untrusted input: reading them, and checking every field.

A checkpoint (.npz of plain arrays, read without pickle) may have been truncated by a
crash, written by a run with other settings, or edited by hand. Its values end up as
indices and loop bounds inside the compiled CPU loop, where a wrong one reads or writes
memory out of bounds. So every field is checked here against what the loading run would
itself write -- dtype, shape, finiteness, range -- and anything else is refused with a
:class:`~synaptica.engine.errors.CheckpointError` naming the file and the field, before
anything is restored.

The run that wrote a checkpoint is identified by its *settings* (every parameter that
changes the result), stored as JSON in the field ``tag``; a checkpoint of other settings
is refused with the settings that differ ("n_train 1000 vs 2000").
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from synaptica.engine.errors import CheckpointError

#: How a refusal ends: what the user can do about it.
REMEDY = "delete it (or use another --out) to start afresh"


def read_checkpoint(path: str | Path) -> dict[str, np.ndarray]:
    """All arrays of the .npz at ``path`` (no pickle); unreadable files are refused."""
    try:
        with np.load(path, allow_pickle=False) as data:
            if not hasattr(data, "files"):
                raise ValueError("a single array, not an .npz archive")
            return {k: data[k] for k in data.files}
    except Exception as error:  # zip, header and memory errors come in many types: name the file
        raise CheckpointError(f"checkpoint {path}: unreadable ({type(error).__name__}: {error}); {REMEDY}") from None


def run_settings(tag: str | Mapping[str, Any], **more: Any) -> dict[str, Any]:
    """The settings that identify a run: ``tag`` (a mapping of parameters, or a plain
    string kept under "run") plus ``more`` (e.g. the end step), as JSON would read them."""
    settings = dict(tag) if isinstance(tag, Mapping) else {"run": str(tag)}
    settings.update(more)
    return json.loads(encode_settings(settings))


def encode_settings(settings: Mapping[str, Any]) -> str:
    return json.dumps(settings, sort_keys=True, default=str)


def check_settings(path: str | Path, arrays: Mapping[str, np.ndarray], settings: Mapping[str, Any]) -> None:
    """Refuse a checkpoint written by a run whose settings differ, naming the differences."""
    raw = arrays.get("tag")
    saved: Any = None
    if raw is not None and raw.dtype.kind == "U" and raw.ndim == 0:
        try:
            saved = json.loads(str(raw))
        except ValueError:
            saved = None
    if not isinstance(saved, dict):
        raise CheckpointError(f"checkpoint {path}: field 'tag' does not say which run wrote it; {REMEDY}")
    current = run_settings(settings)
    if saved == current:
        return
    differ = [f"{key} {_show(saved, key)} vs {_show(current, key)}" for key in sorted(set(saved) | set(current))
              if saved.get(key, _MISSING) != current.get(key, _MISSING)]
    shown = ", ".join(differ[:6]) + (f" and {len(differ) - 6} more" if len(differ) > 6 else "")
    raise CheckpointError(f"checkpoint {path}: written by a run with other settings: {shown} "
                          f"(checkpoint vs this run); {REMEDY}")


_MISSING = object()


def _show(settings: Mapping[str, Any], key: str) -> str:
    if key not in settings:
        return "(unset)"
    text = json.dumps(settings[key])
    return text if len(text) <= 40 else text[:37] + "..."


class Fields:
    """Checks of the fields of one checkpoint; every refusal names file and field."""

    def __init__(self, path: str | Path, arrays: Mapping[str, np.ndarray]) -> None:
        self.path, self.arrays = path, arrays

    def fail(self, key: str | None, problem: str):
        where = f"field '{key}' " if key else ""
        raise CheckpointError(f"checkpoint {self.path}: {where}{problem}; {REMEDY}")

    def get(self, key: str, dtype: Any, shape: tuple | None = None, ndim: int | None = None,
            low: float | None = None, high: float | None = None, finite: bool = True) -> np.ndarray:
        """Field ``key``, which must exist and have exactly ``dtype`` (a NumPy dtype, or
        "int" for any integer type), ``shape`` (None entries: any length) or ``ndim``, be
        finite (floats), and lie in [low, high]."""
        if key not in self.arrays:
            self.fail(key, "is missing")
        value = self.arrays[key]
        if dtype == "int":
            if value.dtype.kind not in "iu":
                self.fail(key, f"has dtype {value.dtype}, an integer is needed")
        elif value.dtype != np.dtype(dtype):
            self.fail(key, f"has dtype {value.dtype}, {np.dtype(dtype)} is needed")
        if shape is not None:
            if value.ndim != len(shape) or any(s is not None and s != v for s, v in zip(shape, value.shape)):
                wanted = "(" + ", ".join("any" if s is None else str(s) for s in shape) + ")"
                self.fail(key, f"has shape {value.shape}, {wanted} is needed")
        elif ndim is not None and value.ndim != ndim:
            self.fail(key, f"has {value.ndim} dimensions, {ndim} are needed")
        if value.size == 0:
            return value
        if finite and value.dtype.kind == "f" and not np.isfinite(value).all():
            self.fail(key, "contains NaN or infinity")
        if low is not None and value.min() < low:
            self.fail(key, f"has {value.min()}, below the smallest possible value {low}")
        if high is not None and value.max() > high:
            self.fail(key, f"has {value.max()}, above the largest possible value {high}")
        return value

    def text(self, key: str) -> str:
        """A scalar string field."""
        if key not in self.arrays:
            self.fail(key, "is missing")
        value = self.arrays[key]
        if value.dtype.kind != "U" or value.ndim != 0:
            self.fail(key, f"has dtype {value.dtype} and shape {value.shape}, a text is needed")
        return str(value)

    def integer(self, key: str, low: int, high: int) -> int:
        """A scalar integer field in [low, high]."""
        return int(self.get(key, "int", shape=(), low=low, high=high))

    def torch_generator_state(self, key: str, device: Any = "cpu", allow_unused: bool = False) -> Any:
        """A torch generator state that torch itself accepts (tried on a scratch generator).
        ``allow_unused``: an empty field stands for a generator never used (None)."""
        value = self.get(key, np.uint8, ndim=1)
        if allow_unused and value.size == 0:
            return None
        import torch
        state = torch.from_numpy(value.copy())
        try:
            torch.Generator(device=device).set_state(state)
        except (RuntimeError, ValueError, TypeError) as error:
            self.fail(key, f"is not a valid random generator state ({error})")
        return state

    def numpy_generator_state(self, key: str) -> dict:
        """A NumPy bit-generator state (JSON text) that NumPy accepts, of a PCG64 generator."""
        raw = self.text(key)
        try:
            state = json.loads(raw)
            scratch = np.random.default_rng(0)
            if not isinstance(state, dict) or state.get("bit_generator") != type(scratch.bit_generator).__name__:
                raise ValueError(f"not a {type(scratch.bit_generator).__name__} state")
            scratch.bit_generator.state = state
        except (ValueError, TypeError, KeyError, OverflowError) as error:
            self.fail(key, f"is not a valid random generator state ({error})")
        return state

    def only(self, allowed: set[str]) -> None:
        """Refuse fields no run of this kind writes (the file is of another kind of run)."""
        unknown = sorted(set(self.arrays) - allowed)
        if unknown:
            self.fail(None, f"has field(s) {unknown[:3]} that this run does not write (another network or "
                            f"experiment)")


# -- a Network's checkpoint -----------------------------------------------------------------
def check_network_fields(net, fields: Fields, expected: dict[str, np.ndarray], steps: tuple[int, int] | None,
                         extra: tuple[str, ...] = ()) -> None:
    """Check every field of a checkpoint of ``net`` (see module doc); ``expected`` holds
    what ``net`` itself writes. ``steps`` (first, last): the steps the run may be at."""
    fields.only({*expected, "tag", *extra})
    for key in expected:
        if key not in fields.arrays:
            fields.fail(key, "is missing (the checkpoint is of another network)")
    step = int(fields.get("step", "int", shape=()))
    if step < 0:
        fields.fail("step", f"is {step}, negative")
    if steps is not None and not steps[0] <= step <= steps[1]:
        fields.fail("step", f"is {step}, outside this run (steps {steps[0]} to {steps[1]})")
    if not np.any(fields.get("noise_state", np.uint64, shape=(1,))):
        fields.fail("noise_state", "is 0: the noise generator state is 0 (xorshift would emit a constant)")
    fields.torch_generator_state("torch_generator", net._device, allow_unused=True)
    special = ("step", "noise_state", "torch_generator")
    for key, value in expected.items():   # state, buffers, weights, plastic and modulator state
        if key.startswith("monitor.") or key.endswith((".pulse_steps", ".pulse_amounts")) or key in special:
            continue
        fields.get(key, value.dtype, shape=value.shape)
    for p, proj in enumerate(net.projections):
        _check_weight_signs(fields, f"projection.{p}.weights", proj)
    for group in net.groups:
        if group.kind == "poisson":
            _check_poisson_block(fields, f"group.{group.name}.", group, step)
    for name in net.modulators:
        pulses = fields.get(f"modulator.{name}.pulse_steps", np.int64, ndim=1, low=0)
        fields.get(f"modulator.{name}.pulse_amounts", np.float64, shape=(pulses.size,))
        if np.any(np.diff(pulses) < 0):
            fields.fail(f"modulator.{name}.pulse_steps", "is not sorted")
    _check_monitors(net, fields, step)


def _check_weight_signs(fields: Fields, key: str, proj) -> None:
    """Weights keep the sign their projection enforces (Dale's law, conductances >= 0)."""
    if key not in fields.arrays or proj.sign is None and not proj.conductance:
        return
    w = fields.arrays[key]
    if w.size == 0:
        return
    if proj.negated_in_kernel:   # the loop keeps magnitudes of plastic inhibitory currents
        ok = w.min() >= 0 or w.max() <= 0
    elif proj.conductance or proj.sign == "excitatory":
        ok = w.min() >= 0
    else:
        ok = w.max() <= 0
    if not ok:
        fields.fail(key, f"breaks the sign of projection '{proj.name}' "
                         f"({'conductance' if proj.conductance else proj.sign})")


def _check_poisson_block(fields: Fields, prefix: str, group, step: int) -> None:
    """The drawn block of Poisson spikes the loop continues from: its steps, its CSR index
    and the neuron ids it stores are all used as indices."""
    start, length = (int(v) for v in fields.arrays[prefix + "block"])
    index, ids = fields.arrays[prefix + "block_index"], fields.arrays[prefix + "block_ids"]
    if not (0 <= start <= step and 0 <= length <= index.shape[1] - 1):
        fields.fail(prefix + "block", f"is [{start}, {length}]: a block of Poisson spikes that does not "
                                      f"start before step {step} or is longer than {index.shape[1] - 1} steps")
    used = index[:, : length + 1]
    if np.any(used[:, 0] != 0) or np.any(np.diff(used, axis=1) < 0) or used[:, -1].max() > ids.shape[1]:
        fields.fail(prefix + "block_index", "is not an index of the stored spikes")
    for b, count in enumerate(used[:, -1]):
        stored = ids[b, :count]
        if stored.size and (stored.min() < 0 or stored.max() >= group.n):
            fields.fail(prefix + "block_ids", f"holds neuron ids outside [0, {group.n})")


def _check_monitors(net, fields: Fields, step: int) -> None:
    """Recordings so far: 1-D event arrays, ids, batch entries and times within the run."""
    batch = net.batch_size
    for mon in net.spike_monitors:
        prefix = f"monitor.{mon.name}."
        steps = fields.get(prefix + "steps", np.int64, ndim=1, low=0, high=step - 1)
        ids = fields.get(prefix + "ids", np.int32, shape=(steps.size,), low=0, high=mon.group.n - 1)
        entries = fields.get(prefix + "batch", np.int32, shape=(steps.size,), low=0, high=batch - 1)
        # both paths record in (step, batch entry, neuron) order, each spike once
        d_step, d_entry, d_id = np.diff(steps), np.diff(entries), np.diff(ids)
        if not np.all((d_step > 0) | (d_step == 0) & ((d_entry > 0) | (d_entry == 0) & (d_id > 0))):
            fields.fail(prefix + "steps", "lists spikes out of order or twice")
    for mon in net.state_monitors:
        prefix = f"monitor.{mon.name}."
        steps = fields.get(prefix + "steps", np.int64, ndim=1, low=-1, high=step - 1)
        if np.any(np.diff(steps) <= 0):
            fields.fail(prefix + "steps", "lists samples out of order or twice")
        shape = (steps.size, batch, mon.neurons.size) if steps.size else (0, None, None)
        fields.get(prefix + "values", np.float64, shape=shape)
    for mon in net.rate_monitors:
        prefix = f"monitor.{mon.name}."
        counts = fields.get(prefix + "counts", np.int64, ndim=2, low=0, high=mon.group.n)
        if counts.shape[0] > step or counts.size and counts.shape[1] != batch:
            fields.fail(prefix + "counts", f"has shape {counts.shape}: more steps than run ({step}) or "
                                           f"not {batch} batch entries")
    for mon in net.count_monitors:
        prefix = f"monitor.{mon.name}."
        counts = fields.get(prefix + "counts", np.int64, shape=(None, batch, mon.group.n), low=0, high=max(step, 0))
        # rows: one per trial begun so far (one for the whole run without trials)
        trials = net.trial_steps
        fewest = -(-step // trials) if trials else min(step, 1)
        most = step // trials + 1 if trials else 1
        if not fewest <= counts.shape[0] <= most:
            fields.fail(prefix + "counts", f"has {counts.shape[0]} trials, a run at step {step} has "
                                           f"{fewest} to {most}")
