"""The torch path: the network's step order as tensor operations, one step at a time.

Used for CUDA devices and whenever gradients must flow (training): the neuron models'
``update`` functions are the same as on the compiled path, rebound to torch primitives,
with ``spike`` a Heaviside whose backward pass is a surrogate gradient. State tensors are
replaced, not modified in place, so autograd sees the whole run.

Nothing waits for the device within a chunk: input schedules (Poisson probabilities,
given spike times, injected currents) are on the device before the first step,
modulators stay there, and monitors collect device tensors that reach the host once per
chunk (as does the finiteness check, see ``Network.run``).
"""
from __future__ import annotations

import numpy as np
import torch

from synaptica.engine.population import SpikeGeneratorInput
from synaptica.primitives import torch_primitives
from synaptica.engine.step_order import step_operations
from synaptica.engine.torch_plasticity import TorchRule, start_trial, stp_efficacy, update_astrocyte, update_modulator
from synaptica.primitives.surrogate import Surrogate

#: Engine populations default to SuperSpike with width 0.1 mV (slope 10 / mV).
DEFAULT_SURROGATE = Surrogate("fast_sigmoid", 0.1)


def _synapse_delivery(proj, device):
    """Function (B, n_pre) spikes -> list of (delay_steps, (B, n_post) input); reads the
    current weights at every call (plasticity may change them)."""
    delays = proj.delay_steps
    if proj.kind == "dense":
        if np.ndim(delays) == 0:
            return lambda s: [(delays, s @ proj.synapse_weights())]
        masks = {int(d): torch.as_tensor(delays == d, device=device) for d in np.unique(delays)}
        return lambda s: [(d, s @ (proj.synapse_weights() * m)) for d, m in masks.items()]
    pre = torch.as_tensor(np.repeat(np.arange(proj.pre.n), np.diff(proj.indptr)), device=device)
    post = torch.as_tensor(proj.indices.astype(np.int64), device=device)

    def deliver(s, select=None):
        w = proj.synapse_weights()
        pre_i, post_i, w_i = (pre, post, w) if select is None else (pre[select], post[select], w[select])
        out = torch.zeros(s.shape[0], proj.post.n, dtype=s.dtype, device=s.device)
        return out.index_add(1, post_i, s[:, pre_i] * w_i)

    if np.ndim(delays) == 0:
        return lambda s: [(delays, deliver(s))]
    selects = {int(d): torch.as_tensor(np.flatnonzero(delays == d), device=device) for d in np.unique(delays)}
    return lambda s: [(d, deliver(s, sel)) for d, sel in selects.items()]


def run_torch(net, n_steps: int) -> None:
    """Advance ``net`` by ``n_steps`` with torch operations (see module doc).

    Each population's spikes use its own ``surrogate`` (default :data:`DEFAULT_SURROGATE`)
    and ``detach_reset`` (stop gradients through the reset; default False); parameters
    registered in ``population.learnable`` (see :func:`synaptica.training.make_learnable`)
    enter the coefficients as differentiable tensors.
    """
    TorchStep(net).run(n_steps)


class TorchStep:
    """The network's step order (:func:`~synaptica.engine.step_order.step_operations`)
    with each operation lowered to tensor operations by the method ``lower_<Operation>``."""

    def __init__(self, net) -> None:
        self.net = net
        primitives = torch_primitives(DEFAULT_SURROGATE)
        device = net.device
        self.updates, self.coefficients = {}, {}
        for pop in net.populations:
            own = torch_primitives(pop.surrogate or DEFAULT_SURROGATE, pop.detach_reset)
            self.updates[pop.name] = type(pop.model).bound_update(own)
            params = {k: (torch.as_tensor(v, dtype=net.dtype, device=device) if np.ndim(v) else v)
                      for k, v in pop.model.numeric_parameters().items()}
            params.update({k: p() for k, p in pop.learnable.items()})
            self.coefficients[pop.name] = pop.model.coefficients(net.dt, params, own)
        self.rings = [list(buf.unbind(0)) for buf in net.buffers]
        self.deliveries = [_synapse_delivery(p, device) for p in net.projections]
        self.events = {g.name: (g.event_steps(net.dt), g.ids) for g in net.groups
                       if isinstance(g, SpikeGeneratorInput)}
        self.rules = {p: TorchRule(net, proj, primitives) for p, proj in enumerate(net.projections)
                      if proj.plasticity is not None}
        self.stp_functions = {p.name: type(p.stp).description().build(primitives) for p in net.projections
                              if p.stp is not None}
        self.intrinsic_updates = {p.name: type(p.intrinsic).description().build(primitives)
                                  for p in net.populations if p.intrinsic is not None}
        self.operations = [(getattr(self, f"lower_{type(op).__name__}"), op) for op in step_operations(net)]
        self.modulators = list(net.modulators.values())
        self.astrocyte_updates = {m: type(mod).description().build(primitives)
                                  for m, mod in enumerate(self.modulators) if hasattr(mod, "sources")}
        self.currents = [torch.as_tensor(c.values, dtype=net.dtype, device=device) for c in net.currents]
        self.poisson_probability: dict[tuple[int, int], torch.Tensor] = {}
        self.recorded: dict[tuple[str, int], list] = {}   # monitor -> device tensors of this chunk

    def run(self, n_steps: int) -> None:
        net = self.net
        start = net.step
        homes = {name: mod.value for name, mod in net.modulators.items()}
        for mod in net.modulators.values():   # on the device for the chunk, home afterwards
            mod.value = mod.value.to(net.device)
        self.generator_steps = self._generator_schedule(start, start + n_steps)
        try:
            for step in range(start, start + n_steps):
                self.step = step
                self.trial = step // net.trial_steps if net.trial_steps else 0
                for lower, op in self.operations:
                    lower(op)
                net.step = step + 1
        finally:
            for name, mod in net.modulators.items():
                homes[name].copy_(mod.value.detach().cpu())
                mod.value = homes[name]
            self._flush(start)
        # input still in flight stays in the graph: the next chunk continues from these
        # tensors, so gradients cross chunk boundaries (a copy under no_grad would cut them)
        net.buffers = [torch.stack(ring) for ring in self.rings]

    def _generator_schedule(self, first: int, end: int) -> dict[int, dict[int, torch.Tensor]]:
        """Given spikes of this chunk: group -> step -> ids on the device (one transfer)."""
        out = {}
        for g, group in enumerate(self.net.groups):
            if isinstance(group, SpikeGeneratorInput):
                steps, ids = self.events[group.name]
                inside = (steps >= first) & (steps < end)
                device_ids = torch.as_tensor(ids[inside], device=self.net.device)
                starts = np.flatnonzero(np.r_[True, np.diff(steps[inside]) != 0]) if inside.any() else []
                bounds = list(starts) + [int(inside.sum())]
                out[g] = {int(steps[inside][a]): device_ids[a:b] for a, b in zip(bounds[:-1], bounds[1:])}
        return out

    def _flush(self, start: int) -> None:
        """This chunk's monitor records to the host: one transfer per monitor."""
        net = self.net
        for (kind, m), chunks in self.recorded.items():
            if not chunks:
                continue
            if kind == "spikes":
                mon = net.spike_monitors[m]
                steps = torch.cat([torch.full((c.shape[0],), st, dtype=torch.int64, device=c.device)
                                   for st, c in chunks])
                events = torch.cat([c for _, c in chunks]).cpu().numpy()
                order = np.lexsort((events[:, 1], events[:, 0], steps.cpu().numpy()))
                mon.record(steps.cpu().numpy()[order], events[order, 1].astype(np.int32),
                           events[order, 0].astype(np.int32))
            elif kind == "state":
                mon = net.state_monitors[m]
                mon.record(np.array([st for st, _ in chunks]),
                           torch.stack([c for _, c in chunks]).cpu().numpy().astype(np.float64))
            elif kind == "rate":
                net.rate_monitors[m].record(torch.stack(chunks).cpu().numpy().astype(np.int64))
            elif kind == "counts":
                mon = net.count_monitors[m]
                for trial, counts in chunks:
                    mon.reserve(trial + 1)
                    mon.counts[trial] += counts.cpu().numpy().astype(np.int64)
        self.recorded = {}

    # -- lowerings of the step's operations (see engine.step_order) -------------------------
    def lower_TrialStart(self, op) -> None:
        net = self.net
        if net.trial_steps and self.step % net.trial_steps == 0:
            start_trial(net, self.rings, list(self.rules.values()), self.step)

    def lower_EmitPoisson(self, op) -> None:
        net, group = self.net, self.net.groups[op.group]
        row = group.row(self.trial)
        key = (op.group, row)
        if key not in self.poisson_probability:   # one transfer per rate row, not per step
            self.poisson_probability[key] = torch.as_tensor(group.rates_hz[row] * net.dt * 1e-3,
                                                            dtype=net.dtype, device=net.device)
        draw = torch.rand(net.batch_size, group.n, generator=net.torch_generator, device=net.device,
                          dtype=net.dtype)
        group.spikes = (draw < self.poisson_probability[key]).to(net.dtype)

    def lower_EmitGenerator(self, op) -> None:
        net, group = self.net, self.net.groups[op.group]
        spikes = torch.zeros(net.batch_size, group.n, dtype=net.dtype, device=net.device)
        ids = self.generator_steps[op.group].get(self.step)
        if ids is not None:
            spikes[:, ids] = 1.0
        group.spikes = spikes

    def lower_UpdatePopulation(self, op) -> None:
        net, pop, step = self.net, self.net.groups[op.group], self.step
        state = dict(pop.state)
        for var, r in op.receptors:   # due synaptic input joins the receptor variable
            ring = self.rings[r]
            slot = step % len(ring)
            state[var] = state[var] + ring[slot]
            ring[slot] = torch.zeros_like(ring[slot])
        i_ext = pop.i_ext
        for c in op.currents:
            row = step - net.currents[c].start_step
            if 0 <= row < self.currents[c].shape[0]:
                i_ext = i_ext + self.currents[c][row]
        new_state, pop.spikes = type(pop.model).step(state, i_ext, self.coefficients[pop.name],
                                                      self.updates[pop.name])
        if op.intrinsic:   # intrinsic plasticity acts on the new state
            var = pop.intrinsic.variable
            new_state[var] = self.intrinsic_updates[pop.name](new_state[var], pop.spikes,
                                                              *pop.intrinsic.coefficients(net.dt).values())
        pop.state = new_state

    def lower_ListSpikes(self, op) -> None:
        """Nothing to do: tensors hold the spikes of every neuron."""

    def lower_Propagate(self, op) -> None:
        net, proj, step = self.net, self.net.projections[op.projection], self.step
        spikes = proj.pre.spikes
        if proj.plasticity is not None:
            # a local rule rewrites these weights in place after the step, so autograd
            # must not keep them: plastic projections pass no gradient upstream
            spikes = spikes.detach()
        if op.stp:
            spikes = stp_efficacy(net, proj, spikes, step, self.stp_functions[proj.name])
        ring = self.rings[op.ring]
        for delay, contribution in self.deliveries[op.projection](spikes):
            slot = (step + delay) % len(ring)
            ring[slot] = ring[slot] + contribution

    def lower_UpdateModulator(self, op) -> None:
        update_modulator(self.modulators[op.modulator], self.step)

    def lower_UpdateAstrocyte(self, op) -> None:
        update_astrocyte(self.modulators[op.modulator], self.step, self.astrocyte_updates[op.modulator])

    def lower_DecayTraces(self, op) -> None:
        self.rules[op.projection].decay_traces()

    def lower_PreSpikeEvents(self, op) -> None:
        self.rules[op.projection].spike_events("pre", self.trial)

    def lower_PostSpikeEvents(self, op) -> None:
        self.rules[op.projection].spike_events("post", self.trial)

    def lower_StepEvents(self, op) -> None:
        self.rules[op.projection].step_events(self.step, self.trial)

    def lower_Normalize(self, op) -> None:
        self.rules[op.projection].normalize_if_due(self.step)

    def lower_RecordSpikes(self, op) -> None:
        spikes = self.net.spike_monitors[op.monitor].group.spikes.detach()
        self.recorded.setdefault(("spikes", op.monitor), []).append((self.step, torch.nonzero(spikes)))

    def lower_RecordState(self, op) -> None:
        mon = self.net.state_monitors[op.monitor]
        if self.step % mon.every == 0:
            state = mon.group.state[mon.variable].detach()
            values = state[:, torch.as_tensor(mon.neurons, device=state.device)]
            self.recorded.setdefault(("state", op.monitor), []).append((self.step, values))

    def lower_RecordRate(self, op) -> None:
        mon = self.net.rate_monitors[op.monitor]
        self.recorded.setdefault(("rate", op.monitor), []).append(mon.group.spikes.detach().sum(1))

    def lower_RecordCounts(self, op) -> None:
        mon = self.net.count_monitors[op.monitor]
        chunks = self.recorded.setdefault(("counts", op.monitor), [])
        if not chunks or chunks[-1][0] != self.trial:
            chunks.append((self.trial, torch.zeros_like(mon.group.spikes.detach())))
        chunks[-1][1].add_(mon.group.spikes.detach())
