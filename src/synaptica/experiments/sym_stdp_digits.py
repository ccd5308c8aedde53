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

import time

import numpy as np

from synaptica.config import Field
from synaptica.experiments.base import Experiment, ExperimentResult, ProgressCallback
from synaptica.experiments.stdp_digits import SCHEMA as DIGITS_SCHEMA
from synaptica.experiments.stdp_digits import Phases, load_split, test_raster

SCHEMA = {
    **DIGITS_SCHEMA,
    "label_weight": Field(float, 2.0, "mean hidden-to-label weight (nS) kept by scaling", minimum=0.0,
                          exclusive_minimum=True),
    "teacher_rate_hz": Field(float, 200.0, "teacher rate onto the label neuron of the class", minimum=0.0),
}


def run_sym_stdp_digits(p: dict, progress: ProgressCallback | None = None, checkpoint=None) -> ExperimentResult:
    from synaptica.models.sym_stdp import SymSTDPConfig, SymSTDPNetwork
    from synaptica.plotting import plot_receptive_fields

    x_train, y_train, x_test, y_test, shape, d = load_split(p)
    config = SymSTDPConfig(n_input=x_train.shape[1], n_exc=p["n_exc"], dt=p["dt_ms"], present_ms=p["present_ms"],
                           max_rate_hz=d["max_rate_hz"], norm_total=d["norm_total"], seed=p["seed"],
                           label_norm_total=p["label_weight"] * p["n_exc"], teacher_rate_hz=p["teacher_rate_hz"])
    model = SymSTDPNetwork(config)
    spikes = model.net.monitor_spikes(model.exc)
    phases = Phases(model, p, (p["epochs"] + 1) * len(x_train) + len(x_test), progress, checkpoint)
    t0 = time.perf_counter()
    for epoch in range(p["epochs"]):
        phases.run(x_train, True, f"train{epoch}", targets=y_train)
    t1 = time.perf_counter()
    model.assign_labels(phases.run(x_train, False, "label"), y_train)
    test_start_ms = model.net.step * p["dt_ms"]
    hidden_counts = phases.run(x_test, False, "test")
    label_counts = model.last_counts[model.label_counts.name]
    t2 = time.perf_counter()
    phases.finish()

    times, ids = test_raster(spikes, test_start_ms)
    weights, labels = model.weights, model.labels
    metrics = {
        "accuracy": float(np.mean(label_counts.argmax(1) == y_test)),
        "hidden_vote_accuracy": float(np.mean(model.predict(hidden_counts) == y_test)),
        "n_train": len(x_train), "n_test": len(x_test), "epochs": p["epochs"], "n_exc": p["n_exc"],
        "label_spikes_per_test_image": float(label_counts.sum(1).mean()),
        "silent_test_images": int(np.sum(label_counts.sum(1) == 0)),
        "train_images_per_s": p["epochs"] * len(x_train) / (t1 - t0),
        "train_s": t1 - t0, "label_and_test_s": t2 - t1,
    }
    figures = {"receptive_fields.png": lambda path: plot_receptive_fields(weights, shape, path, labels)}
    return ExperimentResult(times, ids, p["n_exc"], len(x_test) * p["present_ms"], metrics, figures=figures)


EXPERIMENT = Experiment(
    name="sym-stdp-digits",
    summary="Hao et al. (2020) supervised symmetric-STDP network with synaptic scaling (8x8 digits or MNIST)",
    schema=SCHEMA,
    run=run_sym_stdp_digits,
)
