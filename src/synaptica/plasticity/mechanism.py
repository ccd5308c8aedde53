"""One protocol for every plastic mechanism the engine runs.

Long-term rules (:class:`~synaptica.plasticity.base.PlasticityRule`), short-term
plasticity (:class:`~synaptica.plasticity.short_term.TsodyksMarkram`) and intrinsic
plasticity (:class:`~synaptica.plasticity.intrinsic.IntrinsicPlasticity`), and whatever
comes next (astrocytes, structural plasticity), tell the engine three things the same way:

* :meth:`state_blocks` -- the state they own, as :class:`StateBlock` s: per presynaptic
  neuron, per postsynaptic neuron or per synapse, one row per variable with its initial
  value. The engine allocates it (``(rows, batch, size)`` tensors in
  ``Projection.plastic_state``), saves it in checkpoints and restores the initial values
  at every trial start, on every path, from this one declaration;
* :meth:`descriptions` -- the event they react to -> the checked function the engine
  calls then (see :mod:`synaptica.engine.description`). Events: ``"pre_spike"``,
  ``"post_spike"``, ``"step"`` (rules), ``"transmit"`` (a presynaptic spike crossing a
  projection: short-term plasticity), ``"after_update"`` (a population's new state:
  intrinsic plasticity), ``"activity"`` (the spikes of the groups a network-wide
  mechanism integrates, once per step: astrocytes);
* :meth:`reads` -- the variables they read that they do not own: postsynaptic state
  variables and network modulators.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Protocol

from synaptica.engine.description import CheckedFunction

EVENTS = ("pre_spike", "post_spike", "step", "transmit", "after_update", "activity")


@dataclass(frozen=True)
class StateBlock:
    """State a mechanism owns: ``names`` (one row each) over ``over`` ("pre", "post",
    "synapse", or "network": one value per batch entry, e.g. an astrocyte's calcium),
    starting (and restarting at each trial) from ``initial``."""

    key: str
    over: str
    names: tuple[str, ...]
    initial: tuple[float, ...]

    def __post_init__(self) -> None:
        if self.over not in ("pre", "post", "synapse", "network"):
            raise ValueError(f"StateBlock '{self.key}': over must be 'pre', 'post', 'synapse' or 'network', "
                             f"got {self.over!r}")
        if len(self.initial) != len(self.names):
            raise ValueError(f"StateBlock '{self.key}': one initial value per variable")


class PlasticMechanism(Protocol):
    """What every plastic mechanism declares (see module doc)."""

    def state_blocks(self) -> tuple[StateBlock, ...]: ...

    def descriptions(self) -> Mapping[str, CheckedFunction]: ...

    def reads(self) -> tuple[str, ...]: ...
