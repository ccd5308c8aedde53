"""meta-neuron: LIF vs escape-noise neurons, fixed vs learned internal parameters, and Lempel-Ziv codes.

Seed paper: Rudnicka, Szczepanski & Pregowska, "Learning Internal Biological Neuron Parameters
and Complexity-Based Encoding for Improved Spiking Neural Networks Performance" (arXiv
2508.11674). Its claims: (1) learning a neuron's intrinsic parameters with the weights improves
accuracy, for LIF networks and for a probabilistic "meta-neuron" network alike (the paper
compares both models with fixed and with learnable intrinsic parameters, trained with
surrogate-gradient backpropagation, STDP or the Tempotron on Poisson spike trains); (2) the
Lempel-Ziv complexity (LZC) of the network's spike trains is a good code for classification
(the "SNN-LZC" classifier). Repeated over ``n_seeds`` seeds (new data, weights and spike
samples each), this experiment measures:

(1) the 2x2 control, every cell trained with surrogate gradients (Adam, max-membrane
    cross-entropy, same initial weights per seed) and feeding the same leaky readout:
    ``lif_fixed`` (:class:`~synaptica.training.layers.LIFLayer`, fixed ``beta``, threshold),
    ``lif_learned`` (``beta`` and threshold learned per neuron), ``meta_fixed``
    (:class:`~synaptica.training.stochastic.EscapeNoiseLIFLayer`, nothing but the weights
    learned) and ``meta_learned`` (membrane decay, soft threshold, noise width and reset
    potential learned per neuron). Differences are paired by seed.
(2) logistic regressions on per-train temporal statistics, each of the input trains and of
    the hidden-layer (output) spikes of each of the four networks: rate (spikes per step),
    normalised LZ76 complexity (:func:`synaptica.analysis.complexity.lempel_ziv_complexity`),
    ISI coefficient of variation, Fano factor of the spike counts in windows of ``fano_window``
    steps, and burst index (fraction of inter-spike intervals of one step); the sets are
    listed in ``FEATURE_SETS``. An ISI CV needs two intervals and a Fano factor a non-zero
    mean: trains without them get 0.

Data (``n_in`` binary trains of ``n_steps`` steps of 1 ms per sample, ``3 n_patterns`` classes):

* ``protocol = "paper"``: every class is a Poisson (Bernoulli) process, the paper's data
  model; a class is a random per-input rate vector (uniform in [rate_low, rate_high],
  spikes per step, drawn per seed). Rates carry the class.
* ``protocol = "timing"``: a class pairs one of ``n_patterns`` rate vectors with one of three
  temporal structures. Every train draws its count from Binomial(n_steps, rate), the same law
  for all structures, then places exactly that many spikes: ``poisson`` (uniformly random
  steps), ``regular`` (evenly spaced from a random phase, +-``jitter`` steps) or ``bursty``
  (runs of ``burst_size`` consecutive steps, random silent gaps). Rates find the pattern but
  not the structure (ceiling one class in three): only timing statistics can tell the rest.

Metrics: ``accuracy_<kind>`` (test accuracy, mean over seeds, ``_std`` the sample std over
seeds); paired differences ``learned_minus_fixed_<lif|meta>``, ``meta_minus_lif_<fixed|learned>``,
``meta_learned_minus_lif_fixed`` and ``interaction`` (the learning gain of the escape-noise
network minus that of LIF); ``readout_<source>_<set>`` for source ``input`` or a kind, with
paired ``readout_<source>_lz_rate_minus_rate`` and ``..._lz_rate_minus_simple``;
``learned_<kind>_<param>_mean`` / ``_std`` (mean and spread across neurons of each learned
parameter, all initially homogeneous, averaged over seeds); ``hidden_rate_<kind>`` (hidden
spikes per neuron and step on the test set); ``train_<kind>_s`` (wall-clock training seconds).
The stochastic networks are tested on ``eval_samples`` sampled passes (default one: no
ensemble advantage over LIF).
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from synaptica.config import MAX_SEED, Field, check_memory, check_work, first_problem
from synaptica.experiments.base import Experiment, ExperimentResult, ProgressCallback

STRUCTURES = ("poisson", "regular", "bursty")
KINDS = ("lif_fixed", "lif_learned", "meta_fixed", "meta_learned")
LEARNED = {"lif_fixed": (), "lif_learned": ("beta", "threshold"), "meta_fixed": (),
           "meta_learned": ("beta", "theta", "delta_u", "v_reset")}
STATISTICS = ("rate", "lz", "isi_cv", "fano", "burst")
FEATURE_SETS = {"rate": ("rate",), "lz": ("lz",), "lz_rate": ("lz", "rate"), "cv_rate": ("isi_cv", "rate"),
                "fano_rate": ("fano", "rate"), "burst_rate": ("burst", "rate"),
                "simple": ("isi_cv", "fano", "burst", "rate"), "simple_lz": ("isi_cv", "fano", "burst", "rate", "lz")}
SOURCES = ("input",) + KINDS

SCHEMA = {
    "protocol": Field(str, "paper", "'paper': Poisson classes that differ in rates (the paper's data); 'timing': "
                      "equal-rate Poisson / regular / bursty classes", choices=("paper", "timing")),
    "n_in": Field(int, 5, "input spike trains per sample", minimum=1, maximum=10**5),
    "n_steps": Field(int, 50, "time steps per sample (1 ms each)", minimum=10, maximum=10**6),
    "n_patterns": Field(int, 2, "classes / 3 (paper: rate vectors / 3; timing: rate vectors, x 3 structures)",
                        minimum=1, maximum=1000),
    "rate_low": Field(float, 0.05, "lowest input rate (spikes per step)", minimum=0.0, maximum=1.0,
                      exclusive_minimum=True),
    "rate_high": Field(float, 0.25, "highest input rate (spikes per step)", minimum=0.0, maximum=1.0),
    "burst_size": Field(int, 4, "spikes per burst of 'bursty' trains (consecutive steps)", minimum=2, maximum=10**6),
    "jitter": Field(int, 1, "jitter of 'regular' spike times (+- steps)", minimum=0, maximum=10**6),
    "n_train": Field(int, 80, "training samples per class", minimum=2, maximum=10**6),
    "n_test": Field(int, 50, "test samples per class", minimum=1, maximum=10**6),
    "n_hidden": Field(int, 32, "hidden neurons of every spiking network", minimum=1, maximum=10**5),
    "epochs": Field(int, 15, "training epochs of every spiking network", minimum=1, maximum=10**4),
    "batch_size": Field(int, 32, "minibatch size", minimum=1, maximum=10**6),
    # Adam moves each parameter by about lr per step: beyond 10 no training can mean anything
    "lr": Field(float, 0.01, "Adam learning rate", minimum=0.0, maximum=10.0, exclusive_minimum=True),
    "beta": Field(float, 0.9, "membrane decay per step (fixed value, or initial value of the learned one)",
                  minimum=0.0, maximum=1.0, exclusive_minimum=True, exclusive_maximum=True),
    "threshold": Field(float, 1.0, "LIF threshold; soft threshold theta of the stochastic neurons (initial if learned)",
                       minimum=0.0, maximum=1000.0, exclusive_minimum=True),
    "delta_u": Field(float, 0.2, "escape-noise width (units of the threshold; initial if learned)", minimum=0.01,
                     maximum=1000.0, exclusive_minimum=True),
    "rho0_dt": Field(float, 1.0, "escape rate at threshold x step (firing prob. 1 - exp(-rho0_dt) at theta)",
                     minimum=0.0, maximum=1000.0, exclusive_minimum=True),
    "escape": Field(str, "exponential", "escape function of the stochastic neurons", choices=("exponential",
                                                                                               "sigmoid")),
    "init_gain": Field(float, 3.0, "scale of the default input-weight initialisation (all networks)",
                       minimum=0.0, maximum=1000.0, exclusive_minimum=True),
    "readout_beta": Field(float, 0.95, "decay of the leaky readout", minimum=0.0, maximum=1.0, exclusive_maximum=True),
    "eval_samples": Field(int, 1, "stochastic passes averaged at test time (stochastic networks)", minimum=1,
                          maximum=1000),
    "fano_window": Field(int, 10, "window of the Fano factor of a train's spike counts (steps)", minimum=1,
                         maximum=10**6),
    "n_seeds": Field(int, 3, "repetitions (data, weights and spike samples reseeded)", minimum=1, maximum=1000),
    "seed": Field(int, 1, "first seed", minimum=0, maximum=MAX_SEED),
}

# float32 values kept per neuron and step for the backward pass, multiply-adds per weight
# and sample step (forward, two backward): the terms of the estimates below
SAVED_PER_NEURON_STEP = 6
PASSES = 3


def _check_budget(p: dict) -> str | None:
    """Refuse data sets (samples x steps x inputs, float32) or BPTT batches over the memory
    limit, and trainings (seeds x epochs x samples x steps x weights, four networks) over
    the work limit."""
    n_classes = 3 * p["n_patterns"]
    samples = float(p["n_train"] + p["n_test"]) * n_classes
    steps, n_in, hidden = p["n_steps"], p["n_in"], p["n_hidden"]
    batch = min(p["batch_size"], p["n_train"] * n_classes)
    data_bytes = samples * steps * (n_in + hidden) * 4
    batch_bytes = float(batch) * steps * (n_in + hidden + n_classes) * SAVED_PER_NEURON_STEP * 4
    weights = float(n_in) * hidden + hidden * n_classes
    updates = p["n_seeds"] * len(KINDS) * p["epochs"] * p["n_train"] * n_classes * steps * weights * PASSES
    return first_problem(
        check_memory("n_steps", f"{samples:.3g} samples x n_steps = {steps} x (n_in = {n_in} inputs + n_hidden = "
                     f"{hidden}), and batches of batch_size = {batch}", data_bytes + batch_bytes),
        check_work("epochs", f"n_seeds x {len(KINDS)} networks x epochs x {p['n_train'] * n_classes} samples x "
                   f"n_steps = {steps} x {weights:.3g} weights", updates),
    )


def _check_rates(p: dict) -> str | None:
    if not p["rate_low"] <= p["rate_high"]:
        return f"key 'rate_high': must be >= rate_low ({p['rate_low']}), got {p['rate_high']}"
    if p["fano_window"] > p["n_steps"]:
        return f"key 'fano_window': must be <= n_steps ({p['n_steps']}), got {p['fano_window']}"
    return None


# ----------------------------------------------------------------------------- data
def spike_trains(counts: np.ndarray, structure: str, n_steps: int, rng: np.random.Generator,
                 burst_size: int = 4, jitter: int = 1) -> np.ndarray:
    """Binary trains with the given spike ``counts`` ((S,) ints in [0, n_steps]) placed by
    ``structure`` (module doc): returns (n_steps, S) float32, time-major; every train keeps
    its count exactly.

    ``poisson``: uniformly random distinct steps (with binomial counts, exactly a Bernoulli
    process). ``regular``: evenly spaced from a random phase, each spike moved by up to
    +-``jitter`` steps (less when the spacing is below ``2 jitter + 1`` steps, so that
    neighbours never collide). ``bursty``: runs of ``burst_size`` consecutive spikes (the last run
    takes the remainder) separated by uniformly random silent gaps of at least one step.
    """
    counts = np.asarray(counts, dtype=np.int64)
    if counts.ndim != 1 or np.any(counts < 0) or np.any(counts > n_steps):
        raise ValueError(f"spike_trains: counts must be a 1-D array of integers in [0, {n_steps}]")
    out = np.zeros((n_steps, counts.size), np.float32)
    if structure == "poisson":
        ranks = np.argsort(np.argsort(rng.random((counts.size, n_steps)), axis=1), axis=1)
        out[:] = (ranks < counts[:, None]).T
        return out
    for i, c in enumerate(counts):
        if c == 0:
            continue
        if structure == "regular":
            period = n_steps / c
            spread = min(jitter, (int(period) - 1) // 2)  # neighbours can never collide: counts stay exact
            times = np.floor(rng.uniform(0, period) + np.arange(c) * period).astype(np.int64)
            times += rng.integers(-spread, spread + 1, c)
            out[np.clip(times, 0, n_steps - 1), i] = 1.0
        elif structure == "bursty":
            n_bursts = -(-c // burst_size)
            sizes = np.full(n_bursts, burst_size)
            sizes[-1] = c - burst_size * (n_bursts - 1)
            gap_min = 1 if c + n_bursts - 1 <= n_steps else 0   # bursts merge only if they cannot fit
            free = n_steps - c - gap_min * (n_bursts - 1)
            # a uniformly random split of the free steps into n_bursts + 1 gaps (stars and bars)
            bars = np.sort(rng.choice(free + n_bursts, n_bursts, replace=False)) - np.arange(n_bursts)
            gaps = np.diff(np.concatenate([[0], bars]))
            starts = np.cumsum(gaps) + np.concatenate([[0], np.cumsum(sizes[:-1] + gap_min)])
            out[np.concatenate([np.arange(st, st + sz) for st, sz in zip(starts, sizes)]), i] = 1.0
        else:
            raise ValueError(f"spike_trains: structure must be one of {STRUCTURES}, got {structure!r}")
    return out




def draw_patterns(p: dict, rng: np.random.Generator) -> np.ndarray:
    """Per-input rate vectors (spikes per step): one per class ("paper"), one per group of three
    classes ("timing")."""
    n = 3 * p["n_patterns"] if p["protocol"] == "paper" else p["n_patterns"]
    return rng.uniform(p["rate_low"], p["rate_high"], (n, p["n_in"]))


def make_dataset(p: dict, n_per_class: int, patterns: np.ndarray, rng: np.random.Generator
                 ) -> tuple[np.ndarray, np.ndarray]:
    """``(x (n_steps, n, n_in) float32, labels (n,))``. "paper": label = pattern, Poisson trains;
    "timing": label = pattern * 3 + structure index."""
    structures = ("poisson",) if p["protocol"] == "paper" else STRUCTURES
    xs, ys = [], []
    for k, rates in enumerate(patterns):
        for s, structure in enumerate(structures):
            # the same count law (binomial) for every structure: counts say nothing about it
            counts = rng.binomial(p["n_steps"], np.broadcast_to(rates, (n_per_class, rates.size)))
            trains = spike_trains(counts.ravel(), structure, p["n_steps"], rng, p["burst_size"], p["jitter"])
            xs.append(trains.reshape(p["n_steps"], n_per_class, rates.size))
            ys.append(np.full(n_per_class, k * len(structures) + s))
    x, y = np.concatenate(xs, axis=1), np.concatenate(ys)
    order = rng.permutation(y.size)
    return x[:, order], y[order]


# ------------------------------------------------------------ temporal statistics
def lz_features(x: np.ndarray) -> np.ndarray:
    """Normalised LZ76 complexity of every train of ``x`` (n_steps, n, n_trains): (n, n_trains)."""
    from synaptica.analysis.complexity import lempel_ziv_complexity

    trains = np.ascontiguousarray(x.transpose(1, 2, 0).astype(np.int64))
    return np.array([[lempel_ziv_complexity(train, normalize=True) for train in sample] for sample in trains])


def temporal_statistics(x: np.ndarray, fano_window: int) -> dict[str, np.ndarray]:
    """Per-train statistics of binary trains ``x`` (n_steps, n, n_trains), each (n, n_trains):
    ``rate`` (spikes per step), ``lz`` (normalised LZ76), ``isi_cv`` (std / mean of the
    inter-spike intervals; 0 with fewer than two intervals), ``fano`` (variance / mean of the
    spike counts in consecutive windows of ``fano_window`` steps, a trailing partial window
    dropped; 0 for a silent train) and ``burst`` (fraction of the intervals that last one step;
    0 with fewer than two spikes)."""
    x = np.asarray(x) > 0
    n_steps = x.shape[0]
    if not 1 <= fano_window <= n_steps:
        raise ValueError(f"fano_window must lie in [1, n_steps = {n_steps}], got {fano_window}")
    count = x.sum(0)
    windows = x[: n_steps // fano_window * fano_window].reshape(n_steps // fano_window, fano_window, *x.shape[1:])
    per_window = windows.sum(1).astype(np.float64)
    mean = per_window.mean(0)
    fano = np.divide(per_window.var(0), mean, out=np.zeros_like(mean), where=mean > 0)
    adjacent = (x[1:] & x[:-1]).sum(0)
    burst = np.divide(adjacent, count - 1, out=np.zeros(count.shape), where=count > 1)
    isi_cv = np.zeros(count.shape)
    steps = np.arange(n_steps)
    for idx in zip(*np.nonzero(count > 2)):  # three spikes make the two intervals a CV needs
        isi = np.diff(steps[x[(slice(None), *idx)]])
        isi_cv[idx] = isi.std() / isi.mean()
    return {"rate": count / n_steps, "lz": lz_features(x), "isi_cv": isi_cv, "fano": fano, "burst": burst}


def readout_accuracy(f_train: np.ndarray, y_train: np.ndarray, f_test: np.ndarray, y_test: np.ndarray) -> float:
    """Test accuracy of a standardised multinomial logistic regression."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    return float(model.fit(f_train, y_train).score(f_test, y_test))


def feature_readouts(stats_train: dict, y_train: np.ndarray, stats_test: dict, y_test: np.ndarray) -> dict[str, float]:
    """Accuracy of a logistic regression on every set of ``FEATURE_SETS`` (statistics of all trains side by side)."""
    out = {}
    for name, keys in FEATURE_SETS.items():
        out[name] = readout_accuracy(np.hstack([stats_train[k] for k in keys]), y_train,
                                     np.hstack([stats_test[k] for k in keys]), y_test)
    return out


# ------------------------------------------------------------- the 2x2 spiking nets
def build_network(kind: str, p: dict, n_classes: int, seed: int):
    """Hidden spiking layer of ``kind`` (one of ``KINDS``; "lif" and "meta" are short for
    "lif_fixed" and "meta_learned") + leaky readout. All kinds draw the same initial weights
    for the same seed; only the parameters in ``LEARNED[kind]`` are trained besides them."""
    import torch

    from synaptica.training.layers import LeakyReadout, LIFLayer
    from synaptica.training.stochastic import EscapeNoiseLIFLayer

    kind = {"lif": "lif_fixed", "meta": "meta_learned"}.get(kind, kind)
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    torch.manual_seed(seed)
    learned = LEARNED[kind]
    if kind.startswith("lif"):
        hidden = LIFLayer(p["n_in"], p["n_hidden"], beta=p["beta"], threshold=p["threshold"], name=kind,
                          learn_beta="beta" in learned, learn_threshold="threshold" in learned)
    else:
        hidden = EscapeNoiseLIFLayer(p["n_in"], p["n_hidden"], name=kind, beta=p["beta"], theta=p["threshold"],
                                     delta_u=p["delta_u"], rho0_dt=p["rho0_dt"], escape=p["escape"], learn=learned,
                                     seed=seed)
    with torch.no_grad():  # same draw for every kind (same seed), scaled so neurons fire from the start
        hidden.linear.weight.mul_(p["init_gain"])
    return torch.nn.Sequential(hidden, LeakyReadout(p["n_hidden"], n_classes, beta=p["readout_beta"]))


def learned_values(kind: str, net) -> dict[str, np.ndarray]:
    """Current per-neuron values of the parameters ``kind`` learns (empty for the fixed kinds)."""
    neurons = net[0].neurons
    if kind.startswith("meta"):
        now = neurons.parameters_now()
    else:
        now = {"beta": neurons.beta().detach(), "threshold": neurons.threshold().detach()}
    return {name: now[name].numpy().copy() for name in LEARNED[kind]}


def train_network(net, x_train: np.ndarray, y_train: np.ndarray, p: dict, seed: int) -> list[float]:
    """Adam on the max-membrane cross-entropy; returns the mean loss per epoch."""
    import torch

    from synaptica.training.losses import max_membrane_cross_entropy

    from synaptica.experiments.finite import require_finite_loss, require_finite_parameters

    x, y = torch.from_numpy(x_train), torch.from_numpy(y_train).long()
    optimiser = torch.optim.Adam(net.parameters(), lr=p["lr"])
    order_rng = torch.Generator().manual_seed(seed)
    losses = []
    for epoch in range(p["epochs"]):
        total = 0.0
        for step, batch in enumerate(torch.randperm(y.numel(), generator=order_rng).split(p["batch_size"])):
            optimiser.zero_grad()
            loss = max_membrane_cross_entropy(net(x[:, batch]), y[batch])
            require_finite_loss(loss, experiment="meta-neuron", phase="training", epoch=epoch, step=step)
            loss.backward()
            optimiser.step()
            total += loss.item() * batch.numel()
        require_finite_parameters(net.parameters(), experiment="meta-neuron", phase="training", epoch=epoch)
        losses.append(total / y.numel())
    return losses


def evaluate_accuracy(net, x_test: np.ndarray, y_test: np.ndarray, passes: int = 1) -> float:
    """Accuracy of the readout's max membrane, averaged over ``passes`` forward passes."""
    import torch

    with torch.no_grad():
        x = torch.from_numpy(x_test)
        score = sum(net(x).max(0).values for _ in range(passes))
    return float((score.argmax(1).numpy() == y_test).mean())


# ------------------------------------------------------------------------ runner
class TrainedNetworks:
    """Checkpoint of meta-neuron: every spiking network trained so far, one (seed, kind)
    unit at a time (weights, losses, test accuracy, training time, and a stochastic
    layer's generator state after its evaluation), saved after each unit. A resumed run
    rebuilds the data (deterministic in the seed) and retrains only the units missing;
    each network is initialised from its own seed, so skipping a unit changes nothing
    else. Every field is checked against a freshly built network before anything is used.
    """

    def __init__(self, path, p: dict, seeds: list[int]) -> None:
        from synaptica.engine.checkpoints import run_settings

        self.path, self.p = (None if path is None else Path(path)), p
        self.n_classes = p["n_patterns"] * len(STRUCTURES)
        self.settings = run_settings({"experiment": "meta-neuron", **p})
        self.order = [(s, kind) for s in seeds for kind in KINDS]
        self.arrays: dict[str, np.ndarray] = {}
        if self.path is not None and self.path.exists():
            self.arrays = self._checked()

    @staticmethod
    def _prefix(seed: int, kind: str) -> str:
        return f"unit.{seed}.{kind}."

    def _checked(self) -> dict[str, np.ndarray]:
        from synaptica.engine.checkpoints import Fields, check_settings, read_checkpoint

        arrays = read_checkpoint(self.path)
        check_settings(self.path, arrays, self.settings)
        fields = Fields(self.path, arrays)
        done = [u for u in self.order if self._prefix(*u) + "accuracy" in arrays]
        if done != self.order[: len(done)]:
            fields.fail(None, "holds trained networks out of their order")
        allowed = {"tag"}
        for seed, kind in done:
            prefix = self._prefix(seed, kind)
            for key, value in build_network(kind, self.p, self.n_classes, seed).state_dict().items():
                fields.get(prefix + "model." + key, value.numpy().dtype, shape=tuple(value.shape))
                allowed.add(prefix + "model." + key)
            fields.get(prefix + "losses", np.float64, shape=(self.p["epochs"],), low=0.0)
            fields.get(prefix + "accuracy", np.float64, shape=(), low=0.0, high=1.0)
            fields.get(prefix + "train_s", np.float64, shape=(), low=0.0)
            allowed.update(prefix + k for k in ("losses", "accuracy", "train_s"))
            if kind.startswith("meta"):
                fields.torch_generator_state(prefix + "generator")
                allowed.add(prefix + "generator")
        fields.only(allowed)
        return arrays

    def restore(self, seed: int, kind: str, net) -> dict | None:
        """Load a trained unit into ``net``; its losses, accuracy and time, or None if not trained yet."""
        import torch

        prefix = self._prefix(seed, kind)
        if prefix + "accuracy" not in self.arrays:
            return None
        model = prefix + "model."
        net.load_state_dict({k[len(model):]: torch.from_numpy(v.copy()) for k, v in self.arrays.items()
                             if k.startswith(model)})
        if kind.startswith("meta"):
            net[0].neurons.generator.set_state(torch.from_numpy(self.arrays[prefix + "generator"].copy()))
        return {"losses": list(self.arrays[prefix + "losses"]), "accuracy": float(self.arrays[prefix + "accuracy"]),
                "train_s": float(self.arrays[prefix + "train_s"])}

    def save(self, seed: int, kind: str, net, losses: list[float], accuracy: float, train_s: float) -> None:
        from synaptica.engine.checkpoints import encode_settings

        if self.path is None:
            return
        prefix = self._prefix(seed, kind)
        self.arrays.update({prefix + "model." + k: v.detach().cpu().numpy().copy() for k, v in net.state_dict().items()})
        self.arrays.update({prefix + "losses": np.array(losses, dtype=np.float64),
                            prefix + "accuracy": np.array(accuracy, dtype=np.float64),
                            prefix + "train_s": np.array(train_s, dtype=np.float64)})
        if kind.startswith("meta"):
            self.arrays[prefix + "generator"] = net[0].neurons.generator.get_state().numpy()
        self.arrays["tag"] = np.array(encode_settings(self.settings))
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp.npz")
        np.savez(tmp, **self.arrays)
        tmp.replace(self.path)


def hidden_spikes(net, x: np.ndarray) -> np.ndarray:
    """The hidden layer's output spikes for inputs ``x`` (n_steps, n, n_in): (n_steps, n, n_hidden)."""
    import torch

    with torch.no_grad():
        return net[0](torch.from_numpy(x)).numpy()


def run_seed(p: dict, seed: int, progress=None, trained: TrainedNetworks | None = None) -> dict:
    """One repetition: data, the four networks (restored from ``trained`` when already there),
    and the feature readouts on the input trains and on each network's hidden spikes."""
    rng = np.random.default_rng(seed)
    patterns = draw_patterns(p, rng)
    x_train, y_train = make_dataset(p, p["n_train"], patterns, rng)
    x_test, y_test = make_dataset(p, p["n_test"], patterns, rng)
    n_classes = p["n_patterns"] * len(STRUCTURES)
    stats_train, stats_test = (temporal_statistics(x, p["fano_window"]) for x in (x_train, x_test))
    out: dict = {"x_test": x_test, "y_test": y_test, "stats_test": stats_test, "learned": {}, "readout": {},
                 "net": {}}
    out["readout"]["input"] = feature_readouts(stats_train, y_train, stats_test, y_test)
    for kind in KINDS:
        t0 = time.perf_counter()
        net = build_network(kind, p, n_classes, seed)
        done = None if trained is None else trained.restore(seed, kind, net)
        if done is None:
            losses = train_network(net, x_train, y_train, p, seed)
            train_s = time.perf_counter() - t0
            accuracy = evaluate_accuracy(net, x_test, y_test, p["eval_samples"] if kind.startswith("meta") else 1)
            if trained is not None:
                trained.save(seed, kind, net, losses, accuracy, train_s)
            done = {"losses": losses, "accuracy": accuracy, "train_s": train_s}
        out[f"train_s_{kind}"] = done["train_s"]
        out[f"accuracy_{kind}"] = done["accuracy"]
        out[f"final_loss_{kind}"] = done["losses"][-1]
        # the statistics of the network's own spikes (one sample for the stochastic kinds; a resumed
        # run restored the generator after evaluation, so it draws the same spikes)
        hidden_train, hidden_test = hidden_spikes(net, x_train), hidden_spikes(net, x_test)
        out["readout"][kind] = feature_readouts(temporal_statistics(hidden_train, p["fano_window"]), y_train,
                                                temporal_statistics(hidden_test, p["fano_window"]), y_test)
        out[f"hidden_rate_{kind}"] = float(hidden_test.mean())
        out["learned"][kind] = learned_values(kind, net)
        out["net"][kind] = net
        if progress:
            progress()
    return out


def _mean_std(values) -> tuple[float, float]:
    values = np.asarray(values, dtype=np.float64)
    return float(values.mean()), (float(values.std(ddof=1)) if values.size > 1 else 0.0)


def summarise(runs: list[dict], p: dict) -> dict[str, float]:
    """Means and sample stds over seeds, and the paired differences (module doc)."""
    n_classes = p["n_patterns"] * len(STRUCTURES)
    metrics: dict[str, float] = {"n_seeds": len(runs), "n_classes": n_classes, "chance": 1.0 / n_classes}

    def put(name, values):
        metrics[name], metrics[f"{name}_std"] = _mean_std(values)

    for kind in KINDS:
        for key in ("accuracy", "final_loss", "hidden_rate"):
            put(f"{key}_{kind}", [r[f"{key}_{kind}"] for r in runs])
        put(f"train_{kind}_s", [r[f"train_s_{kind}"] for r in runs])  # wall-clock seconds (a name ending in _s)
    acc = {kind: np.array([r[f"accuracy_{kind}"] for r in runs]) for kind in KINDS}
    put("learned_minus_fixed_lif", acc["lif_learned"] - acc["lif_fixed"])
    put("learned_minus_fixed_meta", acc["meta_learned"] - acc["meta_fixed"])
    put("meta_minus_lif_fixed", acc["meta_fixed"] - acc["lif_fixed"])
    put("meta_minus_lif_learned", acc["meta_learned"] - acc["lif_learned"])
    put("meta_learned_minus_lif_fixed", acc["meta_learned"] - acc["lif_fixed"])  # the paper's headline contrast
    put("interaction", (acc["meta_learned"] - acc["meta_fixed"]) - (acc["lif_learned"] - acc["lif_fixed"]))
    for source in SOURCES:
        table = {name: np.array([r["readout"][source][name] for r in runs]) for name in FEATURE_SETS}
        for name, values in table.items():
            put(f"readout_{source}_{name}", values)
        put(f"readout_{source}_lz_rate_minus_rate", table["lz_rate"] - table["rate"])
        put(f"readout_{source}_lz_rate_minus_simple", table["lz_rate"] - table["simple"])
    for kind in KINDS:
        for name in LEARNED[kind]:  # spread across neurons (initially homogeneous), averaged over seeds
            metrics[f"learned_{kind}_{name}_mean"] = float(np.mean([r["learned"][kind][name].mean() for r in runs]))
            metrics[f"learned_{kind}_{name}_std"] = float(np.mean([r["learned"][kind][name].std() for r in runs]))
    return metrics


def run_meta_neuron(p: dict, progress: ProgressCallback | None = None, checkpoint=None) -> ExperimentResult:
    seeds = [p["seed"] + i for i in range(p["n_seeds"])]
    total, done = len(KINDS) * len(seeds), [0]

    def step():
        done[0] += 1
        if progress:
            progress(done[0], total)

    trained = TrainedNetworks(checkpoint, p, seeds)   # resumes the networks trained before an interruption
    runs = [run_seed(p, s, step, trained) for s in seeds]
    metrics = summarise(runs, p)

    # raster: the learned stochastic hidden layer of the last seed on its first test samples, back to back
    last = runs[-1]
    n_show = min(6, last["y_test"].size)
    hidden = hidden_spikes(last["net"]["meta_learned"], last["x_test"][:, :n_show])
    t_idx, b_idx, n_idx = np.nonzero(hidden)
    times = (b_idx * p["n_steps"] + t_idx).astype(np.float64)  # 1 ms per step
    order = np.argsort(times, kind="stable")
    figures = {"meta_neuron.png": lambda path: plot_meta_neuron(runs, metrics, p, path)}
    return ExperimentResult(times[order], n_idx[order].astype(np.int64), p["n_hidden"],
                            float(n_show * p["n_steps"]), metrics, figures=figures)


def plot_meta_neuron(runs: list[dict], metrics: dict, p: dict, path: str | Path) -> Path:
    """Four panels: example input trains, the 2x2 accuracies (mean +- std over seeds), feature
    readouts on inputs and on each network's spikes, learned parameters of the escape-noise layer."""
    from synaptica.plotting import _new_figure, _save

    fig = _new_figure(11.0, 7.5, left=0.08)
    fig.subplots_adjust(hspace=0.45, wspace=0.3, bottom=0.1)
    ax = fig.subplots(2, 2)
    last = runs[-1]
    x, y = last["x_test"], last["y_test"]
    row = 0
    for c in range(min(3, int(y.max()) + 1)):
        sample = int(np.flatnonzero(y == c)[0])
        for j in range(min(5, p["n_in"])):
            t = np.flatnonzero(x[:, sample, j])
            ax[0, 0].plot(t, np.full(t.size, row), "|", color=f"C{c}", ms=5)
            row += 1
        ax[0, 0].text(p["n_steps"] * 1.01, row - 3, f"class {c}", color=f"C{c}", fontsize=8)
        row += 1
    ax[0, 0].set(xlabel="step (ms)", ylabel="input train", title=f"protocol '{p['protocol']}': example inputs")
    ax[0, 0].set_yticks([])
    means = [metrics[f"accuracy_{k}"] for k in KINDS]
    stds = [metrics[f"accuracy_{k}_std"] for k in KINDS]
    ax[0, 1].bar(range(len(KINDS)), means, yerr=stds, color=("C7", "C0", "C7", "C3"), capsize=3)
    ax[0, 1].axhline(metrics["chance"], color="k", ls=":", lw=1, label="chance")
    ax[0, 1].set_xticks(range(len(KINDS)), [k.replace("_", "\n") for k in KINDS], fontsize=7)
    ax[0, 1].set(ylabel="test accuracy", ylim=(0, 1.05), title=f"2x2, mean +- std over {len(runs)} seeds")
    ax[0, 1].legend(fontsize=7)
    width = 0.8 / len(SOURCES)
    for i, source in enumerate(SOURCES):
        values = [metrics[f"readout_{source}_{name}"] for name in FEATURE_SETS]
        ax[1, 0].bar(np.arange(len(FEATURE_SETS)) + i * width, values, width, label=source)
    ax[1, 0].set_xticks(np.arange(len(FEATURE_SETS)) + 0.4 - width / 2, list(FEATURE_SETS), fontsize=7, rotation=30)
    ax[1, 0].set(ylabel="logistic-regression accuracy", ylim=(0, 1.05), title="temporal statistics: inputs / outputs")
    ax[1, 0].legend(fontsize=6, ncol=2)
    init = {"beta": p["beta"], "theta": p["threshold"], "delta_u": p["delta_u"]}
    for name, value in init.items():
        ax[1, 1].hist(last["learned"]["meta_learned"][name] / value, bins=20, alpha=0.5, label=f"{name} (init {value:g})")
    ax[1, 1].set(xlabel="learned / initial value", ylabel="neurons", title="escape-noise layer, learned (last seed)")
    ax[1, 1].legend(fontsize=7)
    return _save(fig, path)


EXPERIMENT = Experiment(
    name="meta-neuron",
    summary="2x2: LIF / escape-noise neurons x fixed / learned internal parameters; LZ vs simpler spike statistics",
    schema=SCHEMA,
    run=run_meta_neuron,
    checks=(_check_rates, _check_budget),
)
