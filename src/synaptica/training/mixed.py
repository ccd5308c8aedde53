"""Mixed learning: local plasticity rules and gradient descent in one engine network.

Every projection of a :class:`~synaptica.Network` trained by :class:`MixedTrainer` has
exactly one role:

* **plastic** -- it has a local rule (``Network.connect(..., plasticity=rule)``; STDP,
  three-factor, ...). The rule changes its weights during every run, in place and without
  autograd, exactly as in any engine run on the torch path
  (:mod:`synaptica.engine.torch_plasticity`). Its weights are plain tensors: they never
  get a ``.grad`` and the optimiser never sees them;
* **gradient** -- listed in ``gradient=``: its weights become a ``torch.nn.Parameter``
  that backpropagation through time (surrogate gradients of the engine's torch path)
  and the optimiser change, only at :meth:`MixedTrainer.update`; no rule touches them;
* **fixed** -- everything else (e.g. lateral inhibition, background noise): constant.

A projection cannot be both plastic and gradient-trained. Gradients do not pass through
plastic projections either: their weights change in place during the forward run, so
autograd could not reuse them; a network in which a plastic projection's presynaptic
group carries gradients (it is downstream of a gradient-trained projection or has
learnable neuron parameters) is rejected with the path named.

Learned third factors: :meth:`MixedTrainer.broadcast` sets a network modulator (see
:mod:`synaptica.engine.modulators`) to a value per batch entry computed by any torch
module -- e.g. a critic's reward-prediction error -- detached, for a given time, so a
three-factor rule (:class:`~synaptica.plasticity.ThreeFactor`) turns its eligibility
traces into weight changes gated by a learned signal (Fremaux, Sprekeler & Gerstner 2010,
J. Neurosci. 30:13326: reward-modulated STDP needs the reward minus its expectation,
which a critic must learn). The module itself is trained by gradient (``modules=``).

One episode (a batch of samples, one per batch entry):
``reset()`` -> ``present(rates)`` -> ``run(ms)`` (local rules learn; differentiable state)
-> loss from the final state (e.g. an integrating readout's membrane) -> ``update(loss)``.
The two demonstrations, :func:`stdp_readout_digits` and :func:`learned_modulator_task`,
are written this way. Shapes: rates (batch, n) Hz; counts (batch, n) spikes per run;
state tensors (batch, n) in the model's units (mV, pA).
"""
from __future__ import annotations

import contextlib
import time
from typing import Any, Iterator, Mapping, Sequence

import numpy as np
import torch

from synaptica.engine.network import Network
from synaptica.engine.population import Group, PoissonInput
from synaptica.primitives import torch_primitives
from synaptica.engine.torch_path import DEFAULT_SURROGATE
from synaptica.engine.torch_plasticity import TorchRule, start_trial
from synaptica.synapses.projection import Projection


class MixedTrainer:
    """Train one engine network with local rules and gradients together (see module doc).

    Args:
        net: the network (``batch_size`` = samples per episode); runs on the torch path.
        gradient: projections (objects or names) whose weights are trained by gradient.
        modules: extra torch modules trained by the same optimiser (readouts outside the
            engine, a critic producing a modulator, ...).
        count: groups whose spike counts :meth:`run` returns.
        lr: Adam learning rate (weight units per step for projections).
    """

    def __init__(self, net: Network, gradient: Sequence[Projection | str] = (),
                 modules: Sequence[torch.nn.Module] = (), count: Sequence[Group] = (), lr: float = 1e-2) -> None:
        if not isinstance(net, Network):
            raise ValueError(f"MixedTrainer: net must be a synaptica Network, got {type(net).__name__}")
        if net.trial_steps:
            raise ValueError("MixedTrainer: the network has trials (set_trials); the trainer resets it at "
                             "every episode itself, so build it without set_trials")
        if not (np.isfinite(lr) and lr > 0):
            raise ValueError(f"MixedTrainer: lr must be a positive number, got {lr!r}")
        self.net = net
        self.gradient = self._resolve(gradient)
        self.plastic = [p for p in net.projections if p.plasticity is not None]
        for proj in self.gradient:
            if proj.plasticity is not None:
                raise ValueError(f"MixedTrainer: projection '{proj.name}' is both plastic "
                                 f"({proj.plasticity.name}) and gradient-trained; give it one role")
        for proj in self.plastic:
            if proj.weights.requires_grad:
                raise ValueError(f"MixedTrainer: plastic projection '{proj.name}' has weights that require "
                                 f"gradients; its rule owns them (use plain tensors)")
        self._check_gradient_paths()
        self.modules = list(modules)
        for m in self.modules:
            if not isinstance(m, torch.nn.Module):
                raise ValueError(f"MixedTrainer: modules must be torch.nn.Module, got {type(m).__name__}")
        for group in count:
            if not any(group is g for g in net.groups):
                raise ValueError(f"MixedTrainer: count group {getattr(group, 'name', group)!r} is not in the network")
        # all checks done: now change the network (weights to Parameters, count monitors)
        for proj in self.gradient:
            if not isinstance(proj.weights, torch.nn.Parameter):
                proj.weights = torch.nn.Parameter(proj.weights.detach().clone())
        params = self.parameters()
        if not params and not self.plastic:
            raise ValueError("MixedTrainer: nothing learns (no gradient projections, learnable neuron "
                             "parameters, modules or plastic projections)")
        self.optimizer = torch.optim.Adam(params, lr=lr) if params else None
        self.counters = {}
        for group in count:
            name = f"mixed-counts:{group.name}"  # one per group, shared by trainers of this network
            existing = [m for m in net.count_monitors if m.name == name]
            self.counters[group.name] = existing[0] if existing else net.monitor_counts(group, name=name)
        primitives = torch_primitives(DEFAULT_SURROGATE)
        self._normalizing = [TorchRule(net, p, primitives) for p in self.plastic
                             if p.plasticity.normalize is not None and p.plasticity.normalize_every is None]

    # -- roles -----------------------------------------------------------------------
    def _resolve(self, projections: Sequence[Projection | str]) -> list[Projection]:
        by_name = {p.name: p for p in self.net.projections}
        out: list[Projection] = []
        for item in projections:
            proj = by_name.get(item) if isinstance(item, str) else item
            if proj is None or not any(proj is p for p in self.net.projections):
                raise ValueError(f"MixedTrainer: gradient projection {getattr(item, 'name', item)!r} is not in "
                                 f"the network; projections: {sorted(by_name)}")
            if any(proj is q for q in out):
                raise ValueError(f"MixedTrainer: projection '{proj.name}' is listed twice in gradient")
            out.append(proj)
        return out

    def _check_gradient_paths(self) -> None:
        """Reject plastic projections fed by groups whose spikes carry gradients."""
        source: dict[str, str] = {p.post.name: f"gradient projection '{p.name}'" for p in self.gradient}
        source.update({pop.name: f"learnable parameters of '{pop.name}'" for pop in self.net.populations
                       if pop.learnable})
        changed = True
        while changed:  # propagate through the non-plastic projections to a fixed point
            changed = False
            for p in self.net.projections:
                if p.plasticity is None and p.pre.name in source and p.post.name not in source:
                    source[p.post.name] = source[p.pre.name]
                    changed = True
        for p in self.plastic:
            if p.pre.name in source:
                raise ValueError(f"MixedTrainer: plastic projection '{p.name}' is fed by '{p.pre.name}', whose "
                                 f"spikes carry gradients (from {source[p.pre.name]}); gradients cannot pass "
                                 f"through weights a local rule changes in place during the run")

    @property
    def roles(self) -> dict[str, str]:
        """Projection name -> "plastic", "gradient" or "fixed"."""
        grad = {id(p) for p in self.gradient}
        return {p.name: "plastic" if p.plasticity is not None else "gradient" if id(p) in grad else "fixed"
                for p in self.net.projections}

    def parameters(self) -> list[torch.nn.Parameter]:
        """Everything the optimiser trains: gradient projections' weights, learnable neuron
        parameters of the network's populations, and the extra modules' parameters."""
        params = [p.weights for p in self.gradient]
        for pop in self.net.populations:
            for module in pop.learnable.values():
                params.extend(module.parameters())
        for m in self.modules:
            params.extend(m.parameters())
        unique, seen = [], set()
        for p in params:
            if id(p) not in seen:
                seen.add(id(p))
                unique.append(p)
        return unique

    # -- one episode -----------------------------------------------------------------
    def reset(self) -> None:
        """Start an episode: neuron state to its initial values (fresh tensors, so no graph
        of the previous episode is kept), pending synaptic input, traces and eligibility
        cleared, modulators at 0, and rules with ``normalize`` normalised (as at a trial
        start, see :meth:`Network.set_trials`)."""
        net = self.net
        start_trial(net, [], self._normalizing, net.step)
        net.buffers = [torch.zeros_like(buf.detach()) for buf in net.buffers]
        with torch.no_grad():
            for mod in net.modulators.values():
                mod.value.zero_()
        for pop in net.populations:
            pop.spikes = torch.zeros_like(pop.spikes.detach())

    def present(self, rates: Mapping[str | PoissonInput, Any]) -> None:
        """Set Poisson input rates (Hz) for this episode: ``{input: (batch, n) or (n,)}``."""
        by_name = {g.name: g for g in self.net.groups}
        for key, value in rates.items():
            group = by_name.get(key) if isinstance(key, str) else key
            if not isinstance(group, PoissonInput) or group not in self.net.groups:
                raise ValueError(f"MixedTrainer.present: {getattr(key, 'name', key)!r} is not a Poisson input "
                                 f"of the network")
            value = value.detach().cpu().numpy() if torch.is_tensor(value) else np.asarray(value, dtype=float)
            batch = self.net.batch_size
            if value.shape == (batch, group.n):
                value = value[None]
            elif value.shape != (group.n,):
                raise ValueError(f"MixedTrainer.present: rates of '{group.name}' must have shape "
                                 f"(batch={batch}, n={group.n}) or ({group.n},), got {value.shape}")
            group.set_rates(value)

    def run(self, duration: float) -> dict[str, torch.Tensor]:
        """Run ``duration`` ms on the torch path (local rules learn as they go) and return the
        spike counts (batch, n) of the ``count`` groups in this run. State tensors
        (``population.state``) stay differentiable with respect to :meth:`parameters`."""
        before = {k: self._counts(m) for k, m in self.counters.items()}
        steps = int(round(duration / self.net.dt))
        # one chunk: a chunk boundary stores pending synaptic input detached (cuts gradients)
        self.net.run(duration, backend="torch", chunk_steps=max(steps, 1))
        return {k: torch.as_tensor(self._counts(m) - before[k], dtype=self.net.dtype)
                for k, m in self.counters.items()}

    def _counts(self, monitor) -> np.ndarray:
        return monitor.counts[0].copy() if monitor.rows else np.zeros(monitor.buffer.shape[1:], dtype=np.int64)

    def broadcast(self, modulator: str, value: torch.Tensor | float, duration: float) -> dict[str, torch.Tensor]:
        """Hold network modulator ``modulator`` at ``value`` (one number per batch entry,
        e.g. a critic's reward-prediction error; detached: the rule gets no gradient) for
        ``duration`` ms of running, then set it back to 0. Returns :meth:`run`'s counts."""
        if modulator not in self.net.modulators:
            raise ValueError(f"MixedTrainer.broadcast: no modulator '{modulator}'; network modulators: "
                             f"{sorted(self.net.modulators)}")
        mod = self.net.modulators[modulator]
        value = torch.as_tensor(value).detach().to(torch.float64).cpu()
        if value.ndim == 0:
            value = value.expand(self.net.batch_size)
        if value.shape != (self.net.batch_size,):
            raise ValueError(f"MixedTrainer.broadcast: value must be a scalar or shape (batch={self.net.batch_size},), "
                             f"got {tuple(value.shape)}")
        if not bool(torch.isfinite(value).all()):
            raise FloatingPointError(f"MixedTrainer.broadcast: modulator '{modulator}' value is not finite")
        mod.value.copy_(value)
        try:
            return self.run(duration)
        finally:
            mod.value.zero_()

    def update(self, loss: torch.Tensor) -> float:
        """One optimiser step on ``loss`` (backpropagation through the last run(s) since
        :meth:`reset`); returns the loss value."""
        if self.optimizer is None:
            raise ValueError("MixedTrainer.update: nothing is trained by gradient in this configuration")
        if not (torch.is_tensor(loss) and loss.ndim == 0):
            raise ValueError(f"MixedTrainer.update: loss must be a scalar tensor, got {type(loss).__name__} "
                             f"of shape {tuple(getattr(loss, 'shape', ()))}")
        if not loss.requires_grad:
            raise ValueError("MixedTrainer.update: the loss does not depend on any trained parameter")
        if not bool(torch.isfinite(loss)):
            raise FloatingPointError(f"MixedTrainer.update: loss is not finite ({loss.item()})")
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return float(loss.detach())

    @contextlib.contextmanager
    def frozen(self) -> Iterator[None]:
        """Local rules off (learning rate 0, no normalisation) inside the block, e.g. to test."""
        saved = [(p.plasticity, p.plasticity.values["learning_rate"]) for p in self.plastic]
        for rule, _ in saved:
            rule.values["learning_rate"] = 0.0
        try:
            yield
        finally:
            for rule, lr in saved:
                rule.values["learning_rate"] = lr


# -- demonstrations ------------------------------------------------------------------------
def _batches(n: int, batch: int, rng: np.random.Generator) -> Iterator[np.ndarray]:
    """Shuffled index batches of exactly ``batch`` (the last one padded by wrapping around)."""
    order = rng.permutation(n)
    for start in range(0, n, batch):
        yield np.resize(np.concatenate([order[start:start + batch], order]), batch)


def stdp_readout_digits(n_hidden: int = 64, duration: float = 40.0, batch: int = 16, epochs: int = 1,
                        n_train: int = 1000, n_test: int = 500, max_rate_hz: float = 150.0, lr: float = 0.1,
                        stdp_rate: float = 1.0, init_std: float = 0.1, seed: int = 0) -> dict[str, Any]:
    """(a) STDP hidden layer + gradient-trained readout, trained together on the 8x8 digits.

    Pixels (intensity in [0, 1]) -> Poisson at ``intensity * max_rate_hz`` -> ``n_hidden``
    LIF neurons through a **plastic** pair-STDP projection (Song, Miller & Abbott 2000;
    start U(0, 100) pA, bounds [0, 150] pA, each neuron's incoming sum normalised at every
    episode as in Diehl & Cook 2015), with **fixed** all-to-all lateral inhibition (40 pA)
    -> 10 non-spiking integrating LIF readout neurons (tau_m = 1 s, 0.1 mV per pA of
    weight per hidden spike) through a **gradient** projection (start N(0, ``init_std``)
    pA); loss: cross-entropy of the readout's final membrane potentials (mV above rest).
    Each batch of ``duration`` ms runs the rule during the forward pass, then takes one
    Adam step (``lr`` in pA) on the readout weights. ``stdp_rate`` = 0 freezes the hidden
    layer at its random start (the control).

    Returns accuracies (train during the last epoch, test with rules frozen), the mean
    absolute change of the plastic weights, the hidden rate (Hz) and the wall time (s).
    """
    from synaptica.datasets import load_images
    from synaptica.neurons import LIF
    from synaptica.plasticity import PairSTDP

    images, labels, _ = load_images("digits")
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(images))
    train, test = order[:n_train], order[n_train:n_train + n_test]
    if train.size < batch or test.size < 1:
        raise ValueError(f"stdp_readout_digits: n_train ({n_train}) must be >= batch ({batch}) and n_test >= 1")
    net = Network(dt=1.0, batch_size=batch, seed=seed)
    pixels = net.add_poisson(images.shape[1], 0.0, name="pixels")
    hidden = net.add_population(n_hidden, LIF(), name="hidden")
    readout = net.add_population(10, LIF(tau_m=1000.0, r_m=20.0, v_th=1e6), name="readout")
    w0 = rng.uniform(0.0, 100.0, (images.shape[1], n_hidden))
    rule = PairSTDP(a_plus=1.0, a_minus=1.05, w_min=0.0, w_max=150.0, learning_rate=stdp_rate,
                    normalize=float(w0.sum(0).mean()))
    plastic = net.connect(pixels, hidden, weight=w0, plasticity=rule, name="pixels->hidden")
    net.connect(hidden, hidden, p=1.0, allow_self=False, weight=-40.0, sign="inhibitory", name="lateral")
    net.connect(hidden, readout, weight=rng.normal(0.0, init_std, (n_hidden, 10)), name="hidden->readout")
    trainer = MixedTrainer(net, gradient=["hidden->readout"], count=[hidden], lr=lr)
    w_start = plastic.weights.detach().clone()
    v_rest = float(LIF().values["v_rest"])

    def episode(idx: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        trainer.reset()
        trainer.present({"pixels": images[idx] * max_rate_hz})
        counts = trainer.run(duration)["hidden"]
        return readout.state["v"] - v_rest, counts

    started = time.perf_counter()
    correct = seen = spikes = 0
    for epoch in range(epochs):
        correct = seen = 0
        for idx in _batches(train.size, batch, rng):
            logits, counts = episode(train[idx])
            y = torch.as_tensor(labels[train[idx]])
            trainer.update(torch.nn.functional.cross_entropy(logits, y))
            correct += int((logits.argmax(1) == y).sum())
            seen += batch
            spikes += float(counts.mean())
    hidden_rate = spikes / max(1, epochs * -(-train.size // batch)) / (duration * 1e-3)
    test_correct = 0
    with trainer.frozen(), torch.no_grad():
        for start in range(0, test.size, batch):
            keep = min(batch, test.size - start)
            idx = test[np.resize(np.arange(start, start + keep), batch)]
            logits, _ = episode(idx)
            test_correct += int((logits.argmax(1)[:keep] == torch.as_tensor(labels[idx[:keep]])).sum())
    return {"train_accuracy": correct / max(seen, 1), "test_accuracy": test_correct / test.size,
            "plastic_change_pA": float((plastic.weights - w_start).abs().mean()),
            "hidden_rate_hz": hidden_rate, "seconds": time.perf_counter() - started,
            "trainer": trainer, "net": net}


def learned_modulator_task(modulation: str = "learned", episodes: int = 150, batch: int = 16,
                           n_patterns: int = 4, group: int = 10, duration: float = 50.0,
                           rate_hz: float = 100.0, lr: float = 50.0, critic_lr: float = 0.05,
                           seed: int = 0) -> dict[str, Any]:
    """(b) Three-factor learning of an input -> action mapping, gated by a learned modulator.

    ``n_patterns`` input patterns (each a group of ``group`` Poisson inputs at
    ``rate_hz``) drive ``n_patterns`` LIF action neurons through a **plastic**
    :class:`~synaptica.plasticity.ThreeFactor` projection (eligibility from pair STDP,
    a_plus 1 pA, a_minus 0.5 pA, tau_c 200 ms; weights start at 25 pA, bounds [0, 100] pA;
    ``lr`` in 1 / (modulator unit x ms)); **fixed** background input (20 Poisson sources
    at 100 Hz, U(0, 20) pA) makes the actions fire irregularly (exploration).
    Pattern k should make action (k + 1) mod n fire. Reward per episode and batch entry:
    the fraction of action spikes from the right neuron (chance 1 / n). After each
    ``duration`` ms stimulus the third factor is broadcast for one step:

    * ``"learned"``: reward minus a critic's prediction, ``r - V(pattern)``, with V a
      linear module trained by gradient on (r - V)^2 -- the learned signal;
    * ``"reward"``: the raw reward r (no critic; always >= 0, so every eligible synapse
      grows and all saturate: the failure Fremaux et al. 2010 predict without a critic);
    * ``"none"``: 0, the unmodulated baseline (eligibility never becomes a weight change).

    Returns the reward curve (mean per episode), the mean reward of the first and last
    fifth of episodes, and the final weights (patterns x actions, pA).
    """
    from synaptica.neurons import LIF
    from synaptica.plasticity import ThreeFactor

    if modulation not in ("learned", "reward", "none"):
        raise ValueError(f"learned_modulator_task: modulation must be 'learned', 'reward' or 'none', "
                         f"got {modulation!r}")
    rng = np.random.default_rng(seed)
    n_in = n_patterns * group
    net = Network(dt=1.0, batch_size=batch, seed=seed)
    stimulus = net.add_poisson(n_in, 0.0, name="stimulus")
    noise = net.add_poisson(20, 100.0, name="noise")
    actions = net.add_population(n_patterns, LIF(), name="actions")
    net.add_modulator("dopamine")  # holds its value; set by broadcast()
    rule = ThreeFactor(modulator="dopamine", a_plus=1.0, a_minus=0.5, tau_c=200.0, w_min=0.0, w_max=100.0,
                       learning_rate=lr)
    plastic = net.connect(stimulus, actions, weight=25.0, plasticity=rule, name="stimulus->actions")
    net.connect(noise, actions, weight=rng.uniform(0.0, 20.0, (20, n_patterns)), name="background")
    critic = torch.nn.Linear(n_patterns, 1)
    torch.nn.init.zeros_(critic.weight)
    torch.nn.init.zeros_(critic.bias)
    trainer = MixedTrainer(net, modules=[critic] if modulation == "learned" else [], count=[actions],
                           lr=critic_lr)
    target = (np.arange(n_patterns) + 1) % n_patterns
    curve, rates = [], []
    for _ in range(episodes):
        pattern = rng.integers(0, n_patterns, batch)
        onehot = np.eye(n_patterns)[pattern]
        trainer.reset()
        trainer.present({"stimulus": np.repeat(onehot, group, axis=1) * rate_hz})
        counts = trainer.run(duration)["actions"]
        reward = counts[torch.arange(batch), torch.as_tensor(target[pattern])] / counts.sum(1).clamp(min=1.0)
        if modulation == "learned":
            value = critic(torch.as_tensor(onehot, dtype=torch.float32)).squeeze(1)
            signal = reward - value
            trainer.update((signal ** 2).mean())
        else:
            signal = reward if modulation == "reward" else torch.zeros(batch)
        trainer.broadcast("dopamine", signal, net.dt)
        curve.append(float(reward.mean()))
        rates.append(float(counts.mean()) / (duration * 1e-3))
    fifth = max(1, episodes // 5)
    w = plastic.weights.detach().reshape(n_patterns, group, n_patterns).mean(1)
    return {"reward_curve": np.array(curve), "reward_first": float(np.mean(curve[:fifth])),
            "reward_last": float(np.mean(curve[-fifth:])), "weights_pA": w.numpy(), "target": target,
            "action_rate_hz": float(np.mean(rates)),
            "trainer": trainer}
