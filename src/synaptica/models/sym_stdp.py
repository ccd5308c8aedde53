"""Hao et al. (2020): supervised learning with symmetric STDP, synaptic scaling and
adaptive thresholds.

Y. Hao, X. Huang, M. Dong and B. Xu, "A biologically plausible supervised learning
method for spiking neural networks using the symmetric STDP rule", Neural Networks
121:387-395 (2020).

A hidden layer of excitatory neurons with adaptive thresholds and lateral inhibition
(the circuit of :mod:`synaptica.models.diehl_cook`) learns from the inputs with
:class:`~synaptica.plasticity.SymmetricSTDP`, its incoming weights rescaled to a fixed
sum before every image (synaptic scaling). A label layer of ``n_classes`` neurons
receives all hidden neurons through synapses that also learn by symmetric STDP; while
training, a teacher drives the label neuron of the image's class with Poisson spikes,
so the hidden neurons active with it are potentiated onto it (the supervision signal;
dopamine-modulated STDP is symmetric, Zhang et al. 2009). At test time there is no
teacher and the label neuron that fires most gives the class.

Choices where the paper leaves freedom, kept explicit here: label neurons are the
conductance LIF of the hidden layer without adaptation; the teacher fires at
``teacher_rate_hz`` onto the label neuron's excitatory conductance; hidden-to-label
weights start at 0 and are normalised to ``label_norm_total`` per label neuron.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from synaptica.models.diehl_cook import DiehlCookConfig, DiehlCookNetwork
from synaptica.neurons import LIFConductance
from synaptica.plasticity import SymmetricSTDP


@dataclass
class SymSTDPConfig(DiehlCookConfig):
    a_hidden: float = 2e-3          # sym-STDP amplitude, input -> hidden (weights in [0, 1])
    a_label: float = 8e-3           # sym-STDP amplitude, hidden -> label (weights in [0, label_w_max])
    label_w_max: float = 8.0
    label_norm_total: float = 40.0
    n_classes: int = 10
    teacher_rate_hz: float = 200.0
    teacher_weight: float = 20.0    # nS onto the label neuron


class SymSTDPNetwork(DiehlCookNetwork):
    """Hidden layer + supervised label layer, all learning by symmetric STDP (see module doc)."""

    def __init__(self, config: SymSTDPConfig) -> None:
        super().__init__(config)
        c, net = config, self.net
        label_model = LIFConductance(tau_m=100.0, v_rest=-65.0, v_reset=-65.0, v_th=-52.0, e_exc=0.0, e_inh=-100.0,
                                     tau_exc=1.0, tau_inh=2.0, t_ref=5.0, r_m=1.0)
        self.label_layer = net.add_population(c.n_classes, label_model, name="label")
        self.teacher = net.add_poisson(c.n_classes, 0.0, name="teacher")
        net.connect(self.teacher, self.label_layer, one_to_one=True, weight=c.teacher_weight, target="g_exc",
                    name="teacher->label")
        self.label_rule = SymmetricSTDP(a_causal=c.a_label, a_acausal=c.a_label, w_min=0.0, w_max=c.label_w_max,
                                        normalize=c.label_norm_total)
        self.hidden_label = net.connect(self.exc, self.label_layer, weight=0.0, target="g_exc",
                                        plasticity=self.label_rule, name="hidden->label")
        self.label_counts = net.monitor_counts(self.label_layer)

    def make_rule(self):
        c = self.config
        return SymmetricSTDP(a_causal=c.a_hidden, a_acausal=c.a_hidden, w_min=0.0, w_max=c.w_max,
                             normalize=c.norm_total)

    def set_learning(self, learn: bool) -> None:
        super().set_learning(learn)
        self.label_rule.values["learning_rate"] = 1.0 if learn else 0.0

    def set_inputs(self, images, targets, boost, first_trial) -> None:
        super().set_inputs(images, targets, boost, first_trial)
        teach = np.zeros((len(images), self.config.n_classes))
        known = targets >= 0
        teach[np.flatnonzero(known), targets[known]] = self.config.teacher_rate_hz
        self.teacher.set_rates(self.as_trials(teach), first_trial=first_trial)

    def classify(self, images: np.ndarray, **kw) -> np.ndarray:
        """Class of each image: the label neuron with the most spikes, without teacher."""
        self.present(images, learn=False, **kw)
        return self.last_counts[self.label_counts.name].argmax(1)
