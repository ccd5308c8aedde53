"""A spiking content-addressable memory after the CA3 model of Casanueva-Morato et al. (2024).

D. Casanueva-Morato, A. Ayuso-Martinez, J. P. Dominguez-Morales, A. Jimenez-Fernandez and
G. Jimenez-Moreno, "Bio-inspired computational memory model of the Hippocampus: an
approach to a neuromorphic spike-based Content-Addressable Memory", Neural Networks 178:
106474 (2024), arXiv:2310.05868.

Architecture (as in the paper: a memory is a one-hot *cue* (address) bound to a binary
*content*; the bindings are learnt by STDP on all-to-all cue<->content synapses, a new
memory on a used cue replaces the old one, and a fragment of content recalls the cue and
with it the whole content). Neurons, for ``n_cue`` cues and ``n_content`` content bits::

    input (generator, n_cue + n_content lines)
      -> cue_in, content_in        Parrot relays (one step), one-to-one
    cue_in -> cue_recall           one-to-one, w_drive; all others inhibited (w_veto):
                                   a presented cue silences content-driven cue recall
    content_in -> content_recall   one-to-one, w_drive
    content_in -> cue_recall       all-to-all, PLASTIC (instar, 0..w_max):  content -> cue
    cue_recall -> cue_recall       all-to-all but self, inhibitory (w_lateral): first
                                   cue to fire wins (the paper's lateral inhibition)
    cue_recall -> content_recall   all-to-all, PLASTIC (outstar, 0..w_drive), delay
                                   ``recall_delay``: cue -> whole content

cue_recall and content_recall are current-based LIF neurons (:class:`~synaptica.neurons.LIF`;
mV, ms, pA, GOhm): ``tau_m dv/dt = -(v - v_rest) + r_m (i_exc + i_inh)``, exponential
synaptic currents. Both plastic projections use
:class:`~synaptica.plasticity.spike_terms.STDPWithSpikeTerms`:

* outstar (cue_recall -> content_recall): every cue spike sets ``w -= w_drive`` (clears
  the cue's old content), a coincident content spike ``w += w_drive * x_pre``;
* instar (content_in -> cue_recall): every cue spike sets ``w += 3 w_max x_pre - w_max``,
  i.e. w_max from the content bits that fired one step before, 0 from the others.

Operations (spike-generator input, one every ``op_ms``): *learn(cue, content)*: the cue
line and the content's 1-bits spike together, with plasticity on; *recall by cue*: the
cue line alone; *recall by content*: any subset of a content's 1-bits. With plasticity off
during recall (the model's learning rate is switched between phases, see
:meth:`CA3Memory.set_learning`). The answer to an operation is the set of content_recall
neurons that fire in its window, and the cue(s) of the cue_recall neurons that fire.

Departures from the paper, kept explicit: the paper runs plasticity always and times the
operations (3 ms input for learning, 1 ms for recall) so that recall leaves the weights
unchanged; here a phase switch does that. Its content-driven cue recall fires every cue
sharing at least one 1 with the fragment; here the LIF cue neurons integrate the
fragment's bits, so the best-matching cue fires first and lateral inhibition (one step
later) silences worse matches (equal or near-equal matches fire together, and their
contents merge: the measured source of recall errors). Its separate merge/output layers
are folded into content_recall. dt 0.1 ms instead of the paper's 1 ms, so the
first-spike competition can resolve overlaps.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from synaptica.engine.network import Network
from synaptica.neurons import LIF
from synaptica.neurons.parrot import Parrot
from synaptica.plasticity.spike_terms import STDPWithSpikeTerms


@dataclass
class CA3Config:
    """Sizes, timing (ms) and weights (pA) of :class:`CA3Memory` (module doc)."""

    n_cue: int = 16
    n_content: int = 64
    dt: float = 0.01               # ms; fine enough for the first-spike competition of the cues
    op_ms: float = 30.0            # one operation every op_ms: the inhibition of the last has decayed
    recall_delay: float = 1.0      # cue_recall -> content_recall (ms)
    tau_m: float = 3.0             # the paper's tau_m
    tau_syn: float = 0.3           # the paper's tau_syn_E, tau_syn_I: strong inputs leave no tail
    v_rest: float = -60.0
    v_th: float = -57.0
    t_ref: float = 5.0             # each neuron answers at most once per operation
    w_drive: float = 2000.0        # one spike alone fires the target within a step
    w_max: float = 50.0            # content -> cue: one matching bit peaks at 1.3 x (v_th - v_rest)
    seed: int = 0


class CA3Memory:
    """Cue/content spiking associative memory (module doc). Build, then :meth:`run_ops`."""

    def __init__(self, config: CA3Config, device: str = "cpu") -> None:
        c = self.config = config
        if c.n_cue < 1 or c.n_content < 1:
            raise ValueError(f"CA3Memory: n_cue and n_content must be >= 1, got {c.n_cue}, {c.n_content}")
        # the strong inhibition of one operation (hundreds of mV below rest) must have
        # decayed, e^-8 of it, before the next
        if c.op_ms < c.t_ref + c.recall_delay + 8 * c.tau_m:
            raise ValueError(f"CA3Memory: op_ms ({c.op_ms}) must be at least t_ref + recall_delay + 8 tau_m "
                             f"= {c.t_ref + c.recall_delay + 8 * c.tau_m} ms")
        self.device = device
        self.ops: list[tuple[float, np.ndarray]] = []
        self.n_ops = 0

    # -- operations ------------------------------------------------------------------
    def _add(self, lines: np.ndarray) -> int:
        self.ops.append((self.n_ops * self.config.op_ms, lines))
        self.n_ops += 1
        return self.n_ops - 1

    def learn(self, cue: int, content: Sequence[int]) -> int:
        """Schedule learning ``content`` (0/1 of length n_content) at ``cue``; its op index."""
        return self._add(np.concatenate([[cue], self.config.n_cue + np.flatnonzero(self._bits(content))]))

    def recall_by_cue(self, cue: int) -> int:
        self._check_cue(cue)
        return self._add(np.array([cue]))

    def recall_by_content(self, fragment: Sequence[int]) -> int:
        """Schedule recall from ``fragment`` (0/1, the known 1-bits of a content)."""
        return self._add(self.config.n_cue + np.flatnonzero(self._bits(fragment)))

    def _check_cue(self, cue: int) -> None:
        if not (0 <= int(cue) < self.config.n_cue):
            raise ValueError(f"CA3Memory: cue {cue} outside [0, {self.config.n_cue})")

    def _bits(self, content: Sequence[int]) -> np.ndarray:
        bits = np.asarray(content)
        if bits.shape != (self.config.n_content,):
            raise ValueError(f"CA3Memory: content of shape {bits.shape}, expected ({self.config.n_content},)")
        if not np.isin(bits, (0, 1)).all():
            raise ValueError("CA3Memory: content must hold only 0 and 1")
        return bits

    # -- network ---------------------------------------------------------------------
    def build(self) -> None:
        """The network with all scheduled operations as input spikes."""
        c = self.config
        for _, lines in self.ops:
            if lines.size and lines[0] < c.n_cue:
                self._check_cue(lines[0])
        net = self.net = Network(dt=c.dt, seed=c.seed, dtype=torch.float64, device=self.device)
        times = np.concatenate([np.full(len(lines), t) for t, lines in self.ops]) if self.ops else np.zeros(0)
        ids = np.concatenate([lines for _, lines in self.ops]).astype(np.int64) if self.ops else np.zeros(0, int)
        n_in = c.n_cue + c.n_content
        source = net.add_spike_generator(n_in, times, ids, name="input")
        relay = net.add_population(n_in, Parrot(), name="relay")
        net.connect(source, relay, one_to_one=True, weight=1.0, delay=c.dt, name="input->relay")
        cue_in, content_in = relay[:c.n_cue], relay[c.n_cue:]
        lif = LIF(tau_m=c.tau_m, tau_exc=c.tau_syn, tau_inh=c.tau_syn, v_rest=c.v_rest, v_reset=c.v_rest,
                  v_th=c.v_th, r_m=1.0, t_ref=c.t_ref)
        self.cue = net.add_population(c.n_cue, lif, name="cue_recall")
        self.content = net.add_population(c.n_content, lif, name="content_recall")
        strong = c.w_drive
        net.connect(cue_in, self.cue, one_to_one=True, weight=strong, delay=c.dt, name="cue_in->cue")
        veto = 2.0 * c.n_content * c.w_max   # beats any number of matching content bits
        if c.n_cue > 1:
            others = 1.0 - np.eye(c.n_cue)
            net.connect(cue_in, self.cue, weight=-veto * others, target="i_inh", delay=c.dt, sign="inhibitory",
                        name="cue_in-|cue")
            net.connect(self.cue, self.cue, weight=-veto * others, target="i_inh", delay=c.dt, sign="inhibitory",
                        name="cue-|cue")
        net.connect(content_in, self.content, one_to_one=True, weight=strong, delay=c.dt, name="content_in->content")
        self.instar = STDPWithSpikeTerms(a_plus=3.0 * c.w_max, a_post=c.w_max, tau_plus=0.5, w_min=0.0,
                                         w_max=c.w_max)
        self.content_to_cue = net.connect(content_in, self.cue, weight=0.0, delay=c.dt, plasticity=self.instar,
                                          name="content->cue")
        self.outstar = STDPWithSpikeTerms(a_plus=strong, a_pre=strong, tau_plus=0.1, w_min=0.0, w_max=strong)
        self.cue_to_content = net.connect(self.cue, self.content, weight=0.0, delay=c.recall_delay,
                                          plasticity=self.outstar, name="cue->content")
        self.cue_spikes = net.monitor_spikes(self.cue)
        self.content_spikes = net.monitor_spikes(self.content)

    def set_learning(self, on: bool) -> None:
        for rule in (self.instar, self.outstar):
            rule.values["learning_rate"] = 1.0 if on else 0.0

    def run_until(self, op_end: int, learn: bool, backend: str = "auto") -> None:
        """Simulate up to the end of operation ``op_end - 1`` with plasticity ``learn``."""
        self.set_learning(learn)
        end_ms = op_end * self.config.op_ms
        remaining = end_ms - self.net.step * self.config.dt
        if remaining > 1e-9:
            self.net.run(round(remaining / self.config.dt) * self.config.dt, backend=backend)

    # -- answers ---------------------------------------------------------------------
    def _per_op(self, monitor, n: int) -> np.ndarray:
        op = np.floor(monitor.steps * self.config.dt / self.config.op_ms + 1e-9).astype(np.int64)
        out = np.zeros((self.n_ops, n), dtype=bool)
        keep = op < self.n_ops
        out[op[keep], np.asarray(monitor.ids)[keep]] = True
        return out

    def content_answers(self) -> np.ndarray:
        """(n_ops, n_content) bool: content neurons that fired in each operation's window."""
        return self._per_op(self.content_spikes, self.config.n_content)

    def cue_answers(self) -> np.ndarray:
        """(n_ops, n_cue) bool: cue neurons that fired in each operation's window."""
        return self._per_op(self.cue_spikes, self.config.n_cue)


# -- the paper's own network, timing and always-on plasticity ---------------------------------

@dataclass
class CA3PaperConfig:
    """Populations, delays and neuron constants of the authors' model (their
    ``network_config.json``, Casanueva-Morato et al. 2024): IF_curr_exp neurons with
    cm 0.27 nF / tau_m 3 ms (slow) or cm 0.14 nF / tau_m 0.5 ms (fast), tau_syn 0.3 ms,
    v_rest = v_reset = -60 mV, v_th = -57 mV (output -57.5 mV), weights 6 nA (6000 pA),
    dt 1 ms. Operations: learning holds its spikes ``learn_hold`` ms, recall 1 ms; one
    operation every ``op_ms`` (the paper: 10 ms in its functional test, 14 ms in the
    stress test)."""

    n_cue: int = 5
    n_content: int = 10
    op_ms: float = 14.0
    learn_hold: int = 3            # input spikes (ms) of a learning operation
    w: float = 6000.0              # pA, the paper's 6 nA
    w_cond: float = 9000.0         # pA, CA3contCueRecall -> CA3contCond
    w_cond_int: float = 2000.0     # pA, CA3contCondInt -> CA3contCond
    seed: int = 0


class CA3PaperMemory:
    """The authors' content-addressable CA3 memory, plasticity always on (module doc of
    :class:`CA3PaperConfig`). Populations (n_cue = C, n_content = B)::

        input (C + B lines) -> cue_cue (C), cont_cue (B)            1:1, w, 1 ms
        cue_cue -> cont_cue         all-to-all PLASTIC (outstar), 1 ms: cue -> content
        cue_cue -> cue_cont         1:1 w, 2 ms; all but self inhibitory B x w, 3 ms
        cue_cue -> cont_cond        all-to-all inhibitory w, 2 ms (a cue present: no
                                    content-driven cue recall)
        cont_cue -> cont_cond       1:1 w_cond, 1 ms; cont_cue -> cond_int (1) w, 1 ms;
        cond_int -> cont_cond       w_cond_int, 1 ms
        cont_cond -> cont_cont      1:1 w, 1 ms
        cont_cont -> cue_cont       all-to-all PLASTIC (instar), 1 ms: content -> cue
        cue_cont -> cue_cont        all but self inhibitory B w, 2 ms
        cue_cue -> merge_cue (3 ms), cue_cont -> merge_cue (1 ms), cont_cue -> merge_cont
        (3 ms), cont_cont -> merge_cont (1 ms), merges -> output (C + B) 1 ms

    Recall by cue answers the cue at the output 5 ms after the input and the content at
    6 ms; recall by content answers the fragment at 5 ms and, at 6 ms, every cue whose
    stored content shares at least one 1-bit with it (the paper's semantics). The
    plasticity is :class:`~synaptica.plasticity.spike_terms.OutstarBurstRule` /
    :class:`~synaptica.plasticity.spike_terms.InstarBurstRule` (always on), which stand
    in for the paper's pair STDP (tau 3 ms, A+ = A- = w_max = 6 nA): run through this
    engine that STDP neither forgets an overwritten content (the old bits, driven by the
    held cue, fire after it and are potentiated again) nor stays put across operations
    10 ms apart (traces of tau 3 ms leak into the next operation); both measured on the
    authors' functional test while porting the model.
    """

    def __init__(self, config: CA3PaperConfig, device: str = "cpu") -> None:
        c = self.config = config
        if c.n_cue < 1 or c.n_content < 1:
            raise ValueError(f"CA3PaperMemory: n_cue and n_content must be >= 1, got {c.n_cue}, {c.n_content}")
        if c.op_ms < c.learn_hold + 7:
            raise ValueError(f"CA3PaperMemory: op_ms ({c.op_ms}) must be at least learn_hold + 7 ms "
                             f"= {c.learn_hold + 7} (the paper's minimum gap after a learning operation)")
        self.device = device
        self.ops: list[tuple[int, np.ndarray, int]] = []   # (start step, input lines, hold)

    # -- operations ------------------------------------------------------------------
    def _add(self, lines: np.ndarray, hold: int) -> int:
        self.ops.append((len(self.ops) * int(round(self.config.op_ms)), np.asarray(lines, np.int64), hold))
        return len(self.ops) - 1

    def _cues(self, cues) -> np.ndarray:
        cues = np.atleast_1d(np.asarray(cues, dtype=np.int64))
        if cues.size and (cues.min() < 0 or cues.max() >= self.config.n_cue):
            raise ValueError(f"CA3PaperMemory: cue {cues.tolist()} outside [0, {self.config.n_cue})")
        return cues

    def _bits(self, content) -> np.ndarray:
        bits = np.asarray(content)
        if bits.shape != (self.config.n_content,):
            raise ValueError(f"CA3PaperMemory: content of shape {bits.shape}, expected ({self.config.n_content},)")
        if not np.isin(bits, (0, 1)).all():
            raise ValueError("CA3PaperMemory: content must hold only 0 and 1")
        return self.config.n_cue + np.flatnonzero(bits)

    def learn(self, cue: int, content) -> int:
        """Schedule learning ``content`` (0/1) at ``cue``: both held ``learn_hold`` ms."""
        return self._add(np.concatenate([self._cues(cue), self._bits(content)]), self.config.learn_hold)

    def recall_by_cue(self, cues) -> int:
        """Schedule recall by one cue (or several at once: their contents merge)."""
        return self._add(self._cues(cues), 1)

    def recall_by_content(self, fragment) -> int:
        return self._add(self._bits(fragment), 1)

    # -- network ---------------------------------------------------------------------
    def build(self) -> None:
        from synaptica.plasticity.spike_terms import InstarBurstRule, OutstarBurstRule

        c = self.config
        nc, nb, w = c.n_cue, c.n_content, c.w
        net = self.net = Network(dt=1.0, seed=c.seed, dtype=torch.float64, device=self.device)
        times = [np.repeat(start + np.arange(hold, dtype=float), len(lines)) for start, lines, hold in self.ops]
        ids = [np.tile(lines, hold) for _, lines, hold in self.ops]
        source = net.add_spike_generator(nc + nb, np.concatenate(times or [np.zeros(0)]),
                                         np.concatenate(ids or [np.zeros(0, np.int64)]), name="input")

        def lif(cm_nf: float, tau_m: float, v_th: float = -57.0) -> LIF:
            return LIF(tau_m=tau_m, tau_exc=0.3, tau_inh=0.3, v_rest=-60.0, v_reset=-60.0, v_th=v_th,
                       r_m=tau_m / cm_nf * 1e-3, t_ref=2.0)
        # r_m = tau_m / cm (GOhm); t_ref 2 ms here holds v for the one step after a spike, which
        # is what the paper's tau_refrac = 1 ms does at dt = 1 ms on SpiNNaker (and in NEST)

        slow, fast = lif(0.27, 3.0), lif(0.14, 0.5)
        pop = {name: net.add_population(n, model, name=name) for name, n, model in (
            ("cue_cue", nc, slow), ("cue_cont", nc, fast), ("cont_cue", nb, slow), ("cont_cont", nb, slow),
            ("cont_cond", nb, fast), ("cond_int", 1, fast), ("merge_cue", nc, slow), ("merge_cont", nb, slow),
            ("output", nc + nb, lif(0.27, 3.0, -57.5)))}
        self.pop = pop

        def static(pre, post, weight, delay, one_to_one=False, inhibitory=False):
            net.connect(pre, post, one_to_one=one_to_one, weight=-weight if inhibitory else weight, delay=delay,
                        target="i_inh" if inhibitory else "i_exc", sign="inhibitory" if inhibitory else None)

        others = 1.0 - np.eye(nc)
        static(source[:nc], pop["cue_cue"], w, 1.0, one_to_one=True)
        static(source[nc:], pop["cont_cue"], w, 1.0, one_to_one=True)
        static(pop["cue_cue"], pop["cue_cont"], w, 2.0, one_to_one=True)
        if nc > 1:
            static(pop["cue_cue"], pop["cue_cont"], w * nb * others, 3.0, inhibitory=True)
            static(pop["cue_cont"], pop["cue_cont"], w * nb * others, 2.0, inhibitory=True)
        static(pop["cue_cue"], pop["cont_cond"], w, 2.0, inhibitory=True)
        static(pop["cont_cue"], pop["cont_cond"], c.w_cond, 1.0, one_to_one=True)
        static(pop["cont_cue"], pop["cond_int"], w, 1.0)
        static(pop["cond_int"], pop["cont_cond"], c.w_cond_int, 1.0)
        static(pop["cont_cond"], pop["cont_cont"], w, 1.0, one_to_one=True)
        static(pop["cue_cue"], pop["merge_cue"], w, 3.0, one_to_one=True)
        static(pop["cue_cont"], pop["merge_cue"], w, 1.0, one_to_one=True)
        static(pop["cont_cue"], pop["merge_cont"], w, 3.0, one_to_one=True)
        static(pop["cont_cont"], pop["merge_cont"], w, 1.0, one_to_one=True)
        static(pop["merge_cue"], pop["output"][:nc], w, 1.0, one_to_one=True)
        static(pop["merge_cont"], pop["output"][nc:], w, 1.0, one_to_one=True)
        self.outstar = OutstarBurstRule(a_set=w, burst_threshold=0.1, w_min=0.0, w_max=w)
        self.instar = InstarBurstRule(a_set=w, burst_threshold=0.1, w_min=0.0, w_max=w)
        self.cue_to_content = net.connect(pop["cue_cue"], pop["cont_cue"], weight=0.0, delay=1.0,
                                          plasticity=self.outstar, name="cue->content")
        self.content_to_cue = net.connect(pop["cont_cont"], pop["cue_cont"], weight=0.0, delay=1.0,
                                          plasticity=self.instar, name="content->cue")
        self.monitors = {name: net.monitor_spikes(p) for name, p in pop.items()}

    def run(self, n_ops: int | None = None, backend: str = "auto") -> None:
        """Simulate up to the end of operation ``n_ops - 1`` (all scheduled ones by default)."""
        n_ops = len(self.ops) if n_ops is None else n_ops
        remaining = n_ops * int(round(self.config.op_ms)) - self.net.step
        if remaining > 0:
            self.net.run(float(remaining), backend=backend)

    def weights(self) -> tuple[np.ndarray, np.ndarray]:
        """(n_cue, n_content) cue -> content and content -> cue weights (pA)."""
        c = self.config
        return (self.cue_to_content.weights.cpu().numpy().reshape(c.n_cue, c.n_content),
                self.content_to_cue.weights.cpu().numpy().reshape(c.n_content, c.n_cue).T)

    def answers(self, population: str = "output") -> np.ndarray:
        """(n_ops, size) bool: neurons of ``population`` that fired in each operation's window."""
        mon = self.monitors[population]
        op = np.asarray(mon.steps) // int(round(self.config.op_ms))
        out = np.zeros((len(self.ops), self.pop[population].n), dtype=bool)
        keep = op < len(self.ops)
        out[op[keep], np.asarray(mon.ids)[keep]] = True
        return out

    def output_cues(self) -> np.ndarray:
        return self.answers()[:, :self.config.n_cue]

    def output_content(self) -> np.ndarray:
        return self.answers()[:, self.config.n_cue:]
