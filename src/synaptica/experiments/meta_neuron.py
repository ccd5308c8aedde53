"""meta-neuron: stochastic neurons with learned internal parameters, and Lempel-Ziv encoding.

Seed paper: "Learning Internal Biological Neuron Parameters and Complexity-Based Encoding"
(stochastic neurons whose internal parameters are learned jointly with the weights; the
Lempel-Ziv complexity of spike trains as an encoding). Three comparisons on one synthetic
task, repeated over ``n_seeds`` seeds (new data, initial weights and spike samples each):

(a) ``accuracy_lif``: a plain LIF hidden layer (:class:`~synaptica.training.layers.LIFLayer`,
    fixed ``beta`` and threshold) trained with surrogate gradients;
(b) ``accuracy_meta``: the same-size layer of escape-noise neurons
    (:class:`~synaptica.training.stochastic.EscapeNoiseLIFLayer`) whose membrane decay,
    threshold, noise width and reset potential are learned per neuron with the weights.
    Both feed the same non-spiking leaky readout, trained with the max-membrane cross-entropy.
(c) ``accuracy_lz``: a logistic regression on the normalised LZ76 complexity
    (:func:`synaptica.analysis.complexity.lempel_ziv_complexity`) and the rate of every input
    train, against ``accuracy_rate_only`` on the rates alone.

The task: each sample is ``n_in`` binary input trains over ``n_steps`` steps (1 ms each).
A class is a pair (rate pattern, temporal structure): ``n_patterns`` random per-input rate
vectors (spikes per step, uniform in [rate_low, rate_high], drawn per seed) times three
structures. Every train first draws its spike count from Binomial(n_steps, rate) -- the
same law for all structures -- and then places exactly that many spikes:

* ``poisson``: at uniformly random steps (so the train is a Bernoulli process);
* ``regular``: evenly spaced from a random phase, with +-``jitter`` steps of jitter;
* ``bursty``: in runs of ``burst_size`` consecutive steps separated by random silent gaps.

The counts, hence the rates, of classes that share a pattern have the same distribution by
construction: a readout of rates can find the pattern but not the structure (its ceiling is
one class in three), while the LZ complexity, which measures temporal regularity, can.

Metrics: each accuracy as the mean over seeds with ``<name>_std`` (sample std over seeds);
``meta_minus_lif`` and ``lz_minus_rate_only``, the paired per-seed differences (mean, std);
``accuracy_lz_only`` (LZ without rates); ``learned_<param>_mean`` / ``_std``: mean and spread
across neurons of each learned parameter (all start homogeneous, so the spread is learned),
averaged over seeds. The stochastic network is tested on ``eval_samples`` sampled passes
(default one: no ensemble advantage over the deterministic LIF).
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from synaptica.config import MAX_SEED, Field, check_memory, check_work, first_problem
from synaptica.experiments.base import Experiment, ExperimentResult, ProgressCallback

STRUCTURES = ("poisson", "regular", "bursty")
PARAMS = ("beta", "theta", "delta_u", "v_reset")

SCHEMA = {
    "n_in": Field(int, 20, "input spike trains per sample", minimum=1, maximum=10**5),
    "n_steps": Field(int, 100, "time steps per sample (1 ms each)", minimum=10, maximum=10**6),
    "n_patterns": Field(int, 2, "rate patterns (classes = patterns x 3 temporal structures)", minimum=1, maximum=1000),
    "rate_low": Field(float, 0.05, "lowest input rate (spikes per step)", minimum=0.0, maximum=1.0,
                      exclusive_minimum=True),
    "rate_high": Field(float, 0.25, "highest input rate (spikes per step)", minimum=0.0, maximum=1.0),
    "burst_size": Field(int, 4, "spikes per burst of 'bursty' trains (consecutive steps)", minimum=2, maximum=10**6),
    "jitter": Field(int, 1, "jitter of 'regular' spike times (+- steps)", minimum=0, maximum=10**6),
    "n_train": Field(int, 80, "training samples per class", minimum=2, maximum=10**6),
    "n_test": Field(int, 50, "test samples per class", minimum=1, maximum=10**6),
    "n_hidden": Field(int, 32, "hidden neurons of both spiking networks", minimum=1, maximum=10**5),
    "epochs": Field(int, 15, "training epochs of both spiking networks", minimum=1, maximum=10**4),
    "batch_size": Field(int, 32, "minibatch size", minimum=1, maximum=10**6),
    # Adam moves each parameter by about lr per step: beyond 10 no training can mean anything
    "lr": Field(float, 0.01, "Adam learning rate", minimum=0.0, maximum=10.0, exclusive_minimum=True),
    "beta": Field(float, 0.9, "membrane decay per step (LIF; initial value of the learned one)",
                  minimum=0.0, maximum=1.0, exclusive_minimum=True, exclusive_maximum=True),
    "threshold": Field(float, 1.0, "LIF threshold; initial soft threshold theta of the stochastic neurons",
                       minimum=0.0, maximum=1000.0, exclusive_minimum=True),
    "delta_u": Field(float, 0.2, "initial escape-noise width (units of the threshold)", minimum=0.01, maximum=1000.0,
                     exclusive_minimum=True),
    "rho0_dt": Field(float, 1.0, "escape rate at threshold x step (firing prob. 1 - exp(-rho0_dt) at theta)",
                     minimum=0.0, maximum=1000.0, exclusive_minimum=True),
    "escape": Field(str, "exponential", "escape function of the stochastic neurons", choices=("exponential",
                                                                                               "sigmoid")),
    "init_gain": Field(float, 3.0, "scale of the default input-weight initialisation (both networks)",
                       minimum=0.0, maximum=1000.0, exclusive_minimum=True),
    "readout_beta": Field(float, 0.95, "decay of the leaky readout", minimum=0.0, maximum=1.0, exclusive_maximum=True),
    "eval_samples": Field(int, 1, "stochastic passes averaged at test time (stochastic network)", minimum=1,
                          maximum=1000),
    "n_seeds": Field(int, 3, "repetitions (data, weights and spike samples reseeded)", minimum=1, maximum=1000),
    "seed": Field(int, 1, "first seed", minimum=0, maximum=MAX_SEED),
}

# float32 values kept per neuron and step for the backward pass, multiply-adds per weight
# and sample step (forward, two backward): the terms of the estimates below
SAVED_PER_NEURON_STEP = 6
PASSES = 3


def _check_budget(p: dict) -> str | None:
    """Refuse data sets (samples x steps x inputs, float32) or BPTT batches over the memory
    limit, and trainings (seeds x epochs x samples x steps x weights, two networks) over
    the work limit."""
    n_classes = 3 * p["n_patterns"]
    samples = float(p["n_train"] + p["n_test"]) * n_classes
    steps, n_in, hidden = p["n_steps"], p["n_in"], p["n_hidden"]
    batch = min(p["batch_size"], p["n_train"] * n_classes)
    data_bytes = samples * steps * n_in * 4
    batch_bytes = float(batch) * steps * (n_in + hidden + n_classes) * SAVED_PER_NEURON_STEP * 4
    weights = float(n_in) * hidden + hidden * n_classes
    updates = p["n_seeds"] * 2 * p["epochs"] * p["n_train"] * n_classes * steps * weights * PASSES
    return first_problem(
        check_memory("n_steps", f"{samples:.3g} samples x n_steps = {steps} x n_in = {n_in} inputs, and batches of "
                     f"batch_size = {batch} through n_hidden = {hidden}", data_bytes + batch_bytes),
        check_work("epochs", f"n_seeds x 2 networks x epochs x {p['n_train'] * n_classes} samples x n_steps = {steps} "
                   f"x {weights:.3g} weights", updates),
    )


def _check_rates(p: dict) -> str | None:
    if not p["rate_low"] <= p["rate_high"]:
        return f"key 'rate_high': must be >= rate_low ({p['rate_low']}), got {p['rate_high']}"
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


def make_dataset(p: dict, n_per_class: int, patterns: np.ndarray, rng: np.random.Generator
                 ) -> tuple[np.ndarray, np.ndarray]:
    """``(x (n_steps, n, n_in) float32, labels (n,))``; label = pattern * 3 + structure index."""
    xs, ys = [], []
    for k, rates in enumerate(patterns):
        for s, structure in enumerate(STRUCTURES):
            # the same count law (binomial) for every structure: counts say nothing about it
            counts = rng.binomial(p["n_steps"], np.broadcast_to(rates, (n_per_class, rates.size)))
            trains = spike_trains(counts.ravel(), structure, p["n_steps"], rng, p["burst_size"], p["jitter"])
            xs.append(trains.reshape(p["n_steps"], n_per_class, rates.size))
            ys.append(np.full(n_per_class, k * len(STRUCTURES) + s))
    x, y = np.concatenate(xs, axis=1), np.concatenate(ys)
    order = rng.permutation(y.size)
    return x[:, order], y[order]


# ------------------------------------------------------------------ (c) LZ encoding
def lz_features(x: np.ndarray) -> np.ndarray:
    """Normalised LZ76 complexity of every train of ``x`` (n_steps, n, n_in): (n, n_in)."""
    from synaptica.analysis.complexity import lempel_ziv_complexity

    trains = np.ascontiguousarray(x.transpose(1, 2, 0).astype(np.int64))
    return np.array([[lempel_ziv_complexity(train, normalize=True) for train in sample] for sample in trains])


def readout_accuracy(f_train: np.ndarray, y_train: np.ndarray, f_test: np.ndarray, y_test: np.ndarray) -> float:
    """Test accuracy of a standardised multinomial logistic regression."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    return float(model.fit(f_train, y_train).score(f_test, y_test))


# ------------------------------------------------------------- (a), (b) spiking nets
def build_network(kind: str, p: dict, n_classes: int, seed: int):
    """Hidden spiking layer (``kind`` "lif" or "meta") + leaky readout, same sizes."""
    import torch

    from synaptica.training.layers import LeakyReadout, LIFLayer
    from synaptica.training.stochastic import EscapeNoiseLIFLayer

    torch.manual_seed(seed)
    if kind == "lif":
        hidden = LIFLayer(p["n_in"], p["n_hidden"], beta=p["beta"], threshold=p["threshold"], name="lif")
    elif kind == "meta":
        hidden = EscapeNoiseLIFLayer(p["n_in"], p["n_hidden"], name="meta", beta=p["beta"], theta=p["threshold"],
                                     delta_u=p["delta_u"], rho0_dt=p["rho0_dt"], escape=p["escape"], seed=seed)
    else:
        raise ValueError(f"kind must be 'lif' or 'meta', got {kind!r}")
    with torch.no_grad():  # same draw for both kinds (same seed), scaled so neurons fire from the start
        hidden.linear.weight.mul_(p["init_gain"])
    return torch.nn.Sequential(hidden, LeakyReadout(p["n_hidden"], n_classes, beta=p["readout_beta"]))


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
    unit at a time (weights, losses, test accuracy, training time, and the stochastic
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
        self.order = [(s, kind) for s in seeds for kind in ("lif", "meta")]
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
            if kind == "meta":
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
        if kind == "meta":
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
        if kind == "meta":
            self.arrays[prefix + "generator"] = net[0].neurons.generator.get_state().numpy()
        self.arrays["tag"] = np.array(encode_settings(self.settings))
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp.npz")
        np.savez(tmp, **self.arrays)
        tmp.replace(self.path)


def run_seed(p: dict, seed: int, progress=None, trained: TrainedNetworks | None = None) -> dict:
    """One repetition: data, the four classifiers, learned parameters (networks already in
    ``trained`` are restored instead of trained again)."""
    rng = np.random.default_rng(seed)
    patterns = rng.uniform(p["rate_low"], p["rate_high"], (p["n_patterns"], p["n_in"]))
    x_train, y_train = make_dataset(p, p["n_train"], patterns, rng)
    x_test, y_test = make_dataset(p, p["n_test"], patterns, rng)
    n_classes = p["n_patterns"] * len(STRUCTURES)
    out: dict = {"x_test": x_test, "y_test": y_test}

    rate_train, rate_test = x_train.mean(0), x_test.mean(0)
    lz_train, lz_test = lz_features(x_train), lz_features(x_test)
    out["rate_test"], out["lz_test"] = rate_test, lz_test
    out["accuracy_rate_only"] = readout_accuracy(rate_train, y_train, rate_test, y_test)
    out["accuracy_lz"] = readout_accuracy(np.hstack([lz_train, rate_train]), y_train,
                                          np.hstack([lz_test, rate_test]), y_test)
    out["accuracy_lz_only"] = readout_accuracy(lz_train, y_train, lz_test, y_test)
    for kind in ("lif", "meta"):
        t0 = time.perf_counter()
        net = build_network(kind, p, n_classes, seed)
        done = None if trained is None else trained.restore(seed, kind, net)
        if done is None:
            losses = train_network(net, x_train, y_train, p, seed)
            train_s = time.perf_counter() - t0
            accuracy = evaluate_accuracy(net, x_test, y_test, p["eval_samples"] if kind == "meta" else 1)
            if trained is not None:
                trained.save(seed, kind, net, losses, accuracy, train_s)
            done = {"losses": losses, "accuracy": accuracy, "train_s": train_s}
        losses = done["losses"]
        out[f"train_s_{kind}"] = done["train_s"]
        out[f"accuracy_{kind}"] = done["accuracy"]
        out[f"final_loss_{kind}"] = losses[-1]
        out[f"net_{kind}"] = net
        if progress:
            progress()
    out["learned"] = {k: v.numpy() for k, v in out["net_meta"][0].neurons.parameters_now().items()}
    return out


def run_meta_neuron(p: dict, progress: ProgressCallback | None = None, checkpoint=None) -> ExperimentResult:
    import torch

    seeds = [p["seed"] + i for i in range(p["n_seeds"])]
    total, done = 2 * len(seeds), [0]

    def step():
        done[0] += 1
        if progress:
            progress(done[0], total)

    trained = TrainedNetworks(checkpoint, p, seeds)   # resumes the networks trained before an interruption
    runs = [run_seed(p, s, step, trained) for s in seeds]
    metrics: dict[str, float] = {"n_seeds": len(seeds), "n_classes": p["n_patterns"] * len(STRUCTURES),
                                 "chance": 1.0 / (p["n_patterns"] * len(STRUCTURES))}
    for key in ("accuracy_lif", "accuracy_meta", "accuracy_lz", "accuracy_rate_only", "accuracy_lz_only",
                "final_loss_lif", "final_loss_meta", "train_s_lif", "train_s_meta"):
        values = np.array([r[key] for r in runs])
        metrics[key] = float(values.mean())
        metrics[f"{key}_std"] = float(values.std(ddof=1)) if len(values) > 1 else 0.0
    for name, a, b in (("meta_minus_lif", "accuracy_meta", "accuracy_lif"),
                       ("lz_minus_rate_only", "accuracy_lz", "accuracy_rate_only")):
        diff = np.array([r[a] - r[b] for r in runs])
        metrics[name] = float(diff.mean())
        metrics[f"{name}_std"] = float(diff.std(ddof=1)) if len(diff) > 1 else 0.0
    for name in PARAMS:  # spread across neurons of each learned parameter (initially homogeneous)
        metrics[f"learned_{name}_mean"] = float(np.mean([r["learned"][name].mean() for r in runs]))
        metrics[f"learned_{name}_std"] = float(np.mean([r["learned"][name].std() for r in runs]))

    # raster: the stochastic hidden layer of the last seed on its first test samples, back to back
    last = runs[-1]
    n_show = min(6, last["y_test"].size)
    with torch.no_grad():
        hidden = last["net_meta"][0](torch.from_numpy(last["x_test"][:, :n_show])).numpy()
    t_idx, b_idx, n_idx = np.nonzero(hidden)
    times = (b_idx * p["n_steps"] + t_idx).astype(np.float64)  # 1 ms per step
    order = np.argsort(times, kind="stable")
    figures = {"meta_neuron.png": lambda path: plot_meta_neuron(runs, p, path)}
    return ExperimentResult(times[order], n_idx[order].astype(np.int64), p["n_hidden"],
                            float(n_show * p["n_steps"]), metrics, figures=figures)


def plot_meta_neuron(runs: list[dict], p: dict, path: str | Path) -> Path:
    """Four panels: example trains per structure, LZ vs rate per train, accuracies
    (mean +- std over seeds), learned parameters relative to their initial values."""
    from synaptica.plotting import _new_figure, _save

    fig = _new_figure(10.0, 7.0, left=0.08)
    fig.subplots_adjust(hspace=0.4, wspace=0.3, bottom=0.08)
    ax = fig.subplots(2, 2)
    last = runs[-1]
    x, y = last["x_test"], last["y_test"]
    structure = y % len(STRUCTURES)
    colours = ("C0", "C1", "C2")
    row = 0
    for s, name in enumerate(STRUCTURES):
        sample = int(np.flatnonzero(structure == s)[0])
        for j in range(min(5, p["n_in"])):
            t = np.flatnonzero(x[:, sample, j])
            ax[0, 0].plot(t, np.full(t.size, row), "|", color=colours[s], ms=5)
            row += 1
        ax[0, 0].text(p["n_steps"] * 1.01, row - 3, name, color=colours[s], fontsize=8)
        row += 1
    ax[0, 0].set(xlabel="step (ms)", ylabel="input train", title="same rates, three temporal structures")
    ax[0, 0].set_yticks([])
    rate, lz = last["rate_test"], last["lz_test"]
    for s, name in enumerate(STRUCTURES):
        keep = structure == s
        ax[0, 1].scatter(rate[keep].ravel(), lz[keep].ravel(), s=2, alpha=0.3, color=colours[s], label=name)
    ax[0, 1].set(xlabel="rate (spikes/step)", ylabel="normalised LZ76", title="LZ complexity per input train")
    ax[0, 1].legend(fontsize=7, markerscale=4)
    keys = ("accuracy_lif", "accuracy_meta", "accuracy_rate_only", "accuracy_lz")
    labels = ("LIF\n(fixed)", "escape-noise\n(learned params)", "rates\n(logistic)", "LZ + rates\n(logistic)")
    values = np.array([[r[k] for k in keys] for r in runs])
    ax[1, 0].bar(range(len(keys)), values.mean(0), yerr=values.std(0, ddof=1) if len(runs) > 1 else None,
                 color=("C7", "C3", "C7", "C3"), capsize=3)
    ax[1, 0].axhline(1.0 / (p["n_patterns"] * len(STRUCTURES)), color="k", ls=":", lw=1, label="chance")
    ax[1, 0].axhline(1.0 / len(STRUCTURES), color="k", ls="--", lw=1, label="ceiling of rates (pattern only)")
    ax[1, 0].set_xticks(range(len(keys)), labels, fontsize=7)
    ax[1, 0].set(ylabel="test accuracy", ylim=(0, 1.05), title=f"mean +- std over {len(runs)} seeds")
    ax[1, 0].legend(fontsize=7)
    init = {"beta": p["beta"], "theta": p["threshold"], "delta_u": p["delta_u"]}
    for name, value in init.items():
        ax[1, 1].hist(last["learned"][name] / value, bins=20, alpha=0.5, label=f"{name} (init {value:g})")
    ax[1, 1].set(xlabel="learned / initial value", ylabel="neurons", title="learned internal parameters (last seed)")
    ax[1, 1].legend(fontsize=7)
    return _save(fig, path)


EXPERIMENT = Experiment(
    name="meta-neuron",
    summary="escape-noise neurons with learned internal parameters vs LIF; LZ-complexity features vs rates",
    schema=SCHEMA,
    run=run_meta_neuron,
    checks=(_check_rates, _check_budget),
)
