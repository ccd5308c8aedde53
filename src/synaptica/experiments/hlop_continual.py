"""hlop-continual: permuted-pixel tasks learnt one after another by a spiking MLP, with HLOP.

After Xiao, Meng, Zhang, He & Lin (2024), "Hebbian learning based orthogonal projection for
continual learning of spiking neural networks", ICLR 2024 (mechanism:
:mod:`synaptica.training.hlop`). Protocol of the paper's PMNIST experiment (authors' code,
``spiking_train_pmnist.py``): ``n_tasks`` = 10 tasks, each the same images under its own fixed
random pixel permutation (the first task permuted too), one shared 10-way classifier
(domain-incremental), a bias-free LIF MLP ``pixels - hidden - hidden - 10`` (paper: 800, 800),
images standardised by the training pixels' mean and std and fed as a constant input current
for ``n_steps`` = 20 steps, a non-spiking readout whose weighted rate is the class score
(:func:`class_scores`), cross-entropy, plain SGD (lr 0.1, batch 64, one epoch per task).
Lateral neurons per layer: 80 / 200 / 100 for the first task (image input, first hidden, second
hidden), then 70 per layer and task, 20 fewer every third task (70, 70, 50, 50, 50, 30, ...),
scaled by the layer width over the paper's (784, 800, 800) and by ``lateral_scale``; Hebbian
rates 1e-3 (input) and 1e-2 (hidden), momentum 0.9, 5 iterations per batch.

Methods, from the same initial weights per seed: ``finetune`` (plain sequential SGD),
``ewc`` (:class:`EWC`: Kirkpatrick et al. 2017, one penalty per finished task with the
diagonal Fisher of the model's own predictive distribution, applied as an exact proximal
step after each SGD step so that any lambda is stable; lambda chosen from the grid
``ewc_lambdas`` by :func:`select_ewc_lambda` on validation images held out of the first
seed's training images, never the test images), ``hlop`` and ``multitask`` (one network
trained on all tasks jointly for the same number of passes: the upper bound).

Metrics (Lopez-Paz & Ranzato 2017, "Gradient episodic memory for continual learning"), from
the accuracy matrix ``R[i, j]`` (test accuracy on task j after training task i):
``acc_<m> = mean_j R[T-1, j]`` and ``bwt_<m> = mean_{j<T-1} (R[T-1, j] - R[j, j])`` (negative:
forgetting), and the learning accuracy ``lacc_<m> = mean_j R[j, j]`` (Riemer et al. 2019, ICLR:
plasticity, how well each task is learnt when it is trained), means over ``n_seeds`` seeds
with ``_std`` (sample std); ``acc_multitask``; ``lateral_neurons_layer<l>``; ``ewc_lambda``
(the selected strength) and ``ewc_val_acc_lambda<value>`` (validation ACC of each grid value);
``hebbian_orthonormality_error`` (max |U U^T - I| of the raw lateral weights);
``hlop_captured_energy_layer<l>`` (share of a finished task's layer input inside the protected
subspace, mean over tasks and seeds: the rest is exposed to later updates). Spikes: the hidden neurons of the first
seed's final HLOP network on ten test images of the first task, one image after another (1 ms per step).

Departures from the paper: (1) surrogate-gradient BPTT through the project's LIF layers
instead of DSR (differentiation on spike representation) training. The neuron keeps the
paper's settings in this form: decay ``beta`` = exp(-dt / tau) = exp(-0.05) per step,
threshold 0.3 in units of one input spike's weight (the paper's neuron fires at
alpha Vth = 0.09 on a (1 - beta)-weighted input of spikes of size Vth / dt = 6, which is
the same ratio), pixels as a current of ``input_scale`` = 0.163 per unit (the same
conversion for the first layer). The paper's neuron subtracts Vth after a spike, 3.3 times
its firing level; here the threshold is subtracted. The paper also trains the threshold;
here it is fixed. ``lrs`` may list several rates, then the first
task's validation accuracy picks one (:func:`select_lr`); (2) the lateral neurons
learn after each task, over ``hebb_epochs`` passes of the task's training activity, rather
than alongside the task's SGD epoch (same rule and rates; the subspace is learnt on the
final representation); (3) the projection uses an orthonormalised basis of the lateral
weights (see the mechanism's doc); (4) data: the default is the 8x8 scikit-learn digits
(1797 images, 1400 train / 397 test per task, hidden 100, ``epochs_per_task`` = 3 passes)
so that 3 seeds x 4 methods x 10 tasks and the EWC selection run in a few minutes; ``data = "mnist"`` uses the MNIST test
split at /work/shared/data/mnist (8000 train / 2000 test per task, the only MNIST split
available here, against the paper's 60000 / 10000).
"""
from __future__ import annotations

import copy
import time
from functools import partial
from pathlib import Path

import numpy as np
import torch

from synaptica.config import MAX_SEED, ConfigError, Field, check_memory, check_work, first_problem
from synaptica.experiments.base import Experiment, ExperimentResult, ProgressCallback

SEQUENTIAL = ("finetune", "ewc", "hlop")
METHODS = (*SEQUENTIAL, "multitask")
MNIST_DIR = "/work/shared/data/mnist"
DEFAULT_SPLIT = {"digits": (1400, 0), "mnist": (8000, 2000)}
N_PIXELS = {"digits": 64, "mnist": 784}
# the paper's lateral-neuron schedule (authors' code), for layer inputs of width 784 / 800 / 800
PAPER_WIDTHS = (784, 800, 800)
PAPER_FIRST = (80, 200, 100)
PAPER_INCREMENT, PAPER_DECREASE, DECREASE_EVERY = 70, 20, 3

SCHEMA = {
    "data": Field(str, "digits", "'digits' (scikit-learn 8x8), 'mnist' (/work/shared/data/mnist) or an MNIST IDX folder"),
    "n_tasks": Field(int, 10, "permuted-pixel tasks learnt in sequence (paper: 10)", minimum=2, maximum=10),
    "n_train": Field(int, 0, "training images per task (0: 1400 digits, 8000 MNIST)", minimum=0, maximum=10**7),
    "n_test": Field(int, 0, "test images per task (0: the other 397 digits, 2000 MNIST)", minimum=0, maximum=10**7),
    "hidden": Field(list[int], [100, 100], "hidden LIF layer widths (paper: [800, 800])", minimum=1, maximum=10**5,
                    max_length=8),
    "n_steps": Field(int, 20, "time steps per image (constant input current; paper: 20)", minimum=1, maximum=10**4),
    "beta": Field(float, 0.95, "membrane decay per step (paper: exp(-dt / tau) = exp(-0.05))", minimum=0.0,
                  maximum=1.0, exclusive_minimum=True, exclusive_maximum=True),
    "threshold": Field(float, 0.3, "firing threshold in units of one input spike's weight (paper: Vth 0.3)",
                       minimum=0.0, maximum=100.0, exclusive_minimum=True),
    "reset": Field(str, "subtract", "membrane reset after a spike (paper: subtract)", choices=("subtract", "zero")),
    "readout": Field(str, "rate", "class scores: 'rate' (paper: non-spiking readout, the weighted rate of the "
                     "output layer's input current) or 'spike_count' (spikes of an output LIF layer)",
                     choices=("rate", "spike_count")),
    "input_scale": Field(float, 0.163, "input current per unit of (standardised) pixel (paper: its first layer "
                         "fires at 0.3 Vth on a (1 - beta)-weighted input, i.e. 0.163 here)", minimum=0.0,
                         maximum=1e3, exclusive_minimum=True),
    "standardise": Field(bool, True, "shift and scale the pixels by the training images' mean and std (paper: "
                         "MNIST's 0.1307 / 0.3081)"),
    "epochs_per_task": Field(int, 3, "SGD passes over each task's training images (paper: 1 on 60000)", minimum=1,
                             maximum=10**4),
    "batch_size": Field(int, 64, "minibatch size (paper: 64)", minimum=1, maximum=10**6),
    "lrs": Field(list[float], [0.1], "SGD learning rates to choose from on validation images by the first "
                 "task's fine-tuning accuracy (one value: used as is; paper: 0.1)", minimum=0.0, maximum=10.0,
                 exclusive_minimum=True, max_length=20),
    "ewc_lambdas": Field(list[float], [1.0, 3.0, 10.0, 30.0, 100.0, 1000.0], "EWC penalty strengths to choose from "
                         "on validation images (one value: used as is)", minimum=0.0, maximum=1e9, max_length=20),
    "select_tasks": Field(int, 10, "tasks of the EWC lambda-selection run (capped at n_tasks)", minimum=2,
                          maximum=10),
    "val_fraction": Field(float, 0.15, "share of the first seed's training images held out to select lr and lambda",
                          minimum=0.0, maximum=0.9, exclusive_minimum=True),
    "fisher_samples": Field(int, 200, "training images per task for EWC's diagonal Fisher", minimum=1,
                            maximum=10**6),
    "lateral_scale": Field(float, 1.0, "multiplies the paper's width-scaled lateral-neuron counts", minimum=0.0,
                           maximum=100.0),
    "hebb_epochs": Field(int, 20, "passes of Hebbian learning over a finished task's activity", minimum=1,
                         maximum=10**4),
    "hebb_activity": Field(str, "steps", "what the lateral neurons of hidden layers learn from: every step's spike "
                           "vector (paper's BPTT network) or the spike rates", choices=("steps", "rates")),
    "hebb_lr_input": Field(float, 1e-3, "Hebbian rate of the image-input layer (paper: 1e-3)", minimum=0.0,
                           maximum=10.0, exclusive_minimum=True),
    "hebb_lr_hidden": Field(float, 1e-2, "Hebbian rate of hidden-layer inputs (paper: 1e-2)", minimum=0.0,
                            maximum=10.0, exclusive_minimum=True),
    "hebb_iterations": Field(int, 5, "Hebbian updates per minibatch (paper: 5)", minimum=1, maximum=1000),
    "n_seeds": Field(int, 3, "independent repetitions (split, permutations, initial weights)", minimum=1,
                     maximum=1000),
    "seed": Field(int, 1, "first seed", minimum=0, maximum=MAX_SEED),
}


def _kind(data: str) -> str:
    return "digits" if data == "digits" else "mnist"


def _split(p: dict) -> tuple[int, int]:
    n_train, n_test = DEFAULT_SPLIT[_kind(p["data"])]
    return p["n_train"] or n_train, p["n_test"] or n_test


def lateral_schedule(widths: list[int], n_tasks: int, scale: float) -> list[list[int]]:
    """Lateral neurons added after each task but the last, per layer: ``[task][layer]``.

    widths: input width of every layer (pixels, then the hidden widths). The paper's counts
    (first hidden-layer input: 200, the classifier's input: 100, any layer between: 200) are
    scaled by ``width / paper width`` and ``scale``; a non-zero paper count keeps >= 1 neuron.
    """
    n = len(widths)
    first = [PAPER_FIRST[0]] + [PAPER_FIRST[2] if i == n - 1 else PAPER_FIRST[1] for i in range(1, n)]
    paper_width = [PAPER_WIDTHS[0]] + [PAPER_WIDTHS[1]] * (n - 1)
    schedule = []
    for task in range(n_tasks - 1):
        counts = first if task == 0 else [PAPER_INCREMENT - PAPER_DECREASE * (task // DECREASE_EVERY)] * n
        schedule.append([0 if c <= 0 or scale == 0 else max(1, int(round(scale * c * w / pw)))
                         for c, w, pw in zip(counts, widths, paper_width)])
    return schedule


def _check_lateral(p: dict) -> str | None:
    widths = [N_PIXELS[_kind(p["data"])], *p["hidden"]]
    totals = np.sum(lateral_schedule(widths, p["n_tasks"], p["lateral_scale"]), axis=0)
    for layer, (total, width) in enumerate(zip(totals, widths)):
        if total > width:
            return (f"key 'lateral_scale': {p['lateral_scale']:g} asks for {int(total)} lateral neurons on layer "
                    f"{layer} over {p['n_tasks']} tasks, more than its input dimension {width}")
    return None


def _check_budget(p: dict) -> str | None:
    """Refuse data, activations or multiply-adds beyond the limits (MNIST sizes for a folder)."""
    n_train, n_test = _split(p)
    widths = [N_PIXELS[_kind(p["data"])], *p["hidden"], 10]
    weights = float(sum(a * b for a, b in zip(widths, widths[1:])))
    data_bytes = 4.0 * p["n_tasks"] * (n_train + n_test) * widths[0]
    activations = 4.0 * 6 * p["n_steps"] * min(p["batch_size"], n_train * p["n_tasks"]) * sum(widths)
    passes = 2 * len(SEQUENTIAL) * p["epochs_per_task"]  # three sequential methods + the joint run (same images)
    work = float(p["n_seeds"]) * passes * p["n_tasks"] * n_train * p["n_steps"] * weights * 3
    work += 2.0 * len(p["ewc_lambdas"]) * p["epochs_per_task"] * p["select_tasks"] * n_train * p["n_steps"] * weights * 3
    work += 2.0 * len(p["lrs"]) * p["epochs_per_task"] * n_train * p["n_steps"] * weights * 3
    return first_problem(
        check_memory("n_train", f"{p['n_tasks']} tasks x {n_train + n_test} images x {widths[0]} pixels plus "
                     f"activations of {p['n_steps']} steps", data_bytes + activations + 16 * weights),
        check_work("epochs_per_task", f"(n_seeds x methods x n_tasks + ewc_lambdas x select_tasks) x epochs_per_task"
                   f" x {n_train} images x {p['n_steps']} steps x {weights:.3g} weights", work),
    )


def _check_ewc(p: dict) -> str | None:
    for key, what in (("lrs", "learning rate"), ("ewc_lambdas", "EWC penalty strength")):
        if not p[key]:
            return f"key '{key}': give at least one {what}"
    n_train = _split(p)[0]
    if max(len(p["lrs"]), len(p["ewc_lambdas"])) > 1 and n_train - _n_val(p["val_fraction"], n_train) < 1:
        return (f"key 'val_fraction': {p['val_fraction']:g} of {n_train} training images leaves none to train the "
                "selection runs")
    return None


def _n_val(fraction: float, n_train: int) -> int:
    """Validation images held out of ``n_train`` for the lr and EWC selections (at least one)."""
    return max(1, int(round(fraction * n_train)))


# ---------------------------------------------------------------------------------- data

def load_tasks(p: dict, seed: int) -> dict:
    """One seed's tasks: ``x_train (n, P)``, ``y_train``, ``x_test``, ``y_test`` (unpermuted,
    in [0, 1], or standardised with ``standardise``) and ``perms`` (n_tasks, P): task k shows
    ``x[:, perms[k]]``."""
    from synaptica.datasets import load_images

    source = MNIST_DIR if p["data"] == "mnist" else p["data"]
    try:
        images, labels, _ = load_images(source)
    except ValueError as error:
        raise ConfigError(f"key 'data': {error}") from None
    if images.shape[1] != N_PIXELS[_kind(p["data"])]:
        raise ConfigError(f"key 'data': {source} holds images of {images.shape[1]} pixels, expected "
                          f"{N_PIXELS[_kind(p['data'])]}")
    rng = np.random.default_rng(seed)
    n_train, n_test = _split(p)
    n_test = n_test or len(images) - n_train
    if n_train < 1 or n_test < 1 or n_train + n_test > len(images):
        raise ConfigError(f"keys 'n_train', 'n_test': {n_train} + {n_test} images per task, the data has "
                          f"{len(images)} (each needs at least one)")
    order = rng.permutation(len(images)) if _kind(p["data"]) == "digits" else np.arange(len(images))
    train, test = order[:n_train], order[len(images) - n_test:]
    perms = np.stack([rng.permutation(images.shape[1]) for _ in range(p["n_tasks"])])
    if p["standardise"]:  # one mean and std over all training pixels (a permutation changes neither)
        mean, std = images[train].mean(), images[train].std()
        images = (images - mean) / (std if std > 0 else 1.0)
    images = images * p["input_scale"]
    as_x = partial(torch.as_tensor, dtype=torch.float32)
    return {"x_train": as_x(images[train]), "y_train": torch.as_tensor(labels[train]),
            "x_test": as_x(images[test]), "y_test": torch.as_tensor(labels[test]), "perms": torch.as_tensor(perms)}


# ------------------------------------------------------------------------------ training

def make_model(p: dict, n_in: int, generator: torch.Generator):
    """Bias-free LIF MLP ``n_in - hidden - 10`` (as the paper's), weights uniform +-1/sqrt(fan_in).
    With ``readout = "rate"`` the output layer does not spike: its input current is the class
    score (:func:`class_scores`), as in the authors' network."""
    from synaptica.training.layers import LeakyReadout, SpikingMLP

    model = SpikingMLP([n_in, *p["hidden"], 10], bias=False, beta=p["beta"], threshold=p["threshold"],
                       reset=p["reset"])
    if p["readout"] == "rate":
        model.layers[-1] = LeakyReadout(p["hidden"][-1], 10, beta=p["beta"], bias=False, name="readout")
    model.readout = p["readout"]
    with torch.no_grad():
        for layer in model.layers:
            w = layer.linear.weight
            w.copy_((2 * torch.rand(w.shape, generator=generator) - 1) / w.shape[1] ** 0.5)
    return model


def _encode(x: torch.Tensor, n_steps: int) -> torch.Tensor:
    """(B, P) pixels -> (T, B, P): a constant input current, as the paper feeds images."""
    return x.unsqueeze(0).expand(n_steps, *x.shape)


def class_scores(model, x: torch.Tensor, n_steps: int) -> torch.Tensor:
    """Logits (B, 10) of images ``x`` (B, P). ``readout = "rate"``: the paper's weighted rate,
    ``sum_t beta^(T-1-t) c_t / sum_t beta^(T-1-t)`` of the readout's input current ``c_t`` (the
    final state of a leaky integrator of decay ``beta``, normalised; DSR's
    ``weight_rate_spikes`` with ``beta = exp(-dt / tau)``); ``"spike_count"``: the output
    layer's spike counts."""
    out = model(_encode(x, n_steps))
    if model.readout != "rate":
        return out.sum(0)
    beta = model.layers[-1].beta
    return out[-1] * ((1 - beta) / (1 - beta ** n_steps))


def train_sgd(model, x, y, p: dict, generator, phase: str, after_step=None, project=None) -> None:
    """SGD on the cross-entropy of :func:`class_scores`; ``project()`` edits the gradients before each step,
    ``after_step(model)`` edits the weights after it. Non-finite losses or weights raise NonFiniteError."""
    from synaptica.experiments.finite import require_finite_loss, require_finite_parameters

    params = [q for q in model.parameters() if q.requires_grad]
    optimiser = torch.optim.SGD(params, lr=p["lr"])
    for epoch in range(p["epochs_per_task"]):
        order = torch.randperm(len(x), generator=generator)
        for step, start in enumerate(range(0, len(x), p["batch_size"])):
            idx = order[start:start + p["batch_size"]]
            loss = torch.nn.functional.cross_entropy(class_scores(model, x[idx], p["n_steps"]), y[idx])
            require_finite_loss(loss, experiment="hlop-continual", phase=phase, epoch=epoch, step=step)
            optimiser.zero_grad()
            loss.backward()
            if project is not None:
                project()
            optimiser.step()
            if after_step is not None:
                after_step(model)
        require_finite_parameters(params, experiment="hlop-continual", phase=phase, epoch=epoch)


@torch.no_grad()
def accuracy(model, x, y, n_steps: int) -> float:
    correct = 0
    for start in range(0, len(x), 500):
        scores = class_scores(model, x[start:start + 500], n_steps)
        correct += int((scores.argmax(1) == y[start:start + 500]).sum())
    return correct / len(x)


@torch.no_grad()
def layer_inputs(model, x: torch.Tensor, n_steps: int, per_step: bool, batch: int = 500) -> list[torch.Tensor]:
    """Presynaptic activity of every layer for images ``x`` (n, P): the image (a constant
    current, (n, P)) and each hidden layer's spikes, every step's vector (``per_step``:
    (n, T, width) booleans, what the next layer's weight gradient multiplies, as the authors'
    BPTT network feeds its lateral neurons) or their rates ((n, width), spikes per step)."""
    model.keep_hidden = True
    parts: list[list[torch.Tensor]] = [[] for _ in model.layers]
    for start in range(0, len(x), batch):
        xb = x[start:start + batch]
        model(_encode(xb, n_steps))
        parts[0].append(xb)
        for i, spikes in enumerate(model.hidden_spikes[:-1]):
            parts[i + 1].append(spikes.transpose(0, 1).bool() if per_step else spikes.mean(0))
    model.keep_hidden = False
    return [torch.cat(ps) for ps in parts]


def hebbian_batches(activity: list[torch.Tensor], order: torch.Tensor, batch_size: int):
    """Minibatches of ``batch_size`` images of every layer's activity (:func:`layer_inputs`),
    per-step activity flattened to (images x steps, width) rows."""
    for start in range(0, len(order), batch_size):
        idx = order[start:start + batch_size]
        yield [a[idx].reshape(-1, a.shape[-1]).float() for a in activity]


class EWC:
    """Elastic weight consolidation: Kirkpatrick et al. (2017), "Overcoming catastrophic
    forgetting in neural networks", PNAS 114:3521. After task t the weights ``theta*_t`` and the
    diagonal Fisher information of the model's own predictive distribution

        F_t,i = mean_n E_{c ~ p(c | x_n)} (d log p(c | x_n) / d theta_i)^2

    are kept; later tasks minimise ``L_task + lambda/2 sum_{t past} sum_i F_t,i (theta_i - theta*_t,i)^2``
    (the original sum of one penalty per past task, not online EWC). The sum of quadratics
    is one quadratic with curvature ``lambda S`` (``S = sum_t F_t``) centred on the
    Fisher-weighted anchor ``A / S`` (``A = sum_t F_t theta*_t``), so only S and A are stored.
    The expectation over classes is estimated with one class drawn from the model's output per
    image (the true Fisher, unlike the "empirical" Fisher of the data labels; the fused LIF
    kernel backpropagates once per forward, so the exact C-class sum would cost C forwards).
    Units: F in (log-likelihood / weight)^2, lambda dimensionless.

    Why a proximal step: an explicit SGD step on a quadratic of curvature c overshoots when
    lr c > 2, and lambda F reaches 1e5 here (F up to ~70), so plain SGD on the penalty diverges
    above lambda ~ 10. :meth:`prox` applies the penalty implicitly after the task-loss SGD step
    (forward-backward splitting, the penalty's exact proximal map)::

        theta <- (theta + lr lambda A) / (1 + lr lambda S)

    which equals the explicit step for small ``lr lambda S``, is stable for every lambda, and
    has the same fixed points as gradient descent on the full objective.
    """

    def __init__(self, strength: float, lr: float) -> None:
        self.strength, self.lr = strength, lr
        self.fisher_sum: list[torch.Tensor] | None = None
        self.weighted_anchor: list[torch.Tensor] = []

    def consolidate(self, model, x: torch.Tensor, n_samples: int, n_steps: int, generator) -> list[torch.Tensor]:
        """Add the Fisher (returned) of ``n_samples`` images of ``x`` (n, P) and the current weights
        as a new past task. One image per forward pass: the Fisher needs per-image gradients."""
        params = list(model.parameters())
        fisher = [torch.zeros_like(q) for q in params]
        idx = torch.randperm(len(x), generator=generator)[:n_samples]
        for i in idx.tolist():
            log_p = torch.log_softmax(class_scores(model, x[i:i + 1], n_steps)[0], dim=0)  # (C,)
            c = int(torch.multinomial(log_p.detach().exp(), 1, generator=generator))
            for f, g in zip(fisher, torch.autograd.grad(log_p[c], params)):
                f += g ** 2
        fisher = [f / len(idx) for f in fisher]
        anchor = [f * q.detach() for f, q in zip(fisher, params)]
        if self.fisher_sum is None:
            self.fisher_sum, self.weighted_anchor = fisher, anchor
        else:
            self.fisher_sum = [a + b for a, b in zip(self.fisher_sum, fisher)]
            self.weighted_anchor = [a + b for a, b in zip(self.weighted_anchor, anchor)]
        return fisher

    @torch.no_grad()
    def prox(self, model) -> None:
        """The penalty's proximal step on every weight (class doc); no-op before the first task ends."""
        if self.fisher_sum is None:
            return
        c = self.lr * self.strength
        for q, s, a in zip(model.parameters(), self.fisher_sum, self.weighted_anchor):
            q.copy_((q + c * a) / (1 + c * s))

    def penalty(self, model) -> float:
        """``lambda/2 sum_t sum_i F_t,i (theta_i - theta*_t,i)^2`` up to a constant (for reports)."""
        if self.fisher_sum is None:
            return 0.0
        with torch.no_grad():
            return 0.5 * self.strength * float(sum((s * q ** 2 - 2 * a * q).sum()
                                                   for q, s, a in zip(model.parameters(), self.fisher_sum,
                                                                      self.weighted_anchor)))


def run_sequential(method: str, initial, d: dict, p: dict, seed: int, tick) -> dict:
    """Train ``method`` task after task; returns ``R`` (n_tasks, n_tasks) and extras."""
    from synaptica.training.hlop import HLOP

    model = copy.deepcopy(initial)
    n_tasks = p["n_tasks"]
    generator = torch.Generator().manual_seed(1000 * seed + SEQUENTIAL.index(method))
    R = np.zeros((n_tasks, n_tasks))
    ewc = EWC(p["ewc_lambda"], p["lr"]) if method == "ewc" else None  # ewc_lambda: the selected value
    hlop = None
    if method == "hlop":
        lrs = [p["hebb_lr_input"]] + [p["hebb_lr_hidden"]] * len(p["hidden"])
        hlop = HLOP([layer.linear for layer in model.layers], lrs, iterations=p["hebb_iterations"])
        widths = [d["x_train"].shape[1], *p["hidden"]]
        schedule = lateral_schedule(widths, n_tasks, p["lateral_scale"])
    tests = [d["x_test"][:, perm] for perm in d["perms"]]
    captured: list[list[float]] = []  # per task: share of its activity each layer's subspace holds
    for task in range(n_tasks):
        x = d["x_train"][:, d["perms"][task]]
        after_step = ewc.prox if ewc is not None and task > 0 else None
        project = hlop.project_gradients if hlop is not None and task > 0 else None
        train_sgd(model, x, d["y_train"], p, generator, f"{method} task {task + 1}", after_step, project)
        R[task] = [accuracy(model, xt, d["y_test"], p["n_steps"]) for xt in tests]
        if task < n_tasks - 1:
            if ewc is not None:
                ewc.consolidate(model, x, p["fisher_samples"], p["n_steps"], generator)
            if hlop is not None:
                hlop.add_neurons(schedule[task], generator)
                activity = layer_inputs(model, x, p["n_steps"], p["hebb_activity"] == "steps")
                for _ in range(p["hebb_epochs"]):
                    order = torch.randperm(len(x), generator=generator)
                    hlop.learn(hebbian_batches(activity, order, p["batch_size"]))
                hlop.freeze()
                sample = next(hebbian_batches(activity, torch.arange(min(len(x), 500)), 500))
                captured.append([sub.captured_energy(a) for sub, a in zip(hlop.subspaces, sample)])
        tick()
    out = {"R": R, "model": model}
    if hlop is not None:
        out["lateral"] = hlop.n_neurons()
        out["orthonormality"] = max(s.orthonormality_error() for s in hlop.subspaces)
        out["captured"] = np.mean(captured, axis=0)
    return out


def learning_accuracy(R: np.ndarray) -> float:
    """Mean accuracy on each task right after training it, ``mean_j R[j, j]`` (plasticity)."""
    return float(np.mean(np.diag(R)))


def acc_bwt(R: np.ndarray) -> tuple[float, float]:
    """ACC and BWT of Lopez-Paz & Ranzato (2017) from the accuracy matrix R[trained, tested]."""
    last = R[-1]
    return float(last.mean()), float(np.mean(last[:-1] - np.diag(R)[:-1]))


def _validation_tasks(p: dict, seed: int, n_tasks: int) -> dict:
    """The first ``n_tasks`` tasks of ``seed`` with ``val_fraction`` of the training images
    held out as their test images (the selections never see the test images)."""
    d = load_tasks(p, seed)
    n_val = _n_val(p["val_fraction"], len(d["x_train"]))
    return {"x_train": d["x_train"][n_val:], "y_train": d["y_train"][n_val:], "x_test": d["x_train"][:n_val],
            "y_test": d["y_train"][:n_val], "perms": d["perms"][:n_tasks]}


def _select(grid: list[float], score, store, prefix: str, skipped) -> tuple[float, dict[float, float]]:
    """The grid value with the best validation ``score(value)`` (ties: the smaller value); each
    score is a unit of ``store`` (key ``<prefix><value>``; ``skipped()`` reports a finished
    one as progress). One value: used as is, no run."""
    grid = sorted(set(grid))
    if len(grid) == 1:
        return grid[0], {}
    scores = {}
    for value in grid:
        key = f"{prefix}{value:g}"
        if store.get(key) is None:
            store.save(**{key: [score(value)]})
        else:
            skipped()
        scores[value] = float(store.get(key)[0])
    return max(grid, key=lambda v: (scores[v], -v)), scores


def select_lr(p: dict, seed: int, tick, store) -> tuple[float, dict[float, float]]:
    """SGD learning rate from ``lrs``: fine-tuning learns the first task of ``seed`` on the
    training images minus the held-out ``val_fraction``, scored by its accuracy on them. The
    same rate then serves every method (as in the paper), so the choice favours none of them."""
    d = _validation_tasks(p, seed, 1) if len(set(p["lrs"])) > 1 else None
    initial = make_model(p, N_PIXELS[_kind(p["data"])], torch.Generator().manual_seed(seed))
    return _select(p["lrs"], lambda lr: run_sequential("finetune", initial, d, dict(p, n_tasks=1, lr=lr), seed,
                                                       tick)["R"][0, 0], store, "select.lr", tick)


def select_ewc_lambda(p: dict, seed: int, tick, store) -> tuple[float, dict[float, float]]:
    """EWC's lambda from the grid ``ewc_lambdas``: each value trains EWC on the first
    ``select_tasks`` tasks of ``seed`` with ``val_fraction`` of the training images held out;
    the value with the best final validation ACC wins (ties: the smaller lambda). The test
    images are never used. Returns (lambda, {lambda: validation ACC}); one value: no run."""
    k = min(p["select_tasks"], p["n_tasks"])
    d = _validation_tasks(p, seed, k) if len(set(p["ewc_lambdas"])) > 1 else None
    initial = make_model(p, N_PIXELS[_kind(p["data"])], torch.Generator().manual_seed(seed))
    return _select(p["ewc_lambdas"], lambda strength: acc_bwt(run_sequential(
        "ewc", initial, d, dict(p, n_tasks=k, ewc_lambda=strength), seed, tick)["R"])[0], store, "select.ewc", partial(tick, k))


def _n_raster(p: dict) -> int:
    """Test images of the first task shown in the spike raster."""
    return min(10, _split(p)[1] or len(load_tasks(p, p["seed"])["x_test"]))


def run_seed(p: dict, seed: int, tick, store) -> dict:
    """Every method on one seed's tasks; each method is a unit of ``store`` (skipped when done).
    Returns the accuracy matrices ``R_<m>``, ACC, BWT, learning accuracies and HLOP's extras."""
    d = load_tasks(p, seed)
    initial = make_model(p, d["x_train"].shape[1], torch.Generator().manual_seed(seed))
    out: dict = {}
    for method in SEQUENTIAL:
        if store.get(f"{method}.{seed}.R") is None:
            result = run_sequential(method, initial, d, p, seed, tick)
            extras = {}
            if method == "hlop":
                extras = {f"hlop.{seed}.lateral": result["lateral"], f"hlop.{seed}.captured": result["captured"],
                          f"hlop.{seed}.orthonormality": [result["orthonormality"]]}
                if seed == p["seed"]:
                    extras[f"raster.{seed}"] = hidden_spikes(result["model"], d["x_test"][:_n_raster(p), d["perms"][0]],
                                                             p["n_steps"])
            store.save(**{f"{method}.{seed}.R": result["R"]}, **extras)
        else:
            tick(p["n_tasks"])  # a finished unit counts as progress too
        R = store.get(f"{method}.{seed}.R")
        out[f"R_{method}"] = R
        out[f"acc_{method}"], out[f"bwt_{method}"] = acc_bwt(R)
        out[f"lacc_{method}"] = learning_accuracy(R)
    out["lateral"] = [int(c) for c in store.get(f"hlop.{seed}.lateral")]
    out["hebbian_orthonormality_error"] = float(store.get(f"hlop.{seed}.orthonormality")[0])
    out["captured"] = store.get(f"hlop.{seed}.captured")
    if store.get(f"multitask.{seed}.acc") is None:
        joint = copy.deepcopy(initial)
        x_all = torch.cat([d["x_train"][:, perm] for perm in d["perms"]])
        y_all = d["y_train"].repeat(p["n_tasks"])
        train_sgd(joint, x_all, y_all, p, torch.Generator().manual_seed(1000 * seed + 99), "multitask")
        store.save(**{f"multitask.{seed}.acc": [accuracy(joint, d["x_test"][:, perm], d["y_test"], p["n_steps"])
                                                for perm in d["perms"]]})
    out["acc_multitask"] = float(np.mean(store.get(f"multitask.{seed}.acc")))
    tick()
    return out


@torch.no_grad()
def hidden_spikes(model, x: torch.Tensor, n_steps: int) -> np.ndarray:
    """Spikes of every hidden neuron for images ``x`` (n, P): (n_steps, n, sum(hidden))."""
    model.keep_hidden = True
    model(_encode(x, n_steps))
    spikes = torch.cat(model.hidden_spikes[:-1], dim=2).numpy()
    model.keep_hidden = False
    return spikes


def unit_shapes(p: dict) -> dict[str, tuple[int, ...]]:
    """Every unit result a run writes (:class:`.UnitResults`) and its shape."""
    n = p["n_tasks"]
    shapes: dict[str, tuple[int, ...]] = {}
    for key, prefix in (("lrs", "select.lr"), ("ewc_lambdas", "select.ewc")):
        if len(set(p[key])) > 1:
            shapes.update({f"{prefix}{v:g}": (1,) for v in set(p[key])})
    for seed in range(p["seed"], p["seed"] + p["n_seeds"]):
        shapes.update({f"{m}.{seed}.R": (n, n) for m in SEQUENTIAL})
        shapes.update({f"hlop.{seed}.lateral": (len(p["hidden"]) + 1,), f"hlop.{seed}.captured": (len(p["hidden"]) + 1,),
                       f"hlop.{seed}.orthonormality": (1,),
                       f"multitask.{seed}.acc": (n,)})
    shapes[f"raster.{p['seed']}"] = (p["n_steps"], _n_raster(p), sum(p["hidden"]))
    return shapes


# ------------------------------------------------------------------------------ reporting

def summarise(per_seed: list[dict]) -> dict[str, float]:
    metrics: dict[str, float] = {"n_seeds": len(per_seed)}
    keys = [f"acc_{m}" for m in METHODS] + [f"{k}_{m}" for k in ("bwt", "lacc") for m in SEQUENTIAL]
    for key in keys + ["hebbian_orthonormality_error"]:
        values = np.array([s[key] for s in per_seed], dtype=float)
        metrics[key] = float(values.mean())
        metrics[f"{key}_std"] = float(values.std(ddof=1)) if len(values) > 1 else 0.0
    for layer, count in enumerate(per_seed[0]["lateral"]):
        metrics[f"lateral_neurons_layer{layer}"] = count
        metrics[f"hlop_captured_energy_layer{layer}"] = float(np.mean([s["captured"][layer] for s in per_seed]))
    return metrics


def plot_matrices(per_seed: list[dict], path: Path) -> None:
    """Mean accuracy matrix R (task trained x task tested) of each sequential method."""
    from synaptica.plotting import _new_figure, _save

    fig = _new_figure(13.0, 4.2, left=0.05)
    fig.subplots_adjust(wspace=0.25, bottom=0.14, right=0.93)
    for k, method in enumerate(SEQUENTIAL):
        ax = fig.add_subplot(1, 3, k + 1)
        R = np.mean([s[f"R_{method}"] for s in per_seed], axis=0)
        image = ax.imshow(100 * R, vmin=0, vmax=100, cmap="viridis")
        n = len(R)
        if n <= 10:
            for i in range(n):
                for j in range(i + 1):
                    ax.text(j, i, f"{100 * R[i, j]:.0f}", ha="center", va="center", fontsize=6, color="w")
        ax.set_xticks(range(n), [str(i + 1) for i in range(n)], fontsize=7)
        ax.set_yticks(range(n), [str(i + 1) for i in range(n)], fontsize=7)
        ax.set_xlabel("task tested")
        ax.set_ylabel("after training task")
        ax.set_title(f"{method}: accuracy (%), mean of {len(per_seed)} seeds", fontsize=9)
    fig.colorbar(image, ax=fig.axes, fraction=0.02)
    _save(fig, path)


def plot_bars(metrics: dict, path: Path) -> None:
    """ACC and BWT per method, mean +- sample std over seeds, seeds' spread as error bars."""
    from synaptica.plotting import _new_figure, _save

    fig = _new_figure(9.0, 3.8, left=0.08)
    fig.subplots_adjust(wspace=0.3, bottom=0.14)
    for k, (name, methods) in enumerate((("acc", METHODS), ("bwt", SEQUENTIAL))):
        ax = fig.add_subplot(1, 2, k + 1)
        values = [100 * metrics[f"{name}_{m}"] for m in methods]
        ax.bar(range(len(methods)), values, yerr=[100 * metrics[f"{name}_{m}_std"] for m in methods], capsize=4,
               color=["tab:grey", "tab:orange", "tab:green", "tab:blue"][:len(methods)])
        for i, v in enumerate(values):
            ax.text(i, v, f"{v:.1f}", ha="center", va="bottom" if v >= 0 else "top", fontsize=8)
        ax.set_xticks(range(len(methods)), methods)
        ax.axhline(0, color="k", lw=0.5)
        ax.set_ylabel(f"{name.upper()} (%)")
        ax.set_title(f"{name.upper()} over {int(metrics['n_seeds'])} seeds (mean +- std)", fontsize=9)
    _save(fig, path)


def run_hlop_continual(p: dict, progress: ProgressCallback | None = None, checkpoint=None) -> ExperimentResult:
    """The selections, then every seed; each finished unit (a selection run, a method on a
    seed) is kept in ``checkpoint`` so that an interrupted run resumes after it."""
    from synaptica.analysis._threads import limit_threads
    from synaptica.experiments.unit_results import UnitResults

    t0 = time.perf_counter()
    store = UnitResults(checkpoint, {"experiment": "hlop-continual", **p}, unit_shapes(p), low=0.0)
    n_lrs, n_lambdas = len(set(p["lrs"])), len(set(p["ewc_lambdas"]))
    selection_tasks = (n_lrs if n_lrs > 1 else 0) + (n_lambdas * min(p["select_tasks"], p["n_tasks"])
                                                     if n_lambdas > 1 else 0)
    total, done = p["n_seeds"] * (len(SEQUENTIAL) * p["n_tasks"] + 1) + selection_tasks, [0]

    def tick(count: int = 1) -> None:
        done[0] += count
        if progress is not None:
            progress(done[0], total)

    # digits-sized layers: a wider thread pool costs more than it computes (cf. brain-modes)
    n_threads = 1 if max([N_PIXELS[_kind(p["data"])], *p["hidden"]]) <= 256 else torch.get_num_threads()
    with limit_threads(n_threads):
        lr, lr_scores = select_lr(p, p["seed"], tick, store)
        strength, scores = select_ewc_lambda(dict(p, lr=lr), p["seed"], tick, store)
        per_seed = [run_seed(dict(p, lr=lr, ewc_lambda=strength), p["seed"] + k, tick, store)
                    for k in range(p["n_seeds"])]
    metrics = summarise(per_seed)
    metrics["lr"], metrics["ewc_lambda"] = lr, strength
    for prefix, grid in (("lr_val_acc_lr", lr_scores), ("ewc_val_acc_lambda", scores)):
        for value, score in grid.items():
            metrics[f"{prefix}{value:g}".replace("+", "")] = score
    metrics["run_s"] = time.perf_counter() - t0
    hidden = store.get(f"raster.{p['seed']}")  # (T, images, sum(hidden))
    steps, images, ids = np.nonzero(hidden)
    times = images * p["n_steps"] + steps + 0.5  # images one after another, 1 ms per step
    edges = np.cumsum([0, *p["hidden"]])
    groups = {f"hidden{i + 1}": (int(a), int(b)) for i, (a, b) in enumerate(zip(edges[:-1], edges[1:]))}
    figures = {"accuracy_matrices.png": partial(plot_matrices, per_seed),
               "acc_bwt.png": partial(plot_bars, metrics)}
    return ExperimentResult(times.astype(float), ids.astype(np.int64), int(edges[-1]),
                            float(hidden.shape[1] * p["n_steps"]), metrics, groups=groups, figures=figures)


EXPERIMENT = Experiment(
    name="hlop-continual",
    summary="permuted-pixel continual learning of a spiking MLP: HLOP vs fine-tuning, EWC and multitask",
    schema=SCHEMA,
    run=run_hlop_continual,
    checks=(_check_ewc, _check_lateral, _check_budget),
)
