"""Plasticity, short-term plasticity, modulators and trial starts on the torch path.

The same rule functions as on the compiled path, rebound to torch primitives and applied
to all synapses at once (flat synapse order, see ``Projection.synapse_index``), with
masks selecting the synapses of neurons that spiked. Weight changes are made without
autograd. With batch > 1 the changes of all entries are computed from the same weights
and summed (each scaled by 1 / batch), i.e. averaged updates, like the compiled path up
to the order within a step.
"""
from __future__ import annotations

import numpy as np
import torch

from synaptica.plasticity.base import weight_change_description


def update_modulator(mod, step: int) -> None:
    """Decay, this step's scheduled pulses, and ``gain`` per spike of the source group."""
    value = mod.value * mod.decay + mod.pulses_at(step)
    if mod.source is not None:   # on the device (see TorchStep.run): no transfer per step
        value = value + mod.gain * mod.source.spikes.detach().sum(1).to(value.dtype)
    mod.value.copy_(value)


def update_astrocyte(astro, step: int, update) -> None:
    """The astrocyte's checked update with the drive sum_g w_g N_g / dt of its covered groups."""
    drive = sum(weight * group.spikes.detach().sum(1).to(astro.value.dtype) for group, weight in astro.sources)
    value = update(astro.value, drive / astro.dt, astro.pulses_at(step), astro.dt, astro.tau, astro.bias)
    astro.value.copy_(value)


class TorchRule:
    """One projection's rule, ready to run step by step on tensors."""

    def __init__(self, net, proj, primitives: dict) -> None:
        self.net, self.proj, self.rule = net, proj, proj.plasticity
        cls = type(self.rule)
        self.functions = {e: cls.description(e).build(primitives) for e in cls.event_functions()}
        self.apply = weight_change_description().build(primitives)
        pre, post = proj.synapse_index()
        self.pre = torch.as_tensor(pre.astype(np.int64), device=net.device)
        self.post = torch.as_tensor(post.astype(np.int64), device=net.device)
        self.coefficients = net.rule_coefficients(self.rule)
        decays = self.rule.trace_decays(net.dt)
        self.decay_pre, self.decay_post = (torch.as_tensor(d, dtype=net.dtype, device=net.device) for d in decays)
        self.interval = net.rule_interval_steps(self.rule)

    def weights(self) -> torch.Tensor:
        w = self.proj.synapse_weights().detach().reshape(-1)
        return w.abs() if self.proj.negated_in_kernel else w

    def _arguments(self, event: str, w: torch.Tensor) -> list:
        cls, state = type(self.rule), self.proj.plastic_state
        out = []
        for a in cls.arguments(event):
            if a == "w":
                out.append(w)
            elif a in cls.synapse_state:
                out.append(state["synapse_state"][cls.synapse_state.index(a)])
            elif a in cls.pre_traces:
                out.append(state["traces_pre"][list(cls.pre_traces).index(a)][:, self.pre])
            elif a in cls.post_traces:
                out.append(state["traces_post"][list(cls.post_traces).index(a)][:, self.post])
            elif a in cls.post_variables:
                out.append(self.proj.post.state[a].detach()[:, self.post])
            elif a in cls.modulators:
                value = self.net.modulators[self.rule.modulator_names[a]].value
                out.append(value.to(dtype=w.dtype, device=w.device)[:, None])
            else:
                out.append(self.coefficients[a])
        return out

    def _event(self, event: str, mask: torch.Tensor | None, w: torch.Tensor, lr: float) -> torch.Tensor:
        state = self.proj.plastic_state
        pot, dep, *synapse_state = self.functions[event](*self._arguments(event, w))
        c = self.coefficients
        batch = state["traces_pre"].shape[1]
        shape = (batch, w.numel())
        pot, dep = torch.as_tensor(pot).expand(shape), torch.as_tensor(dep).expand(shape)
        if mask is not None:
            pot, dep = pot * mask, dep * mask
        changed = self.apply(w, pot, dep, lr / batch, c["w_min"], c["w_max"], c["soft"], c["multiplicative"])
        w = (w + (changed - w).sum(0)).clamp(c["w_min"], c["w_max"])
        for k, value in enumerate(synapse_state):
            value = torch.as_tensor(value, dtype=w.dtype).expand(shape)
            old = state["synapse_state"][k]
            state["synapse_state"][k] = value if mask is None else torch.where(mask, value, old)
        return w

    @staticmethod
    def _bump(traces: torch.Tensor, specs, spikes: torch.Tensor) -> None:
        for t, spec in enumerate(specs.values()):
            traces[t] = torch.where(spikes > 0, 1.0, traces[t]) if spec.mode == "set" else traces[t] + spikes

    def decay_traces(self) -> None:
        state = self.proj.plastic_state
        with torch.no_grad():
            state["traces_pre"] *= self.decay_pre[:, None, None]
            state["traces_post"] *= self.decay_post[:, None, None]

    def spike_events(self, side: str, trial: int) -> None:
        """The rule on the synapses of ``side`` ("pre"/"post") neurons that spiked, then
        their traces."""
        cls, state = type(self.rule), self.proj.plastic_state
        group, index = (self.proj.pre, self.pre) if side == "pre" else (self.proj.post, self.post)
        with torch.no_grad():
            spikes = group.spikes.detach()
            if getattr(cls, f"on_{side}") is not None:
                w = self._event(f"on_{side}", spikes[:, index] > 0, self.weights(), self._rate(trial))
                self.store(w)
            traces = self.rule.pre_traces if side == "pre" else self.rule.post_traces
            self._bump(state[f"traces_{side}"], traces, spikes)

    def step_events(self, step: int, trial: int) -> None:
        if step % self.interval == 0:
            with torch.no_grad():
                self.store(self._event("on_step", None, self.weights(), self._rate(trial)))

    def normalize_if_due(self, step: int) -> None:
        every = max(1, int(round(self.rule.normalize_every / self.net.dt)))
        if (step + 1) % every == 0:
            self.normalize()

    def _rate(self, trial: int) -> float:
        return float(self.rule.learning_rates(trial, 1)[0])

    def store(self, w: torch.Tensor) -> None:
        with torch.no_grad():
            self.proj.weights.copy_(w.reshape(self.proj.weights.shape))

    def normalize(self) -> None:
        if self.rule.values["learning_rate"] <= 0:  # a frozen rule does not normalise either
            return
        w = self.weights()
        totals = torch.zeros(self.proj.post.n, dtype=w.dtype, device=w.device).index_add(0, self.post, w)
        factor = torch.where(totals > 0, self.rule.normalize / totals.clamp(min=1e-300), 1.0)
        self.store(w * factor[self.post])


def stp_efficacy(net, proj, spikes: torch.Tensor, step: int, on_spike) -> torch.Tensor:
    """Tsodyks-Markram: update (u, x, last) of spiking presynaptic neurons; spikes x efficacy."""
    state = proj.plastic_state["stp"]
    u, x, last = state[0], state[1], state[2]
    # no spike yet: an infinite interval (1e300 would overflow float32), which resets u and x
    elapsed = torch.where(last >= 0, (step - last) * net.dt, torch.full_like(last, float("inf")))
    constants = proj.stp.constants()
    new_u, new_x, efficacy = on_spike(u, x, elapsed, *constants)
    fired = spikes.detach() > 0
    with torch.no_grad():
        state[0] = torch.where(fired, new_u, u)
        state[1] = torch.where(fired, new_x, x)
        state[2] = torch.where(fired, float(step), last)
    return spikes * torch.where(fired, efficacy, 0.0)


def start_trial(net, rings: list, rules: list, step: int) -> None:
    """Reset state, pending input, traces and rule state; normalise (see Network.set_trials)."""
    with torch.no_grad():
        for pop in net.populations:
            initial = pop.model.initial_state()
            for var in pop.model.state:
                if var not in net.trial_keep:
                    value = torch.as_tensor(np.broadcast_to(initial[var], (pop.n,)).copy(), dtype=net.dtype)
                    pop.state[var] = value.to(net.device).expand(net.batch_size, pop.n).clone()
        for ring in rings:
            for slot in range(len(ring)):
                ring[slot] = torch.zeros_like(ring[slot])
        for proj in net.projections:
            proj.reset_plastic_state()
        for mod in net.modulators.values():   # network-wide mechanisms (astrocytes)
            for block in getattr(mod, "state_blocks", tuple)():
                mod.value.fill_(float(block.initial[0]))
        for rule in rules:
            if rule.rule.normalize is not None and rule.rule.normalize_every is None:
                rule.normalize()
