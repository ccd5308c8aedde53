"""sym-stdp-digits: supervised learning with symmetric STDP, synaptic scaling and adaptive
thresholds (Hao, Huang, Dong & Xu 2020, Neural Networks 121:387; code
github.com/haoyz/sym-STDP-SNN).

The network of :mod:`synaptica.models.sym_stdp`: a hidden layer learns from the images
by symmetric STDP with weight normalisation and adaptive thresholds; a label layer,
driven during training by a teacher at the image's class, learns the hidden-to-label
weights by the same rule. Test images are classified by the label neuron that fires
most (no teacher). An image that leaves every label neuron silent has no answer: it is
counted wrong and reported (``silent_test_images``); the authors' argmax would call it
class 0, which is reported separately (``accuracy_silent_as_class0``).

The control is the same network's hidden layer read out by Diehl & Cook's vote (each
hidden neuron labelled with the class it fires most for; ``hidden_vote_accuracy``): the
paper's claim is that the supervised label layer reads the hidden layer better than that.

``protocol = "paper"`` (default) takes the authors' code for the network size nearest to
``n_exc`` (``PAPER_BY_SIZE``; see the model module); ``"legacy"`` is this experiment's
first version. Keys left at 0 take the protocol's value. Data as ``stdp-digits``.
Departures: no 150 ms rest between images (the state is reset instead; the threshold's
time constant is scaled by present_ms / (present_ms + 150) so it decays as much per
image), retries after a whole pass, not at once.
"""
from __future__ import annotations

import numpy as np

from synaptica.config import Field
from synaptica.experiments.base import Experiment, ExperimentResult, ProgressCallback
from synaptica.experiments.stdp_digits import SCHEMA as DIGITS_SCHEMA
from synaptica.experiments.stdp_digits import check_budget, load_split, model_config, train_label_test

REST_MS = 150.0  # the paper's rest between images (its threshold decays during it)

# authors' code (model.h) by network size: input->hidden eta, hidden->label eta (both x trace
# jump 0.1), threshold step alpha (mV) and its time constant (ms)
PAPER_BY_SIZE = {
    100: dict(a_hidden=0.005 * 0.1, a_label=0.04 * 0.1, theta_jump=0.07, tau_theta=6e6),
    400: dict(a_hidden=0.005 * 0.1, a_label=0.04 * 0.1, theta_jump=0.07, tau_theta=6e6),
    1600: dict(a_hidden=0.02 * 0.1, a_label=0.08 * 0.1, theta_jump=0.07, tau_theta=8e6),
    6400: dict(a_hidden=0.01 * 0.1, a_label=0.04 * 0.1, theta_jump=0.05, tau_theta=2e7),
    10000: dict(a_hidden=0.0075 * 0.1, a_label=0.04 * 0.1, theta_jump=0.05, tau_theta=2e7),
}
PAPER_LABEL_WEIGHT = 0.8    # nS, mean hidden->label weight: 0.1 x w_max (8 nS)
PAPER_MAX_RETRIES = 30      # input intensity 2 -> 32 in steps of 1 (the paper's retry limit)
LEGACY = dict(a_hidden=1e-3, a_label=8e-3, label_weight=2.0)

SCHEMA = {
    **DIGITS_SCHEMA,
    "protocol": Field(str, "paper", "'paper': the authors' code (clamped label layer, their neurons and rates); "
                      "'legacy': this experiment's first version", choices=("paper", "legacy")),
    "label_weight": Field(float, 0.0, "mean hidden-to-label weight (nS) kept by scaling (0: protocol's, "
                          "paper 0.8, legacy 2)", minimum=0.0, maximum=1e3),
    "teacher_rate_hz": Field(float, 200.0, "teacher rate onto the label neuron of the class", minimum=0.0,
                             maximum=1e4),
    "a_hidden": Field(float, 0.0, "sym-STDP amplitude, input to hidden (0: protocol's, paper 5e-4 at 100-400 "
                      "hidden, legacy 1e-3)", minimum=0.0, maximum=1.0),
    "a_label": Field(float, 0.0, "sym-STDP amplitude, hidden to label (0: protocol's, paper 4e-3, legacy 8e-3)",
                     minimum=0.0, maximum=1.0),
    "clamp_labels": Field(bool, True, "paper protocol: label neurons fire only the teacher's spikes while training "
                          "(false: ablation, the teacher adds 20 nS pulses to neurons that also integrate the hidden "
                          "layer)"),
}


def paper_size(n_exc: int) -> int:
    """The network size of the authors' code nearest to ``n_exc`` (in log scale)."""
    return min(PAPER_BY_SIZE, key=lambda size: abs(np.log(size / n_exc)))


def network_settings(p: dict) -> dict:
    """SymSTDPConfig keys (besides the shared digit ones) for the protocol and parameters."""
    if p["protocol"] == "paper":
        base = dict(PAPER_BY_SIZE[paper_size(p["n_exc"])], label_weight=PAPER_LABEL_WEIGHT)
        base["tau_theta"] *= p["present_ms"] / (p["present_ms"] + REST_MS)
        extra = dict(max_retries=PAPER_MAX_RETRIES, tau_theta=base["tau_theta"], theta_jump=base["theta_jump"])
    else:
        base, extra = dict(LEGACY), {}
    value = {key: p[key] or base[key] for key in ("a_hidden", "a_label", "label_weight")}
    return dict(extra, protocol=p["protocol"], clamp_labels=p["clamp_labels"], a_hidden=value["a_hidden"],
                a_label=value["a_label"], label_norm_total=value["label_weight"] * p["n_exc"],
                teacher_rate_hz=p["teacher_rate_hz"])


def label_metrics(label_counts: np.ndarray, y_test: np.ndarray) -> dict:
    """Label-layer accuracy with silent images (no label spike) counted wrong, the count of
    those images, and the same counts scored as the authors' argmax would (silent -> 0)."""
    from synaptica.models.sym_stdp import label_decision

    decision = label_decision(label_counts)
    silent = decision < 0
    answered = ~silent
    return {
        "accuracy": float(np.mean(decision == y_test)),
        "silent_test_images": int(silent.sum()),
        "silent_fraction": float(silent.mean()),
        "accuracy_of_answered": float(np.mean(decision[answered] == y_test[answered])) if answered.any() else 0.0,
        "accuracy_silent_as_class0": float(np.mean(np.asarray(label_counts).argmax(1) == y_test)),
        "label_spikes_per_test_image": float(np.asarray(label_counts).sum(1).mean()),
    }


def plot_label_weights(weights: np.ndarray, labels: np.ndarray, path) -> None:
    """Hidden-to-label weights (nS), hidden neurons sorted by their vote label (-1: none)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    order = np.argsort(labels, kind="stable")
    fig = Figure(figsize=(4.0, 5.0), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    image = ax.imshow(weights[order], aspect="auto", cmap="viridis", interpolation="nearest")
    ax.set(xlabel="label neuron (class)", ylabel="hidden neuron, sorted by its vote label", xticks=range(weights.shape[1]),
           title="hidden -> label weights")
    fig.colorbar(image, ax=ax, label="nS")
    fig.savefig(path)


def run_sym_stdp_digits(p: dict, progress: ProgressCallback | None = None, checkpoint=None) -> ExperimentResult:
    from synaptica.models.sym_stdp import SymSTDPConfig, SymSTDPNetwork

    data = load_split(p)
    settings = network_settings(p)
    model = SymSTDPNetwork(SymSTDPConfig(**model_config(p, data), **settings))
    result, test_counts = train_label_test(model, p, data, progress, checkpoint, supervised=True)
    # the raster shows the first test pass; spikes of retried test images come after it
    first_pass = result.spike_times_ms < result.duration_ms
    result.spike_times_ms, result.spike_ids = result.spike_times_ms[first_pass], result.spike_ids[first_pass]
    metrics = result.metrics
    metrics["hidden_vote_accuracy"] = metrics.pop("accuracy")
    metrics.update(label_metrics(test_counts[model.label_counts.name], data[3]))
    w = model.label_weights
    # does each labelled hidden neuron project most strongly to the label of its own class?
    labelled = model.labels >= 0
    metrics["label_weights_match_hidden_labels"] = float(np.mean(w[labelled].argmax(1) == model.labels[labelled])
                                                         if labelled.any() else 0.0)
    result.figures["label_weights.png"] = lambda path: plot_label_weights(w, model.labels, path)
    metrics.update(a_hidden=settings["a_hidden"], a_label=settings["a_label"],
                   label_norm_total=settings["label_norm_total"])
    return result


EXPERIMENT = Experiment(
    name="sym-stdp-digits",
    summary="Hao et al. (2020) supervised symmetric-STDP network with synaptic scaling (8x8 digits or MNIST)",
    schema=SCHEMA,
    run=run_sym_stdp_digits,
    checks=(check_budget,),
)
