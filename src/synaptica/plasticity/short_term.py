"""Short-term synaptic plasticity: the Tsodyks-Markram model of depression and facilitation.

Tsodyks, Pawelzik & Markram (1998), "Neural networks with dynamic synapses", Neural
Comput. 10:821; Fuhrmann, Segev, Markram & Tsodyks (2002), "Coding of temporal
information by activity-dependent synapses", J. Neurophysiol. 87:140; in the form of
NEST's ``tsodyks2_synapse``. Each presynaptic neuron carries a utilisation u (release
probability, initially 0) and a fraction of available resources x (initially 1)::

    between spikes:  du/dt = -u / tau_f            dx/dt = (1 - x) / tau_d
    at a spike:      u <- u + U (1 - u)            (facilitation)
                     efficacy = u x                (fraction of resources released)
                     x <- x - u x                  (depression)

The transmitted weight of every synapse of that neuron is multiplied by the efficacy,
so the first spike after a long pause transmits ``U * w``. Between spikes the solution
is used exactly: for an interval ``elapsed`` (ms) since the neuron's previous spike,
``u <- u exp(-elapsed / tau_f)`` and ``x <- 1 + (x - 1) exp(-elapsed / tau_d)``. Large
``tau_d`` with small ``tau_f`` gives depressing synapses, small ``U`` with large
``tau_f`` facilitating ones. The state is reset to (u, x) = (0, 1) at every trial start.

Use it as ``net.connect(pre, post, ..., stp=TsodyksMarkram(U=0.5, tau_d=800.0, tau_f=20.0))``.
Units: ``U`` dimensionless in (0, 1], time constants in ms.
"""
from __future__ import annotations

from synaptica.engine.description import CheckedFunction, check_function
from synaptica.plasticity.mechanism import StateBlock
from synaptica.primitives import exp
from synaptica.neurons.base import Parameter
from synaptica.plasticity.base import validated_parameters


def tsodyks_markram_on_spike(u, x, elapsed, U, tau_d, tau_f):
    """State (u, x) after the previous spike -> (u, x, efficacy) after this one."""
    u = u * exp(-elapsed / tau_f)
    x = 1.0 + (x - 1.0) * exp(-elapsed / tau_d)
    u = u + U * (1.0 - u)
    efficacy = u * x
    return u, x - efficacy, efficacy


class TsodyksMarkram:
    """Tsodyks-Markram short-term plasticity of a projection (see module doc).

    Args:
        U: utilisation increment per spike (0 < U <= 1).
        tau_d: recovery time of resources (ms, > 0).
        tau_f: decay time of facilitation (ms, > 0).
    """

    on_spike = staticmethod(tsodyks_markram_on_spike)

    parameters = {
        "U": Parameter(0.5, "", positive=True, help="utilisation increment per spike, <= 1"),
        "tau_d": Parameter(800.0, "ms", positive=True, help="recovery time of resources"),
        "tau_f": Parameter(20.0, "ms", positive=True, help="decay time of facilitation"),
    }

    def __init__(self, U: float = 0.5, tau_d: float = 800.0, tau_f: float = 20.0) -> None:
        values = validated_parameters("TsodyksMarkram", self.parameters, {"U": U, "tau_d": tau_d, "tau_f": tau_f})
        if values["U"] > 1.0:
            raise ValueError(f"TsodyksMarkram: parameter 'U' must be in (0, 1], got {U!r}")
        self.U, self.tau_d, self.tau_f = values["U"], values["tau_d"], values["tau_f"]

    def state_blocks(self) -> tuple[StateBlock, ...]:
        """Per presynaptic neuron: u = 0, x = 1 and the step of the last spike (-1: none)."""
        return (StateBlock("stp", "pre", ("u", "x", "last_step"), (0.0, 1.0, -1.0)),)

    def descriptions(self) -> dict[str, CheckedFunction]:
        return {"transmit": self.description()}

    def reads(self) -> tuple[str, ...]:
        return ()

    @classmethod
    def description(cls) -> CheckedFunction:
        """The checked spike function: (u, x, elapsed, U, tau_d, tau_f) -> (u, x, efficacy)."""
        return check_function(cls.on_spike, cls.__name__, returns=3)

    def constants(self) -> tuple[float, float, float]:
        """(U, tau_d, tau_f) as the engine passes them to :attr:`on_spike`."""
        return self.U, self.tau_d, self.tau_f

    def __repr__(self) -> str:
        return f"TsodyksMarkram(U={self.U!r}, tau_d={self.tau_d!r}, tau_f={self.tau_f!r})"

