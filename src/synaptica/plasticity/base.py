"""Synaptic plasticity rules, each described once for every engine path.

Like a neuron model, a rule is a few plain functions (arithmetic and the primitives of
:mod:`synaptica.primitives` only) that the compiled CPU loop copies in and the
torch path rebinds to tensor operations. The engine calls them at events, at step 5 of
the network's step order (after this step's spikes are known and propagated):

1. every trace of the rule decays by ``exp(-dt / tau)``; modulators are updated;
2. ``on_pre`` runs for every synapse of each presynaptic neuron that spiked this step,
   then that neuron's presynaptic traces are incremented;
3. ``on_post`` runs for every synapse onto each postsynaptic neuron that spiked this
   step (it sees the presynaptic traces including this step's spikes), then that
   neuron's postsynaptic traces are incremented;
4. ``on_step`` runs for every synapse every ``interval`` ms (continuous-time terms,
   eligibility traces, homeostasis).

So when a pre and a post spike fall in the same step the pair counts as pre-before-post
(Brian2's default order of the pre and post pathways).

Arguments are matched by name: ``w`` (the synapse's weight), the rule's per-synapse
state variables (``synapse_state``), its presynaptic and postsynaptic traces, the
postsynaptic neuron's state variables it declares (``post_variables``, e.g. ``v``),
its modulator arguments (``modulators``: argument name -> network modulator, chosen
when the rule is made), ``dt`` (ms), ``period`` (ms between two ``on_step`` calls) and
its parameters. Each function returns
``(potentiation, depression, *synapse_state)``: two non-negative amounts that the
engine turns into the weight change with the options every rule has:

* ``bounds="hard"``: ``w += lr * (potentiation - depression)``, clipped to [w_min, w_max];
* ``bounds="soft"``: potentiation scaled by ``(w_max - w) / (w_max - w_min)``,
  depression by ``(w - w_min) / (w_max - w_min)``, so bounds are approached
  asymptotically (Kistler & van Hemmen 2000; Guetig et al. 2003 with mu = 1);
* ``dependence="multiplicative"``: depression additionally scaled by ``w`` (van Rossum
  et al. 2000: depression proportional to the weight, potentiation additive);
* ``learning_rate``: a factor on every change (0 freezes the weights, normalisation
  included); ``schedule`` (a sequence, one factor per
  trial, or a function of the trial index) multiplies it trial by trial;
* ``normalize``: target sum of each postsynaptic neuron's incoming weights, imposed at
  the start of every trial (see :meth:`Network.set_trials`) or every
  ``normalize_every`` ms (Diehl & Cook 2015).

Traces are dimensionless: ``mode="add"`` adds 1 at each spike (all-to-all pairing),
``mode="set"`` sets the trace to 1 (nearest-spike pairing). Weights use the units of
the projection (pA for current receptors, nS for conductances); for a projection with
``sign="inhibitory"`` onto a current receptor the rule sees the weight magnitude.
"""
from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import Any, Callable, ClassVar, Mapping, Sequence

import numpy as np

from synaptica.engine.description import CheckedFunction, check_function
from synaptica.plasticity.mechanism import StateBlock
from synaptica.primitives import maximum, minimum, where
from synaptica.neurons.base import Parameter, _validated


@dataclass(frozen=True)
class Trace:
    """A per-neuron trace of a rule: the parameter holding its time constant (ms) and
    how a spike changes it ("add": += 1, all-to-all pairing; "set": = 1, nearest spike)."""

    tau: str
    mode: str = "add"


def apply_weight_change(w, potentiation, depression, scale, w_min, w_max, soft, multiplicative):
    """The bounded weight change shared by all rules (see module doc)."""
    span = w_max - w_min
    up = potentiation * where(soft > 0.5, (w_max - w) / span, 1.0)
    down = depression * where(soft > 0.5, (w - w_min) / span, 1.0) * where(multiplicative > 0.5, w, 1.0)
    return minimum(maximum(w + scale * (up - down), w_min), w_max)


def weight_change_description() -> CheckedFunction:
    """:func:`apply_weight_change`, checked, as every engine path runs it."""
    return check_function(apply_weight_change, "PlasticityRule", returns=1)


def split_change(change):
    """(potentiation, depression) of a signed change, for rules that compute one number."""
    return maximum(change, 0.0), maximum(-change, 0.0)


def validated_parameters(owner: str, spec: Mapping[str, Parameter], values: Mapping[str, Any],
                         extra_known: Sequence[str] = ()) -> dict[str, float]:
    """Scalar parameters of ``spec`` from ``values`` (defaults for the rest), each checked
    against its declared range; unknown names and arrays raise errors naming ``owner``."""
    unknown = sorted(set(values) - set(spec))
    if unknown:
        raise ValueError(f"{owner}: unknown parameter(s) {unknown}; known: {sorted(spec) + list(extra_known)}")
    out = {}
    for key, parameter in spec.items():
        value = values.get(key, parameter.default)
        if isinstance(value, bool) or not isinstance(value, (numbers.Real, np.number)):
            raise ValueError(f"{owner}: parameter '{key}' must be a scalar number, got {value!r}")
        out[key] = _validated(owner, key, value, parameter)
    return out


COMMON_PARAMETERS = {
    "w_min": Parameter(0.0, "weight", help="lower weight bound"),
    "w_max": Parameter(1.0, "weight", help="upper weight bound"),
    "learning_rate": Parameter(1.0, "", non_negative=True, help="factor on every weight change"),
    "interval": Parameter(0.0, "ms", non_negative=True, help="period of on_step (0: every step)"),
}


class PlasticityRule:
    """Base class: declare traces, state and the event functions (see module doc).

    Subclasses set ``parameters`` (their own; the common options are added),
    ``pre_traces`` / ``post_traces`` (name -> :class:`Trace`), ``synapse_state``,
    ``post_variables``, ``modulators`` (argument names bound to network modulators)
    and any of ``on_pre``, ``on_post``, ``on_step`` (static functions), plus
    ``helpers`` they call.
    """

    parameters: ClassVar[Mapping[str, Parameter]] = {}
    pre_traces: ClassVar[Mapping[str, Trace]] = {}
    post_traces: ClassVar[Mapping[str, Trace]] = {}
    synapse_state: ClassVar[tuple[str, ...]] = ()
    post_variables: ClassVar[tuple[str, ...]] = ()
    modulators: ClassVar[tuple[str, ...]] = ()
    on_pre: ClassVar[Callable | None] = None
    on_post: ClassVar[Callable | None] = None
    on_step: ClassVar[Callable | None] = None
    helpers: ClassVar[tuple[Callable, ...]] = ()

    def __init__(self, *, bounds: str = "hard", dependence: str = "additive", normalize: float | None = None,
                 normalize_every: float | None = None, schedule: Sequence[float] | Callable | None = None,
                 **values: Any) -> None:
        name = type(self).__name__
        modulator_names = {m: values.pop(m) for m in self.modulators if m in values}
        self.values = validated_parameters(name, {**COMMON_PARAMETERS, **self.parameters}, values,
                                           extra_known=self.modulators)
        if bounds not in ("hard", "soft"):
            raise ValueError(f"{name}: bounds must be 'hard' or 'soft', got {bounds!r}")
        if dependence not in ("additive", "multiplicative"):
            raise ValueError(f"{name}: dependence must be 'additive' or 'multiplicative', got {dependence!r}")
        w_min, w_max = self.values["w_min"], self.values["w_max"]
        if not w_min < w_max:
            raise ValueError(f"{name}: parameter 'w_min' ({w_min}) must be below 'w_max' ({w_max})")
        if normalize is not None and not (np.isfinite(normalize) and normalize > 0):
            raise ValueError(f"{name}: normalize must be a positive total weight, got {normalize!r}")
        if normalize_every is not None and not (np.isfinite(normalize_every) and normalize_every > 0):
            raise ValueError(f"{name}: normalize_every must be a positive time (ms), got {normalize_every!r}")
        for trace in (*self.pre_traces.values(), *self.post_traces.values()):
            if trace.mode not in ("add", "set"):
                raise ValueError(f"{name}: trace mode must be 'add' or 'set', got {trace.mode!r}")
        self.bounds, self.dependence = bounds, dependence
        self.normalize, self.normalize_every = normalize, normalize_every
        self.schedule = schedule
        self.modulator_names = {m: modulator_names.get(m, m) for m in self.modulators}
        self._check()

    def _check(self) -> None:
        """Rule-specific consistency checks (raise ValueError naming the parameter)."""

    def __repr__(self) -> str:
        shown = ", ".join(f"{k}={v!r}" for k, v in self.values.items())
        return f"{type(self).__name__}({shown}, bounds={self.bounds!r})"

    # -- what the engine needs -------------------------------------------------------
    @property
    def name(self) -> str:
        return type(self).__name__

    def coefficients(self, dt: float) -> dict[str, float]:
        """Parameters plus the engine's flags, as numbers the functions receive."""
        out = {k: float(v) for k, v in self.values.items()}
        out.update(dt=float(dt), soft=float(self.bounds == "soft"),
                   multiplicative=float(self.dependence == "multiplicative"))
        return out

    def trace_decays(self, dt: float) -> tuple[np.ndarray, np.ndarray]:
        pre = np.array([np.exp(-dt / self.values[t.tau]) for t in self.pre_traces.values()], dtype=np.float64)
        post = np.array([np.exp(-dt / self.values[t.tau]) for t in self.post_traces.values()], dtype=np.float64)
        return pre, post

    def learning_rates(self, first_trial: int, n_trials: int) -> np.ndarray:
        """Learning rate of each of ``n_trials`` trials from ``first_trial`` on."""
        base = self.values["learning_rate"]
        if self.schedule is None:
            return np.full(max(n_trials, 1), base)
        trials = range(first_trial, first_trial + max(n_trials, 1))
        if callable(self.schedule):
            factors = np.array([float(self.schedule(t)) for t in trials])
        else:
            table = np.asarray(self.schedule, dtype=float)
            factors = table[np.minimum(np.arange(first_trial, first_trial + max(n_trials, 1)), table.size - 1)]
        if not np.all(np.isfinite(factors)) or np.any(factors < 0):
            raise ValueError(f"{self.name}: schedule must give finite factors >= 0")
        return base * factors

    @classmethod
    def event_functions(cls) -> dict[str, Callable]:
        return {k: getattr(cls, k) for k in ("on_pre", "on_post", "on_step") if getattr(cls, k) is not None}

    # -- the plastic-mechanism protocol (see plasticity.mechanism) -----------------------
    def state_blocks(self) -> tuple[StateBlock, ...]:
        """Traces per pre- and postsynaptic neuron, state per synapse; all start at 0."""
        return (StateBlock("traces_pre", "pre", tuple(self.pre_traces), (0.0,) * len(self.pre_traces)),
                StateBlock("traces_post", "post", tuple(self.post_traces), (0.0,) * len(self.post_traces)),
                StateBlock("synapse_state", "synapse", tuple(self.synapse_state),
                           (0.0,) * len(self.synapse_state)))

    def descriptions(self) -> dict[str, CheckedFunction]:
        events = {"on_pre": "pre_spike", "on_post": "post_spike", "on_step": "step"}
        return {events[e]: self.description(e) for e in self.event_functions()}

    def reads(self) -> tuple[str, ...]:
        return (*self.post_variables, *self.modulator_names.values())

    @classmethod
    def description(cls, event: str) -> CheckedFunction:
        """The checked event function (returns potentiation, depression, synapse state)."""
        return check_function(getattr(cls, event), cls.__name__, cls.helpers, returns=2 + len(cls.synapse_state))

    @classmethod
    def arguments(cls, event: str) -> list[str]:
        return list(cls.description(event).arguments)

    def validate_for(self, projection, network) -> None:
        """Fail early if this rule cannot run on ``projection`` of ``network``."""
        where_ = f"{self.name} on projection '{projection.name}'"
        if projection.kernel_index is not None:
            raise ValueError(f"{where_}: plasticity of shared convolution kernels is not supported")
        for var in self.post_variables:
            if var not in projection.post.model.state:
                raise ValueError(f"{where_}: the rule reads postsynaptic '{var}', which "
                                 f"{type(projection.post.model).__name__} does not have")
        for arg, modulator in self.modulator_names.items():
            if modulator not in network.modulators:
                raise ValueError(f"{where_}: modulator '{modulator}' (argument '{arg}') is not in the "
                                 f"network; add it with Network.add_modulator('{modulator}', ...)")
        known = {"w", "dt", *self.synapse_state, *self.pre_traces, *self.post_traces, *self.post_variables,
                 *self.modulators, *self.coefficients(1.0), "period"}
        for event in self.event_functions():
            missing = [a for a in self.arguments(event) if a not in known]
            if missing:
                raise ValueError(f"{where_}: {event} takes unknown argument(s) {missing}")
