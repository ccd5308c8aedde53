"""nalsm: a liquid with astrocyte-modulated STDP against a hand-tuned LSM and an LSM with plain STDP.

After Ivanov & Michmizos 2021, "Increasing liquid state machine performance with
edge-of-chaos dynamics organized by astrocyte-modulated plasticity", NeurIPS 34. Three
liquids of ``n_units`` LIF neurons (:class:`~synaptica.reservoir.liquid.Liquid`, Maass
et al. 2002 wiring) see spike-encoded images (Poisson, rate = pixel intensity x
``max_rate_hz``, ``present_ms`` per image, dt 1 ms); a linear readout
(:class:`~synaptica.reservoir.readout.LogisticReadout`) classifies each image from the
liquid's spike counts during its presentation:

* ``lsm``: the liquid as built (``weight_scale`` x the hand-set weights), static;
* ``lsm_stdp``: first an initialisation phase (``n_init`` training images of ``init_ms``
  each, as the paper's 20 ms) with STDP on every liquid and input synapse whose
  depression rate is held at the potentiation rate (the authors' ``STDP_PURE``), then
  frozen;
* ``nalsm``: the same phase with the depression rate set by an astrocyte that integrates
  liquid minus input spikes (:mod:`synaptica.plasticity.astrocyte`,
  :class:`~synaptica.plasticity.astrocyte_stdp.AstrocyteSTDP`: tau_A = 100 ms,
  b_A = 0.15, w_A = ``astro_weight``), then frozen.

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
    "n_units": Field(int, 1000, "liquid neurons", minimum=9, maximum=20000),
    "n_train": Field(int, 400, "training images (MNIST: from the first 8000)", minimum=10, maximum=8000),
    "n_test": Field(int, 200, "test images (MNIST: from the last 2000)", minimum=10, maximum=2000),
    "n_init": Field(int, 200, "images of the plasticity phase (paper: 50000)", minimum=1, maximum=10**6),
    "present_ms": Field(float, 250.0, "presentation per image (ms; paper: 250)", minimum=1.0, maximum=1e4),
    "init_ms": Field(float, 20.0, "presentation per image in the plasticity phase (ms; paper: 20)",
                     minimum=1.0, maximum=1e4),
    "max_rate_hz": Field(float, 100.0, "input rate of a white pixel (Hz)", minimum=0.0, maximum=1000.0,
                         exclusive_minimum=True),
    "input_weight": Field(float, 80.0, "mean input synapse (pA)", minimum=0.0, maximum=1e5),
    "input_fraction": Field(float, 0.2, "probability that a pixel reaches a liquid cell", minimum=0.0, maximum=1.0,
                            exclusive_minimum=True),
    "weight_scale": Field(float, 1.0, "factor on the liquid's hand-set weights", minimum=0.0, maximum=100.0),
    "w_max_factor": Field(float, 3.0, "weight bound of STDP / mean initial weight of a connection type",
                          minimum=1.0, maximum=100.0),
    "eta_plus": Field(float, 0.15, "STDP potentiation rate (paper: 0.15)", minimum=0.0, maximum=10.0),
    "astro_weight": Field(float, 0.015, "astrocyte weight w_A (paper: 0.015 for 1000 neurons)", minimum=0.0,
                          maximum=10.0),
    "astro_tau_ms": Field(float, 100.0, "astrocyte time constant (ms; paper: 100)", minimum=1.0, maximum=1e6),
    "branching_bin_ms": Field(float, 4.0, "bin of the branching-factor estimate (ms)", minimum=1.0, maximum=100.0),
    "sweep_scales": Field(list[float], [0.5, 1.0, 1.5, 2.0, 3.0], "weight scales of the LSM sweep (first seed; [] skips)",
                          minimum=0.0, maximum=100.0, max_length=50),
    "seeds": Field(int, 3, "independent liquids and data orders", minimum=1, maximum=100),
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


def make_liquid(p: dict, n_inputs: int, seed: int, weight_scale: float, bin_ms: float):
    from synaptica.reservoir.features import SpikeCounts
    from synaptica.reservoir.liquid import DEFAULT_WEIGHTS, Liquid

    return Liquid(n_units=p["n_units"], n_inputs=n_inputs, input_mode="rates", dt=1.0, bin_ms=bin_ms,
                  weights={k: v * weight_scale for k, v in DEFAULT_WEIGHTS.items()}, input_fraction=p["input_fraction"],
                  input_weight=p["input_weight"], features=SpikeCounts(), seed=seed)


def _as_rates(images: np.ndarray, p: dict) -> np.ndarray:
    return images[:, None, :] * p["max_rate_hz"]   # one bin per image: (n, 1, pixels)


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
    for proj in net.projections:
        key = keys.get(proj.name, "input")
        magnitudes = liquid.input_synapses[2] if key == "input" else liquid.synapses[key][2]
        w_max = p["w_max_factor"] * float(np.mean(magnitudes)) if magnitudes.size else 1.0
        # the paper's weights live in [0, 3]: its rates are in units of a third of the bound
        rule = AstrocyteSTDP(astrocyte="astrocyte", inhibitory=key[0] == "I" and key != "input",
                             eta_plus=p["eta_plus"], w_max=w_max, learning_rate=w_max / 3.0)
        rule.validate_for(proj, net)
        proj.attach(net.batch_size, net.dtype, net.device, rule, None)
    net.run(layout.n_sequences * p["init_ms"])
    changes = []
    for proj in net.projections:
        pre, post = proj.synapse_index()
        w = np.abs(proj.synapse_weights().detach().cpu().numpy().reshape(-1))
        key = keys.get(proj.name, "input")
        before = liquid.input_synapses[2] if key == "input" else liquid.synapses[key][2]
        changes.append(float(np.mean(w) / np.mean(before)) if before.size else 1.0)
        if key == "input":
            liquid.input_synapses = (pre, post, w)
        else:
            liquid.synapses[key] = (pre, post, w, liquid.synapses[key][3])
    return {"astrocyte_last": float(mod.value[0]), "mean_weight_change": float(np.mean(changes))}


def collect(liquid, images: np.ndarray, p: dict, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Spike counts per image (n, n_units) and population activity per branching bin (n, bins)."""
    counts = liquid.run(_as_rates(images, p), seed=seed)[:, 0, :]
    monitor = liquid.last_network.spike_monitors[0]
    steps = np.asarray(monitor.steps)
    per_image = int(round(p["present_ms"]))
    bin_steps = int(round(p["branching_bin_ms"]))
    n_bins = per_image // bin_steps
    image, offset = steps // per_image, (steps % per_image) // bin_steps
    keep = offset < n_bins
    activity = np.zeros((len(images), n_bins))
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
        results = {}
        for model in MODELS:
            liquid = make_liquid(p, data[0].shape[1], seed, p["weight_scale"], p["present_ms"])
            if model != "lsm":
                init = np.random.default_rng(seed + 7).choice(len(data[0]), p["n_init"], replace=True)
                phase = plasticity_phase(liquid, data[0][init], p, seed + 3, astrocyte=model == "nalsm")
                metrics.update({f"{model}_seed{seed}_{k2}": v for k2, v in phase.items()})
            results[model] = evaluate(liquid, data, p, seed + 11)
            for key, value in results[model].items():
                per_model[model][key].append(value)
            done += 1
            if progress:
                progress(done, total)
        acc = {m: results[m]["accuracy"] for m in MODELS}
        ordering.append(acc["nalsm"] >= acc["lsm"] > acc["lsm_stdp"])
    for model, values in per_model.items():
        for key, series in values.items():
            metrics[f"{model}_{key}_mean"] = float(np.mean(series))
            metrics[f"{model}_{key}_std"] = float(np.std(series))
            metrics[f"{model}_{key}_per_seed"] = [float(v) for v in series]
    metrics["ordering_holds_fraction"] = float(np.mean(ordering))
    sweep = []
    if p["sweep_scales"]:
        data = load_data(p, p["seed"])
        for scale in p["sweep_scales"]:
            liquid = make_liquid(p, data[0].shape[1], p["seed"], float(scale), p["present_ms"])
            sweep.append({"weight_scale": float(scale), **evaluate(liquid, data, p, p["seed"] + 11)})
            done += 1
            if progress:
                progress(done, total)
    metrics["sweep"] = sweep
    return ExperimentResult(spike_times_ms=np.zeros(0), spike_ids=np.zeros(0, dtype=np.int64), n_neurons=p["n_units"],
                            duration_ms=0.0, metrics=metrics)


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
