"""nalsm experiment: runs end to end at a tiny size, its plasticity phase changes the liquid,
bad settings are refused."""
import inspect

import numpy as np
import pytest

from synaptica.config import ConfigError
from synaptica.experiments import get_experiment
from synaptica.experiments.nalsm import (PAPER_CONNECTION, SCHEMA, check_bins, grid_shape, load_data, make_liquid,
                                         paper_intensities, paper_liquid, plasticity_phase, run_nalsm)

TINY = {"n_units": 45, "n_train": 30, "n_test": 20, "n_init": 6, "present_ms": 40.0, "init_ms": 20.0, "seeds": 1,
        "sweep_scales": [0.2], "max_rate_hz": 200.0}


def params(**changes):
    p = {k: f.default for k, f in SCHEMA.items()}
    p.update(TINY)
    p.update(changes)
    return p


def test_registered():
    assert get_experiment("nalsm").run is run_nalsm


def test_tiny_run_reports_every_model_and_the_sweep(tmp_path):
    from synaptica.cli.output import check_result

    result = check_result(run_nalsm(params()), "nalsm")   # what the CLI accepts: flat numbers, a raster
    m = result.metrics
    assert result.duration_ms > 0 and result.spike_ids.size > 0
    result.figures["accuracy_vs_branching.png"](tmp_path / "a.png")
    assert (tmp_path / "a.png").read_bytes()[:4] == b"\x89PNG"
    for model in ("lsm", "lsm_stdp", "nalsm"):
        assert 0.0 <= m[f"{model}_accuracy_mean"] <= 1.0
        assert np.isfinite(m[f"{model}_branching_mean"])
        assert m[f"{model}_rate_hz_mean"] > 0
    assert m["lsm_stdp_seed1_astrocyte_last"] == pytest.approx(0.15)   # plain STDP: rate held
    assert m["nalsm_seed1_astrocyte_last"] != pytest.approx(0.15)      # the astrocyte moved
    assert [k for k in m if k.startswith("sweep_") and k.endswith("_accuracy")] == ["sweep_w0.2_accuracy"]
    # the static LSM at the default scale 0.2 is the same liquid as the seed's lsm
    assert m["sweep_w0.2_accuracy"] == pytest.approx(m["lsm_accuracy_seed1"])


def test_plasticity_phase_changes_the_liquid_weights():
    p = params()
    data = load_data(p, 1)
    liquid = make_liquid(p, data[0].shape[1], 1, 1.0, p["present_ms"])
    before = {k: v[2].copy() for k, v in liquid.synapses.items()}
    phase = plasticity_phase(liquid, data[0][:6], p, 3, astrocyte=True)
    assert phase["mean_weight_change"] != pytest.approx(1.0, abs=1e-6)
    assert any(not np.allclose(np.sort(before[k]), np.sort(liquid.synapses[k][2])) for k in before if before[k].size)


def test_bad_settings_are_refused(tmp_path):
    assert "three bins" in check_bins(params(present_ms=10.0, branching_bin_ms=4.0))
    with pytest.raises(ConfigError, match="data"):
        load_data(params(data=str(tmp_path)), 1)
    with pytest.raises(ConfigError, match="n_train"):
        load_data(params(n_train=1790, n_test=100), 1)
    # the runner takes no checkpoint, so the CLI passes it none (it used to refuse every run)
    assert "checkpoint" not in inspect.signature(run_nalsm).parameters


def test_grid_shape_is_the_most_cubic_factorisation():
    assert grid_shape(1000) == (10, 10, 10)
    assert grid_shape(45) == (3, 3, 5)
    assert grid_shape(7) == (1, 1, 7)


def test_paper_liquid_follows_the_authors_wiring():
    n, n_in = 343, 64
    liquid = paper_liquid(params(n_units=n), n_in, seed=5, magnitude=2.0, bin_ms=20.0)
    pre, post, w = liquid.input_synapses
    assert pre.size == int(n * n_in * 0.15)                       # exactly 15 % of the pairs
    assert len(set(zip(pre.tolist(), post.tolist()))) == pre.size
    assert np.all(np.abs(w) == 2.0) and 0.4 < np.mean(w < 0) < 0.6   # +-w, random sign
    assert liquid.excitatory.sum() == round(0.8 * n)
    # in-degree per type against the closed form sum_j C exp(-(D/3)^2) over the 7x7x7 grid
    grid = np.stack(np.unravel_index(np.arange(n), (7, 7, 7)), axis=1)
    kernel = np.exp(-(np.linalg.norm(grid[:, None] - grid[None], axis=2) / 3.0) ** 2)
    np.fill_diagonal(kernel, 0.0)
    share = {"E": 0.8, "I": 0.2}
    for key, c in PAPER_CONNECTION.items():
        s_pre, s_post, magnitude, delay = liquid.synapses[key]
        expected = c * kernel.sum() * share[key[0]] * share[key[1]]
        assert abs(s_pre.size - expected) < 5 * np.sqrt(expected), key
        assert np.all(magnitude == 2.0) and delay == 1.0
        assert np.all(liquid.excitatory[s_pre] == (key[0] == "E"))


def test_signed_inputs_become_an_inhibitory_projection():
    liquid = paper_liquid(params(n_units=27), 8, seed=1, magnitude=1.0, bin_ms=20.0)
    net, *_ = liquid.build(np.full((1, 1, 8), 100.0), seed=0)
    names = {proj.name: proj for proj in net.projections}
    assert "input->liquid" in names and "input->liquid inhibitory" in names
    n_neg = int(np.sum(liquid.input_synapses[2] < 0))
    assert names["input->liquid inhibitory"].synapse_weights().numel() == n_neg


def test_paper_intensities_equalise_totals():
    images = np.random.default_rng(0).random((5, 16))
    scaled = paper_intensities(images)
    assert scaled.max() == 1.0
    assert np.allclose(scaled.sum(1), scaled.sum(1)[0])
    with pytest.raises(ConfigError, match="black"):
        paper_intensities(np.zeros((2, 4)))
