"""Base class of neuron models: parameters with units and valid ranges, described once.

A model is three plain functions (module level, arithmetic plus the primitives of
:mod:`synaptica.primitives` only, no other globals), so that every engine path
executes the same description:

``coefficients(dt, **parameters) -> dict``
    Constants derived once per run from the parameters and the step ``dt`` (ms), e.g.
    exact decay factors. Runs on NumPy arrays or torch tensors (differentiable).
``update(<state...>, i_ext, <coefficients...>) -> (<state...>, spike)``
    One step of every neuron: arguments are matched by name to state variables, the
    injected current ``i_ext`` and coefficients; returns the new state in the order of
    ``state`` followed by the spike indicator (1.0 / 0.0).

Units throughout: time ms, voltage mV, current pA, conductance nS, capacitance pF,
resistance GOhm (so GOhm * pA = mV).
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any, Callable, ClassVar, Mapping

import numpy as np

from synaptica.engine.description import CheckedFunction, check_function
from synaptica.primitives import bind


@dataclass(frozen=True)
class Parameter:
    """Declared model parameter: default value, unit and the range it may take."""

    default: Any
    unit: str = ""
    positive: bool = False       # strictly > 0
    non_negative: bool = False   # >= 0
    choices: tuple | None = None
    help: str = ""


#: Exponential current synapses that most models carry (receptors i_exc and i_inh).
EXPONENTIAL_SYNAPSE_PARAMETERS = {
    "tau_exc": Parameter(5.0, "ms", positive=True, help="excitatory synaptic time constant"),
    "tau_inh": Parameter(10.0, "ms", positive=True, help="inhibitory synaptic time constant"),
}


class NeuronModel:
    """A neuron model with validated parameters (scalars or per-neuron arrays).

    Subclasses set ``state`` (state variable names), ``receptors`` (state variables a
    projection may add synaptic input to, first one the default excitatory target,
    second the default inhibitory one), ``parameters`` and the two functions.
    """

    state: ClassVar[tuple[str, ...]] = ()
    receptors: ClassVar[tuple[str, ...]] = ()
    conductance_based: ClassVar[bool] = False  # receptors are conductances (weights >= 0)
    parameters: ClassVar[Mapping[str, Parameter]] = {}
    coefficients_function: ClassVar[Callable]
    update_function: ClassVar[Callable]
    helpers: ClassVar[tuple[Callable, ...]] = ()  # functions the update calls (same rules)

    def __init__(self, **values: Any) -> None:
        name = type(self).__name__
        unknown = sorted(set(values) - set(self.parameters))
        if unknown:
            raise ValueError(f"{name}: unknown parameter(s) {unknown}; known: {sorted(self.parameters)}")
        self.values: dict[str, Any] = {}
        for key, spec in self.parameters.items():
            value = values.get(key, spec.default)
            self.values[key] = _validated(name, key, value, spec)

    def __repr__(self) -> str:
        shown = ", ".join(f"{k}={v!r}" for k, v in self.values.items() if np.ndim(v) == 0)
        return f"{type(self).__name__}({shown})"

    def initial_state(self) -> dict[str, Any]:
        """Initial value of each state variable (scalars or per-neuron arrays)."""
        raise NotImplementedError

    def check_state(self, variable: str, values: np.ndarray) -> str | None:
        """What is wrong with ``values`` for state ``variable`` (None if nothing): step
        counters and conductances cannot be negative. Models may add their own rules."""
        if np.any(values < 0) and (variable == "refractory" or
                                   (self.conductance_based and variable in self.receptors)):
            unit = "steps" if variable == "refractory" else "nS"
            return f"must be >= 0 ({unit}), got a minimum of {values.min():g}"
        return None

    def numeric_parameters(self) -> dict[str, Any]:
        """Parameters as numbers: choices are passed to the functions as their index."""
        out = {}
        for key, value in self.values.items():
            spec = self.parameters[key]
            out[key] = float(spec.choices.index(value)) if spec.choices else value
        return out

    def coefficients(self, dt: float, parameters: Mapping[str, Any] | None = None,
                     primitives: Mapping[str, Callable] | None = None) -> dict[str, Any]:
        """Derived constants for step ``dt`` (ms).

        ``parameters`` may hold tensors (learnable); ``primitives`` selects the path
        (default NumPy). Models composed from others merge their coefficient functions.
        """
        params = self.numeric_parameters() if parameters is None else dict(parameters)
        out: dict[str, Any] = {}
        for fn in _mro_attribute(type(self), "coefficients_function"):
            fn = bind(fn, primitives) if primitives else fn
            wanted = list(inspect.signature(fn).parameters)[1:]
            out.update(fn(dt, **{k: params[k] for k in wanted}))
        return out

    @classmethod
    def description(cls) -> CheckedFunction:
        """The checked update (see :mod:`synaptica.engine.description`): one value per
        state variable plus the spike; every engine path is generated from it."""
        return check_function(cls.update_function, cls.__name__, cls.helpers, returns=len(cls.state) + 1)

    @classmethod
    def bound_update(cls, primitives: Mapping[str, Callable]) -> Callable:
        """The checked update built for one engine path's primitives."""
        return cls.description().build(primitives)

    @classmethod
    def update_arguments(cls) -> list[str]:
        return list(cls.description().arguments)

    @classmethod
    def step(cls, state: Mapping[str, Any], i_ext: Any, coefficients: Mapping[str, Any], update=None):
        """Apply one update (NumPy reference path, or a bound ``update``); returns (state, spike)."""
        fn = update or cls.update_function
        pool = {**state, **coefficients, "i_ext": i_ext}
        out = fn(*(pool[a] for a in cls.update_arguments()))
        return dict(zip(cls.state, out[:-1])), out[-1]


def _mro_attribute(cls: type, name: str) -> list[Callable]:
    """Distinct values of a class attribute along the MRO, base classes first."""
    found: list[Callable] = []
    for klass in reversed(cls.__mro__):
        fn = klass.__dict__.get(name)
        if fn is not None:
            fn = fn.__func__ if isinstance(fn, staticmethod) else fn
            if fn not in found:
                found.append(fn)
    return found


def _validated(model: str, key: str, value: Any, spec: Parameter) -> Any:
    if spec.choices is not None:
        if value not in spec.choices:
            raise ValueError(f"{model}: parameter '{key}' must be one of {list(spec.choices)}, got {value!r}")
        return value
    array = np.asarray(value, dtype=float) if not _is_tensor(value) else value
    if _is_tensor(value):
        return value
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{model}: parameter '{key}' must be finite, got {value!r}")
    if spec.positive and np.any(array <= 0):
        raise ValueError(f"{model}: parameter '{key}' ({spec.unit}) must be > 0, got {value!r}")
    if spec.non_negative and np.any(array < 0):
        raise ValueError(f"{model}: parameter '{key}' ({spec.unit}) must be >= 0, got {value!r}")
    return float(array) if array.ndim == 0 else array


def _is_tensor(value: Any) -> bool:
    return type(value).__module__.startswith("torch")
