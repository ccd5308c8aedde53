"""Hao et al. (2020): supervised learning with symmetric STDP, synaptic scaling and
adaptive thresholds.

Y. Hao, X. Huang, M. Dong and B. Xu, "A biologically plausible supervised learning
method for spiking neural networks using the symmetric STDP rule", Neural Networks
121:387-395 (2020); the authors' GeNN code is github.com/haoyz/sym-STDP-SNN.

A hidden layer of excitatory neurons with adaptive thresholds and lateral inhibition
(the circuit of Diehl & Cook 2015) learns from Poisson inputs with
:class:`~synaptica.plasticity.SymmetricSTDP`, its incoming weights rescaled to a fixed
sum before every image (synaptic scaling). A label layer of ``n_classes`` neurons
receives all hidden neurons through synapses that also learn by symmetric STDP. While
training, a teacher drives the label neuron of the image's class at ``teacher_rate_hz``,
so hidden neurons active with it are potentiated onto it (dopamine-modulated STDP is
symmetric, Zhang et al. 2009). At test there is no teacher; the label neuron that fires
most gives the class, and an image that leaves every label neuron silent has no class.

``protocol = "paper"`` follows the authors' code (100/400 hidden neurons, MNIST):

* label neurons are *clamped* while training: they emit exactly the teacher's Poisson
  spikes and ignore the hidden input (``TeacherClampedLIF``); at test they are
  fast conductance LIF neurons (tau_m 10 ms, rest -60, reset -45, threshold -40 mV,
  no refractory period);
* hidden-to-label weights start uniform in [0, 0.3) nS and are scaled before every image
  to a sum of 0.1 x w_max x n_hidden (mean 0.8 nS, w_max 8 nS);
* sym-STDP amplitudes eta x trace jump: 0.005 x 0.1 (input -> hidden), 0.04 x 0.1
  (hidden -> label); both windows 20 ms;
* the hidden threshold grows by alpha |pole| / |theta - pole| per spike (alpha 0.07 mV,
  pole -10 mV: steps shrink as theta grows) and decays towards -20 mV with tau 6e6 ms
  (``ScaledThetaLIFConductance``); hidden refractory period 2 ms.

``clamp_labels = False`` (ablation) keeps the paper's label neurons unclamped while
training: the teacher adds ``teacher_weight`` nS pulses and hidden input can make other
label neurons fire, and so potentiate their synapses.

``protocol = "legacy"`` is this module's first version: label neurons are the hidden
layer's LIF (tau_m 100 ms), not clamped, the teacher adding 20 nS conductance pulses, so
hidden input also makes the wrong label neurons fire and potentiates their synapses.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from synaptica.models.diehl_cook import EXC_NEURON, DiehlCookConfig, DiehlCookNetwork
from synaptica.neurons import AdaptiveLIFConductance, LIFConductance
from synaptica.neurons.base import Parameter
from synaptica.neurons.lif import lif_fire
from synaptica.neurons.lif_conductance import lif_conductance_membrane
from synaptica.plasticity import SymmetricSTDP
from synaptica.primitives import exp, spike, where

PROTOCOLS = ("paper", "legacy")


def scaled_theta_coefficients(dt, tau_adapt, theta_jump, theta_rest, theta_pole):
    return {"decay_adapt": exp(-dt / tau_adapt), "theta_jump": theta_jump, "theta_rest": theta_rest,
            "theta_pole": theta_pole}


def scaled_theta_update(v, g_exc, g_inh, refractory, theta, i_ext, dt, tau_m, r_m, e_exc, e_inh,
                        decay_exc, decay_inh, v_rest, v_reset, v_th, refractory_steps, subtract,
                        decay_adapt, theta_jump, theta_rest, theta_pole):
    v, refractory = lif_conductance_membrane(v, g_exc, g_inh, refractory, i_ext, dt, tau_m, r_m, e_exc,
                                             e_inh, v_rest)
    theta = theta_rest + (theta - theta_rest) * decay_adapt
    v, refractory, s = lif_fire(v, refractory, v_th + theta, v_reset, refractory_steps, subtract)
    step = theta_jump * abs(theta_pole) / abs(theta - theta_pole)
    return v, g_exc * decay_exc, g_inh * decay_inh, refractory, theta + step * s, s


class ScaledThetaLIFConductance(AdaptiveLIFConductance):
    """Hidden neuron of Hao et al. (2020, Eq. 5 as in their code): threshold v_th + theta
    (mV); per spike theta grows by ``theta_jump * |theta_pole| / |theta - theta_pole|``
    (``theta_jump`` at theta = 0, smaller as theta grows); between spikes it decays
    towards ``theta_rest`` with ``tau_adapt`` (ms). Keep theta above ``theta_pole``."""

    parameters = {
        **AdaptiveLIFConductance.parameters,
        "theta_rest": Parameter(-20.0, "mV", help="value theta decays towards"),
        "theta_pole": Parameter(-10.0, "mV", help="theta at which the step would diverge (< 0)"),
    }
    coefficients_function = staticmethod(scaled_theta_coefficients)
    update_function = staticmethod(scaled_theta_update)
    helpers = (lif_conductance_membrane, lif_fire)

    def __init__(self, **values):
        super().__init__(**values)
        if not self.values["theta_pole"] < 0:
            raise ValueError(f"{type(self).__name__}: parameter 'theta_pole' must be < 0 mV")


def clamped_coefficients(dt, clamped):
    return {"clamped": clamped}


def clamped_update(v, g_exc, g_inh, refractory, teach, i_ext, dt, tau_m, r_m, e_exc, e_inh, decay_exc,
                   decay_inh, v_rest, v_reset, v_th, refractory_steps, subtract, clamped):
    v, refractory = lif_conductance_membrane(v, g_exc, g_inh, refractory, i_ext, dt, tau_m, r_m, e_exc,
                                             e_inh, v_rest)
    v, refractory, s_free = lif_fire(v, refractory, v_th, v_reset, refractory_steps, subtract)
    s = where(clamped > 0.5, spike(teach - 0.5), s_free)
    v = where(clamped > 0.5, v_rest, v)
    return v, g_exc * decay_exc, g_inh * decay_inh, refractory, 0.0 * teach, s


class TeacherClampedLIF(LIFConductance):
    """Label neuron of Hao et al. (2020): with ``clamped`` = 1 (training) it fires exactly
    when its ``teach`` receptor receives a spike (weight > 0.5) and ignores its other
    input; with ``clamped`` = 0 (test) it is a conductance LIF (ms, mV, nS)."""

    state = ("v", "g_exc", "g_inh", "refractory", "teach")
    receptors = ("g_exc", "g_inh", "teach")
    parameters = {
        **LIFConductance.parameters,
        "clamped": Parameter(0.0, "1", non_negative=True, help="1: spikes are the teacher's (training)"),
    }
    coefficients_function = staticmethod(clamped_coefficients)
    update_function = staticmethod(clamped_update)
    helpers = (lif_conductance_membrane, lif_fire)

    def initial_state(self):
        return {**super().initial_state(), "teach": 0.0}


@dataclass
class SymSTDPConfig(DiehlCookConfig):
    protocol: str = "paper"
    a_hidden: float = 5e-4          # sym-STDP amplitude, input -> hidden (weights in [0, w_max])
    a_label: float = 4e-3           # sym-STDP amplitude, hidden -> label (weights in [0, label_w_max])
    label_w_max: float = 8.0        # nS
    label_norm_total: float = 80.0  # nS, sum of each label neuron's incoming weights
    label_w_init_max: float = 0.3   # nS, initial hidden -> label weights uniform in [0, this)
    n_classes: int = 10
    teacher_rate_hz: float = 200.0
    teacher_weight: float = 20.0    # nS onto the label neuron (legacy protocol only)
    t_ref_hidden: float = 2.0       # ms (paper code; Diehl & Cook 5 ms)
    theta_rest: float = -20.0       # mV
    theta_pole: float = -10.0       # mV
    tau_stdp: float = 20.0          # ms, both sym-STDP windows
    clamp_labels: bool = True       # paper protocol; False: ablation, the teacher adds teacher_weight nS instead


class SymSTDPNetwork(DiehlCookNetwork):
    """Hidden layer + supervised label layer, all learning by symmetric STDP (see module doc).

    Presentation, retries, checkpoints and the hidden layer's vote are those of
    :class:`DiehlCookNetwork`; the circuit is built here."""

    def __init__(self, config: SymSTDPConfig) -> None:
        if config.protocol not in PROTOCOLS:
            raise ValueError(f"SymSTDPConfig: protocol must be one of {PROTOCOLS}, got {config.protocol!r}")
        super().__init__(config)
        self._add_label_layer(config.protocol == "paper")

    def make_exc_model(self):
        """The hidden neuron: paper, the authors' threshold whose step shrinks as it grows
        (:class:`ScaledThetaLIFConductance`); legacy, Diehl & Cook's."""
        c = self.config
        common = dict(EXC_NEURON, tau_adapt=c.tau_theta, theta_jump=c.theta_jump)
        if c.protocol == "paper":
            return ScaledThetaLIFConductance(**common, t_ref=c.t_ref_hidden, theta_rest=c.theta_rest,
                                             theta_pole=c.theta_pole)
        return AdaptiveLIFConductance(**common, t_ref=5.0)

    def _add_label_layer(self, paper: bool) -> None:
        c, net = self.config, self.net
        self.teacher = net.add_poisson(c.n_classes, 0.0, name="teacher")
        if paper:
            self.label_model = TeacherClampedLIF(tau_m=10.0, v_rest=-60.0, v_reset=-45.0, v_th=-40.0, e_exc=0.0,
                                                 e_inh=-100.0, tau_exc=1.0, tau_inh=2.0, t_ref=0.0, r_m=1.0)
            self.label_layer = net.add_population(c.n_classes, self.label_model, name="label")
            if c.clamp_labels:
                net.connect(self.teacher, self.label_layer, one_to_one=True, weight=1.0, target="teach",
                            name="teacher->label")
            else:
                net.connect(self.teacher, self.label_layer, one_to_one=True, weight=c.teacher_weight,
                            target="g_exc", name="teacher->label")
            w0 = net.rng.uniform(0.0, c.label_w_init_max, (c.n_exc, c.n_classes))
        else:
            self.label_model = LIFConductance(tau_m=100.0, v_rest=-65.0, v_reset=-65.0, v_th=-52.0, e_exc=0.0,
                                              e_inh=-100.0, tau_exc=1.0, tau_inh=2.0, t_ref=5.0, r_m=1.0)
            self.label_layer = net.add_population(c.n_classes, self.label_model, name="label")
            net.connect(self.teacher, self.label_layer, one_to_one=True, weight=c.teacher_weight, target="g_exc",
                        name="teacher->label")
            w0 = 0.0
        self.label_rule = SymmetricSTDP(a_causal=c.a_label, a_acausal=c.a_label, tau_pre=c.tau_stdp,
                                        tau_post=c.tau_stdp, w_min=0.0, w_max=c.label_w_max,
                                        normalize=c.label_norm_total)
        self.hidden_label = net.connect(self.exc, self.label_layer, weight=w0, target="g_exc",
                                        plasticity=self.label_rule, name="hidden->label")
        self.label_counts = net.monitor_counts(self.label_layer)

    def make_rule(self):
        c = self.config
        return SymmetricSTDP(a_causal=c.a_hidden, a_acausal=c.a_hidden, tau_pre=c.tau_stdp, tau_post=c.tau_stdp,
                             w_min=0.0, w_max=c.w_max, normalize=c.norm_total)

    @property
    def label_weights(self) -> np.ndarray:
        """(n_exc, n_classes) hidden-to-label weights (nS)."""
        return self.hidden_label.weights.detach().cpu().numpy().copy()

    def set_learning(self, learn: bool) -> None:
        super().set_learning(learn)
        self.label_rule.values["learning_rate"] = 1.0 if learn else 0.0
        if isinstance(self.label_model, TeacherClampedLIF) and self.config.clamp_labels:
            self.label_model.values["clamped"] = 1.0 if learn else 0.0

    def set_inputs(self, images, targets, boost, first_trial) -> None:
        super().set_inputs(images, targets, boost, first_trial)
        teach = np.zeros((len(images), self.config.n_classes))
        known = targets >= 0
        teach[np.flatnonzero(known), targets[known]] = self.config.teacher_rate_hz
        self.teacher.set_rates(self.as_trials(teach), first_trial=first_trial)

    def classify(self, images: np.ndarray, **kw) -> np.ndarray:
        """Class of each image by the label layer without teacher; -1 where no label neuron fired."""
        self.present(images, learn=False, **kw)
        return label_decision(self.last_counts[self.label_counts.name])


def label_decision(counts: np.ndarray) -> np.ndarray:
    """Class with the most label spikes per image ((n, n_classes) counts); -1 for an image
    with no label spike (never class 0). Ties go to the lowest class index, as argmax."""
    counts = np.asarray(counts)
    return np.where(counts.sum(1) > 0, counts.argmax(1), -1)
