"""nalsm experiment: runs end to end at a tiny size, its plasticity phase changes the liquid,
bad settings are refused."""
import numpy as np
import pytest

from synaptica.config import ConfigError
from synaptica.experiments import get_experiment
from synaptica.experiments.nalsm import SCHEMA, check_bins, load_data, make_liquid, plasticity_phase, run_nalsm

TINY = {"n_units": 45, "n_train": 30, "n_test": 20, "n_init": 6, "present_ms": 40.0, "init_ms": 20.0, "seeds": 1,
        "sweep_scales": [1.0], "max_rate_hz": 200.0}


def params(**changes):
    p = {k: f.default for k, f in SCHEMA.items()}
    p.update(TINY)
    p.update(changes)
    return p


def test_registered():
    assert get_experiment("nalsm").run is run_nalsm


def test_tiny_run_reports_every_model_and_the_sweep():
    m = run_nalsm(params()).metrics
    for model in ("lsm", "lsm_stdp", "nalsm"):
        assert 0.0 <= m[f"{model}_accuracy_mean"] <= 1.0
        assert np.isfinite(m[f"{model}_branching_mean"])
        assert m[f"{model}_rate_hz_mean"] > 0
    assert m["lsm_stdp_seed1_astrocyte_last"] == pytest.approx(0.15)   # plain STDP: rate held
    assert m["nalsm_seed1_astrocyte_last"] != pytest.approx(0.15)      # the astrocyte moved
    assert [row["weight_scale"] for row in m["sweep"]] == [1.0]
    # the static LSM at scale 1 is the same liquid as the seed's lsm
    assert m["sweep"][0]["accuracy"] == pytest.approx(m["lsm_accuracy_per_seed"][0])


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
    with pytest.raises(ConfigError, match="checkpoint"):
        run_nalsm(params(), checkpoint=tmp_path / "x")
