"""Synaptic operations and an energy estimate, following NeuroBench's definitions.

NeuroBench (Yik et al., "NeuroBench: A Framework for Benchmarking Neuromorphic Computing
Algorithms and Systems", Nature Communications 2025; arXiv:2304.04640) counts, per
sample (one input, over all its time steps):

* ``Dense``: the multiply-accumulates a dense ANN-equivalent performs: every synapse
  (weight) with every input, zero or not, at every step;
* ``Effective_MACs``: operations on **non-binary** nonzero inputs, each nonzero input
  times its fan-out of nonzero weights (a multiply and an add per synapse);
* ``Effective_ACs``: the same for **binary** spike inputs (values in {-1, 0, 1}): the
  weight is only added, an accumulate;
* activation sparsity: the fraction of neuron outputs that are zero.

A layer's input is binary or not as a whole (NeuroBench decides per layer call). Zero
weights (pruned synapses) do not count; biases do not count. Plasticity (weight
updates) is not a synaptic operation here.

Energy: ``E = n_MAC * e_mac + n_AC * e_ac + n_update * e_neuron``. The defaults are 45 nm
32-bit float costs from Horowitz ("Computing's energy problem (and what we can do about
it)", ISSCC 2014): a multiply 3.7 pJ plus an add 0.9 pJ = 4.6 pJ per MAC, 0.9 pJ per AC;
:data:`HOROWITZ_45NM` holds the other precisions of the same table. Memory access,
which often dominates on real hardware, is not modelled. The neuron-update cost
``e_neuron`` defaults to 0: it depends on the model and hardware (NeuroBench counts e.g.
4 operations per update of a snnTorch ``Leaky`` neuron); set it to include updates.

Engine networks (:func:`count_network_operations`): every spike of a presynaptic neuron
touches each of its synapses once (event-driven delivery), so a projection's effective
ACs are ``sum_i spikes_i * fan_out_i``; delays only shift when the input arrives.
Spikes are binary, so projections do ACs, except with short-term plasticity, whose
per-spike efficacy multiplies every weight (MACs). ``Dense`` is the projection's
synapse count per step (n_pre * n_post when dense; the stored synapses of sparse,
one-to-one and convolutional projections). Every population neuron is updated once per
step (clock-driven), which gives the neuron updates.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Iterable, Mapping

import numpy as np

__all__ = ["HOROWITZ_45NM", "EnergyEstimate", "OperationCountError", "OperationCounts", "PopulationOps",
           "ProjectionOps", "count_model_operations", "count_network_operations", "energy_estimate"]

# Horowitz (ISSCC 2014), 45 nm, J per operation: MAC = multiply + add, AC = add.
HOROWITZ_45NM: dict[str, dict[str, float]] = {
    "fp32": {"e_mac": (3.7 + 0.9) * 1e-12, "e_ac": 0.9e-12},
    "fp16": {"e_mac": (1.1 + 0.4) * 1e-12, "e_ac": 0.4e-12},
    "int32": {"e_mac": (3.1 + 0.1) * 1e-12, "e_ac": 0.1e-12},
    "int8": {"e_mac": (0.2 + 0.03) * 1e-12, "e_ac": 0.03e-12},
}
HOROWITZ_CITATION = ("M. Horowitz, 'Computing's energy problem (and what we can do about it)', "
                     "ISSCC 2014, 45 nm process")


_INPUT_KINDS = ("poisson", "generator")  # engine groups that only emit spikes


class OperationCountError(ValueError):
    """Operations cannot be counted from what was given; the message says what is missing."""


# -- results ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ProjectionOps:
    """Operations of one projection (network) or weight layer (torch model), summed over
    all samples and steps counted.

    n_synapses: connections used by one sample in one step (for a model layer, the dense
    operations of one call per sample). inputs / nonzero_inputs: presynaptic activations
    seen and how many were nonzero (spikes). ``spiking``: inputs were binary (ACs)."""

    name: str
    kind: str
    pre: str
    post: str
    n_synapses: int
    inputs: int
    nonzero_inputs: int
    effective_macs: int
    effective_acs: int
    dense: int

    @property
    def synaptic_operations(self) -> int:
        return self.effective_macs + self.effective_acs

    @property
    def input_sparsity(self) -> float | None:
        """Fraction of presynaptic activations that were zero."""
        return 1.0 - self.nonzero_inputs / self.inputs if self.inputs else None


@dataclass(frozen=True)
class PopulationOps:
    """Neuron activity of one population (network) or spiking/activation module (model).

    activations: neuron outputs produced (n x steps x samples); spikes: nonzero ones
    (None when the network kept no record of them); neuron_updates: state updates."""

    name: str
    kind: str
    n: int
    activations: int
    spikes: int | None
    neuron_updates: int

    @property
    def activation_sparsity(self) -> float | None:
        if self.spikes is None or not self.activations:
            return None
        return 1.0 - self.spikes / self.activations


@dataclass(frozen=True)
class OperationCounts:
    """Operation counts of a run or a model: per-projection and per-population rows.

    n_samples: samples the totals cover (batch entries x trials, or the model's batch);
    sample_steps: (sample, time step) pairs, for per-step averages; dt_ms: step of a network.
    """

    projections: tuple[ProjectionOps, ...]
    populations: tuple[PopulationOps, ...]
    n_samples: int
    sample_steps: int
    dt_ms: float | None = None
    source: str = ""

    @property
    def effective_macs(self) -> int:
        return sum(p.effective_macs for p in self.projections)

    @property
    def effective_acs(self) -> int:
        return sum(p.effective_acs for p in self.projections)

    @property
    def dense(self) -> int:
        return sum(p.dense for p in self.projections)

    @property
    def synaptic_operations(self) -> int:
        return self.effective_macs + self.effective_acs

    @property
    def neuron_updates(self) -> int:
        return sum(p.neuron_updates for p in self.populations)

    @property
    def steps_per_sample(self) -> float:
        return self.sample_steps / self.n_samples

    @property
    def activation_sparsity(self) -> float | None:
        """Zero outputs over all outputs of the neuron populations (not the inputs) whose
        spikes are known (NeuroBench's activation sparsity); None if none is known."""
        known = [p for p in self.populations if p.spikes is not None and p.kind not in _INPUT_KINDS]
        total = sum(p.activations for p in known)
        return 1.0 - sum(p.spikes for p in known) / total if total else None

    def _totals(self) -> dict[str, int]:
        return {"Effective_MACs": self.effective_macs, "Effective_ACs": self.effective_acs, "Dense": self.dense,
                "neuron_updates": self.neuron_updates}

    def per_sample(self) -> dict[str, float]:
        """NeuroBench's numbers: totals divided by the number of samples."""
        return {k: v / self.n_samples for k, v in self._totals().items()}

    def per_step(self) -> dict[str, float]:
        """Totals per sample per time step."""
        return {k: v / self.sample_steps for k, v in self._totals().items()}

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict: rows, totals, per-sample and per-step averages."""
        rows = []
        for p in self.projections:
            rows.append({**asdict(p), "synaptic_operations": p.synaptic_operations,
                         "input_sparsity": p.input_sparsity})
        pops = [{**asdict(p), "activation_sparsity": p.activation_sparsity} for p in self.populations]
        return {"source": self.source, "dt_ms": self.dt_ms, "n_samples": self.n_samples,
                "sample_steps": self.sample_steps, "projections": rows, "populations": pops,
                "totals": self._totals(), "per_sample": self.per_sample(), "per_step": self.per_step(),
                "activation_sparsity": self.activation_sparsity}


# -- engine networks --------------------------------------------------------------------------------
def _as_counts(value: Any, group: Any, label: str) -> np.ndarray:
    """Per-neuron spike totals (n,) from an array (..., n), a tensor or a SpikeRecord."""
    from synaptica.record import SpikeRecord

    if isinstance(value, SpikeRecord):
        if value.n_units != group.n:
            raise OperationCountError(f"{label}: SpikeRecord has {value.n_units} units, "
                                      f"group '{group.name}' has {group.n} neurons")
        return np.bincount(value.ids, minlength=group.n).astype(np.int64)
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    array = np.asarray(value)
    if array.ndim < 1 or array.shape[-1] != group.n:
        raise OperationCountError(f"{label}: counts must have shape (..., {group.n}) for group "
                                  f"'{group.name}', got {array.shape}")
    if not (np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)):
        raise OperationCountError(f"{label}: counts must be numbers, got dtype {array.dtype}")
    if not np.all(np.isfinite(array)) or np.any(array < 0) or np.any(array != np.round(array)):
        raise OperationCountError(f"{label}: counts must be non-negative whole numbers")
    return array.reshape(-1, group.n).sum(0).astype(np.int64)


def _generator_counts(group: Any, dt: float, first: int, end: int, batch: int) -> np.ndarray:
    """Spikes a generator emits in steps [first, end), in every batch entry (at most one
    per neuron and step)."""
    steps = group.event_steps(dt)
    keep = (steps >= first) & (steps < end)
    events = np.unique(steps[keep] * group.n + group.ids[keep])
    return np.bincount(events % group.n, minlength=group.n).astype(np.int64) * batch


def _fan_out(proj: Any, skip_zero_weights: bool) -> np.ndarray:
    """(n_pre,) synapses of each presynaptic neuron (nonzero weights only if asked)."""
    n_pre = proj.pre.n
    if proj.kind == "dense":
        if not skip_zero_weights:
            return np.full(n_pre, proj.post.n, dtype=np.int64)
        w = proj.synapse_weights().detach().cpu().numpy()
        return np.count_nonzero(w, axis=1).astype(np.int64)
    pre = proj.synapse_index()[0]
    if not skip_zero_weights:
        return np.bincount(pre, minlength=n_pre).astype(np.int64)
    w = proj.synapse_weights().detach().cpu().numpy().reshape(-1)
    return np.bincount(pre[w != 0], minlength=n_pre).astype(np.int64)


def _projection_kind(proj: Any) -> str:
    if proj.kind == "dense":
        return "dense"
    return "convolution" if proj.kernel_index is not None else "sparse"


def count_network_operations(network: Any, spike_counts: Mapping[str, Any] | None = None, *,
                             duration_ms: float | None = None, n_samples: int | None = None,
                             skip_zero_weights: bool = True) -> OperationCounts:
    """Synaptic operations of a run of an engine :class:`~synaptica.engine.network.Network`.

    Each projection needs its presynaptic group's spike count per neuron over the run,
    taken from (first found): ``spike_counts[group_name]``; a :class:`CountMonitor` or a
    :class:`SpikeMonitor` on the group (``network.monitor_counts(group)`` before running);
    the schedule of a spike generator; a :class:`RateMonitor` when every neuron of the
    group has the same fan-out. ``spike_counts`` values: per-neuron totals ``(n,)``, any
    ``(..., n)`` array (summed, e.g. CountMonitor's (trials, batch, n)) or a
    :class:`~synaptica.record.SpikeRecord`; all batch entries together.

    Args:
        network: the network, after ``run`` (its monitors hold the spikes).
        spike_counts: group name -> counts, overriding the monitors.
        duration_ms: time the counts cover (ms), default the whole run (``network.step * dt``).
        n_samples: samples for per-sample figures; default batch size x trials run
            (with :meth:`Network.set_trials` each trial is one sample), else batch size.
        skip_zero_weights: zero weights are no synapses (NeuroBench binarises weights);
            read after the run, so a plastic weight counts by its final value.

    Returns:
        :class:`OperationCounts`: one row per projection and per group (spikes = None when
        unknown; inputs have no neuron updates); ``sample_steps = batch * steps``.
    """
    dt = float(network.dt)
    if duration_ms is None:
        n_steps = int(network.step)
        if n_steps < 1:
            raise OperationCountError("count_network_operations: the network has not run yet; run it or "
                                      "give duration_ms with spike_counts")
    else:
        if isinstance(duration_ms, bool) or not isinstance(duration_ms, (int, float, np.number)):
            raise OperationCountError(f"count_network_operations: duration_ms must be a number of ms, "
                                      f"got {duration_ms!r}")
        n_steps = int(round(duration_ms / dt)) if np.isfinite(duration_ms) else 0
        if not (np.isfinite(duration_ms) and n_steps >= 1 and abs(n_steps * dt - duration_ms) <= 1e-6 * duration_ms):
            raise OperationCountError(f"count_network_operations: duration_ms must be a positive multiple of "
                                      f"dt = {dt} ms, got {duration_ms!r}")
    batch = int(network.batch_size)
    trials = math.ceil(n_steps / network.trial_steps) if network.trial_steps else 1
    n_samples = batch * trials if n_samples is None else n_samples
    if not isinstance(n_samples, (int, np.integer)) or n_samples < 1:
        raise OperationCountError(f"count_network_operations: n_samples must be a positive integer, got {n_samples!r}")
    if spike_counts is not None and not isinstance(spike_counts, Mapping):
        raise OperationCountError(f"count_network_operations: spike_counts must map group names to counts, "
                                  f"got {type(spike_counts).__name__}")
    groups = {g.name: g for g in network.groups}
    given = dict(spike_counts or {})
    unknown = sorted(set(given) - set(groups))
    if unknown:
        raise OperationCountError(f"count_network_operations: spike_counts names unknown group(s) {unknown}; "
                                  f"groups: {sorted(groups)}")
    end = int(network.step) or n_steps
    counts: dict[str, np.ndarray | None] = {}
    for name, group in groups.items():
        counts[name] = _group_counts(network, group, given, dt, end - n_steps, end, batch)
        if counts[name] is not None and counts[name].max(initial=0) > n_steps * batch:
            raise OperationCountError(
                f"count_network_operations: a neuron of '{name}' has {counts[name].max()} spikes, more than "
                f"one per step over {n_steps} steps x {batch} batch entries; check duration_ms")

    rows = []
    for proj in network.projections:
        fan_out = _fan_out(proj, skip_zero_weights)
        pre_counts = counts[proj.pre.name]
        if pre_counts is not None:
            spikes, ops = int(pre_counts.sum()), int(pre_counts @ fan_out)
        else:
            spikes = _population_total(network, proj.pre)
            if spikes is None or np.any(fan_out != fan_out[0]):
                raise OperationCountError(
                    f"projection '{proj.name}': no per-neuron spike counts of its presynaptic group "
                    f"'{proj.pre.name}'; call network.monitor_counts({proj.pre.name}) before running, or pass "
                    f"spike_counts={{'{proj.pre.name}': counts}}")
            ops = spikes * int(fan_out[0])  # uniform fan-out: the population total suffices
        multiplies = proj.stp is not None  # short-term plasticity scales each weight: a MAC
        rows.append(ProjectionOps(
            name=proj.name, kind=_projection_kind(proj), pre=proj.pre.name, post=proj.post.name,
            n_synapses=int(proj.n_synapses), inputs=proj.pre.n * n_steps * batch, nonzero_inputs=spikes,
            effective_macs=ops if multiplies else 0, effective_acs=0 if multiplies else ops,
            dense=int(proj.n_synapses) * n_steps * batch))

    pops = []
    for name, group in groups.items():
        known = counts[name] if counts[name] is not None else _population_total(network, group)
        is_neuron = group.kind == "population"
        pops.append(PopulationOps(
            name=name, kind=group.kind, n=group.n, activations=group.n * n_steps * batch,
            spikes=None if known is None else int(np.sum(known)),
            neuron_updates=group.n * n_steps * batch if is_neuron else 0))
    return OperationCounts(tuple(rows), tuple(pops), int(n_samples), n_steps * batch, dt, "network")


def _group_counts(network: Any, group: Any, given: dict, dt: float, first: int, end: int,
                  batch: int) -> np.ndarray | None:
    if group.name in given:
        return _as_counts(given[group.name], group, f"spike_counts['{group.name}']")
    for mon in network.count_monitors:
        if mon.group is group:
            return mon.counts.reshape(-1, group.n).sum(0).astype(np.int64)
    for mon in network.spike_monitors:
        if mon.group is group:
            return np.bincount(np.asarray(mon.neuron_ids, dtype=np.int64), minlength=group.n)
    if group.kind == "generator":
        return _generator_counts(group, dt, max(first, 0), end, batch)
    return None


def _population_total(network: Any, group: Any) -> int | None:
    for mon in network.rate_monitors:
        if mon.group is group:
            return int(mon.counts.sum())
    return None


# -- torch models ----------------------------------------------------------------------------------
def _default_layers() -> tuple[type, ...]:
    from torch import nn

    return (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d,
            nn.ConvTranspose3d)


def _is_neuron_module(module: Any, layers: tuple[type, ...]) -> bool:
    """Default choice of activation modules: torch's activation classes and leaf modules
    defined outside torch (spiking neurons of snnTorch, Norse or user code)."""
    from torch.nn.modules import activation

    if isinstance(module, layers) or any(True for _ in module.children()):
        return False
    cls = type(module)
    return cls.__module__ == activation.__name__ or not cls.__module__.startswith("torch.")


def _first_tensor(value: Any) -> Any:
    import torch

    if isinstance(value, torch.Tensor):
        return value
    if isinstance(value, (tuple, list)):
        for item in value:
            found = _first_tensor(item)
            if found is not None:
                return found
    return None


def count_model_operations(model: Any, inputs: Any, *, time_dim: int | None = None,
                           layers: Iterable[type] | None = None, neurons: Iterable[type] | None = None,
                           n_steps: int | None = None) -> OperationCounts:
    """Synaptic operations of a torch model over a batch of inputs, counted with forward hooks.

    Each call of a weight layer (``layers``, default Linear, Conv1-3d, ConvTranspose1-3d)
    adds, for its input ``x`` and weight ``W`` (NeuroBench's method): effective ops = the
    layer applied to ``x != 0`` with weights ``W != 0`` and no bias, summed; dense ops = the
    same with all ones (zero padding is not counted). The call's ops are ACs if every input
    value is in {-1, 0, 1} (spikes), else MACs.

    Args:
        model: an ``nn.Module``; it is run under ``torch.no_grad`` (reset stateful neurons
            before calling).
        inputs: a tensor, batch first ``(batch, ...)``, fed in one call, or with
            ``time_dim`` a sequence fed one step per call (``time_dim=0``: ``(T, batch, ...)``).
        layers: module types counted as synaptic layers.
        neurons: module types whose outputs are neuron activations (activation sparsity,
            neuron updates = output elements); default torch's activations and leaf modules
            defined outside torch.
        n_steps: time steps per sample; default the number of calls of the most-called
            layer (a model looping over time inside ``forward`` calls its layers T times).

    Returns:
        :class:`OperationCounts` with one row per layer and per neuron module (module path
        names) and ``n_samples`` = batch size.
    """
    import torch

    if not isinstance(model, torch.nn.Module):
        raise OperationCountError(f"count_model_operations: model must be a torch.nn.Module, got {type(model).__name__}")
    if not isinstance(inputs, torch.Tensor):
        raise OperationCountError(f"count_model_operations: inputs must be a tensor, got {type(inputs).__name__}")
    if time_dim is not None and not -inputs.ndim <= time_dim < inputs.ndim:
        raise OperationCountError(f"count_model_operations: time_dim {time_dim} out of range for inputs of shape "
                                  f"{tuple(inputs.shape)}")
    steps_in = inputs.unbind(time_dim) if time_dim is not None else (inputs,)
    if not steps_in or steps_in[0].ndim < 1 or steps_in[0].shape[0] < 1:
        raise OperationCountError(f"count_model_operations: inputs of shape {tuple(inputs.shape)} hold no samples")
    n_samples = int(steps_in[0].shape[0])
    layers = tuple(layers) if layers is not None else _default_layers()
    counter = _ModelCounter()
    handles = []
    try:
        for name, module in model.named_modules():
            label = name or type(module).__name__
            if isinstance(module, layers):
                if not isinstance(getattr(module, "weight", None), torch.Tensor):
                    raise OperationCountError(f"count_model_operations: layer '{label}' has no weight tensor")
                handles.append(module.register_forward_hook(counter.layer_hook(label)))
            elif module is not model and (isinstance(module, tuple(neurons)) if neurons is not None
                                          else _is_neuron_module(module, layers)):
                handles.append(module.register_forward_hook(counter.neuron_hook(label)))
        with torch.no_grad():
            for x in steps_in:
                model(x)
    finally:
        for handle in handles:
            handle.remove()
    if not counter.layers:
        raise OperationCountError(f"count_model_operations: the model ran no layer of types "
                                  f"{[t.__name__ for t in layers]}")
    steps = n_steps if n_steps is not None else max(s["calls"] for s in counter.layers.values())
    if not isinstance(steps, (int, np.integer)) or steps < 1:
        raise OperationCountError(f"count_model_operations: n_steps must be a positive integer, got {n_steps!r}")
    rows = tuple(ProjectionOps(name=name, kind=s["kind"], pre="", post="", n_synapses=s["per_call"],
                               inputs=s["inputs"], nonzero_inputs=s["nonzero"], effective_macs=s["macs"],
                               effective_acs=s["acs"], dense=s["dense"]) for name, s in counter.layers.items())
    pops = tuple(PopulationOps(name=name, kind=s["kind"], n=s["n"], activations=s["outputs"], spikes=s["nonzero"],
                               neuron_updates=s["outputs"]) for name, s in counter.neurons.items())
    return OperationCounts(rows, pops, n_samples, n_samples * int(steps), None, "model")


class _ModelCounter:
    """Forward hooks that accumulate each layer's operations and each neuron module's outputs."""

    def __init__(self) -> None:
        self.layers: dict[str, dict[str, Any]] = {}
        self.neurons: dict[str, dict[str, Any]] = {}
        self.dense_cache: dict[tuple, int] = {}
        self.busy = False  # functional_call re-enters the layer's own hooks: ignore those calls

    def layer_hook(self, name: str):
        def hook(module, args, output):
            x = _first_tensor(args)
            if x is None or self.busy:
                return
            self.busy = True
            try:
                self.count_call(name, module, x.detach())
            finally:
                self.busy = False
        return hook

    def count_call(self, name: str, module: Any, x: Any) -> None:
        """The layer applied to binarised input and weights (no bias), summed: the
        (nonzero input, nonzero weight) pairs, each one operation; all ones for Dense."""
        import torch
        from torch.func import functional_call

        binary = x != 0
        spiking = bool(torch.all(binary == (x.abs() == 1)))  # every nonzero is +-1
        weight = (module.weight.detach() != 0).to(torch.float64)  # float64: exact integer sums
        if isinstance(module, torch.nn.Linear):  # the same sum in closed form: inputs x fan-out
            nonzero_per_input = binary.reshape(-1, module.in_features).sum(0).to(torch.float64)
            ops = int((nonzero_per_input @ weight.sum(0)).item())
            dense = x.numel() * module.out_features
        else:
            params = {"weight": weight}
            if getattr(module, "bias", None) is not None:
                params["bias"] = torch.zeros(module.bias.shape, dtype=torch.float64, device=x.device)
            ops = int(functional_call(module, params, (binary.to(torch.float64),)).sum().item())
            key = (id(module), tuple(x.shape))
            if key not in self.dense_cache:
                ones = {**params, "weight": torch.ones_like(weight)}
                self.dense_cache[key] = int(functional_call(module, ones, (torch.ones_like(x, dtype=torch.float64),))
                                            .sum().item())
            dense = self.dense_cache[key]
        s = self.layers.setdefault(name, {"kind": type(module).__name__, "calls": 0, "inputs": 0, "nonzero": 0,
                                          "macs": 0, "acs": 0, "dense": 0, "per_call": dense // max(1, x.shape[0])})
        s["calls"] += 1
        s["inputs"] += x.numel()
        s["nonzero"] += int(binary.sum().item())
        s["acs" if spiking else "macs"] += ops
        s["dense"] += dense

    def neuron_hook(self, name: str):
        def hook(module, args, output):
            y = _first_tensor(output)
            if y is None:
                return
            s = self.neurons.setdefault(name, {"kind": type(module).__name__, "n": y[0].numel() if y.ndim else 1,
                                               "outputs": 0, "nonzero": 0})
            s["outputs"] += y.numel()
            s["nonzero"] += int(y.detach().count_nonzero().item())
        return hook


# -- energy ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class EnergyEstimate:
    """Energy in joules: per projection/layer (``projections``: name -> J), per population
    (``populations``: name -> J, neuron updates), the total, and ``dense_j``, the energy
    of the dense ANN-equivalent (every dense operation a MAC) for comparison."""

    projections: dict[str, float]
    populations: dict[str, float]
    total_j: float
    dense_j: float
    per_sample_j: float
    per_step_j: float
    e_mac: float
    e_ac: float
    e_neuron: float
    citation: str = HOROWITZ_CITATION

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def energy_estimate(counts: OperationCounts, e_mac: float = HOROWITZ_45NM["fp32"]["e_mac"],
                    e_ac: float = HOROWITZ_45NM["fp32"]["e_ac"], e_neuron: float = 0.0) -> EnergyEstimate:
    """``E = n_MAC * e_mac + n_AC * e_ac + n_update * e_neuron`` in joules.

    Defaults: 45 nm 32-bit float, 4.6 pJ per MAC (3.7 multiply + 0.9 add) and 0.9 pJ per
    AC (Horowitz, ISSCC 2014; other precisions in :data:`HOROWITZ_45NM`); neuron updates
    cost nothing unless ``e_neuron`` (J per neuron per step) is given. Memory access is
    not included.
    """
    if not isinstance(counts, OperationCounts):
        raise OperationCountError(f"energy_estimate: counts must be OperationCounts, got {type(counts).__name__}")
    for label, value in (("e_mac", e_mac), ("e_ac", e_ac), ("e_neuron", e_neuron)):
        if isinstance(value, bool) or not isinstance(value, (int, float, np.number)) or not np.isfinite(value) \
                or value < 0:
            raise OperationCountError(f"energy_estimate: {label} must be a finite energy >= 0 J, got {value!r}")
    proj = {p.name: p.effective_macs * e_mac + p.effective_acs * e_ac for p in counts.projections}
    pops = {p.name: p.neuron_updates * e_neuron for p in counts.populations}
    total = float(sum(proj.values()) + sum(pops.values()))
    return EnergyEstimate(proj, pops, total, float(counts.dense * e_mac), total / counts.n_samples,
                          total / counts.sample_steps, float(e_mac), float(e_ac), float(e_neuron))
