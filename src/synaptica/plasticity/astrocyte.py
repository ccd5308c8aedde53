"""Astrocyte: a slow calcium-like variable integrating the activity of the neurons it covers.

After Ivanov & Michmizos 2021, "Increasing liquid state machine performance with
edge-of-chaos dynamics organized by astrocyte-modulated plasticity", NeurIPS 34 (the
neuron-astrocyte liquid state machine, NALSM). One astrocyte covers the liquid and its
input neurons and integrates the difference of their activities (paper, eq. 7; authors'
code ``NALSM_ASTRO.py``)::

    tau_A dA/dt = -A + w_A * (sum_{i in liquid} S_i(t) - sum_{j in input} S_j(t)) + b_A

with ``S`` the spikes of a step expressed as a rate (spikes per ms: the count of the step
divided by ``dt``; the paper's step is 1 ms), ``tau_A`` (ms) the time constant, ``w_A``
(dimensionless per spike/ms) the weight of each covered group (+ for the liquid, - for the
input) and ``b_A`` the bias (the paper: the initial value of A, its potentiation rate
0.15). ``A`` is dimensionless: it is the depression rate of the astrocyte-modulated STDP
(:class:`~synaptica.plasticity.astrocyte_stdp.AstrocyteSTDP`). When the liquid fires
more than its input, A grows and depression wins; when it fires less, depression weakens
(and turns into potentiation for A < 0), which pushes the liquid towards a branching
factor of about 1 (the edge of chaos).

Discretisation: the drive D(t) = sum_g w_g N_g(t) / dt (N_g the spikes of covered group g
at step t) is held over the step and the linear equation is integrated exactly::

    A(t + dt) = A(t) exp(-dt / tau_A) + (1 - exp(-dt / tau_A)) (b_A + D(t)) + pulses(t)

(the authors' code uses the Euler step A += (b_A + D - A) / tau_A with dt = 1 ms; the
two agree to 0.5 % of the step at tau_A = 100 ms). For a constant drive D the solution is
A(n dt) = A* + (A(0) - A*) exp(-n dt / tau_A) with A* = b_A + D.

The astrocyte is a network modulator (plasticity rules read it by name, like dopamine);
it is added with :func:`add_astrocyte`, declares its state through the plastic-mechanism
protocol (:meth:`Astrocyte.state_blocks`: one value per batch entry, restored to
``initial`` at every trial start on every engine path) and its update as one checked
function (:meth:`Astrocyte.descriptions`, event ``"activity"``), lowered by
``UpdateAstrocyte`` of :mod:`synaptica.engine.step_order` on both paths. Checkpoints
save it with the other modulators.
"""
from __future__ import annotations

import math
from typing import Mapping

from synaptica.engine.description import CheckedFunction, check_function
from synaptica.engine.modulators import Modulator
from synaptica.engine.storage import assign, raw
from synaptica.plasticity.mechanism import StateBlock
from synaptica.primitives import exp

__all__ = ["Astrocyte", "add_astrocyte", "astrocyte_update"]


def astrocyte_update(a, drive, pulse, dt, tau, bias):
    """One exact step of tau dA/dt = -A + bias + drive (drive held over the step), plus pulses."""
    decay = exp(-dt / tau)
    return a * decay + (1.0 - decay) * (bias + drive) + pulse


class Astrocyte(Modulator):
    """A network modulator driven by the weighted spike rates of the groups it covers (see
    module doc). Made by :func:`add_astrocyte`, not directly.

    Attributes: ``sources`` ((group, w_A) pairs), ``bias`` (b_A), ``initial`` (A at every
    trial start), ``tau`` (ms); ``value`` (batch,) float64 is A."""

    def __init__(self, name: str, sources: tuple, tau: float, bias: float, initial: float, batch: int,
                 dt: float) -> None:
        super().__init__(name, tau, None, 0.0, batch, dt)
        self.sources, self.bias, self.initial = sources, float(bias), float(initial)
        assign(raw(self, "value"), self.initial)

    @property
    def kernel_constants(self) -> tuple[float, ...]:
        """Numbers the compiled loop receives after (decay, gain): dt, tau, bias, w_A per source."""
        return (float(self.dt), float(self.tau), self.bias, *(float(w) for _, w in self.sources))

    # -- the plastic-mechanism protocol (see plasticity.mechanism) -----------------------
    def state_blocks(self) -> tuple[StateBlock, ...]:
        return (StateBlock("astrocyte", "network", ("calcium",), (self.initial,)),)

    def descriptions(self) -> Mapping[str, CheckedFunction]:
        return {"activity": self.description()}

    def reads(self) -> tuple[str, ...]:
        return tuple(group.name for group, _ in self.sources)

    @staticmethod
    def description() -> CheckedFunction:
        return check_function(astrocyte_update, "Astrocyte", returns=1)

    def __repr__(self) -> str:
        covered = ", ".join(f"{g.name}: {w:g}" for g, w in self.sources)
        return f"Astrocyte({self.name!r}, tau={self.tau}, bias={self.bias}, initial={self.initial}, {{{covered}}})"


def _finite(value, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"add_astrocyte: {what} must be a finite number, got {value!r}")
    return float(value)


def add_astrocyte(net, name: str, sources: Mapping, tau: float = 100.0, bias: float = 0.15,
                  initial: float | None = None) -> Astrocyte:
    """Add an astrocyte named ``name`` to ``net`` (see module doc).

    Args:
        sources: covered group -> weight w_A (per spike/ms); the paper: liquid +w_A, input -w_A.
        tau: time constant tau_A (ms), > 0.
        bias: b_A (dimensionless).
        initial: A at every trial start (default: ``bias``, as the paper).
    """
    if name in net.modulators:
        raise ValueError(f"add_astrocyte: the network has a modulator named '{name}' already")
    tau = _finite(tau, "tau (ms)")
    if tau <= 0:
        raise ValueError(f"add_astrocyte: tau must be a positive time (ms), got {tau}")
    bias = _finite(bias, "bias")
    initial = bias if initial is None else _finite(initial, "initial")
    if not isinstance(sources, Mapping) or not sources:
        raise ValueError("add_astrocyte: sources must map at least one group of the network to its weight")
    pairs = []
    for group, weight in sources.items():
        if group not in net.groups:
            raise ValueError(f"add_astrocyte: source {getattr(group, 'name', group)!r} is not a group of this network")
        if group.kind == "poisson":
            raise ValueError(f"add_astrocyte: source '{group.name}' is a Poisson group; cover the spike-generator "
                             f"or population it drives instead")
        pairs.append((group, _finite(weight, f"the weight of source '{group.name}'")))
    astro = Astrocyte(name, tuple(pairs), tau, bias, initial, net.batch_size, net.dt)
    net.modulators[name] = astro
    net._compiled = None   # the step order gains an operation
    return astro
