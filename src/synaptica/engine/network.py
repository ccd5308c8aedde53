"""The network: groups, projections and monitors, run with a fixed per-step order.

The step order is written once, as data, in :mod:`synaptica.engine.step_order` (input
sources emit, due synaptic input is delivered and every population updates, spikes
propagate into ring buffers with delay >= 1 step, modulators and plasticity act,
monitors record); every path lowers that same list of operations.

With :meth:`Network.set_trials` the run is cut into trials of fixed length (one input
pattern each, as in Diehl & Cook 2015): at the first step of every trial the state is
reset (except variables kept, e.g. adaptive thresholds), pending synaptic input and
plasticity state are reset to their declared initial values, weights are normalised,
and Poisson inputs switch to that trial's row of rates.

``run`` executes this on the compiled CPU loop (:mod:`synaptica.engine.cpu`) or, for
CUDA tensors or when gradients are needed, step by step with torch operations
(:mod:`synaptica.engine.torch_path`); both call the same model descriptions.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np

from synaptica.engine.checkpoints import (REMEDY, Fields, check_network_fields, check_settings, encode_settings,
                                          read_checkpoint, run_settings)
from synaptica.engine.errors import CheckpointError, NonFiniteError
from synaptica.engine.modulators import Modulator
from synaptica.engine.monitors import CountMonitor, RateMonitor, SpikeMonitor, StateMonitor
from synaptica.engine.population import (CurrentInput, Group, GroupView, PoissonInput, Population,
                                         SpikeGeneratorInput)
from synaptica.engine.storage import (as_numpy, as_tensor, assign, first_non_finite, float_type, on_cpu, raw,
                                      stored, torch_dtype, zeros)
from synaptica.neurons.base import NeuronModel
from synaptica.synapses import connectivity
from synaptica.synapses.projection import Projection

ProgressCallback = Callable[[int, int], None]


def _view_to_group(side, index: np.ndarray, in_place: bool) -> np.ndarray:
    """Neuron ids of the whole group for positions ``index`` in ``side`` (a view or a
    group). A view of consecutive neurons (``pop[a:b]``) adds its offset, in place when the
    array is ours: mapping through the id table would allocate a second array as large as
    the synapses (82 M of them in CUBA at N = 64000)."""
    if not isinstance(side, GroupView):
        return index
    ids = side.indices
    wide = np.promote_types(index.dtype, ids.dtype)
    if ids[-1] - ids[0] == ids.size - 1 and connectivity.is_sorted(ids):   # consecutive
        if in_place and wide == index.dtype:
            index += ids[0]
            return index
        return index.astype(wide) + ids[0]
    return ids[index]


class Network:
    """A spiking network simulated in steps of ``dt`` ms.

    Args:
        dt: time step (ms).
        batch_size: independent copies simulated together (state tensors are (batch, n)).
        seed: seeds connectivity, initial conditions drawn from :attr:`rng`, and input noise.
        dtype: float type of all state: ``torch.float32`` (default), ``torch.float64``, a
            NumPy float type or its name.
        device: of all state tensors; CUDA devices run the torch path. A CPU network
            stores its arrays in NumPy and imports torch only when a tensor is asked for
            (see :mod:`synaptica.engine.storage`).
    """

    def __init__(self, dt: float = 0.1, batch_size: int = 1, seed: int = 0,
                 dtype: Any = "float32", device: Any = "cpu") -> None:
        if not (isinstance(dt, (int, float)) and np.isfinite(dt) and dt > 0):
            raise ValueError(f"Network: dt must be a positive number of ms, got {dt!r}")
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"Network: batch_size must be a positive integer, got {batch_size!r}")
        self.dt = float(dt)
        self.batch_size = batch_size
        self.float_type = float_type(dtype)
        self._device = str(device)
        self._torch_device = None
        if not on_cpu(self._device):
            self._torch_device = self.device   # checks the name
        self.seed = int(seed)
        self.rng = np.random.default_rng(seed)
        self.step = 0
        self.groups: list[Group] = []
        self.projections: list[Projection] = []
        self.spike_monitors: list[SpikeMonitor] = []
        self.state_monitors: list[StateMonitor] = []
        self.rate_monitors: list[RateMonitor] = []
        self.count_monitors: list[CountMonitor] = []
        self.modulators: dict[str, Modulator] = {}
        self.trial_steps = 0
        self.trial_keep: tuple[str, ...] = ()
        self.currents: list[CurrentInput] = []
        self.receptor_buffers: list[tuple[Population, str]] = []
        self._buffers: list = []
        # Input noise stream of the compiled loop (xorshift64*; state must not be 0).
        self.noise_state = np.array([np.random.SeedSequence(seed).generate_state(1, np.uint64)[0] | 1],
                                    dtype=np.uint64)
        self._torch_generator = None   # made on first use (the torch path's Poisson draws)
        self._compiled = None
        self._coefficients: dict[str, dict[str, Any]] = {}
        self._run_fingerprints: dict[int, np.ndarray] | None = None   # within a run only

    @property
    def dtype(self):
        """The float type as a torch dtype (imports torch; :attr:`float_type` does not)."""
        return torch_dtype(self.float_type)

    @property
    def device(self):
        """The device as a ``torch.device`` (imports torch)."""
        if self._torch_device is None:
            import torch
            self._torch_device = torch.device(self._device)
        return self._torch_device

    @property
    def on_cpu(self) -> bool:
        return on_cpu(self._device)

    @property
    def torch_generator(self):
        """Random generator of the torch path, seeded with :attr:`seed` on first use."""
        if self._torch_generator is None:
            import torch
            self._torch_generator = torch.Generator(device=self.device).manual_seed(self.seed)
        return self._torch_generator

    @property
    def buffers(self) -> list:
        """Ring buffers of pending synaptic input, one (slots, batch, n) tensor per receptor."""
        self._buffers[:] = [as_tensor(b) for b in self._buffers]
        return self._buffers

    @buffers.setter
    def buffers(self, values: list) -> None:
        self._buffers = list(values)

    # -- building --------------------------------------------------------------------
    @property
    def populations(self) -> list[Population]:
        return [g for g in self.groups if isinstance(g, Population)]

    def _add_group(self, group: Group) -> Group:
        if any(g.name == group.name for g in self.groups):
            raise ValueError(f"Network: a group named '{group.name}' exists already")
        group.allocate(self.batch_size, self.float_type, self._device)
        self.groups.append(group)
        self._compiled = None
        return group

    def add_population(self, n: int, model: NeuronModel, name: str | None = None) -> Population:
        """Add ``n`` neurons of ``model`` (parameters scalars or arrays of shape (n,)).

        The model's update is checked here (see :mod:`synaptica.engine.description`), so
        a description no engine path can run fails before anything is simulated.
        """
        description = type(model).description()
        known = {*type(model).state, "i_ext", *model.coefficients(self.dt)}
        unknown = [a for a in description.arguments if a not in known]
        if unknown:
            raise ValueError(f"{type(model).__name__}.{description.name}: argument(s) {unknown} are neither "
                             f"state variables, 'i_ext' nor coefficients ({sorted(known)})")
        return self._add_group(Population(n, model, name or f"population{len(self.groups)}"))

    def add_poisson(self, n: int, rate_hz: Any, name: str | None = None) -> PoissonInput:
        """Add ``n`` independent Poisson spike sources firing at ``rate_hz`` (Hz)."""
        return self._add_group(PoissonInput(n, rate_hz, name or f"poisson{len(self.groups)}", self.dt))

    def add_spike_generator(self, n: int, times_ms: Any, ids: Any, name: str | None = None) -> SpikeGeneratorInput:
        """Add ``n`` sources that spike at the given times (ms) and neuron ids."""
        return self._add_group(SpikeGeneratorInput(n, times_ms, ids, name or f"generator{len(self.groups)}"))

    def add_current(self, population: Population, values: Any, name: str | None = None) -> CurrentInput:
        """Inject a current trace (pA; (steps, n) or (steps, batch, n), one row per step)
        into ``population``, starting at the network's current step."""
        current = CurrentInput(population, values, self.step, self.batch_size,
                               name or f"current{len(self.currents)}")
        self.currents.append(current)
        self._compiled = None
        return current

    def connect(self, pre: Group, post: Population, *, p: float | None = None, weight: Any = None,
                pre_index: Any = None, post_index: Any = None, one_to_one: bool = False,
                kernel: Any = None, in_shape: tuple | None = None, stride: int = 1, padding: int = 0,
                delay: Any = None, target: str | None = None, sign: str | None = None,
                allow_self: bool = True, name: str | None = None, plasticity: Any = None,
                stp: Any = None) -> Projection:
        """Connect ``pre`` to receptor ``target`` of ``post``. Exactly one way of wiring:

        * ``p``: random sparse, each pair with probability p, all with ``weight``;
        * ``pre_index``/``post_index``: explicit sparse synapses, ``weight`` scalar or per synapse;
        * ``one_to_one=True``: neuron i to neuron i;
        * ``kernel`` (C_out, C_in, kH, kW) with ``in_shape`` (C_in, H, W): convolution;
        * none of these: dense all-to-all, ``weight`` a scalar or an (n_pre, n_post) matrix.

        ``delay`` (ms; scalar or one per synapse) defaults to dt and must be >= dt.
        ``target`` defaults to the first receptor of ``post`` (the second for
        ``sign="inhibitory"``); ``sign`` enforces Dale's law on the weights.
        ``plasticity``: a :class:`~synaptica.plasticity.base.PlasticityRule` that learns the
        weights; ``stp``: short-term plasticity (:class:`~synaptica.plasticity.TsodyksMarkram`).
        """
        name = name or f"{pre.name}->{post.name}#{len(self.projections)}"
        if (pre_index is None) != (post_index is None):
            raise ValueError(f"Projection '{name}': give pre_index and post_index together")
        if sum(x is not None for x in (p, pre_index, kernel)) + bool(one_to_one) > 1:
            raise ValueError(f"Projection '{name}': give only one of p, pre_index/post_index, one_to_one, kernel")
        weight = 1.0 if weight is None else weight
        wiring = dict(p=p, pre_index=pre_index, post_index=post_index, one_to_one=one_to_one, kernel=kernel,
                      in_shape=in_shape, stride=stride, padding=padding)
        options = dict(delay=delay, target=target, sign=sign, plasticity=plasticity, stp=stp)
        if isinstance(pre, GroupView) or isinstance(post, GroupView):
            return self._connect_views(pre, post, name, weight, wiring, allow_self, options)
        if not isinstance(post, Population):
            raise TypeError(f"Projection '{name}': target group must be a Population")
        if pre not in self.groups or post not in self.groups:
            raise ValueError(f"Projection '{name}': both groups must belong to this network")
        receptors = post.model.receptors
        target = target or (receptors[1] if sign == "inhibitory" and len(receptors) > 1 else receptors[0])
        common = dict(delay_steps=self._delay_steps(delay, name), sign=sign, name=name, dtype=self.float_type)
        pairs = self._synapse_pairs(pre.n, post.n, name, allow_self=allow_self, **wiring)
        if pairs is None:
            proj = Projection(pre, post, target, weights=weight, **common)
        elif pairs[2] is not None:
            proj = Projection(pre, post, target, pre_index=pairs[0], post_index=pairs[1],
                              kernel=np.asarray(kernel, dtype=float), kernel_index=pairs[2], **common)
        else:
            proj = Projection(pre, post, target, weights=weight, pre_index=pairs[0], post_index=pairs[1], **common)
        proj.weights = stored(raw(proj, "weights"), self._device)
        if plasticity is None:   # what checkpoints compare static weights against
            proj.built_fingerprint = proj.weight_fingerprint()
        else:
            plasticity.validate_for(proj, self)
        proj.attach(self.batch_size, self.float_type, self._device, plasticity, stp)
        self.projections.append(proj)
        self._compiled = None
        return proj

    def _synapse_pairs(self, n_pre: int, n_post: int, name: str, *, p, pre_index, post_index, one_to_one, kernel,
                       in_shape, stride, padding, allow_self: bool) -> tuple | None:
        """(pre, post, kernel index or None) of the synapses a wiring asks for, indices
        relative to the ``n_pre`` and ``n_post`` neurons given; None for dense all-to-all."""
        if p is not None:
            return (*connectivity.random_pairs(n_pre, n_post, p, self.rng, allow_self), None)
        if pre_index is not None:
            return np.asarray(pre_index), np.asarray(post_index), None
        if one_to_one:
            if n_pre != n_post:
                raise ValueError(f"Projection '{name}': one_to_one needs equal sizes ({n_pre} vs {n_post})")
            return (*connectivity.one_to_one(n_pre), None)
        if kernel is not None:
            kernel_shape = np.shape(kernel)
            if in_shape is None or int(np.prod(in_shape)) != n_pre:
                raise ValueError(f"Projection '{name}': in_shape {in_shape} does not match {n_pre} neurons")
            i, j, k, out_shape = connectivity.convolution(tuple(in_shape), kernel_shape, stride, padding)
            if int(np.prod(out_shape)) != n_post:
                raise ValueError(f"Projection '{name}': convolution output {out_shape} needs "
                                 f"{int(np.prod(out_shape))} neurons, the target has {n_post}")
            return i, j, k
        return None

    def _connect_views(self, pre, post, name: str, weight, wiring: dict, allow_self: bool,
                       options: dict) -> Projection:
        """Wire the neurons of views (``pop[a:b]``) as explicit synapses between the whole
        groups: indices and the dense weight matrix are given relative to the views."""
        pre_group = pre.group if isinstance(pre, GroupView) else pre
        post_group = post.group if isinstance(post, GroupView) else post
        # self-connections are judged on whole-group ids below, not on view positions
        pairs = self._synapse_pairs(pre.n, post.n, name, allow_self=True, **wiring)
        if pairs is None:
            i, j = connectivity.all_to_all(pre.n, post.n)
            w = np.asarray(weight, dtype=float)
            if w.ndim == 2:
                if w.shape != (pre.n, post.n):
                    raise ValueError(f"Projection '{name}': weight matrix {w.shape} does not match the views "
                                     f"({pre.n}, {post.n})")
                weight = w[i, j]
        else:
            i, j, k = pairs
            if i.size and (i.min() < 0 or i.max() >= pre.n or j.min() < 0 or j.max() >= post.n):
                raise ValueError(f"Projection '{name}': synapse indices out of range of the views "
                                 f"(pre < {pre.n}, post < {post.n})")
            if k is not None:   # views get explicit synapses: each takes its kernel entry
                weight = np.asarray(wiring["kernel"], dtype=float).reshape(-1)[k]
        generated = wiring["pre_index"] is None   # arrays made here, ours to change in place
        i, j = _view_to_group(pre, i, generated), _view_to_group(post, j, generated)
        if not allow_self and pre_group is post_group:
            keep = i != j
            i, j = i[keep], j[keep]
            if np.ndim(weight):
                weight = np.asarray(weight)[keep]
            if np.ndim(options["delay"]):
                options = {**options, "delay": np.asarray(options["delay"])[keep]}
        return self.connect(pre_group, post_group, pre_index=i, post_index=j, weight=weight, name=name, **options)

    def _delay_steps(self, delay: Any, name: str) -> Any:
        if delay is None:
            return 1
        d = np.asarray(delay, dtype=float)
        if not np.all(np.isfinite(d)):
            raise ValueError(f"Projection '{name}': delays must be finite")
        if np.any(d < self.dt * (1 - 1e-9)):
            raise ValueError(f"Projection '{name}': delay {d.min()} ms is shorter than dt = {self.dt} ms")
        steps = np.round(d / self.dt).astype(np.int64)
        return int(steps) if steps.ndim == 0 else steps

    def add_modulator(self, name: str, tau: float | None = None, source: Group | None = None,
                      gain: float = 1.0) -> Modulator:
        """Add a named neuromodulator that plasticity rules can read (see
        :mod:`synaptica.engine.modulators`): decays with ``tau`` ms (None: holds), jumps
        by scheduled pulses and by ``gain`` per spike of ``source``."""
        if name in self.modulators:
            raise ValueError(f"Network: a modulator named '{name}' exists already")
        if source is not None and source not in self.groups:
            raise ValueError(f"Modulator '{name}': source group must belong to this network")
        mod = Modulator(name, tau, source, gain, self.batch_size, self.dt)
        self.modulators[name] = mod
        self._compiled = None
        return mod

    def add_intrinsic(self, population: Population, rule) -> None:
        """Attach intrinsic plasticity (e.g. :class:`~synaptica.plasticity.IntrinsicPlasticity`)
        to ``population``; it updates one state variable of every neuron after each step."""
        if population not in self.groups or not isinstance(population, Population):
            raise ValueError("Network.add_intrinsic: population must be a Population of this network")
        rule.validate_for(population)
        population.intrinsic = rule
        self._compiled = None

    def set_trials(self, duration: float, keep: tuple[str, ...] = ()) -> None:
        """Cut runs into trials of ``duration`` ms (see module doc); state variables named
        in ``keep`` (e.g. ``("theta",)``) carry over from trial to trial."""
        steps = int(round(duration / self.dt))
        if not np.isfinite(duration) or steps < 1 or abs(steps * self.dt - duration) > 1e-6 * duration:
            raise ValueError(f"Network.set_trials: duration must be a positive multiple of dt={self.dt} ms, "
                             f"got {duration}")
        known = {v for pop in self.populations for v in pop.model.state}
        unknown = sorted(set(keep) - known)
        if unknown:
            raise ValueError(f"Network.set_trials: no population has state variable(s) {unknown}")
        self.trial_steps, self.trial_keep = steps, tuple(keep)
        self._compiled = None

    @property
    def trial(self) -> int:
        """Index of the trial the next step belongs to (0 without trials)."""
        return self.step // self.trial_steps if self.trial_steps else 0

    def monitor_counts(self, group: Group, name: str | None = None) -> CountMonitor:
        """Count each neuron's spikes per trial (the whole run is one trial without trials)."""
        mon = CountMonitor(group, self.batch_size, name or f"counts:{group.name}")
        self.count_monitors.append(mon)
        self._compiled = None
        return mon

    def to_pynn(self, sim: Any, setup: bool = True) -> tuple[dict, dict]:
        """Build this network in the PyNN simulator module ``sim`` (e.g. ``pyNN.nest``);
        see :mod:`synaptica.io.pynn` for what maps. Returns (populations, projections)."""
        from synaptica.io.pynn import to_pynn
        return to_pynn(self, sim, setup=setup)

    def monitor_spikes(self, group: Group, name: str | None = None) -> SpikeMonitor:
        mon = SpikeMonitor(group, name or f"spikes:{group.name}")
        mon.dt = self.dt
        self.spike_monitors.append(mon)
        self._compiled = None
        return mon

    def monitor_state(self, population: Population, variable: str, every: int = 1,
                      neurons: Any = None, name: str | None = None, initial: bool = False) -> StateMonitor:
        """Sample ``variable`` of ``neurons`` (default all) after every ``every``-th step;
        ``initial=True`` adds a sample of the state before the first step (t = 0)."""
        mon = StateMonitor(population, variable, every, neurons, name or f"{variable}:{population.name}", initial)
        mon.dt = self.dt
        self.state_monitors.append(mon)
        self._compiled = None
        return mon

    def monitor_rate(self, group: Group, name: str | None = None) -> RateMonitor:
        mon = RateMonitor(group, name or f"rate:{group.name}")
        mon.dt = self.dt
        self.rate_monitors.append(mon)
        self._compiled = None
        return mon

    # -- running ---------------------------------------------------------------------
    def _prepare(self) -> None:
        """Coefficients and ring buffers (one per receptor that projections feed)."""
        self._coefficients = {}
        for pop in self.populations:
            coeffs = pop.model.coefficients(self.dt)
            self._coefficients[pop.name] = {
                k: (float(v) if np.ndim(v) == 0 else np.ascontiguousarray(v, dtype=np.float64))
                for k, v in coeffs.items()}
        wanted: dict[tuple, int] = {}
        for proj in self.projections:
            key = (proj.post, proj.target)
            wanted[key] = max(wanted.get(key, 0), proj.max_delay + 1)
        keys = list(wanted)
        same = keys == self.receptor_buffers and all(b.shape[0] == wanted[k] for b, k in zip(self._buffers, keys))
        if not same:
            self.receptor_buffers = keys
            self._buffers = [zeros((wanted[(post, var)], self.batch_size, post.n), self.float_type, self._device)
                             for post, var in keys]

    def run(self, duration: float, progress: ProgressCallback | None = None, backend: str = "auto",
            chunk_steps: int = 2000, checkpoint: str | Path | None = None,
            checkpoint_every: float | None = None, checkpoint_tag: str | Mapping[str, Any] = "") -> None:
        """Advance the network by ``duration`` ms.

        ``backend``: "cpu" (compiled loop), "torch" (step-by-step tensor ops, autograd,
        CUDA) or "auto" (cpu on a CPU device, torch otherwise). ``progress(steps_done,
        steps_total)`` is called after every chunk of ``chunk_steps``.

        With ``checkpoint`` (an .npz path) the state is saved every ``checkpoint_every`` ms
        of simulated time (default: a tenth of the run); if the file exists when the run
        starts, and was written by the same run (same end step and ``checkpoint_tag``: the
        run's settings, a mapping of every parameter that changes the result, or a string),
        the run resumes from it, so an interrupted run loses nothing; a checkpoint of other
        settings or with values no run could write raises :class:`CheckpointError`.
        """
        n_steps = int(round(duration / self.dt))
        if not np.isfinite(duration) or duration < 0 or abs(n_steps * self.dt - duration) > 1e-6 * max(1.0, duration):
            raise ValueError(f"Network.run: duration must be a non-negative multiple of dt={self.dt} ms, got {duration}")
        if backend == "auto":
            backend = "cpu" if self.on_cpu else "torch"
        if backend not in ("cpu", "torch"):
            raise ValueError(f"Network.run: backend must be 'auto', 'cpu' or 'torch', got {backend!r}")
        start, end = self.step, self.step + n_steps
        tag = run_settings(checkpoint_tag, end=end)
        if checkpoint is not None and Path(checkpoint).exists():
            self.load_checkpoint(checkpoint, tag=tag, steps=(start, end))
        every = max(1, int(round((checkpoint_every or duration / 10) / self.dt)))
        last_saved = self.step
        if backend == "cpu":
            self.compile()
        else:
            self._prepare()
        self._check_finite_weights()
        self._run_weights: dict[int, np.ndarray] = {}
        for mon in self.state_monitors:
            mon.record_initial(self.step)
        self._run_fingerprints = {}
        try:
            while self.step < end:
                chunk_start, chunk_end = self.step, min(end, self.step + chunk_steps)
                if backend == "cpu":
                    self._run_chunk(chunk_end)
                else:
                    from synaptica.engine.torch_path import run_torch
                    run_torch(self, chunk_end - self.step)
                self._check_finite_state(chunk_start)
                if checkpoint is not None and (self.step - last_saved >= every or self.step == end):
                    self.save_checkpoint(checkpoint, tag=tag)
                    last_saved = self.step
                if progress is not None:
                    progress(self.step - start, end - start)
        finally:
            self._run_fingerprints = None

    def _check_finite_weights(self) -> None:
        """Refuse to run with a NaN or infinite weight (on every path, before any step)."""
        for proj in self.projections:
            where_ = first_non_finite(raw(proj, "weights"))
            if where_ is not None:
                raise NonFiniteError(f"projection '{proj.name}': weights contain NaN or infinity "
                                         f"(first at index {where_})")

    def _check_finite_state(self, chunk_start: int) -> None:
        """One NaN/Inf policy on every path: after each chunk, name the population, the
        variable, the neuron and the steps within which the value stopped being finite
        (one reduction per variable and chunk, no host synchronisation per step)."""
        for pop in self.populations:
            for var, value in pop.state.raw_items():
                where_ = first_non_finite(value)
                if where_ is not None:
                    b, k = where_
                    raise NonFiniteError(
                        f"population '{pop.name}': state '{var}' is not finite (neuron {k}, batch entry {b}); "
                        f"it became so between step {chunk_start} and step {self.step - 1} "
                        f"(t = {chunk_start * self.dt:g} to {self.step * self.dt:g} ms). Check weights, "
                        f"injected currents and parameters; a smaller chunk_steps narrows the step range")

    def compile(self) -> None:
        """Generate and compile the CPU loop for the current structure (done by ``run``
        when needed; cached on disk, so the same structure compiles once per machine)."""
        if not self.on_cpu:
            raise ValueError("Network.compile: the compiled CPU path needs tensors on the CPU")
        self._prepare()
        if self._compiled is None or self._compiled.trials != (self.trial_steps > 0):
            from synaptica.engine.cpu import CompiledLoop
            self._compiled = CompiledLoop(self)
            # numba compiles (or loads from its cache) on the first call: a zero-step call.
            self._run_weights = {}
            self._compiled.run(self.step, self.step, self._kernel_values(0))

    def _run_chunk(self, chunk_end: int) -> None:
        values = self._kernel_values(chunk_end - self.step)
        step0 = values["chunk0"] = self.step  # rows of per-step records count from here
        while self.step < chunk_end:
            reached = self._compiled.run(self.step, chunk_end, values)
            for m, mon in enumerate(self.spike_monitors):
                mon.count = int(values[f"sm{m}_count"][0])
                if reached < chunk_end:  # event buffer full: grow and resume
                    mon.reserve(mon.count + self.batch_size * mon.group.n * 64)
                    values.update(self._spike_monitor_values(m))
            self.step = reached
        for m, mon in enumerate(self.state_monitors):
            c = int(values[f"st{m}_count"][0])
            steps = np.arange(step0, chunk_end)
            mon.record(steps[steps % mon.every == 0], values[f"st{m}_values"][:c].copy())
        for m, mon in enumerate(self.rate_monitors):
            mon.record(values[f"rm{m}_counts"].copy())
        for p, proj in enumerate(self.projections):
            if proj.plasticity is not None:
                proj.store_kernel_weights(values[f"p{p}_w"])

    def rule_coefficients(self, rule) -> dict[str, float]:
        """A rule's numbers for this network's dt, with ``period`` the on_step interval (ms)."""
        return {**rule.coefficients(self.dt), "period": self.rule_interval_steps(rule) * self.dt}

    def rule_interval_steps(self, rule) -> int:
        return max(1, int(round(rule.values["interval"] / self.dt)))

    def _spike_monitor_values(self, m: int) -> dict[str, np.ndarray]:
        mon = self.spike_monitors[m]
        return {f"sm{m}_steps": mon.buffers["steps"], f"sm{m}_ids": mon.buffers["ids"],
                f"sm{m}_batch": mon.buffers["batch"],
                f"sm{m}_count": np.array([mon.count], dtype=np.int64)}

    def _kernel_values(self, chunk: int) -> dict[str, Any]:
        float_type = self.float_type.type

        def real(value):
            """Numbers of the compiled loop in the network's float type (see cpu.HEADER)."""
            return float_type(value) if np.ndim(value) == 0 else np.ascontiguousarray(value, dtype=float_type)

        v: dict[str, Any] = {"rng": self.noise_state, "chunk0": self.step}
        for g, group in enumerate(self.groups):
            v[f"g{g}_spk"] = as_numpy(raw(group, "spikes"))
            v[f"g{g}_fired"] = np.zeros((self.batch_size, group.n), dtype=np.int64)
            v[f"g{g}_nfired"] = np.zeros(self.batch_size, dtype=np.int64)
            if isinstance(group, Population):
                for var, value in group.state.raw_items():
                    v[f"g{g}_{var}"] = as_numpy(value)
                v[f"g{g}_iext"] = as_numpy(raw(group, "i_ext"))
                for key, value in self._coefficients[group.name].items():
                    v[f"g{g}_c_{key}"] = real(value)
                if group.intrinsic is not None:
                    v[f"ip{g}_k"] = real(list(group.intrinsic.coefficients(self.dt).values()))
                for var, value in group.model.initial_state().items():
                    v[f"g{g}_init_{var}"] = np.ascontiguousarray(np.broadcast_to(value, (group.n,)),
                                                                 dtype=v[f"g{g}_{var}"].dtype)
            elif isinstance(group, PoissonInput):
                v[f"g{g}_logq"] = group.log_no_spike()
                v[f"g{g}_block"], v[f"g{g}_bids"], v[f"g{g}_bindex"] = group.block, group.block_ids, group.block_index
                v[f"g{g}_tmp_step"], v[f"g{g}_tmp_id"], v[f"g{g}_cursor"] = group.scratch
                v[f"g{g}_row0"] = group.first_trial
            elif isinstance(group, SpikeGeneratorInput):
                v[f"g{g}_ev_step"] = group.event_steps(self.dt)
                v[f"g{g}_ev_id"] = group.ids
                v[f"g{g}_ptr"] = np.array([np.searchsorted(v[f"g{g}_ev_step"], self.step)], dtype=np.int64)
        for c, current in enumerate(self.currents):
            v[f"ci{c}_values"], v[f"ci{c}_start"] = current.values, current.start_step
        for r, buf in enumerate(self._buffers):
            v[f"rb{r}"] = as_numpy(buf)
        v["trial_steps"], v["first_trial"] = self.trial_steps, self.trial
        # the last trial this chunk reaches (a chunk ending on a boundary does not start the next)
        last_trial = (self.step + max(chunk, 1) - 1) // self.trial_steps if self.trial_steps else 0
        for m, mod in enumerate(self.modulators.values()):
            v[f"mod{m}"] = as_numpy(raw(mod, "value"))
            v[f"mod{m}_k"] = np.array([mod.decay, mod.gain, *getattr(mod, "kernel_constants", ())])
            if np.shape(mod.pulse_steps) != np.shape(mod.pulse_amounts) or np.ndim(mod.pulse_steps) != 1:
                raise ValueError(f"Modulator '{mod.name}': pulse_steps and pulse_amounts must be 1-D and as long "
                                 f"as each other (use Modulator.deliver)")
            v[f"mod{m}_psteps"] = np.ascontiguousarray(mod.pulse_steps, dtype=np.int64)
            v[f"mod{m}_pamounts"] = np.ascontiguousarray(mod.pulse_amounts, dtype=np.float64)
            v[f"mod{m}_ptr"] = np.array([np.searchsorted(mod.pulse_steps, self.step)], dtype=np.int64)
        for p, proj in enumerate(self.projections):
            # computed once per run, not per chunk: for signed or large projections this is
            # a pass over every synapse (the kernel changes plastic ones in place)
            if p not in self._run_weights:
                self._run_weights[p] = proj.kernel_weights()
            v[f"p{p}_w"] = self._run_weights[p]
            v[f"p{p}_wf"] = v[f"p{p}_w"].reshape(-1)
            v[f"p{p}_delay"] = proj.delay_steps
            if proj.kind == "sparse":
                v[f"p{p}_indptr"], v[f"p{p}_indices"] = proj.indptr, proj.indices
            rule = proj.plasticity
            if rule is not None:
                state = proj.plastic_state
                v[f"p{p}_tpre"], v[f"p{p}_tpost"] = (as_numpy(state.raw(k)) for k in ("traces_pre", "traces_post"))
                v[f"p{p}_ss"] = as_numpy(state.raw("synapse_state"))
                v[f"p{p}_dpre"], v[f"p{p}_dpost"] = (real(d) for d in rule.trace_decays(self.dt))
                v[f"p{p}_k"] = real(list(self.rule_coefficients(rule).values()))
                v[f"p{p}_lr"] = real(rule.learning_rates(self.trial, last_trial - self.trial + 1))
                v[f"p{p}_interval"] = self.rule_interval_steps(rule)
                # a frozen rule (learning_rate 0) does not normalise either; 0 skips it
                v[f"p{p}_norm"] = float(rule.normalize or 0.0) if rule.values["learning_rate"] > 0 else 0.0
                v[f"p{p}_norm_steps"] = max(1, int(round((rule.normalize_every or self.dt) / self.dt)))
                if proj.kind == "sparse":
                    v[f"p{p}_cptr"], v[f"p{p}_csyn"] = proj.incoming()
                    v[f"p{p}_spre"] = proj.synapse_index()[0]
            if proj.stp is not None:
                v[f"p{p}_stp"] = as_numpy(proj.plastic_state.raw("stp"))
                v[f"p{p}_stp_k"] = real([*proj.stp.constants(), self.dt])
        for m, mon in enumerate(self.count_monitors):
            mon.reserve(last_trial + 1)
            v[f"cm{m}_counts"] = mon.buffer
        for m, mon in enumerate(self.spike_monitors):
            mon.reserve(mon.count + self.batch_size * mon.group.n * 8)
            v.update(self._spike_monitor_values(m))
        for m, mon in enumerate(self.state_monitors):
            samples = chunk // mon.every + 1
            v[f"st{m}_values"] = np.zeros((samples, self.batch_size, mon.neurons.size))
            v[f"st{m}_neurons"] = mon.neurons
            v[f"st{m}_count"] = np.zeros(1, dtype=np.int64)
            v[f"st{m}_every"] = mon.every
        for m, _ in enumerate(self.rate_monitors):
            v[f"rm{m}_counts"] = np.zeros((chunk, self.batch_size), dtype=np.int64)
        return v

    @property
    def monitors(self) -> list:
        return [*self.spike_monitors, *self.state_monitors, *self.rate_monitors, *self.count_monitors]

    # -- checkpoints -----------------------------------------------------------------
    def state_arrays(self) -> dict[str, np.ndarray]:
        """Everything a resumed run needs, as plain arrays (no pickled objects)."""
        # an unused torch generator is saved empty: it is still seeded from the network seed
        generator = (np.zeros(0, dtype=np.uint8) if self._torch_generator is None
                     else self._torch_generator.get_state().numpy())
        out: dict[str, np.ndarray] = {"step": np.array(self.step), "noise_state": self.noise_state.copy(),
                                      "torch_generator": generator}
        for group in self.groups:
            for key, value in group.arrays().items():
                out[f"group.{group.name}.{key}"] = as_numpy(value)
        for r, buf in enumerate(self._buffers):
            out[f"buffer.{r}"] = as_numpy(buf)
        for p, proj in enumerate(self.projections):
            # Static weights are rebuilt from the seed with the network: a checkpoint keeps
            # their fingerprint only (a few numbers, not a copy of every synapse) and the
            # weights themselves once something changed them (plasticity, training, edits).
            if proj.plasticity is None:
                fingerprint = self._static_fingerprint(p, proj)
                if np.array_equal(fingerprint, proj.built_fingerprint):
                    out[f"projection.{p}.weights_fingerprint"] = fingerprint
                    continue
            out[f"projection.{p}.weights"] = as_numpy(raw(proj, "weights"))
        for p, proj in enumerate(self.projections):
            for key, value in proj.plastic_state.raw_items():
                out[f"projection.{p}.{key}"] = as_numpy(value)
        for name, mod in self.modulators.items():
            out[f"modulator.{name}"] = as_numpy(raw(mod, "value"))
            out[f"modulator.{name}.pulse_steps"] = mod.pulse_steps   # scheduled pulses are state too
            out[f"modulator.{name}.pulse_amounts"] = mod.pulse_amounts
        for mon in self.monitors:
            for key, value in mon.arrays().items():
                out[f"monitor.{mon.name}.{key}"] = value
        return out

    def _static_fingerprint(self, p: int, proj) -> np.ndarray:
        """Within a run static weights cannot change: one fingerprint pass per run, not per save."""
        if self._run_fingerprints is None:
            return proj.weight_fingerprint()
        if p not in self._run_fingerprints:
            self._run_fingerprints[p] = proj.weight_fingerprint()
        return self._run_fingerprints[p]

    def save_checkpoint(self, path: str | Path, tag: str | Mapping[str, Any] = "") -> None:
        """Write the run state to ``path`` (.npz), atomically; ``tag`` identifies the run:
        its settings (a mapping of every parameter that changes the result) or a string."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp.npz")
        np.savez(tmp, tag=np.array(encode_settings(run_settings(tag))), **self.state_arrays())
        tmp.replace(path)

    def _expected_checkpoint(self, path: Path, arrays: dict) -> dict[str, np.ndarray]:
        """What this network would write, for the fields of ``arrays``; static weights
        saved as a fingerprint must match this network's."""
        expected = self.state_arrays()
        for p, proj in enumerate(self.projections):   # weights saved in full or as fingerprint
            full, short = f"projection.{p}.weights", f"projection.{p}.weights_fingerprint"
            expected.pop(full, None), expected.pop(short, None)
            if full in arrays:
                expected[full] = as_numpy(raw(proj, "weights"))
            elif short in arrays:
                fingerprint = proj.weight_fingerprint()
                got = arrays[short]
                if got.shape != fingerprint.shape or got.dtype != fingerprint.dtype or \
                        not np.array_equal(got, fingerprint):
                    raise CheckpointError(f"checkpoint {path}: the static weights of projection '{proj.name}' "
                                          f"differ from this network's (built from another seed or "
                                          f"configuration); {REMEDY}")
                expected[short] = fingerprint
            else:
                raise CheckpointError(f"checkpoint {path}: does not match this network (no weights of "
                                      f"projection '{proj.name}'); {REMEDY}")
        return expected

    def load_checkpoint(self, path: str | Path, tag: str | Mapping[str, Any] | None = None,
                        steps: tuple[int, int] | None = None, extra: tuple[str, ...] = ()) -> None:
        """Restore a state written by :meth:`save_checkpoint` for this same network structure
        (and, if ``tag`` is given, by a run of the same settings).

        Every field is checked before anything is restored (see
        :mod:`synaptica.engine.checkpoints`): ``steps`` (first, last) bounds the step the
        checkpoint may be at; ``extra`` names further fields the caller checks itself.
        """
        path = Path(path)
        arrays = read_checkpoint(path)
        if tag is not None:
            check_settings(path, arrays, run_settings(tag))
        self._prepare()
        expected = self._expected_checkpoint(path, arrays)
        check_network_fields(self, Fields(path, arrays), expected, steps, extra)
        self.step = int(arrays["step"])
        self.noise_state[:] = arrays["noise_state"]
        if arrays["torch_generator"].size:
            import torch
            self.torch_generator.set_state(torch.from_numpy(arrays["torch_generator"].copy()))
        else:
            self._torch_generator = None
        for group in self.groups:
            for key, value in group.arrays().items():
                assign(value, arrays[f"group.{group.name}.{key}"].copy())
        for r, buf in enumerate(self._buffers):
            assign(buf, arrays[f"buffer.{r}"].copy())
        for p, proj in enumerate(self.projections):
            if f"projection.{p}.weights" in arrays:
                assign(raw(proj, "weights"), arrays[f"projection.{p}.weights"].copy())
            for key, value in proj.plastic_state.raw_items():
                assign(value, arrays[f"projection.{p}.{key}"].copy())
        for name, mod in self.modulators.items():
            assign(raw(mod, "value"), arrays[f"modulator.{name}"].copy())
            mod.pulse_steps = arrays[f"modulator.{name}.pulse_steps"].copy()
            mod.pulse_amounts = arrays[f"modulator.{name}.pulse_amounts"].copy()
        for mon in self.monitors:
            prefix = f"monitor.{mon.name}."
            mon.restore({k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)})
