"""The torch path: the network's step order as tensor operations, one step at a time.

Used for CUDA devices and whenever gradients must flow (training): the neuron models'
``update`` functions are the same as on the compiled path, rebound to torch primitives,
with ``spike`` a Heaviside whose backward pass is a surrogate gradient. State tensors are
replaced, not modified in place, so autograd sees the whole run.
"""
from __future__ import annotations

import numpy as np
import torch

from synaptica.engine.population import PoissonInput, Population, SpikeGeneratorInput
from synaptica.primitives import torch_primitives
from synaptica.engine.torch_plasticity import TorchRule, start_trial, stp_efficacy, update_modulators
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
    post = torch.as_tensor(proj.indices, device=device)

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
    primitives = torch_primitives(DEFAULT_SURROGATE)
    device, batch = net.device, net.batch_size
    updates, coefficients = {}, {}
    for pop in net.populations:
        own = torch_primitives(pop.surrogate or DEFAULT_SURROGATE, pop.detach_reset)
        updates[pop.name] = type(pop.model).bound_update(own)
        params = {k: (torch.as_tensor(v, dtype=net.dtype, device=device) if np.ndim(v) else v)
                  for k, v in pop.model.numeric_parameters().items()}
        params.update({k: p() for k, p in pop.learnable.items()})
        coefficients[pop.name] = pop.model.coefficients(net.dt, params, own)
    rings = [list(buf.unbind(0)) for buf in net.buffers]
    receptor_of = {key: r for r, key in enumerate(net.receptor_buffers)}
    deliveries = [(_synapse_delivery(p, device), receptor_of[(p.post, p.target)]) for p in net.projections]
    events = {g.name: (g.event_steps(net.dt), g.ids) for g in net.groups if isinstance(g, SpikeGeneratorInput)}
    rules = [TorchRule(net, p, primitives) for p in net.projections if p.plasticity is not None]
    stp_functions = {p.name: type(p.stp).description().build(primitives) for p in net.projections
                     if p.stp is not None}
    intrinsic_updates = {p.name: type(p.intrinsic).description().build(primitives) for p in net.populations
                         if p.intrinsic is not None}
    start = net.step
    for step in range(start, start + n_steps):
        trial = step // net.trial_steps if net.trial_steps else 0
        if net.trial_steps and step % net.trial_steps == 0:
            start_trial(net, rings, rules, step)
        for group in net.groups:                                  # 1. sources
            if isinstance(group, PoissonInput):
                row = group.rates_hz[group.row(trial)]
                prob = torch.as_tensor(row * net.dt * 1e-3, dtype=net.dtype, device=device)
                draw = torch.rand(batch, group.n, generator=net.torch_generator, device=device, dtype=net.dtype)
                group.spikes = (draw < prob).to(net.dtype)
            elif isinstance(group, SpikeGeneratorInput):
                steps, ids = events[group.name]
                spikes = torch.zeros(batch, group.n, dtype=net.dtype, device=device)
                spikes[:, torch.as_tensor(ids[steps == step], device=device)] = 1.0
                group.spikes = spikes
        for pop in net.populations:                               # 2.+3. deliver, update
            state = dict(pop.state)
            for (post, var), r in receptor_of.items():
                if post is pop:
                    slot = step % len(rings[r])
                    state[var] = state[var] + rings[r][slot]
                    rings[r][slot] = torch.zeros_like(rings[r][slot])
            i_ext = pop.i_ext
            for current in net.currents:
                row = step - current.start_step
                if current.population is pop and 0 <= row < current.values.shape[0]:
                    i_ext = i_ext + torch.as_tensor(current.values[row], dtype=net.dtype, device=device)
            new_state, pop.spikes = type(pop.model).step(state, i_ext, coefficients[pop.name],
                                                          updates[pop.name])
            if pop.intrinsic is not None:
                var = pop.intrinsic.variable
                new_state[var] = intrinsic_updates[pop.name](new_state[var], pop.spikes,
                                                             *pop.intrinsic.coefficients(net.dt).values())
            pop.state = new_state
        for (deliver, r), proj in zip(deliveries, net.projections):  # 4. propagate
            spikes = proj.pre.spikes
            if proj.plasticity is not None:
                # a local rule rewrites these weights in place after the step, so autograd
                # must not keep them: plastic projections pass no gradient upstream
                spikes = spikes.detach()
            if proj.stp is not None:
                spikes = stp_efficacy(net, proj, spikes, step, stp_functions[proj.name])
            for delay, contribution in deliver(spikes):
                slot = (step + delay) % len(rings[r])
                rings[r][slot] = rings[r][slot] + contribution
        update_modulators(net, step)                              # 5. plasticity
        for rule in rules:
            rule.step(step)
        _record(net, step, trial)                                 # 6. monitors
        net.step = step + 1
    # input still in flight stays in the graph: the next chunk continues from these
    # tensors, so gradients cross chunk boundaries (a copy under no_grad would cut them)
    net.buffers = [torch.stack(ring) for ring in rings]


def _record(net, step: int, trial: int) -> None:
    for mon in net.spike_monitors:
        b, k = torch.nonzero(mon.group.spikes.detach(), as_tuple=True)
        mon.record(np.full(k.numel(), step, dtype=np.int64), k.cpu().numpy().astype(np.int32),
                   b.cpu().numpy().astype(np.int32))
    for mon in net.state_monitors:
        if step % mon.every == 0:
            state = mon.group.state[mon.variable].detach()
            values = state[:, torch.as_tensor(mon.neurons, device=state.device)]
            mon.record(np.array([step]), values.cpu().numpy()[None].astype(np.float64))
    for mon in net.rate_monitors:
        mon.record(mon.group.spikes.detach().sum(1).cpu().numpy()[None].astype(np.int64))
    for mon in net.count_monitors:
        mon.reserve(trial + 1)
        mon.counts[trial] += mon.group.spikes.detach().cpu().numpy().astype(np.int64)
