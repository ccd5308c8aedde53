"""The network's step order, written once as data that every engine path lowers.

:func:`step_operations` turns a network into the list of typed operations one time step
performs, in order. The compiled CPU path (:mod:`synaptica.engine.cpu`) lowers each
operation to loop source, the torch path (:mod:`synaptica.engine.torch_path`) to tensor
operations; neither decides the order itself. Per step ``t`` (all groups see the state
of step t-1):

1. :class:`TrialStart` -- at the first step of a trial (see :meth:`Network.set_trials`; a
   network without trials has no such operation):
   state back to its initial value (except variables kept), pending synaptic input and
   every plastic mechanism's state cleared, weights normalised;
2. :class:`EmitPoisson` / :class:`EmitGenerator` -- input sources emit their spikes;
3. :class:`UpdatePopulation` -- synaptic input due at t (ring buffers) joins each
   receptor variable, injected currents join ``i_ext``, the model's checked ``update``
   runs (integrate, threshold, reset), then intrinsic plasticity acts on the new state;
4. :class:`ListSpikes` -- the index list of this step's spikes (compiled path);
5. :class:`Propagate` -- spikes (scaled by short-term plasticity, if any) go into the ring
   buffers at t + delay (delay >= 1 step);
6. :class:`UpdateModulator` -- neuromodulators decay, take pulses and source spikes;
   :class:`UpdateAstrocyte` -- astrocytes integrate the spikes of the groups they cover
   (:mod:`synaptica.plasticity.astrocyte`);
7. per plastic projection: :class:`DecayTraces`, :class:`PreSpikeEvents` (rule on the
   synapses of presynaptic neurons that spiked, then their traces), :class:`PostSpikeEvents`
   (likewise for postsynaptic spikes; it sees the presynaptic traces of this step),
   :class:`StepEvents` (every ``interval``), :class:`Normalize` (every ``normalize_every``);
8. monitors record: :class:`RecordSpikes`, :class:`RecordState`, :class:`RecordRate`,
   :class:`RecordCounts`.

Indices refer to the network's lists (``net.groups``, ``net.projections``, ...).
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Operation:
    """One operation of the step; subclasses name what it acts on."""


@dataclass(frozen=True)
class TrialStart(Operation):
    pass


@dataclass(frozen=True)
class EmitPoisson(Operation):
    group: int


@dataclass(frozen=True)
class EmitGenerator(Operation):
    group: int


@dataclass(frozen=True)
class UpdatePopulation(Operation):
    group: int
    receptors: tuple[tuple[str, int], ...]   # (state variable, ring buffer) delivered before the update
    currents: tuple[int, ...]                # injected current inputs (net.currents)
    intrinsic: bool                          # intrinsic plasticity after the update


@dataclass(frozen=True)
class ListSpikes(Operation):
    group: int


@dataclass(frozen=True)
class Propagate(Operation):
    projection: int
    group: int       # presynaptic group
    ring: int        # receptor ring buffer of the target
    stp: bool        # short-term plasticity scales the transmitted spikes


@dataclass(frozen=True)
class UpdateModulator(Operation):
    modulator: int
    source: int | None   # group whose spikes drive it


@dataclass(frozen=True)
class UpdateAstrocyte(Operation):
    modulator: int
    sources: tuple[int, ...]   # covered groups, in the order of the astrocyte's weights


@dataclass(frozen=True)
class DecayTraces(Operation):
    projection: int


@dataclass(frozen=True)
class PreSpikeEvents(Operation):
    projection: int
    group: int


@dataclass(frozen=True)
class PostSpikeEvents(Operation):
    projection: int
    group: int


@dataclass(frozen=True)
class StepEvents(Operation):
    projection: int


@dataclass(frozen=True)
class Normalize(Operation):
    projection: int


@dataclass(frozen=True)
class RecordSpikes(Operation):
    monitor: int
    group: int


@dataclass(frozen=True)
class RecordState(Operation):
    monitor: int
    group: int


@dataclass(frozen=True)
class RecordRate(Operation):
    monitor: int
    group: int


@dataclass(frozen=True)
class RecordCounts(Operation):
    monitor: int
    group: int


def step_operations(net) -> list[Operation]:
    """The operations of one step of ``net``, in the order every path runs them."""
    groups = net.groups
    # Without trials there is no trial start: the compiled loop then carries no reset code,
    # which is a fifth of its compile time (CUBA). set_trials invalidates the compiled loop.
    ops: list[Operation] = [TrialStart()] if net.trial_steps > 0 else []
    for g, group in enumerate(groups):
        if group.kind == "poisson":
            ops.append(EmitPoisson(g))
        elif group.kind == "generator":
            ops.append(EmitGenerator(g))
    for g, group in enumerate(groups):
        if group.kind == "population":
            receptors = tuple((var, r) for r, (post, var) in enumerate(net.receptor_buffers) if post is group)
            currents = tuple(c for c, cur in enumerate(net.currents) if cur.population is group)
            ops.append(UpdatePopulation(g, receptors, currents, group.intrinsic is not None))
    ops.extend(ListSpikes(g) for g, group in enumerate(groups) if group.kind != "poisson")
    for p, proj in enumerate(net.projections):
        ops.append(Propagate(p, groups.index(proj.pre), net.receptor_buffers.index((proj.post, proj.target)),
                             proj.stp is not None))
    for m, mod in enumerate(net.modulators.values()):
        if hasattr(mod, "sources"):   # an astrocyte
            ops.append(UpdateAstrocyte(m, tuple(groups.index(group) for group, _ in mod.sources)))
        else:
            ops.append(UpdateModulator(m, None if mod.source is None else groups.index(mod.source)))
    for p, proj in enumerate(net.projections):
        rule = proj.plasticity
        if rule is None:
            continue
        ops.append(DecayTraces(p))
        ops.append(PreSpikeEvents(p, groups.index(proj.pre)))
        ops.append(PostSpikeEvents(p, groups.index(proj.post)))
        if type(rule).on_step is not None:
            ops.append(StepEvents(p))
        if rule.normalize is not None and rule.normalize_every is not None:
            ops.append(Normalize(p))
    ops.extend(RecordSpikes(m, groups.index(mon.group)) for m, mon in enumerate(net.spike_monitors))
    ops.extend(RecordState(m, groups.index(mon.group)) for m, mon in enumerate(net.state_monitors))
    ops.extend(RecordRate(m, groups.index(mon.group)) for m, mon in enumerate(net.rate_monitors))
    ops.extend(RecordCounts(m, groups.index(mon.group)) for m, mon in enumerate(net.count_monitors))
    return ops
