"""sym-stdp-digits: supervised learning with symmetric STDP, synaptic scaling and adaptive
thresholds (Hao, Huang, Dong & Xu 2020, Neural Networks 121:387).

The network of :mod:`synaptica.models.sym_stdp`: a hidden layer learns from the images
by symmetric STDP with weight normalisation and adaptive thresholds; a label layer,
driven during training by a teacher at the image's class, learns the hidden-to-label
weights by the same rule. Test images are classified by the label neuron that fires
most (no teacher); the hidden layer's own vote (Diehl & Cook labelling) is reported
too. Data and defaults as ``stdp-digits``.
"""
from __future__ import annotations

import numpy as np

from synaptica.config import Field
from synaptica.experiments.base import Experiment, ExperimentResult, ProgressCallback
from synaptica.experiments.stdp_digits import SCHEMA as DIGITS_SCHEMA
from synaptica.experiments.stdp_digits import check_budget, load_split, model_config, train_label_test

SCHEMA = {
    **DIGITS_SCHEMA,
    "label_weight": Field(float, 2.0, "mean hidden-to-label weight (nS) kept by scaling", minimum=0.0,
                          maximum=1e3, exclusive_minimum=True),
    "teacher_rate_hz": Field(float, 200.0, "teacher rate onto the label neuron of the class", minimum=0.0,
                             maximum=1e4),
    "a_hidden": Field(float, 1e-3, "sym-STDP amplitude, input to hidden (paper: 2e-3 with 784 inputs)",
                      minimum=0.0, maximum=1.0, exclusive_minimum=True),
}


def run_sym_stdp_digits(p: dict, progress: ProgressCallback | None = None, checkpoint=None) -> ExperimentResult:
    from synaptica.models.sym_stdp import SymSTDPConfig, SymSTDPNetwork

    data = load_split(p)
    model = SymSTDPNetwork(SymSTDPConfig(**model_config(p, data), label_norm_total=p["label_weight"] * p["n_exc"],
                                         teacher_rate_hz=p["teacher_rate_hz"], a_hidden=p["a_hidden"]))
    result, test_counts = train_label_test(model, p, data, progress, checkpoint, supervised=True)
    label_counts, y_test = test_counts[model.label_counts.name], data[3]
    metrics = result.metrics
    metrics["hidden_vote_accuracy"] = metrics["accuracy"]
    metrics["accuracy"] = float(np.mean(label_counts.argmax(1) == y_test))
    metrics["label_spikes_per_test_image"] = float(label_counts.sum(1).mean())
    metrics["silent_test_images"] = int(np.sum(label_counts.sum(1) == 0))
    return result


EXPERIMENT = Experiment(
    name="sym-stdp-digits",
    summary="Hao et al. (2020) supervised symmetric-STDP network with synaptic scaling (8x8 digits or MNIST)",
    schema=SCHEMA,
    run=run_sym_stdp_digits,
    checks=(check_budget,),
)
