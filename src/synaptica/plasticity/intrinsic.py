"""Intrinsic plasticity: each neuron's threshold adapts so that it fires at a target rate.

Homeostatic threshold rule of the SORN (Lazar, Pipa & Triesch 2009, Front. Comput.
Neurosci. 3:23; after Triesch 2005, Neural Comput. 17:1163), per step of dt ms::

    theta <- max(theta + eta * (s - target_rate * dt / 1000), theta_min)

with s = 1 in a step with a spike, else 0: every spike raises the threshold by eta
(mV), and between spikes it falls at eta * target_rate mV/s, so on average the neuron
fires at ``target_rate`` (Hz). It acts on a population's state variable (default
``theta``, the adaptive threshold of :class:`~synaptica.neurons.AdaptiveLIF` and
:class:`~synaptica.neurons.AdaptiveLIFConductance`; give those theta_jump = 0 when this
rule should be the only adaptation). Attach with :meth:`Network.add_intrinsic`.
Like synaptic rules it is one function that both engine paths run.
"""
from __future__ import annotations

from typing import Any

from synaptica.engine.description import CheckedFunction, check_function
from synaptica.primitives import maximum
from synaptica.neurons.base import Parameter
from synaptica.plasticity.base import validated_parameters


def intrinsic_threshold_update(theta, spike, eta, target_rate, dt, theta_min):
    return maximum(theta + eta * (spike - target_rate * dt * 1e-3), theta_min)


class IntrinsicPlasticity:
    """Homeostatic threshold adaptation towards a target rate (see module doc)."""

    parameters = {
        "eta": Parameter(0.05, "mV", non_negative=True, help="threshold change per spike"),
        "target_rate": Parameter(5.0, "Hz", non_negative=True, help="firing rate the neuron is driven to"),
        "theta_min": Parameter(-1e300, "mV", help="lower limit of the threshold offset"),
    }
    update = staticmethod(intrinsic_threshold_update)

    def __init__(self, variable: str = "theta", **values: Any) -> None:
        self.variable = variable
        self.values = validated_parameters("IntrinsicPlasticity", self.parameters, values)

    def state_blocks(self) -> tuple:
        """None of its own: it adapts a state variable of the population (``variable``)."""
        return ()

    def descriptions(self) -> dict[str, CheckedFunction]:
        return {"after_update": self.description()}

    def reads(self) -> tuple[str, ...]:
        return (self.variable,)

    @classmethod
    def description(cls) -> CheckedFunction:
        """The checked update: (variable, spike, coefficients...) -> new variable."""
        return check_function(cls.update, cls.__name__, returns=1)

    def coefficients(self, dt: float) -> dict[str, float]:
        """The numbers ``update`` takes after (theta, spike), in its argument order."""
        pool = {**{k: float(v) for k, v in self.values.items()}, "dt": float(dt)}
        return {name: pool[name] for name in self.description().arguments[2:]}

    def validate_for(self, population) -> None:
        if self.variable not in population.model.state:
            raise ValueError(f"IntrinsicPlasticity on '{population.name}': {type(population.model).__name__} has "
                             f"no state variable '{self.variable}' (use a model with an adaptive threshold)")
