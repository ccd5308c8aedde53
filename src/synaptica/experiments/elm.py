"""elm: long memory in one neuron -- the ELM neuron against an LSTM and a LIF network.

Seed paper: Spieler, Rahaman, Martius, Schoelkopf & Levina (2024), "The expressive leaky
memory neuron: an efficient and expressive phenomenological neuron model that can solve
long-horizon tasks", ICLR 2024. Claim tested: with few parameters, leaky memory units with
long timescales (:class:`~synaptica.training.elm.ELMLayer`) learn long-horizon tasks that a
(Chrono-)LSTM of the same size learns worse.

Three models with (nearly) the same number of trainable parameters, each read out at the
last step of its sequence:

* ``elm``: one ELM neuron, ``n_memory`` memory units (timescales learned, initially
  log-spaced over ``[tau_min, tau_max]`` steps), MLP of ``2 n_memory`` hidden units;
* ``lstm``: an LSTM (``torch.nn.LSTM``) whose hidden size matches the parameter count,
  with the chrono initialisation of Tallec & Ollivier (2018) (forget-gate biases
  ``log U(1, T_max - 1)``, input-gate biases their negatives) when ``lstm_chrono`` -- the
  paper's LSTM baseline -- and a linear readout;
* ``lif``: a recurrent LIF layer (surrogate gradients, :class:`~synaptica.training.layers.
  RecurrentLIFLayer`, per-neuron learned membrane decay) and a leaky non-spiking readout.

Tasks (each model trained with Adamax, cosine-annealed learning rate and gradient-norm
clipping, over ``n_seeds`` seeds that redraw data and initial weights):

* the adding problem of Hochreiter & Schmidhuber (1997, Experiment 4), for every minimal
  length ``T`` in ``adding_lengths``: pairs (value in [-1, 1], marker); sequence lengths
  uniform in ``T .. T + T/10``; first and last element marked -1; exactly two elements
  marked 1, the first among the first 10 (its value set to 0 if it is the very first
  element), the second among the first ``T/2 - 1``; target ``0.5 + (X1 + X2)/4``. Metrics:
  test MSE, the fraction solved (absolute error < 0.04, their criterion) and the MSE of
  the best constant prediction, ``E[(X1 + X2)^2]/16 = (0.9/3 + 1/3)/16 = 19/480``
  (``adding_baseline_mse``);
* sequential digits (``digits_task = "pixels"``, one pixel per step) or permuted-pixel
  digits (``"permuted"``, one fixed permutation per seed): scikit-learn's 8x8 digits
  (T = 64) or an MNIST folder (T = 784), split as in ``stdp-digits``; metric test accuracy.

Metrics per task and model: ``<task>_<model>_<score>`` (mean over seeds) and ``..._std``
(sample std), ``<task>_<model>_train_s``, and ``params_<model>_<task>`` (trainable
parameters). The figure shows scores and training curves.
"""
from __future__ import annotations

import math
from functools import lru_cache
from pathlib import Path

import numpy as np

from synaptica.config import MAX_SEED, ConfigError, Field, check_memory, check_work, first_problem
from synaptica.experiments.base import Experiment, ExperimentResult, ProgressCallback
from synaptica.experiments.sequence_training import BatchStream, TrainingCheckpoint, train

MODELS = ("elm", "lstm", "lif")
COLOURS = {"elm": "C3", "lstm": "C0", "lif": "C7"}
SOLVED_ERROR = 0.04          # Hochreiter & Schmidhuber 1997: a sequence counts as solved below this error
ADDING_BASELINE_MSE = 19.0 / 480.0

SCHEMA = {
    "adding_lengths": Field(list[int], [100], "adding problem: minimal sequence lengths T (steps; H&S 1997: 100, 500, 1000)",
                            minimum=20, maximum=10**5, max_length=8),
    "adding_batches": Field(int, 100, "adding problem: training minibatches per model and seed", minimum=0,
                            maximum=10**7),
    "adding_test": Field(int, 500, "adding problem: test sequences", minimum=1, maximum=10**6),
    "digits_task": Field(str, "permuted", "sequential digits: 'pixels', 'permuted' or 'none'",
                         choices=("pixels", "permuted", "none")),
    "data": Field(str, "digits", "'digits' (scikit-learn 8x8, T = 64) or a folder of MNIST IDX files (T = 784)"),
    "digits_epochs": Field(int, 8, "sequential digits: passes through the training images", minimum=1,
                           maximum=10**4),
    "n_train": Field(int, 0, "training images (0: 1500 digits, 8000 MNIST)", minimum=0, maximum=10**7),
    "n_test": Field(int, 0, "test images (0: the rest of the digits, 2000 MNIST)", minimum=0, maximum=10**7),
    "batch_size": Field(int, 32, "sequences per update", minimum=1, maximum=10**5),
    "lr": Field(float, 5e-3, "Adamax learning rate (cosine-annealed to 0)", minimum=0.0, maximum=10.0,
                exclusive_minimum=True),
    "clip": Field(float, 1.0, "gradient-norm clipping (0: none)", minimum=0.0, maximum=1e6),
    "n_memory": Field(int, 20, "ELM memory units d_m (the other models are sized to its parameter count)",
                      minimum=1, maximum=10**4),
    "tau_min": Field(float, 1.0, "ELM: shortest initial memory timescale (steps)", minimum=0.01, maximum=1e6),
    "tau_max": Field(float, 1000.0, "ELM: longest initial memory timescale (steps)", minimum=0.01, maximum=1e7),
    "tau_s": Field(float, 5.0, "ELM: synaptic timescale (steps)", minimum=0.01, maximum=1e6),
    "lam": Field(float, 5.0, "ELM: memory update scale lambda", minimum=0.0, maximum=1e3, exclusive_minimum=True),
    "learn_tau_m": Field(bool, True, "ELM: learn the memory timescales"),
    "lstm_chrono": Field(bool, True, "LSTM: chrono initialisation of the gate biases (Tallec & Ollivier 2018)"),
    "lif_beta": Field(float, 0.95, "LIF: initial membrane decay per step (learned per neuron)", minimum=0.0,
                      maximum=1.0, exclusive_minimum=True, exclusive_maximum=True),
    "readout_beta": Field(float, 0.9, "LIF: decay per step of the leaky readout", minimum=0.0, maximum=1.0,
                          exclusive_maximum=True),
    "models": Field(list[str], list(MODELS), "models to train, in this order (the parameter counts are matched "
                    "to the ELM's whether it runs or not)", choices=MODELS, max_length=3),
    "n_seeds": Field(int, 3, "repetitions (data and initial weights reseeded)", minimum=1, maximum=1000),
    "seed": Field(int, 1, "first seed", minimum=0, maximum=MAX_SEED),
}

# float values kept per unit and step for BPTT (a generous round number for all three models)
SAVED_PER_UNIT_STEP = 12
PASSES = 3  # multiply-adds per weight and sample step: forward and two backward


def _sizes(p: dict) -> dict:
    """Digits sequence length, inputs and default split sizes, without reading the data."""
    mnist = p["data"] != "digits"
    return {"T": 784 if mnist else 64, "n_train": p["n_train"] or (8000 if mnist else 1500),
            "n_test": p["n_test"] or (2000 if mnist else 297)}


def _check_sizes(p: dict) -> str | None:
    if p["tau_max"] <= p["tau_min"]:
        return f"key 'tau_max': must exceed tau_min ({p['tau_min']}), got {p['tau_max']}"
    if not p["models"] or len(set(p["models"])) < len(p["models"]):
        return f"key 'models': a non-empty list of distinct names out of {list(MODELS)}, got {p['models']}"
    if not p["adding_lengths"] and p["digits_task"] == "none":
        return "key 'adding_lengths': empty and digits_task = 'none': no task to run"
    if p["adding_lengths"] and p["adding_batches"] == 0 and p["digits_task"] == "none":
        return "key 'adding_batches': 0 trains nothing"
    return None


def _check_budget(p: dict) -> str | None:
    """Refuse BPTT batches over the memory limit and trainings over the work limit."""
    weights = float(_elm_parameter_count(p, 10))
    units = 4.0 * p["n_memory"] + 10
    longest = max([t + t // 10 for t in p["adding_lengths"]] + [1])
    digits = _sizes(p)
    steps = max(longest, digits["T"] if p["digits_task"] != "none" else 1)
    batch_bytes = float(p["batch_size"]) * steps * units * SAVED_PER_UNIT_STEP * 4
    data_bytes = float(p["adding_test"]) * longest * 2 * 4 + float(digits["n_train"] + digits["n_test"]) * 784 * 4
    sample_steps = sum(float(p["adding_batches"]) * p["batch_size"] * (t + t // 10) for t in p["adding_lengths"])
    if p["digits_task"] != "none":
        sample_steps += float(p["digits_epochs"]) * digits["n_train"] * digits["T"]
    updates = p["n_seeds"] * len(p["models"]) * sample_steps * weights * PASSES
    return first_problem(
        check_memory("batch_size", f"batch_size = {p['batch_size']} x {steps} steps x {units:.0f} units "
                     f"(n_memory = {p['n_memory']})", batch_bytes + data_bytes),
        check_work("adding_batches", f"n_seeds x {len(p['models'])} models x {sample_steps:.3g} sample steps "
                   f"x {weights:.3g} weights", updates),
    )


# ----------------------------------------------------------------------------- data
def adding_problem(n: int, T: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``n`` sequences of the adding problem with minimal length ``T`` (module doc).

    Returns inputs (n, T + T//10, 2) float32 (value, marker; zero after each sequence's end),
    lengths (n,) int64 in [T, T + T//10], targets (n,) float32 in [0, 1].
    """
    if T < 20:
        raise ValueError(f"adding_problem: T must be >= 20 (the first marker is among the first 10), got {T}")
    longest = T + T // 10
    lengths = rng.integers(T, longest + 1, n)
    x = np.zeros((n, longest, 2), np.float32)
    steps = np.arange(longest)
    inside = steps[None, :] < lengths[:, None]
    x[..., 0] = np.where(inside, rng.uniform(-1.0, 1.0, (n, longest)), 0.0)
    rows = np.arange(n)
    x[rows, 0, 1] = -1.0
    x[rows, lengths - 1, 1] = -1.0
    first = rng.integers(0, 10, n)
    second = rng.integers(0, T // 2 - 1 - 1, n)   # among the first T/2 - 1, distinct from the first
    second = second + (second >= first)
    x[rows, first, 1] = 1.0
    x[rows, second, 1] = 1.0
    x[x[:, 0, 1] == 1.0, 0, 0] = 0.0               # the very first element marked: its value is 0
    targets = 0.5 + (x[rows, first, 0] + x[rows, second, 0]) / 4.0
    return x, lengths.astype(np.int64), targets.astype(np.float32)


def sequential_digits(p: dict, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Images as pixel sequences: (n, T, 1) float32 train and test inputs, int64 labels."""
    from synaptica.experiments.stdp_digits import load_split

    x_train, y_train, x_test, y_test, _, _ = load_split({**p, "seed": seed, "max_rate_hz": 0.0, "norm_total": 0.0})
    if p["digits_task"] == "permuted":
        order = np.random.default_rng(seed + 7919).permutation(x_train.shape[1])
        x_train, x_test = x_train[:, order], x_test[:, order]
    as_seq = lambda a: np.ascontiguousarray(a, dtype=np.float32)[:, :, None]  # noqa: E731
    return as_seq(x_train), y_train, as_seq(x_test), y_test


# ----------------------------------------------------------------------------- models
def _elm_parameter_count(p: dict, n_out: int, n_in: int = 2) -> int:
    from synaptica.training.elm import elm_parameter_count

    return elm_parameter_count(n_in, n_out, p["n_memory"], learn_tau_m=p["learn_tau_m"])


def lstm_parameter_count(n_in: int, n_out: int, hidden: int) -> int:
    """torch.nn.LSTM (two bias vectors) plus a linear readout."""
    return 4 * hidden * (n_in + hidden + 2) + n_out * (hidden + 1)


def lif_parameter_count(n_in: int, n_out: int, hidden: int) -> int:
    """Recurrent LIF layer (input and recurrent weights, bias, learned decay) plus the readout."""
    return hidden * (n_in + hidden + 2) + n_out * (hidden + 1)


def matched_hidden(count, target: int) -> int:
    """The hidden size whose parameter ``count(hidden)`` is closest to ``target``."""
    best, hidden = 1, 1
    while count(hidden) <= 2 * target and hidden < 10**5:
        if abs(count(hidden) - target) < abs(count(best) - target):
            best = hidden
        hidden += 1
    return best


class SequenceModel:
    """Factory of the three models; each maps (B, T, n_in) to per-step outputs (B, T, n_out)."""

    @staticmethod
    def build(kind: str, p: dict, n_in: int, n_out: int, T_max: int):
        import torch

        from synaptica.training.elm import ELMLayer
        from synaptica.training.layers import LeakyReadout, RecurrentLIFLayer

        target = _elm_parameter_count(p, n_out, n_in)
        if kind == "elm":
            return _wrapper()("elm", ELMLayer(n_in, n_out, p["n_memory"], tau_min=p["tau_min"], tau_max=p["tau_max"],
                                 tau_s=p["tau_s"], lam=p["lam"], learn_tau_m=p["learn_tau_m"]))
        if kind == "lstm":
            hidden = matched_hidden(lambda h: lstm_parameter_count(n_in, n_out, h), target)
            lstm = torch.nn.LSTM(n_in, hidden, batch_first=True)
            if p["lstm_chrono"]:
                with torch.no_grad():  # gates ordered input, forget, cell, output
                    forget = torch.log(torch.empty(hidden).uniform_(1.0, max(2.0, T_max - 1.0)))
                    lstm.bias_ih_l0.zero_()
                    lstm.bias_hh_l0.zero_()
                    lstm.bias_ih_l0[hidden:2 * hidden] = forget
                    lstm.bias_ih_l0[:hidden] = -forget
            return _wrapper()("lstm", lstm, torch.nn.Linear(hidden, n_out))
        hidden = matched_hidden(lambda h: lif_parameter_count(n_in, n_out, h), target)
        return _wrapper()("lif", RecurrentLIFLayer(n_in, hidden, beta=p["lif_beta"], learn_beta=True),
                    LeakyReadout(hidden, n_out, beta=p["readout_beta"]))


@lru_cache(maxsize=None)
def _wrapper():
    """A module giving every model the same interface, (B, T, n_in) -> (B, T, n_out)."""
    import torch

    class Wrapped(torch.nn.Module):
        def __init__(self, kind: str, core, readout=None):
            super().__init__()
            self.kind, self.core, self.readout = kind, core, readout

        def forward(self, x):
            if self.kind == "elm":
                return self.core(x)[0]
            if self.kind == "lstm":
                return self.readout(self.core(x)[0])
            # the spiking layers are time-major
            return self.readout(self.core(x.transpose(0, 1).contiguous())).transpose(0, 1)

    return Wrapped


def trainable(model) -> int:
    return sum(q.numel() for q in model.parameters() if q.requires_grad)


def lif_raster(model, x: np.ndarray, n_show: int = 4) -> tuple[np.ndarray, np.ndarray, int, float]:
    """Hidden spikes of a LIF model on its first ``n_show`` sequences, back to back (1 ms per
    step): times (ms), neuron ids, number of neurons, duration (ms)."""
    import torch

    x = torch.from_numpy(np.ascontiguousarray(x[:n_show]))
    with torch.no_grad():
        spikes = model.core(x.transpose(0, 1).contiguous())     # (T, n_show, hidden)
    T, n, hidden = spikes.shape
    sample, step, neuron = np.nonzero(spikes.permute(1, 0, 2).numpy())
    return (sample * T + step).astype(np.float64), neuron.astype(np.int64), hidden, float(n * T)


def _at_last(out, last):
    import torch

    return out[torch.arange(out.shape[0]), last]


def _mse(out, last, target):
    return ((_at_last(out, last)[:, 0] - target) ** 2).mean()


def _cross_entropy(out, last, target):
    import torch

    return torch.nn.functional.cross_entropy(_at_last(out, last), target)


def run_adding(kind: str, p: dict, T: int, seed: int, checkpoint: TrainingCheckpoint | None = None) -> dict:
    """Train one model on the adding problem of length ``T``; test MSE and fraction solved."""
    import torch

    torch.manual_seed(seed)
    model = SequenceModel.build(kind, p, 2, 1, T + T // 10)

    def one_batch(rng):
        x, lengths, y = adding_problem(p["batch_size"], T, rng)
        yield torch.from_numpy(x), torch.from_numpy(lengths - 1), torch.from_numpy(y)

    stream = BatchStream(np.random.default_rng([seed, T]), one_batch, 1, p["adding_batches"])
    losses, train_s = train(model, stream, _mse, p, f"adding T={T} {kind}", checkpoint)
    x, lengths, y = adding_problem(p["adding_test"], T, np.random.default_rng([seed, T, 1]))
    errors = []
    with torch.no_grad():
        for start in range(0, len(x), 256):
            out = model(torch.from_numpy(x[start:start + 256]))
            errors.append(_at_last(out, torch.from_numpy(lengths[start:start + 256] - 1))[:, 0].numpy()
                          - y[start:start + 256])
    errors = np.concatenate(errors)
    raster = lif_raster(model, x) if kind == "lif" else None
    return {"raster": raster, "mse": float(np.mean(errors ** 2)), "solved": float(np.mean(np.abs(errors) < SOLVED_ERROR)),
            "train_s": train_s, "params": trainable(model), "losses": losses,
            "test_baseline_mse": float(np.var(y))}


def run_digits(kind: str, p: dict, seed: int, checkpoint: TrainingCheckpoint | None = None) -> dict:
    """Train one model on (permuted) sequential digits; test accuracy."""
    import torch

    x_train, y_train, x_test, y_test = sequential_digits(p, seed)
    T = x_train.shape[1]
    torch.manual_seed(seed)
    model = SequenceModel.build(kind, p, 1, 10, T)
    n_per_epoch = math.ceil(len(x_train) / p["batch_size"])
    last = torch.full((p["batch_size"],), T - 1)

    def one_epoch(rng):
        order = rng.permutation(len(x_train))
        for start in range(0, len(order), p["batch_size"]):
            idx = order[start:start + p["batch_size"]]
            yield torch.from_numpy(x_train[idx]), last[:len(idx)], torch.from_numpy(y_train[idx])

    stream = BatchStream(np.random.default_rng([seed, 2]), one_epoch, n_per_epoch, p["digits_epochs"] * n_per_epoch)
    losses, train_s = train(model, stream, _cross_entropy, p, f"digits {kind}", checkpoint)
    correct = 0
    with torch.no_grad():
        for start in range(0, len(x_test), 256):
            out = model(torch.from_numpy(x_test[start:start + 256]))[:, -1]
            correct += int((out.argmax(1).numpy() == y_test[start:start + 256]).sum())
    raster = lif_raster(model, x_test) if kind == "lif" else None
    return {"raster": raster, "accuracy": correct / len(x_test), "train_s": train_s, "params": trainable(model), "losses": losses}


# ------------------------------------------------------------------------ runner
def _tasks(p: dict) -> list[str]:
    tasks = [f"adding{T}" for T in p["adding_lengths"] if p["adding_batches"] > 0]
    return tasks + ([f"{p['digits_task']}_digits"] if p["digits_task"] != "none" else [])


class Results:
    """Checkpoint of finished (task, model, seed) units (:class:`.UnitResults`): score,
    training time, parameters and final loss, saved after each unit; a resumed run skips the
    units already done and continues the unit in training from its last save (every minute,
    :mod:`.sequence_training`)."""

    FIELDS = ("score", "solved", "train_s", "params", "final_loss", "baseline")

    def __init__(self, path, p: dict) -> None:
        from synaptica.experiments.unit_results import UnitResults

        self.units = [f"{task}.{kind}.{p['seed'] + i}" for task in _tasks(p) for kind in p["models"]
                      for i in range(p["n_seeds"])]
        self.store = UnitResults(path, {"experiment": "elm", **p}, {u: (len(self.FIELDS),) for u in self.units},
                                 low=0.0)

    def partial(self, unit: str) -> TrainingCheckpoint:
        """Where the unit in training saves its position (``<checkpoint>.<unit>.npz``; none
        without a checkpoint): tied to the run's settings and the unit."""
        return TrainingCheckpoint(self.store.partial_path(unit), {**self.store.settings, "unit": unit})

    def get(self, unit: str) -> dict | None:
        values = self.store.get(unit)
        return None if values is None else dict(zip(self.FIELDS, map(float, values)))

    def save(self, unit: str, values: dict) -> None:
        self.store.save(**{unit: [values[k] for k in self.FIELDS]})


def run_elm(p: dict, progress: ProgressCallback | None = None, checkpoint=None) -> ExperimentResult:
    import torch

    if p["digits_task"] != "none" and p["data"] != "digits" and not Path(p["data"]).is_dir():
        raise ConfigError(f"key 'data': '{p['data']}' is not 'digits' and not a directory")
    results = Results(checkpoint, p)
    seeds = [p["seed"] + i for i in range(p["n_seeds"])]
    curves: dict[str, list[float]] = {}
    raster = None  # the hidden spikes of the last LIF network trained by this call
    per_unit: dict[str, dict] = {}
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny matrices: threads cost more than they give (and the machine is shared)
    try:
        for task in _tasks(p):
            for kind in p["models"]:
                for seed in seeds:
                    unit = f"{task}.{kind}.{seed}"
                    values = results.get(unit)
                    if values is None:
                        partial = results.partial(unit)
                        if task.startswith("adding"):
                            out = run_adding(kind, p, int(task[len("adding"):]), seed, partial)
                            score, baseline = out["mse"], out["test_baseline_mse"]
                        else:
                            out = run_digits(kind, p, seed, partial)
                            score, baseline = out["accuracy"], 0.1
                        values = {"score": score, "solved": out.get("solved", score), "train_s": out["train_s"],
                                  "params": out["params"], "final_loss": out["losses"][-1], "baseline": baseline}
                        results.save(unit, values)
                        partial.remove()
                        curves[unit] = out["losses"]
                        raster = out["raster"] or raster
                    per_unit[unit] = values
                    if progress:
                        progress(len(per_unit), len(results.units))
    finally:
        torch.set_num_threads(threads)
    metrics = summarise(p, seeds, per_unit)
    figures = {"elm.png": lambda path: plot_elm(p, seeds, per_unit, curves, path)}
    metrics["raster_trained"] = float(raster is not None)
    if raster is None:  # every unit came from the checkpoint: show an untrained LIF network instead
        task = _tasks(p)[-1]
        x = sequential_digits(p, seeds[-1])[2] if not task.startswith("adding") else \
            adding_problem(4, int(task[len("adding"):]), np.random.default_rng(seeds[-1]))[0]
        torch.manual_seed(seeds[-1])
        model = SequenceModel.build("lif", p, x.shape[2], 10 if not task.startswith("adding") else 1, x.shape[1])
        raster = lif_raster(model, x)
    times, ids, n_neurons, duration = raster
    order = np.argsort(times, kind="stable")
    return ExperimentResult(times[order], ids[order], n_neurons, duration, metrics,
                            groups={"lif_hidden": (0, n_neurons)}, figures=figures)


def summarise(p: dict, seeds: list[int], per_unit: dict[str, dict]) -> dict[str, float]:
    metrics: dict[str, float] = {"n_seeds": len(seeds), "adding_baseline_mse": ADDING_BASELINE_MSE}
    for task in _tasks(p):
        score = "mse" if task.startswith("adding") else "accuracy"
        for kind in p["models"]:
            units = [per_unit[f"{task}.{kind}.{s}"] for s in seeds]
            pairs = ((score, "score"), ("solved", "solved"), ("train_s", "train_s")) if score == "mse" else \
                ((score, "score"), ("train_s", "train_s"))
            for name, key in pairs:
                values = np.array([u[key] for u in units])
                metrics[f"{task}_{kind}_{name}"] = float(values.mean())
                metrics[f"{task}_{kind}_{name}_std"] = float(values.std(ddof=1)) if len(values) > 1 else 0.0
            metrics[f"params_{kind}_{task}"] = units[0]["params"]
        if task.startswith("adding"):
            metrics[f"{task}_test_baseline_mse"] = float(np.mean([per_unit[f"{task}.{p['models'][0]}.{s}"]["baseline"]
                                                                  for s in seeds]))
    return metrics


def plot_elm(p: dict, seeds: list[int], per_unit: dict, curves: dict, path) -> Path:
    """Scores per task (mean +- std over seeds) and the training losses of this run."""
    from synaptica.plotting import _new_figure, _save

    tasks = _tasks(p)
    fig = _new_figure(4.0 * len(tasks) + 1.0, 6.5, left=0.08)
    fig.subplots_adjust(hspace=0.45, wspace=0.35)
    axes = fig.subplots(2, len(tasks), squeeze=False)
    for column, task in enumerate(tasks):
        values = np.array([[per_unit[f"{task}.{k}.{s}"]["score"] for s in seeds] for k in p["models"]])
        ax = axes[0, column]
        ax.bar(range(len(p["models"])), values.mean(1), yerr=values.std(1, ddof=1) if len(seeds) > 1 else None,
               color=[COLOURS[k] for k in p["models"]], capsize=3)
        ax.set_xticks(range(len(p["models"])), [f"{k}\n{int(per_unit[f'{task}.{k}.{seeds[0]}']['params'])} par."
                                                for k in p["models"]], fontsize=7)
        if task.startswith("adding"):
            ax.axhline(ADDING_BASELINE_MSE, color="k", ls=":", lw=1, label="best constant")
            ax.set(ylabel="test MSE", title=f"adding problem, T = {task[len('adding'):]}")
        else:
            ax.axhline(0.1, color="k", ls=":", lw=1, label="chance")
            ax.set(ylabel="test accuracy", ylim=(0, 1), title=task.replace("_", " "))
        ax.legend(fontsize=7)
        ax = axes[1, column]
        for k in p["models"]:
            for s in seeds:
                losses = curves.get(f"{task}.{k}.{s}")
                if losses:
                    ax.plot(losses, color=COLOURS[k], lw=0.7, alpha=0.7, label=k if s == seeds[0] else None)
        ax.set(xlabel="update", ylabel="training loss", yscale="log")
        ax.legend(fontsize=7)
    return _save(fig, path)


EXPERIMENT = Experiment(
    name="elm",
    summary="ELM neuron (learned leaky memories) vs Chrono-LSTM vs LIF SNN on the adding problem and sequential digits",
    schema=SCHEMA,
    run=run_elm,
    checks=(_check_sizes, _check_budget),
)
