"""NIR interchange: export a trained :class:`~synaptica.training.layers.SpikingMLP` to a NIR
graph, import NIR graphs of LIF / CubaLIF / Linear / Affine nodes as a torch module.

NIR (Pedersen J E et al. 2024, "Neuromorphic intermediate representation: A unified
instruction set for interoperable brain-inspired computing", Nat. Commun. 15:8122;
https://github.com/neuromorphs/NIR) describes neurons in continuous time (times in s)::

    LIF:     tau dv/dt = (v_leak - v) + r I;                 spike when v > v_threshold, then v = v_reset
    CubaLIF: tau_syn dI/dt = -I + w_in S;  tau_mem dv/dt = (v_leak - v) + r I;   same spike and reset

Our layers are discrete-time (:mod:`synaptica.training.neuron`): per step,
``h = beta v + I_t``, spike when ``h >= theta``, then ``v = h - theta`` (reset
``"subtract"``) or ``v = 0`` (reset ``"zero"``). Each simulator discretises NIR with its own
step ``dt`` (NIR stores none). The mapping here is forward Euler, the convention of
snnTorch's NIR export and import (which fix ``dt = 1e-4`` s)::

    beta = 1 - dt / tau          tau = dt / (1 - beta)
    input gain r dt / tau = 1    r = tau / dt = 1 / (1 - beta)
    v_leak = 0, v_reset = 0, v_threshold = theta

so a model exported with ``dt`` and run by a consumer with the same ``dt`` and Euler's rule
has our update exactly. (``beta = exp(-dt / tau)``, the exact decay of the leak, is how
our layers *describe* ``tau_m``, but it would need ``r = 1 / (1 - exp(-dt / tau))`` for
unit input gain, and Euler consumers would then decay with ``1 - dt / tau`` instead.)

Resets. NIR's reset sets ``v`` to ``v_reset``: our ``"zero"`` reset is exactly NIR's with
``v_reset = 0``, and a NIR LIF with any ``v_leak`` and ``v_reset`` is exactly our zero-reset
LIF on ``u = v - v_reset`` (threshold ``v_threshold - v_reset``, an extra current
``(dt / tau)(v_leak - v_reset)`` per step, start ``u = -v_reset``), which is how it is
imported. Our ``"subtract"`` reset has no NIR equivalent: export refuses it unless
``allow_subtract=True``, which writes ``metadata["synaptica_reset"] = "subtract"`` on the
LIF nodes. Our importer honours that key (round trips are exact); other NIR consumers see
a reset to 0 and diverge after the first spike. One more difference: we spike at
``h >= theta``, NIR at ``v > v_threshold``; they differ only when the membrane lands
exactly on the threshold.

CubaLIF is imported with the same rule, the synaptic current updated first:
``I_t = (1 - dt / tau_syn) I_{t-1} + (dt / tau_syn) w_in S_t``, then the membrane
step with input ``(dt / tau_mem) r I_t`` (snnTorch's ``Synaptic`` order).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from synaptica.training.functional import spike_linear
from synaptica.training.layers import LIFLayer, LIFNeurons, RecurrentLIFLayer, SpikingMLP, check_sequence

__all__ = ["NIRError", "NIRNetwork", "export_nir", "import_nir", "write_nir", "read_nir", "SUPPORTED_NODES"]

SUPPORTED_NODES = ("Input", "Output", "Affine", "Linear", "LIF", "CubaLIF")
DEFAULT_DT = 1e-4  # s; snnTorch's NIR import and export use this step
RESET_KEY = "synaptica_reset"


class NIRError(ValueError):
    """A model or NIR graph that cannot be converted; the message names the node and why."""


def _nir():
    try:
        import nir
    except ImportError as exc:  # pragma: no cover - exercised only without the extra
        raise ImportError("NIR interchange needs the 'nir' package: pip install 'synaptica[nir]'") from exc
    return nir


def _check_dt(dt: float) -> float:
    if isinstance(dt, bool) or not isinstance(dt, (int, float, np.floating)) or not np.isfinite(dt) or not dt > 0:
        raise NIRError(f"dt must be a finite time step > 0 s, got {dt!r}")
    return float(dt)


# -- export --------------------------------------------------------------------------------
def export_nir(model: SpikingMLP, dt: float = DEFAULT_DT, *, allow_subtract: bool = False) -> Any:
    """A ``nir.NIRGraph`` of a feed-forward :class:`SpikingMLP`:
    ``input -> {name}_affine -> {name}_lif -> ... -> output`` (``Linear`` for layers without
    bias), parameters in float64 with the forward-Euler mapping of the module docstring.

    model: the network (its current ``beta`` and ``threshold``, learned or fixed).
    dt: the time step in s that a consumer must use to reproduce the model.
    allow_subtract: export layers with reset ``"subtract"`` (marked in the LIF nodes'
        metadata; exact only for :func:`import_nir`), else they are refused.
    """
    nir = _nir()
    dt = _check_dt(dt)
    if not isinstance(model, SpikingMLP):
        raise NIRError(f"export_nir takes a SpikingMLP, got {type(model).__name__}")
    for layer in model.layers:  # refuse before building anything
        if isinstance(layer, RecurrentLIFLayer):
            raise NIRError(f"layer '{layer.name}' is recurrent; only feed-forward SpikingMLPs are exported")
        if not isinstance(layer, LIFLayer):
            raise NIRError(f"layer '{getattr(layer, 'name', '?')}' is a {type(layer).__name__}, not a LIFLayer")
        if layer.neurons.reset == "subtract" and not allow_subtract:
            raise NIRError(f"layer '{layer.name}' resets by subtraction, which NIR's LIF (reset to v_reset) cannot "
                           "express: train with reset='zero', or pass allow_subtract=True to mark it in the node "
                           "metadata (exact only when synaptica imports the graph)")
    nodes: dict[str, Any] = {"input": nir.Input(input_type=np.array([model.sizes[0]]))}
    edges, previous = [], "input"
    with torch.no_grad():
        for layer in model.layers:
            weight = layer.linear.weight.detach().cpu().double().numpy().copy()
            if layer.linear.bias is None:
                synapse = nir.Linear(weight=weight)
            else:
                synapse = nir.Affine(weight=weight, bias=layer.linear.bias.detach().cpu().double().numpy().copy())
            beta = layer.neurons.beta().detach().cpu().double().numpy().copy()
            threshold = layer.neurons.threshold().detach().cpu().double().numpy().copy()
            tau = dt / (1.0 - beta)
            lif = nir.LIF(tau=tau, r=1.0 / (1.0 - beta), v_leak=np.zeros_like(beta), v_threshold=threshold,
                          v_reset=np.zeros_like(beta))
            if layer.neurons.reset == "subtract":
                lif.metadata[RESET_KEY] = "subtract"
            nodes[f"{layer.name}_affine"], nodes[f"{layer.name}_lif"] = synapse, lif
            edges += [(previous, f"{layer.name}_affine"), (f"{layer.name}_affine", f"{layer.name}_lif")]
            previous = f"{layer.name}_lif"
    nodes["output"] = nir.Output(output_type=np.array([model.sizes[-1]]))
    edges.append((previous, "output"))
    return nir.NIRGraph(nodes=nodes, edges=edges)


def write_nir(path: str | Path, graph: Any) -> None:
    """Write a NIR graph to an HDF5 file (``nir.write``)."""
    _nir().write(str(path), graph)


def read_nir(path: str | Path) -> Any:
    """Read a NIR graph from an HDF5 file (``nir.read``); a missing or corrupt file raises
    :class:`NIRError` naming it."""
    path = Path(path)
    if not path.is_file():
        raise NIRError(f"{path}: no such NIR file")
    try:
        return _nir().read(str(path))
    except Exception as exc:  # noqa: BLE001 - h5py / nir raise many types on a bad file
        raise NIRError(f"{path}: not a readable NIR graph ({type(exc).__name__}: {exc})") from exc


# -- import --------------------------------------------------------------------------------
class _Synapse(torch.nn.Module):
    """A NIR ``Affine`` / ``Linear`` node: ``x @ W.T (+ b)`` on (T, B, n_in)."""

    def __init__(self, weight: np.ndarray, bias: np.ndarray | None) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(torch.as_tensor(weight, dtype=torch.get_default_dtype()))
        self.bias = None if bias is None else torch.nn.Parameter(torch.as_tensor(bias, dtype=torch.get_default_dtype()))
        self.n_in, self.n_out = int(weight.shape[1]), int(weight.shape[0])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return spike_linear(x, self.weight, self.bias)


class _Neurons(torch.nn.Module):
    """A NIR ``LIF`` or ``CubaLIF`` node as our discrete LIF on ``u = v - v_reset``.

    Per step (Euler, see the module docstring): for CubaLIF ``I_t = alpha I_{t-1} +
    syn_gain x_t`` (else ``I_t = x_t``); the membrane receives ``gain I_t + offset``
    (``offset = (1 - beta)(v_leak - v_reset)``) and starts at ``u_0 = -v_reset``.
    """

    def __init__(self, beta: np.ndarray, threshold: np.ndarray, gain: np.ndarray, offset: np.ndarray,
                 v0: np.ndarray, reset: str, alpha: np.ndarray | None = None,
                 syn_gain: np.ndarray | None = None) -> None:
        super().__init__()
        dtype = torch.get_default_dtype()
        self.neurons = LIFNeurons(beta.size, beta=torch.as_tensor(beta, dtype=dtype),
                                  threshold=torch.as_tensor(threshold, dtype=dtype), reset=reset)
        # unit gains, zero offsets and a zero start are skipped, so that an exported
        # SpikingMLP runs the same arithmetic as the original
        self.gain = None if np.allclose(gain, 1.0, rtol=1e-12, atol=0) else torch.as_tensor(gain, dtype=dtype)
        self.offset = None if not np.any(offset) else torch.as_tensor(offset, dtype=dtype)
        self.v0 = None if not np.any(v0) else torch.as_tensor(v0, dtype=dtype)
        self.alpha = None if alpha is None else torch.as_tensor(alpha, dtype=dtype)
        self.syn_gain = None if syn_gain is None else torch.as_tensor(syn_gain, dtype=dtype)
        self.n_in = self.n_out = int(beta.size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        current = x
        if self.alpha is not None:  # CubaLIF: the synaptic current, first
            i_syn, trace = torch.zeros_like(x[0]), []
            for x_t in x.unbind(0):
                i_syn = self.alpha * i_syn + self.syn_gain * x_t
                trace.append(i_syn)
            current = torch.stack(trace)
        if self.gain is not None:
            current = current * self.gain
        if self.offset is not None:
            current = current + self.offset
        v0 = None if self.v0 is None else self.v0.expand(x.shape[1], -1)
        spikes, self.last_v = self.neurons(current, v0)
        return spikes


class NIRNetwork(torch.nn.Module):
    """A chain of NIR nodes run as torch modules: ``forward`` maps (T, B, n_in) inputs to the
    (T, B, n_out) output of the last node (spikes when it is a neuron node). ``stages``
    holds one module per node, in order; ``names`` their NIR node names."""

    def __init__(self, stages: list[torch.nn.Module], names: list[str], n_in: int) -> None:
        super().__init__()
        self.stages = torch.nn.ModuleList(stages)
        self.names, self.n_in = names, n_in

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_sequence(x, self.n_in, type(self).__name__)
        for stage in self.stages:
            x = stage(x)
        return x


def _chain(graph: Any) -> list[str]:
    """Node names from the Input to the Output, refusing anything but one simple chain."""
    kinds = {name: type(node).__name__ for name, node in graph.nodes.items()}
    unsupported = [f"'{name}' ({kind})" for name, kind in kinds.items() if kind not in SUPPORTED_NODES]
    if unsupported:
        raise NIRError(f"unsupported NIR node(s): {', '.join(unsupported)}; supported types: {', '.join(SUPPORTED_NODES)}")
    inputs = [name for name, kind in kinds.items() if kind == "Input"]
    outputs = [name for name, kind in kinds.items() if kind == "Output"]
    if len(inputs) != 1 or len(outputs) != 1:
        raise NIRError(f"the graph needs exactly one Input and one Output node, got {len(inputs)} and {len(outputs)}")
    following: dict[str, str] = {}
    for src, dst in graph.edges:
        if src not in kinds or dst not in kinds:
            raise NIRError(f"edge ({src!r}, {dst!r}) names a node that is not in the graph")
        if src in following:
            raise NIRError(f"node '{src}' feeds more than one node: only chains Input -> ... -> Output are supported")
        following[src] = dst
    order, seen = [inputs[0]], {inputs[0]}
    while order[-1] != outputs[0]:
        nxt = following.get(order[-1])
        if nxt is None:
            raise NIRError(f"node '{order[-1]}' leads nowhere: the chain from '{inputs[0]}' never reaches '{outputs[0]}'")
        if nxt in seen:
            raise NIRError(f"the graph has a cycle through '{nxt}': recurrent graphs are not supported")
        order.append(nxt)
        seen.add(nxt)
    if len(order) != len(kinds):
        stray = sorted(set(kinds) - seen)
        raise NIRError(f"node(s) {stray} are not on the chain from '{inputs[0]}' to '{outputs[0]}'")
    return order


def _params(name: str, node: Any, fields: tuple[str, ...], n: int | None) -> dict[str, np.ndarray]:
    kind = type(node).__name__
    out = {}
    for field in fields:
        value = np.asarray(getattr(node, field), dtype=np.float64).reshape(-1)
        if n is not None and value.size == 1:
            value = np.full(n, value[0])
        if not np.all(np.isfinite(value)):
            raise NIRError(f"node '{name}' ({kind}): {field} contains NaN or infinity")
        out[field] = value
    sizes = {field: value.size for field, value in out.items()}
    if len(set(sizes.values())) != 1:
        raise NIRError(f"node '{name}' ({kind}): parameter sizes differ: {sizes}")
    return out


def _neuron_params(name: str, node: Any, dt: float, n_in: int) -> dict[str, Any]:
    """The arguments of :class:`_Neurons` for a LIF / CubaLIF node, checked."""
    kind = type(node).__name__
    cuba = kind == "CubaLIF"
    tau_field = "tau_mem" if cuba else "tau"
    fields = (tau_field, "r", "v_leak", "v_threshold", "v_reset") + (("tau_syn", "w_in") if cuba else ())
    p = _params(name, node, fields, n_in)
    if p[tau_field].size != n_in:
        raise NIRError(f"node '{name}' ({kind}) has {p[tau_field].size} neurons but receives {n_in} inputs")
    for field in (tau_field,) + (("tau_syn",) if cuba else ()):
        if not np.all(p[field] > dt):
            raise NIRError(f"node '{name}' ({kind}): {field} must exceed dt = {dt} s for the Euler step "
                           f"(decay 1 - dt/tau in (0, 1)), got a minimum of {p[field].min()} s")
    beta = 1.0 - dt / p[tau_field]
    threshold = p["v_threshold"] - p["v_reset"]
    if not np.all(threshold > 0):
        raise NIRError(f"node '{name}' ({kind}): v_threshold must exceed v_reset")
    reset = getattr(node, "metadata", {}).get(RESET_KEY, "zero")
    reset = reset.decode() if isinstance(reset, bytes) else str(reset)
    if reset not in ("zero", "subtract"):
        raise NIRError(f"node '{name}' ({kind}): metadata {RESET_KEY}={reset!r} is neither 'zero' nor 'subtract'")
    if reset == "subtract" and np.any(p["v_reset"]):
        raise NIRError(f"node '{name}' ({kind}): a subtractive reset needs v_reset = 0")
    gain = p["r"] * dt / p[tau_field]
    alpha = syn_gain = None
    if cuba:
        alpha = 1.0 - dt / p["tau_syn"]
        syn_gain = dt / p["tau_syn"] * p["w_in"]
    return dict(beta=beta, threshold=threshold, gain=gain, offset=(1.0 - beta) * (p["v_leak"] - p["v_reset"]),
                v0=-p["v_reset"], reset=reset, alpha=alpha, syn_gain=syn_gain)


def import_nir(graph: Any, dt: float = DEFAULT_DT) -> NIRNetwork:
    """A torch module running a NIR graph (a ``nir.NIRGraph`` or the path of a NIR HDF5 file)
    with time step ``dt`` s, by the forward-Euler mapping of the module docstring.

    The graph must be one chain ``Input -> ... -> Output`` of ``Affine``, ``Linear``, ``LIF``
    and ``CubaLIF`` nodes; every node is checked (type, parameters, sizes) before any
    module is built, and the first problem raises :class:`NIRError` naming the node.
    """
    nir = _nir()
    dt = _check_dt(dt)
    if isinstance(graph, (str, Path)):
        graph = read_nir(graph)
    if not isinstance(graph, nir.NIRGraph):
        raise NIRError(f"import_nir takes a nir.NIRGraph or a file path, got {type(graph).__name__}")
    order = _chain(graph)
    input_node = graph.nodes[order[0]]
    width = int(np.prod(np.asarray(input_node.input_type["input"])))
    n_in, plan = width, []
    for name in order[1:-1]:  # validate everything first, build after
        node = graph.nodes[name]
        kind = type(node).__name__
        if kind in ("Affine", "Linear"):
            weight = np.asarray(node.weight, dtype=np.float64)
            if weight.ndim != 2 or weight.shape[1] != width:
                raise NIRError(f"node '{name}' ({kind}): weight of shape {weight.shape} does not take {width} inputs")
            bias = np.asarray(node.bias, dtype=np.float64).reshape(-1) if kind == "Affine" else None
            if bias is not None and bias.size != weight.shape[0]:
                raise NIRError(f"node '{name}' ({kind}): bias has {bias.size} entries for {weight.shape[0]} outputs")
            if not np.all(np.isfinite(weight)) or (bias is not None and not np.all(np.isfinite(bias))):
                raise NIRError(f"node '{name}' ({kind}): weights contain NaN or infinity")
            plan.append(("synapse", name, (weight, bias)))
            width = weight.shape[0]
        else:
            plan.append(("neurons", name, _neuron_params(name, node, dt, width)))
    output_width = int(np.prod(np.asarray(graph.nodes[order[-1]].output_type["output"])))
    if output_width != width:
        raise NIRError(f"node '{order[-1]}' (Output) expects {output_width} values, the chain gives {width}")
    stages = [_Synapse(*args) if what == "synapse" else _Neurons(**args) for what, _, args in plan]
    return NIRNetwork(stages, [name for _, name, _ in plan], n_in)
