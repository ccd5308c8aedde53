"""nalsm: a liquid with astrocyte-modulated STDP against a hand-tuned LSM and an LSM with plain STDP.

After Ivanov & Michmizos 2021, "Increasing liquid state machine performance with
edge-of-chaos dynamics organized by astrocyte-modulated plasticity", NeurIPS 34. Three
liquids of ``n_units`` LIF neurons (:class:`~synaptica.reservoir.liquid.Liquid`) see
spike-encoded images (Poisson, dt 1 ms, ``present_ms`` per image); a linear readout
(:class:`~synaptica.reservoir.readout.LogisticReadout`) classifies each image from the
liquid's spike counts during its presentation.

``wiring="paper"`` (default) builds the liquid as the authors' code does
(:func:`paper_liquid`, :func:`paper_neuron`: 3-D grid, C_EE/EI/IE/II = 0.2/0.1/0.3/0.05,
lambda = 3, 15 % input density, one weight magnitude for every synapse, inputs of random
sign, their LIF) and scales the images as they do (:func:`paper_intensities`: each pixel a
spike probability per ms, every image the same total). ``wiring="maass"`` keeps the shared
Liquid's Maass et al. 2002 column (about 5 recurrent synapses per cell, gamma weights).

* ``lsm``: static; paper wiring: every |w| = ``weight_scale`` x ``w_max`` (the authors
  hand-tune this one number);
* ``lsm_stdp``: from |w| = ``w_max`` (the authors start at the bound), an initialisation
  phase (``n_init`` training images of ``init_ms`` each, as the paper's 20 ms) with STDP on
  every liquid and input synapse whose depression rate is held at the potentiation rate
  (the authors' ``STDP_PURE``), then frozen;
* ``nalsm``: the same phase with the depression rate set by an astrocyte that integrates
  liquid minus input spikes (:mod:`synaptica.plasticity.astrocyte`,
  :class:`~synaptica.plasticity.astrocyte_stdp.AstrocyteSTDP`: tau_A = 100 ms,
  b_A = 0.15, w_A = ``astro_weight``), then frozen.

Departures from the authors' code: the negative input synapses (the engine keeps Dale's
law per projection, so they are a separate inhibitory projection) stay fixed during the
plasticity phase (theirs are plastic in [-3, 3] and may change sign); input neurons are
Poisson without their 2 ms refractoriness; the plasticity phase is ``n_init`` images, not
50,000; images are scaled over the loaded set, not per split.

Each liquid's branching factor is the multistep-regression estimate
(:class:`~synaptica.analysis.branching.MultistepRegression`, Wilting & Priesemann 2018)
of its population activity in ``branching_bin_ms`` bins over the test presentations.
``sweep_scales`` (on the first seed) maps the static LSM's accuracy against its branching
factor as its weights are scaled.

Metrics: accuracy and branching factor per model (mean, std over ``seeds`` seeds),
``ordering_holds`` (fraction of seeds with NALSM >= LSM > LSM+STDP), the sweep.
"""
from __future__ import annotations

import numpy as np

from synaptica.config import MAX_SEED, ConfigError, Field
from synaptica.experiments.base import Experiment, ExperimentResult, ProgressCallback

SCHEMA = {
    "data": Field(str, "digits", "'digits' (scikit-learn 8x8) or a folder with MNIST IDX files"),
    "wiring": Field(str, "paper", "'paper' (the authors' 3-D liquid, see paper_liquid) or 'maass' (Liquid's default)",
                    choices=("paper", "maass")),
    "w_max": Field(float, 3.0, "paper wiring: weight bound of STDP and initial |w| of the plastic liquids "
                   "(paper units: 3)", minimum=0.0, maximum=100.0, exclusive_minimum=True),
    "n_units": Field(int, 1000, "liquid neurons", minimum=9, maximum=20000),
    "n_train": Field(int, 300, "training images (MNIST: from the first 8000)", minimum=10, maximum=8000),
    "n_test": Field(int, 150, "test images (MNIST: from the last 2000)", minimum=10, maximum=2000),
    "n_init": Field(int, 200, "images of the plasticity phase (paper: 50000)", minimum=1, maximum=10**6),
    "present_ms": Field(float, 250.0, "presentation per image (ms; paper: 250)", minimum=1.0, maximum=1e4),
    "init_ms": Field(float, 20.0, "presentation per image in the plasticity phase (ms; paper: 20)",
                     minimum=1.0, maximum=1e4),
    "max_rate_hz": Field(float, 1000.0, "input rate of a white pixel (Hz)", minimum=0.0, maximum=1000.0,
                         exclusive_minimum=True),
    "input_weight": Field(float, 80.0, "mean input synapse (pA)", minimum=0.0, maximum=1e5),
    "input_fraction": Field(float, 0.2, "probability that a pixel reaches a liquid cell", minimum=0.0, maximum=1.0,
                            exclusive_minimum=True),
    "weight_scale": Field(float, 0.2, "the static LSM's weights: paper wiring: |w| = weight_scale x w_max for every "
                          "synapse; maass: factor on the hand-set weights", minimum=0.0, maximum=100.0),
    "w_max_factor": Field(float, 3.0, "maass wiring: weight bound of STDP / mean initial weight of a connection type",
                          minimum=1.0, maximum=100.0),
    "eta_plus": Field(float, 0.15, "STDP potentiation rate (paper: 0.15)", minimum=0.0, maximum=10.0),
    "astro_weight": Field(float, 0.015, "astrocyte weight w_A (paper: 0.015 for 1000 neurons)", minimum=0.0,
                          maximum=10.0),
    "astro_tau_ms": Field(float, 100.0, "astrocyte time constant (ms; paper: 100)", minimum=1.0, maximum=1e6),
    "branching_bin_ms": Field(float, 4.0, "bin of the branching-factor estimate (ms)", minimum=1.0, maximum=100.0),
    "sweep_scales": Field(list[float], [0.2, 0.5, 1.0], "weight scales of the LSM sweep (first seed; [] skips)",
                          minimum=0.0, maximum=100.0, max_length=50),
    "seeds": Field(int, 1, "independent liquids and data orders", minimum=1, maximum=100),
    "seed": Field(int, 1, "first seed", minimum=0, maximum=MAX_SEED),
}

MODELS = ("lsm", "lsm_stdp", "nalsm")
CONNECTION_TYPES = ("EE", "EI", "IE", "II")


def load_data(p: dict, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(train images (n, pixels) in [0, 1], labels, test images, labels): MNIST folder: the
    first 8000 / last 2000 of the shared test set; digits: a seeded shuffle."""
    from synaptica.datasets import load_images

    try:
        images, labels, _ = load_images(p["data"])
    except ValueError as error:
        raise ConfigError(f"key 'data': {error}") from None
    images = images.reshape(len(images), -1)
    if p["wiring"] == "paper":
        images = paper_intensities(images)
    rng = np.random.default_rng(seed)
    if p["data"] == "digits":
        order = rng.permutation(len(images))
        train, test = order[:p["n_train"]], order[p["n_train"]:p["n_train"] + p["n_test"]]
        if len(test) < p["n_test"]:
            raise ConfigError(f"keys 'n_train', 'n_test': {p['n_train']} + {p['n_test']} images, the digits "
                              f"have {len(images)}")
    else:
        if len(images) < 10000:
            raise ConfigError(f"key 'data': expected the 10,000-image MNIST test split, got {len(images)} images")
        train = rng.permutation(8000)[:p["n_train"]]
        test = 8000 + rng.permutation(2000)[:p["n_test"]]
    return images[train], labels[train], images[test], labels[test]


# The authors' liquid (generate_spatial_network.py, spatial_network_builder_lib.py): C per
# connection type pre-post, length constant 3 grid units, input density 0.15.
PAPER_CONNECTION = {"EE": 0.2, "EI": 0.1, "IE": 0.3, "II": 0.05}
PAPER_LAMBDA = 3.0
PAPER_INPUT_DENSITY = 0.15
# Their neuron: V <- V - V/64 + sum_j w_j exp(-s_j / 1 ms) / 1 ms per 1 ms step, threshold 20,
# reset 0, refractory 2 ms: one presynaptic spike adds w (1 + e^-1 + e^-2 ...) = 1.582 w in all.
PAPER_KERNEL_SUM = 1.0 / (1.0 - np.exp(-1.0))


def grid_shape(n: int) -> tuple[int, int, int]:
    """The most cube-like (a, b, c), a <= b <= c, with a b c = n (10 x 10 x 10 for 1000)."""
    best = (1, 1, n)
    for a in range(1, round(n ** (1 / 3)) + 1):
        if n % a:
            continue
        for b in range(a, int((n // a) ** 0.5) + 1):
            if (n // a) % b == 0:
                best = (a, b, n // a // b)
    return best


def paper_neuron():
    """The authors' LIF in this library's units: tau_m 64 ms, threshold 20 mV above rest,
    reset to rest, refractory 2 ms, synaptic currents decaying with 1 ms. r_m is set so that a
    synapse of weight w (the paper's unit) moves the membrane by 1.582 w mV in all, as theirs."""
    from synaptica.neurons import LIF

    return LIF(tau_m=64.0, tau_exc=1.0, tau_inh=1.0, v_rest=0.0, v_th=20.0, v_reset=0.0, t_ref=2.0,
               r_m=64.0 * PAPER_KERNEL_SUM)


def paper_liquid(p: dict, n_inputs: int, seed: int, magnitude: float, bin_ms: float):
    """A :class:`~synaptica.reservoir.liquid.Liquid` wired as Ivanov & Michmizos 2021 (authors'
    code): ``n_units`` cells on a 3-D grid (:func:`grid_shape`), 80 % excitatory placed at
    random; a != b connected with probability C[type] exp(-(D/3)^2) (:data:`PAPER_CONNECTION`);
    each (input, cell) pair connected with probability 0.15 (the authors pick exactly 15 % of
    pairs); every synapse has |w| = ``magnitude`` (paper units, see :func:`paper_neuron`),
    inhibitory cells negative, inputs of random sign; delay one step (1 ms); no background."""
    from synaptica.reservoir.features import SpikeCounts
    from synaptica.reservoir.liquid import Liquid

    n = p["n_units"]
    liquid = Liquid(n_units=n, n_inputs=n_inputs, input_mode="rates", model=paper_neuron(), dt=1.0, bin_ms=bin_ms,
                    input_fraction=PAPER_INPUT_DENSITY, background_pA=0.0, features=SpikeCounts(), seed=seed)
    rng = np.random.default_rng([seed, 2021])
    excitatory = np.zeros(n, dtype=bool)
    excitatory[rng.permutation(n)[:int(round(0.8 * n))]] = True
    grid = np.stack(np.unravel_index(rng.permutation(n), grid_shape(n)), axis=1).astype(float)
    distance = np.linalg.norm(grid[:, None, :] - grid[None, :, :], axis=2)
    kind = np.where(excitatory, "E", "I")
    draw = rng.random((n, n))
    synapses = {}
    for key, c in PAPER_CONNECTION.items():
        chosen = (draw < c * np.exp(-(distance / PAPER_LAMBDA) ** 2)) & (kind[:, None] == key[0]) \
            & (kind[None, :] == key[1])
        np.fill_diagonal(chosen, False)
        pre, post = np.nonzero(chosen)
        synapses[key] = (pre, post, np.full(pre.size, float(magnitude)), 1.0)
    pairs = rng.permutation(n_inputs * n)[:int(n_inputs * n * PAPER_INPUT_DENSITY)]
    pre, post = np.divmod(np.sort(pairs), n)
    liquid.excitatory, liquid.synapses = excitatory, synapses
    liquid.input_synapses = (pre, post, magnitude * rng.choice([-1.0, 1.0], pre.size))
    return liquid


def paper_intensities(images: np.ndarray) -> np.ndarray:
    """The authors' input scaling: each image divided by its pixel sum, then all by the largest
    resulting pixel of the set, so every image carries the same total intensity; a pixel's
    value is its input neuron's spike probability per 1 ms step."""
    total = images.sum(axis=1, keepdims=True)
    if np.any(total <= 0):
        raise ConfigError("key 'data': an image is all black; the paper's input scaling divides by the pixel sum")
    normed = images / total
    return normed / normed.max()


def make_liquid(p: dict, n_inputs: int, seed: int, weight_scale: float, bin_ms: float):
    """The liquid of ``p["wiring"]``: paper: |w| = weight_scale x w_max everywhere; maass: the
    shared Liquid with its hand-set weights times ``weight_scale``."""
    from synaptica.reservoir.features import SpikeCounts
    from synaptica.reservoir.liquid import DEFAULT_WEIGHTS, Liquid

    if p["wiring"] == "paper":
        return paper_liquid(p, n_inputs, seed, weight_scale * p["w_max"], bin_ms)
    return Liquid(n_units=p["n_units"], n_inputs=n_inputs, input_mode="rates", dt=1.0, bin_ms=bin_ms,
                  weights={k: v * weight_scale for k, v in DEFAULT_WEIGHTS.items()}, input_fraction=p["input_fraction"],
                  input_weight=p["input_weight"], features=SpikeCounts(), seed=seed)


def _as_rates(images: np.ndarray, p: dict) -> np.ndarray:
    """Poisson rates (Hz), one bin per image: (n, 1, pixels). Paper wiring: the authors'
    scaling (:func:`paper_intensities`) as spike probability per ms, at most ``max_rate_hz``."""
    if p["wiring"] == "paper":
        return np.minimum(images[:, None, :] * 1000.0, p["max_rate_hz"])
    return images[:, None, :] * p["max_rate_hz"]


def plasticity_phase(liquid, images: np.ndarray, p: dict, seed: int, astrocyte: bool) -> dict:
    """Run STDP (astrocyte-modulated or with a constant depression rate) on ``images``
    presented ``init_ms`` each (one trial each: state, traces and astrocyte restart); write
    the learnt weights into ``liquid``. Returns the final depression rate and the mean
    ratio of learnt to initial weights over connection types."""
    from synaptica.plasticity.astrocyte import add_astrocyte
    from synaptica.plasticity.astrocyte_stdp import AstrocyteSTDP

    init = make_liquid(p, liquid.n_inputs, liquid.seed, 1.0, p["init_ms"])
    init.synapses, init.input_synapses = liquid.synapses, liquid.input_synapses
    net, pop, _, layout = init.build(_as_rates(images, p), seed)
    source = next(g for g in net.groups if g.name == "input")
    if astrocyte:
        mod = add_astrocyte(net, "astrocyte", {pop: p["astro_weight"], source: -p["astro_weight"]},
                            tau=p["astro_tau_ms"], bias=p["eta_plus"])
    else:   # plain STDP: the depression rate holds at the potentiation rate
        mod = net.add_modulator("astrocyte", tau=None)
        mod.value.fill_(p["eta_plus"])
    keys = {f"liquid {k}": k for k in CONNECTION_TYPES}
    paper = p["wiring"] == "paper"
    for proj in net.projections:
        key = keys.get(proj.name, "input")
        if proj.name == "input->liquid inhibitory":
            continue   # see module doc: the negative input synapses stay fixed
        magnitudes = liquid.input_synapses[2] if key == "input" else liquid.synapses[key][2]
        if paper:   # the paper's bound and rates, in its weight unit
            w_max, learning_rate = p["w_max"], 1.0
        else:       # the paper's weights live in [0, 3]: its rates are in units of a third of the bound
            w_max = p["w_max_factor"] * float(np.mean(np.abs(magnitudes))) if magnitudes.size else 1.0
            learning_rate = w_max / 3.0
        rule = AstrocyteSTDP(astrocyte="astrocyte", inhibitory=key[0] == "I" and key != "input",
                             eta_plus=p["eta_plus"], w_max=w_max, learning_rate=learning_rate)
        rule.validate_for(proj, net)
        proj.attach(net.batch_size, net.dtype, net.device, rule, None)
    net.run(layout.n_sequences * p["init_ms"])
    changes, inputs = [], []
    for proj in net.projections:
        pre, post = proj.synapse_index()
        w = np.abs(proj.synapse_weights().detach().cpu().numpy().reshape(-1))
        key = keys.get(proj.name, "input")
        if key == "input":
            inputs.append((pre, post, -w if proj.name.endswith("inhibitory") else w))
            continue
        before = liquid.synapses[key][2]
        changes.append(float(np.mean(w) / np.mean(before)) if before.size else 1.0)
        liquid.synapses[key] = (pre, post, w, liquid.synapses[key][3])
    if inputs:
        before = np.abs(liquid.input_synapses[2])
        liquid.input_synapses = tuple(np.concatenate(parts) for parts in zip(*inputs))
        changes.append(float(np.mean(np.abs(liquid.input_synapses[2])) / np.mean(before)) if before.size else 1.0)
    return {"astrocyte_last": float(mod.value[0]), "mean_weight_change": float(np.mean(changes))}


# Images per liquid run: a liquid near saturation fires about 80,000 spikes per image, and the
# spike monitor keeps every one of a run (8,000 MNIST images in one run needed over 24 GB).
IMAGES_PER_RUN = 200


def collect(liquid, images: np.ndarray, p: dict, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Spike counts per image (n, n_units) and population activity per branching bin (n, bins).

    Images run in blocks of :data:`IMAGES_PER_RUN` (each image is its own trial, so blocks
    change nothing but the Poisson draws: block k > 0 uses input seed ``seed + 7919 k``)."""
    per_image = int(round(p["present_ms"]))
    bin_steps = int(round(p["branching_bin_ms"]))
    n_bins = per_image // bin_steps
    counts = np.zeros((len(images), liquid.n_units))
    activity = np.zeros((len(images), n_bins))
    for k, start in enumerate(range(0, len(images), IMAGES_PER_RUN)):
        block = slice(start, start + IMAGES_PER_RUN)
        counts[block] = liquid.run(_as_rates(images[block], p), seed=seed + 7919 * k)[:, 0, :]
        steps = np.asarray(liquid.last_network.spike_monitors[0].steps)
        image, offset = start + steps // per_image, (steps % per_image) // bin_steps
        keep = offset < n_bins
        np.add.at(activity, (image[keep], offset[keep]), 1.0)
    return counts, activity


def branching_factor(activity: np.ndarray, p: dict) -> float:
    from synaptica.analysis.branching import mr_estimate

    kmax = max(2, min(20, activity.shape[1] // 3))
    return float(mr_estimate(activity, kmax, dt=p["branching_bin_ms"] * 1e-3).m)


def evaluate(liquid, data, p: dict, seed: int) -> dict:
    from synaptica.reservoir.readout import LogisticReadout

    x_train, y_train, x_test, y_test = data
    train, _ = collect(liquid, x_train, p, seed)
    test, activity = collect(liquid, x_test, p, seed + 1)
    readout = LogisticReadout(C=1.0, max_iter=500).fit(train, y_train)
    return {"accuracy": float(readout.score(test, y_test)), "branching": branching_factor(activity, p),
            "rate_hz": float(test.sum(1).mean() / liquid.n_units / (p["present_ms"] * 1e-3))}


def first_test_spikes(liquid, p: dict, n_images: int) -> tuple[np.ndarray, np.ndarray, float]:
    """Spike times (ms), ids and window (ms) of the first ``n_images`` presentations of the
    liquid's last run (the last block of test images; what the report's raster shows)."""
    monitor = liquid.last_network.spike_monitors[0]
    window = n_images * p["present_ms"]
    times, ids = np.asarray(monitor.times_ms), np.asarray(monitor.neuron_ids).astype(np.int64)
    keep = times < window
    return times[keep], ids[keep], window


def plot_accuracy_vs_branching(metrics: dict, p: dict, path) -> None:
    """Accuracy against the branching factor: the LSM weight-scale sweep and the three models."""
    from synaptica.plotting import _new_figure, _save

    fig = _new_figure(4.5, 3.4, layout="constrained")
    ax = fig.add_subplot()
    sweep = [(metrics[f"sweep_w{s:g}_branching"], metrics[f"sweep_w{s:g}_accuracy"]) for s in p["sweep_scales"]]
    if sweep:
        xs, ys = zip(*sorted(sweep))
        ax.plot(xs, ys, "o-", color="0.5", label="LSM, weight-scale sweep")
    for model, marker in zip(MODELS, "sD^"):
        ax.errorbar(metrics[f"{model}_branching_mean"], metrics[f"{model}_accuracy_mean"],
                    xerr=metrics[f"{model}_branching_std"], yerr=metrics[f"{model}_accuracy_std"], fmt=marker,
                    label=model)
    ax.axvline(1.0, color="k", lw=0.6, ls=":")
    ax.set_xlabel("branching factor (MR estimate)")
    ax.set_ylabel("test accuracy")
    ax.legend(fontsize=7)
    _save(fig, path)


def run_nalsm(p: dict, progress: ProgressCallback | None = None) -> ExperimentResult:
    """Every model and seed, then the weight-scale sweep. No checkpoint (each seed is a few
    minutes at most): the CLI passes one only to runners that take it."""
    metrics: dict = {}
    per_model = {m: {"accuracy": [], "branching": [], "rate_hz": []} for m in MODELS}
    ordering = []
    total = p["seeds"] * len(MODELS) + (len(p["sweep_scales"]) if p["sweep_scales"] else 0)
    done = 0
    for k in range(p["seeds"]):
        seed = p["seed"] + k
        data = load_data(p, seed)
        results, liquid_of = {}, {}
        for model in MODELS:
            # paper wiring: the plastic liquids start at the bound w_max, as the authors'
            scale = 1.0 if model != "lsm" and p["wiring"] == "paper" else p["weight_scale"]
            liquid = make_liquid(p, data[0].shape[1], seed, scale, p["present_ms"])
            if model != "lsm":
                init = np.random.default_rng(seed + 7).choice(len(data[0]), p["n_init"], replace=True)
                phase = plasticity_phase(liquid, data[0][init], p, seed + 3, astrocyte=model == "nalsm")
                metrics.update({f"{model}_seed{seed}_{k2}": v for k2, v in phase.items()})
            results[model] = evaluate(liquid, data, p, seed + 11)
            liquid_of[model] = liquid
            for key, value in results[model].items():
                per_model[model][key].append(value)
            done += 1
            if progress:
                progress(done, total)
        acc = {m: results[m]["accuracy"] for m in MODELS}
        ordering.append(acc["nalsm"] >= acc["lsm"] > acc["lsm_stdp"])
        if k == p["seeds"] - 1:  # the raster: the last NALSM liquid on its first test images
            times, ids, window = first_test_spikes(liquid_of["nalsm"], p, min(4, p["n_test"]))
    for model, values in per_model.items():
        for key, series in values.items():
            metrics[f"{model}_{key}_mean"] = float(np.mean(series))
            metrics[f"{model}_{key}_std"] = float(np.std(series))
            metrics.update({f"{model}_{key}_seed{p['seed'] + i}": float(v) for i, v in enumerate(series)})
    metrics["ordering_holds_fraction"] = float(np.mean(ordering))
    if p["sweep_scales"]:
        data = load_data(p, p["seed"])
        for scale in p["sweep_scales"]:
            liquid = make_liquid(p, data[0].shape[1], p["seed"], float(scale), p["present_ms"])
            point = evaluate(liquid, data, p, p["seed"] + 11)
            metrics.update({f"sweep_w{float(scale):g}_{key}": value for key, value in point.items()})
            done += 1
            if progress:
                progress(done, total)
    figures = {"accuracy_vs_branching.png": lambda path: plot_accuracy_vs_branching(metrics, p, path)}
    return ExperimentResult(spike_times_ms=times, spike_ids=ids, n_neurons=p["n_units"], duration_ms=window,
                            metrics=metrics, figures=figures)


def check_bins(p: dict) -> str | None:
    if p["branching_bin_ms"] * 3 > p["present_ms"]:
        return "key 'branching_bin_ms': at least three bins per presentation are needed"
    return None


EXPERIMENT = Experiment(
    name="nalsm",
    summary="Ivanov & Michmizos (2021) astrocyte-modulated STDP liquid vs hand-tuned LSM vs LSM+STDP",
    schema=SCHEMA,
    run=run_nalsm,
    checks=(check_bins,),
)
