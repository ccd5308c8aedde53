"""Dendritic neurons (segments with NMDA-like thresholds) and the SDR false-match theory of
Ahmad & Hawkins (2016): closed forms, Monte Carlo and importance sampling through the engine."""
from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pytest
import torch

from synaptica.analysis import sdr
from synaptica.engine.network import Network
from synaptica.neurons.dendritic import DendriticSegment, DendriticSoma, add_dendritic_population


# -- closed forms ---------------------------------------------------------------------------
@pytest.mark.parametrize("value,printed", [
    (lambda: sdr.false_match_probability(2048, 40, 20, 10), "3.9e-13"),
    (lambda: sdr.false_match_probability(2048, 40, 24, 12), "1.2e-15"),
    (lambda: sdr.union_false_match_probability(2048, 40, 20, 10, 10), "3.9e-03"),
    (lambda: sdr.union_false_match_probability(2048, 40, 20, 10, 20), "2.4e-01"),
])
def test_closed_forms_equal_the_paper_values_to_their_printed_precision(value, printed):
    assert f"{value():.1e}" == printed


def test_closed_form_equals_brute_force_enumeration():
    for n, a, s in [(8, 3, 4), (9, 4, 5), (10, 5, 3)]:
        segment = set(range(s))
        overlaps = [len(segment & set(x)) for x in itertools.combinations(range(n), a)]
        for theta in range(1, s + 1):
            brute = sum(b >= theta for b in overlaps) / len(overlaps)
            assert sdr.false_match_probability(n, a, s, theta) == pytest.approx(brute, rel=1e-12)
            if brute > 0:
                assert sdr.log10_false_match_probability(n, a, s, theta) == pytest.approx(math.log10(brute))
        law = sdr.overlap_distribution(n, a, s)
        assert np.allclose(law, np.bincount(overlaps, minlength=law.size) / len(overlaps))


def test_union_size_law_equals_enumeration_and_the_exact_union_is_below_the_papers_bound():
    n, s, m = 7, 2, 3
    subsets = list(itertools.combinations(range(n), s))
    sizes = [len(set().union(*c)) for c in itertools.product(subsets, repeat=m)]
    law = sdr.union_size_distribution(n, s, m)
    assert np.allclose(law, np.bincount(sizes, minlength=law.size) / len(sizes))
    # overlapping subsamples can only shrink the segment: the paper's M s synapses bound it
    exact = sdr.union_false_match_probability(2048, 40, 20, 10, 10, exact_union=True)
    assert 0.002 < exact < sdr.union_false_match_probability(2048, 40, 20, 10, 10)


def test_no_overflow_for_large_populations():
    logp = sdr.log10_false_match_probability(100_000, 2000, 30, 30)
    assert -60 < logp < -40 and math.isfinite(logp)
    assert sdr.false_match_probability(100_000, 2000, 30, 30) == pytest.approx(10 ** logp, rel=1e-9)


@pytest.mark.parametrize("args,message", [
    ((2048, 40, 20, 21), "exceeds the synapses"),
    ((30, 40, 20, 10), "exceed the population"),
    ((2048, -1, 20, 10), "must be >= 1"),
    ((2048, 40, 20, 2.5), "must be an integer"),
    ((2048, 40, 0, 1), "must be >= 1"),
])
def test_bad_parameters_are_refused(args, message):
    with pytest.raises(ValueError, match=message):
        sdr.false_match_probability(*args)


def test_bad_model_parameters_are_refused():
    with pytest.raises(ValueError, match="whole number"):
        DendriticSegment(theta=2.5)
    with pytest.raises(ValueError, match="must be > 0"):
        DendriticSegment(theta=-1.0)
    with pytest.raises(ValueError, match="plateau_mv"):
        DendriticSoma(plateau_mv=20.0)        # v_th - v_rest = 15 mV: it would fire alone
    net = Network(dt=1.0)
    with pytest.raises(ValueError, match="roles"):
        add_dendritic_population(net, 2, 3, roles="apical")
    with pytest.raises(ValueError, match="theta"):
        add_dendritic_population(net, 2, 3, theta=np.ones((3, 2)))
    d = add_dendritic_population(net, 2, 3)
    source = net.add_spike_generator(5, [0.0], [0])
    with pytest.raises(ValueError, match="segment indices"):
        d.connect_synapses(net, source, [0, 1], 0, 3)
    with pytest.raises(ValueError, match="twice"):
        d.connect_synapses(net, source, [1, 1], 0, 2)


# -- the model on the engine ----------------------------------------------------------------
def _sdr_network(backend_dtype, n=40, a=8, s=10, cells=6, segments=5, steps=300, seed=0):
    """SDR stream into dendritic cells whose soma also gets proximal input and a constant
    current; roles mixed (last segment of each cell a driver)."""
    rng = np.random.default_rng(seed)
    net = Network(dt=1.0, dtype=backend_dtype, seed=seed)
    sdrs = sdr.random_sdrs(n, a, steps, rng)
    source = net.add_spike_generator(n, np.repeat(np.arange(steps), a) * 1.0, sdrs.ravel())
    roles = np.array([["modulatory"] * (segments - 1) + ["driver"]] * cells, dtype=object)
    thetas = np.tile(np.array([2, 3, 4, 3, 5]), (cells, 1))[:, :segments]
    d = add_dendritic_population(net, cells, segments, theta=thetas, roles=roles,
                                 soma=DendriticSoma(plateau_ms=4.0, plateau_mv=8.0))
    sets = [rng.choice(n, s, replace=False) for _ in range(cells * segments)]
    units = np.repeat(np.arange(len(sets)), s)
    d.connect_synapses(net, source, np.concatenate(sets), units // segments, units % segments)
    proximal = net.add_spike_generator(cells, np.arange(0, steps, 9) * 1.0, np.arange(0, steps, 9) % cells)
    net.connect(proximal, d.soma, one_to_one=True, weight=150.0)
    d.soma.i_ext.fill_(60.0)           # steady v = -59 mV: below v_th, above v_th - plateau_mv
    monitors = (net.monitor_spikes(d.segments), net.monitor_spikes(d.soma), net.monitor_state(d.soma, "plateau"))
    return net, d, sdrs, sets, thetas.ravel(), monitors


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_cpu_and_torch_paths_give_identical_spikes(dtype):
    runs = {}
    for backend in ("cpu", "torch"):
        net, *_, (seg, soma, plateau) = _sdr_network(dtype)
        net.run(300.0, backend=backend)
        runs[backend] = (seg.steps, seg.ids, soma.steps, soma.ids, plateau.values)
    cpu, tor = runs["cpu"], runs["torch"]
    assert cpu[0].size > 100 and cpu[2].size > 10        # segments and somata both active
    for x, y in zip(cpu, tor):
        assert np.array_equal(np.asarray(x), np.asarray(y))


def test_segment_spikes_are_exactly_the_threshold_crossings_of_the_overlap():
    net, d, sdrs, sets, thetas, (seg, _, _) = _sdr_network(torch.float32)   # the structure compiled above
    net.run(301.0)
    hits = np.zeros((sdrs.shape[0], d.segments.n), dtype=bool)
    hits[seg.steps - 1, seg.ids] = True               # SDR of step k arrives at k + 1
    overlap = np.array([[np.isin(x, cells).sum() for cells in sets] for x in sdrs])
    assert np.array_equal(hits, overlap >= thetas[None, :])


def test_modulatory_segment_depolarises_and_driver_segment_fires_the_soma():
    net = Network(dt=1.0, dtype=torch.float64)
    # segment (0, 0) modulatory fires at step 11 (input at 10); segment (1, 1) driver at 31
    source = net.add_spike_generator(4, [10.0, 10.0, 30.0, 30.0], [0, 1, 2, 3])
    d = add_dendritic_population(net, 2, 2, theta=2, roles=[["modulatory", "driver"]] * 2,
                                 soma=DendriticSoma(plateau_ms=5.0, plateau_mv=8.0, t_ref=2.0))
    d.connect_synapses(net, source, [0, 1], 0, 0)
    d.connect_synapses(net, source, [2, 3], 1, 1)
    d.soma.i_ext.fill_(100.0)              # steady v = -55 mV: 5 mV below threshold
    d.soma.set_state(v=-55.0)
    soma = net.monitor_spikes(d.soma)
    plateau = net.monitor_state(d.soma, "plateau", neurons=[0])
    net.run(60.0)
    cell0 = soma.steps[soma.ids == 0]
    cell1 = soma.steps[soma.ids == 1]
    # depolarised (threshold -52 mV) for 5 steps from the segment spike's arrival at step 12:
    # fires at once, then from the reset (-65 mV) cannot climb back within the plateau
    assert cell0.tolist() == [12]
    assert np.count_nonzero(np.asarray(plateau.values).ravel() > 0) == 5
    assert cell1.tolist() == [32]          # driver: one spike where the segment spike arrives


def test_binomial_interval_covers_and_refuses_bad_counts():
    low, high = sdr.binomial_interval(30, 100, 0.95)
    assert low < 0.3 < high and high - low < 0.2
    with pytest.raises(ValueError, match="exceed"):
        sdr.binomial_interval(5, 4)


# -- the experiment: Monte Carlo and importance sampling through the engine's model -----------
@pytest.fixture(scope="module")
def experiment_run(tmp_path_factory):
    """One CLI run at reduced size (the same network structure as the defaults)."""
    from click.testing import CliRunner
    from synaptica.cli.main import main

    out = tmp_path_factory.mktemp("sdr") / "run"
    result = CliRunner().invoke(main, ["run", "sdr-dendrites", "--out", str(out), "--set", "mc_steps=600",
                                       "--set", "is_samples=5000", "--set", "union_cells=3",
                                       "--set", "confidence=0.999"])
    assert result.exit_code == 0, result.output
    return out, json.loads((out / "metrics.json").read_text())


def test_experiment_reports_the_paper_values(experiment_run):
    _, metrics = experiment_run
    for case in ("s20_theta10", "s24_theta12", "union_m10", "union_m20"):
        published = metrics[f"paper_{case}_published"]
        assert f"{metrics[f'paper_{case}']:.1e}" == f"{published:.1e}"
        assert metrics[f"paper_{case}_rel_err"] < 0.025


def test_engine_segment_spikes_equal_numpy_overlap_counts(experiment_run):
    _, metrics = experiment_run
    assert metrics["mc_engine_mismatches"] == 0


def test_engine_monte_carlo_agrees_with_the_closed_forms(experiment_run):
    _, metrics = experiment_run
    keys = [k[:-len("_within_ci")] for k in metrics if k.startswith("mc_") and k.endswith("_within_ci")]
    assert len(keys) == 4 + 4          # thresholds 1-4; unions M = 10, 20, paper's and random
    for key in keys:
        assert metrics[f"{key}_low"] <= metrics[f"{key}_closed_form"] <= metrics[f"{key}_high"], key
        assert metrics[f"{key}_estimate"] > 0, key
        # the interval is informative: it resolves the value within a factor of 4
        assert 0.25 * metrics[f"{key}_closed_form"] < metrics[f"{key}_low"], key
        assert metrics[f"{key}_high"] < 4 * metrics[f"{key}_closed_form"], key
    assert metrics["mc_theta4_closed_form"] < 1e-3 < metrics["mc_theta3_closed_form"]


def test_engine_importance_sampling_agrees_at_1e_13(experiment_run):
    _, metrics = experiment_run
    for key, scale in (("is_s20_theta10", 1e-13), ("is_s24_theta12", 1e-15)):
        closed = metrics[f"{key}_closed_form"]
        assert scale < closed < 10 * scale
        assert metrics[f"{key}_low"] <= closed <= metrics[f"{key}_high"]
        assert metrics[f"{key}_rel_err"] < 0.05


def test_experiment_writes_its_figures_and_spikes(experiment_run):
    out, _ = experiment_run
    for name in ("false_match_vs_theta.png", "false_match_vs_n.png", "union_vs_m.png", "spikes.npz"):
        assert (out / name).stat().st_size > 1000


def test_importance_sampled_sdrs_have_the_drawn_overlaps():
    rng = np.random.default_rng(3)
    law, proposal = sdr.tilted_overlap_proposal(2048, 40, 20, 10)
    assert law.sum() == pytest.approx(1.0) and np.sum(np.arange(law.size) * proposal) == pytest.approx(10.0)
    overlaps = rng.choice(law.size, size=500, p=proposal)
    cells = rng.choice(2048, 20, replace=False)
    sdrs = sdr.sdrs_with_overlaps(2048, 40, cells, overlaps, rng)
    assert np.array_equal(np.isin(sdrs, cells).sum(axis=1), overlaps)
    assert all(np.unique(row).size == 40 for row in sdrs)


def test_experiment_refuses_impossible_parameters(tmp_path):
    from click.testing import CliRunner
    from synaptica.cli.main import main

    result = CliRunner().invoke(main, ["run", "sdr-dendrites", "--out", str(tmp_path / "x"), "--set", "theta=30"])
    assert result.exit_code == 2 and "theta" in result.output
    assert not (tmp_path / "x").exists()
