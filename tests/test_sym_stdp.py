"""Hao et al. (2020) network pieces: silent-image scoring, the clamped label neuron, the
paper's threshold step, and the protocol settings (sym-stdp-digits)."""
from __future__ import annotations

import numpy as np
import pytest

from synaptica.engine.network import Network
from synaptica.experiments.sym_stdp_digits import PAPER_BY_SIZE, REST_MS, SCHEMA, label_metrics, network_settings
from synaptica.models.sym_stdp import ScaledThetaLIFConductance, TeacherClampedLIF, label_decision


def test_silent_images_are_never_class_zero():
    counts = np.array([[0, 0, 0], [0, 3, 1], [2, 0, 2], [0, 0, 0]])
    assert label_decision(counts).tolist() == [-1, 1, 0, -1]
    truth = np.array([0, 1, 0, 2])
    m = label_metrics(counts, truth)
    assert m["silent_test_images"] == 2 and m["silent_fraction"] == 0.5
    assert m["accuracy"] == 0.5                       # the silent class-0 image is wrong
    assert m["accuracy_silent_as_class0"] == 0.75     # the authors' argmax calls it right
    assert m["accuracy_of_answered"] == 1.0


def _label_net(clamped: float, drive_nS: float):
    net = Network(dt=0.5, seed=3)
    model = TeacherClampedLIF(tau_m=10.0, v_rest=-60.0, v_reset=-45.0, v_th=-40.0, e_exc=0.0, e_inh=-100.0,
                              tau_exc=1.0, tau_inh=2.0, t_ref=0.0, r_m=1.0, clamped=clamped)
    label = net.add_population(2, model, name="label")
    teacher = net.add_poisson(2, np.array([100.0, 0.0]), name="teacher")
    drive = net.add_poisson(2, 300.0, name="drive")
    net.connect(teacher, label, one_to_one=True, weight=1.0, target="teach")
    net.connect(drive, label, one_to_one=True, weight=drive_nS, target="g_exc")
    teach_spikes, label_spikes = net.monitor_spikes(teacher), net.monitor_spikes(label)
    net.run(1000.0)
    return teach_spikes, label_spikes


def test_clamped_label_neuron_repeats_the_teacher_and_ignores_its_input():
    teach, label = _label_net(clamped=1.0, drive_nS=50.0)
    t_teach = teach.times_ms[teach.neuron_ids == 0]
    assert len(t_teach) > 50
    assert np.all(label.neuron_ids == 0)                                    # the undriven one is silent
    np.testing.assert_allclose(label.times_ms, t_teach + 0.5)               # one step later, every spike
    _, free = _label_net(clamped=0.0, drive_nS=50.0)
    assert np.sum(free.neuron_ids == 1) > 50                                 # unclamped: the input drives it


def test_paper_threshold_step_shrinks_as_theta_grows():
    model = ScaledThetaLIFConductance(tau_m=100.0, v_rest=-65.0, v_reset=-65.0, v_th=-52.0, e_exc=0.0,
                                      e_inh=-100.0, tau_exc=1.0, tau_inh=2.0, t_ref=2.0, r_m=1.0,
                                      tau_adapt=1e300, theta_jump=0.07, theta_rest=-20.0, theta_pole=-10.0)
    coefficients = model.coefficients(0.5)
    for theta, step in ((0.0, 0.07), (10.0, 0.035), (30.0, 0.0175)):
        state = dict(v=np.array([0.0]), g_exc=np.zeros(1), g_inh=np.zeros(1), refractory=np.zeros(1),
                     theta=np.array([theta]))
        new, s = model.step(state, np.zeros(1), coefficients)
        assert s[0] == 1.0
        assert new["theta"][0] == pytest.approx(theta + step)
    with pytest.raises(ValueError, match="theta_pole"):
        ScaledThetaLIFConductance(theta_pole=1.0)


def test_protocol_settings():
    p = {key: field.default for key, field in SCHEMA.items()}
    paper = network_settings(p)
    assert paper["a_hidden"] == pytest.approx(5e-4) and paper["a_label"] == pytest.approx(4e-3)
    assert paper["label_norm_total"] == pytest.approx(0.8 * 100)            # 0.1 x w_max x n_hidden
    assert paper["tau_theta"] == pytest.approx(6e6 * 350 / (350 + REST_MS))
    assert network_settings({**p, "n_exc": 6000})["theta_jump"] == PAPER_BY_SIZE[6400]["theta_jump"]
    legacy = network_settings({**p, "protocol": "legacy"})
    assert legacy["a_hidden"] == 1e-3 and legacy["label_norm_total"] == 200.0 and "max_retries" not in legacy
    assert network_settings({**p, "a_hidden": 2e-3})["a_hidden"] == 2e-3     # an explicit value wins
    assert paper["clamp_labels"] is True and network_settings({**p, "clamp_labels": False})["clamp_labels"] is False
