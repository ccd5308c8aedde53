"""Diehl & Cook network and the stdp-digits experiment: learning works, freezing freezes,
state resets per image, bad input is refused, the CLI run writes its figures and resumes."""
from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from synaptica.cli.main import main
from synaptica.datasets import load_images
from synaptica.io import read_idx
from synaptica.engine.network import Network
from synaptica.experiments.stdp_digits import DC_SCHEMA, curve_stops, protocol_settings, receptive_field_structure
from synaptica.models.diehl_cook import DiehlCookConfig, DiehlCookNetwork, SpikeBlockLIFConductance

MNIST = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"


@pytest.fixture(scope="module")
def digits():
    x, y, _ = load_images("digits")
    order = np.random.default_rng(0).permutation(len(x))
    return x[order], y[order]


def small_model(**kw) -> DiehlCookNetwork:
    return DiehlCookNetwork(DiehlCookConfig(n_input=64, n_exc=20, max_rate_hz=255.0, norm_total=10.0, seed=2, **kw))


def test_learning_beats_chance_and_weights_stay_normalised(digits):
    x, y = digits
    model = small_model()
    w0 = model.weights
    model.present(x[:300], learn=True)
    w1 = model.weights
    assert np.abs(w1 - w0).max() > 0.05                       # STDP changed the weights
    assert w1.min() >= 0.0 and w1.max() <= 1.0                  # hard bounds of the rule
    # normalisation happens at each image start: the sums are 10 up to one image's STDP
    assert np.allclose(w1.sum(0), 10.0, atol=1.0)
    model.assign_labels(model.present(x[:300], learn=False), y[:300])
    accuracy = np.mean(model.predict(model.present(x[1500:1700], learn=False)) == y[1500:1700])
    assert accuracy > 0.5, accuracy                             # chance is 0.1


def test_frozen_phase_changes_no_weight_or_threshold(digits):
    x, _ = digits
    model = small_model()
    model.present(x[:50], learn=True)
    w, theta = model.weights, model.exc.theta.clone()
    counts = model.present(x[50:100], learn=False)
    assert counts.sum() > 0
    np.testing.assert_array_equal(model.weights, w)
    np.testing.assert_array_equal(model.exc.theta.numpy(), theta.numpy())


def test_weak_images_are_shown_again_with_higher_rates(digits):
    x, _ = digits
    model = small_model(min_spikes=10**6, max_retries=2)   # every image counts as weak
    trials_before = model.net.trial
    model.present(x[:5], learn=False)
    assert model.net.trial - trials_before == 5 * 3          # one pass plus two retries


def test_bad_images_are_refused():
    model = small_model()
    with pytest.raises(ValueError, match=r"images must be \(n, 64\)"):
        model.present(np.zeros((3, 10)), learn=True)
    with pytest.raises(ValueError, match="intensities"):
        model.present(np.full((3, 64), 2.0), learn=True)


def test_idx_reader_names_truncated_and_foreign_files(tmp_path):
    good = np.arange(12, dtype=np.uint8).reshape(3, 2, 2)
    raw = bytes([0, 0, 8, 3]) + b"".join(int(d).to_bytes(4, "big") for d in good.shape) + good.tobytes()
    path = tmp_path / "x-images-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(raw))
    np.testing.assert_array_equal(read_idx(path), good)
    (tmp_path / "short").write_bytes(raw[:-1])
    with pytest.raises(ValueError, match="short: IDX data has"):
        read_idx(tmp_path / "short")
    (tmp_path / "junk").write_bytes(b"PK\x03\x04junk")
    with pytest.raises(ValueError, match="junk: not an IDX file"):
        read_idx(tmp_path / "junk")


def test_cli_run_writes_receptive_fields_and_accuracy(tmp_path):
    out = tmp_path / "run"
    result = CliRunner().invoke(main, ["run", "stdp-digits", "--set", "n_exc=10", "--set", "n_train=200",
                                       "--set", "n_test=100", "--set", "curve_label_images=100", "--out", str(out)])
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert 0.2 < metrics["accuracy"] <= 1.0 and metrics["n_test"] == 100
    for name in ("receptive_fields.png", "confusion.png", "theta.png", "accuracy_vs_images.png"):
        assert (out / name).stat().st_size > 1000, name
    assert [k for k in metrics if k.startswith("accuracy_after_")] == [f"accuracy_after_{n}_images" for n in (50, 100, 200)]
    assert all(0.0 <= metrics[f"recall_class_{k}"] <= 1.0 for k in range(10))
    assert metrics["theta_mv_p10"] <= metrics["theta_mv_median"] <= metrics["theta_mv_p90"]
    assert not list(tmp_path.glob("run.checkpoint*"))        # phase checkpoints removed at the end


def test_cli_rejects_a_missing_data_folder(tmp_path):
    result = CliRunner().invoke(main, ["run", "stdp-digits", "--set", f"data={tmp_path / 'nope'}",
                                       "--out", str(tmp_path / "run")])
    assert result.exit_code == 2 and "key 'data'" in result.output


@pytest.mark.skipif(not MNIST.is_dir(), reason=f"MNIST test split not found in {MNIST} (see ../shared/data/README)")
def test_mnist_split_loads():
    x, y, shape = load_images(str(MNIST))
    assert x.shape == (10000, 784) and shape == (28, 28) and set(np.unique(y)) == set(range(10))
    assert 0.0 <= x.min() and x.max() <= 1.0


REFERENCE = Path(__file__).resolve().parents[1] / "bench" / "peers" / "dc_reference.json"


@pytest.mark.skipif(not MNIST.is_dir(), reason=f"MNIST test split not found in {MNIST} (see ../shared/data/README)")
def test_dynamics_match_brian2_on_mnist():
    """Same network in Brian2 2.9 (bench/peers/dc_brian2.py, seeds 1-3, first 200 images):
    excitatory spikes per image and threshold growth agree across seeds."""
    reference = json.loads(REFERENCE.read_text())
    x, _, _ = load_images(str(MNIST))
    ours = []
    for seed in (1, 2, 3):
        model = DiehlCookNetwork(DiehlCookConfig(n_exc=100, seed=seed, max_retries=0))
        counts = model.present(x[: reference["n_images"]], learn=True)
        ours.append((counts.sum(1).mean(), float(model.exc.theta.mean())))
    spikes, theta = np.mean(ours, axis=0)
    peer = reference["brian2_cpp_standalone"]
    peer_spikes = np.mean([r["exc_spikes_per_image"] for r in peer])
    peer_theta = np.mean([r["mean_theta_mv"] for r in peer])
    assert abs(spikes - peer_spikes) < 0.05 * peer_spikes, (spikes, peer_spikes)
    assert abs(theta - peer_theta) < 0.05 * peer_theta, (theta, peer_theta)


def test_batched_copies_learn_shared_weights(digits):
    x, y = digits
    model = small_model(batch_size=4)
    counts = model.present(x[:202], learn=True)                # 51 trials, the last one padded
    assert counts.shape == (202, 20)
    theta = model.exc.theta.numpy()
    assert np.all(theta == theta[0])                           # copies continue from the mean
    model.assign_labels(model.present(x[:300], learn=False), y[:300])
    assert np.mean(model.predict(model.present(x[1500:1700], learn=False)) == y[1500:1700]) > 0.4
    with pytest.raises(ValueError, match=r"\(trials, 4, 64\)"):
        model.inputs.set_rates(np.zeros((3, 3, 64)))


def test_sym_stdp_digits_learns_from_the_teacher(tmp_path):
    out = tmp_path / "sym"
    result = CliRunner().invoke(main, ["run", "sym-stdp-digits", "--out", str(out)])   # the defaults
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["accuracy"] > 0.55, metrics             # label layer, no teacher at test; chance 0.1
    assert metrics["hidden_vote_accuracy"] > 0.55, metrics  # seeds 1-3 give 0.70-0.80 on both


def _driven_neuron(t_block: float, weight: float = 3.0):
    """One excitatory Diehl & Cook neuron under strong Poisson drive (1000 Hz, ge += weight)."""
    net = Network(dt=0.5, seed=3)
    drive = net.add_poisson(1, 1000.0)
    model = SpikeBlockLIFConductance(tau_m=100.0, v_rest=-65.0, v_reset=-65.0, v_th=-52.0, e_exc=0.0, e_inh=-100.0,
                                     tau_exc=1.0, tau_inh=2.0, t_ref=5.0, r_m=1.0, tau_adapt=1e7, theta_jump=0.05,
                                     t_block=t_block)
    pop = net.add_population(1, model)
    net.connect(drive, pop, weight=weight, target="g_exc")
    spikes, v = net.monitor_spikes(pop), net.monitor_state(pop, "v")
    net.run(1000.0)
    return spikes.times_ms, v.times_ms, v.values[:, 0]


def test_spike_block_forbids_a_second_spike_within_50_ms_while_v_integrates():
    free, _, _ = _driven_neuron(0.0)
    times, t_v, v = _driven_neuron(50.0)
    assert np.diff(free).min() < 10.0                          # only the 5 ms refractory period
    assert len(times) > 10 and np.diff(times).min() >= 50.0 - 1e-9
    # between spikes v is clamped for 5 ms, then climbs past the (unreachable) threshold
    first, second = times[0], times[1]
    window = (t_v > first + 6.0) & (t_v < second - 1.0)
    assert np.all(v[(t_v > first) & (t_v < first + 4.9)] == -65.0)
    assert v[window].max() > -52.0 + 0.05 * 1                  # above threshold + theta, yet no spike


def test_spike_block_model_is_used_only_when_asked():
    plain = DiehlCookNetwork(DiehlCookConfig(n_input=64, n_exc=5, seed=1))
    blocked = DiehlCookNetwork(DiehlCookConfig(n_input=64, n_exc=5, seed=1, spike_block_ms=50.0))
    assert not isinstance(plain.exc_model, SpikeBlockLIFConductance)
    assert blocked.exc_model.values["t_block"] == 50.0 and "block" in blocked.exc.state


def test_protocols_and_curve_points():
    p = {key: field.default for key, field in DC_SCHEMA.items()}
    paper = protocol_settings(p)
    assert paper["max_retries"] == 20 and paper["spike_block_ms"] == 0.0
    assert paper["tau_theta"] == pytest.approx(1e7 * 350 / 500)   # theta decays over image + 150 ms rest
    assert protocol_settings({**p, "protocol": "legacy"}) == {"spike_block_ms": 0.0}
    assert curve_stops(8000, 4) == [1000, 2000, 4000, 8000] and curve_stops(8000, 0) == []
    result = CliRunner().invoke(main, ["run", "stdp-digits", "--set", "protocol=fast", "--out", "/nonexistent/x"])
    assert result.exit_code == 2 and "protocol" in result.output


def test_receptive_field_structure_tells_digits_from_noise(digits):
    x, y = digits
    rng = np.random.default_rng(0)
    fields = np.column_stack([x[y == 3].mean(0), rng.random(64)])
    corr = receptive_field_structure(fields, x, y)
    assert corr[0] > 0.99 and corr[1] < 0.5


@pytest.mark.skipif(not MNIST.is_dir(), reason=f"MNIST test split not found in {MNIST} (see ../shared/data/README)")
def test_spike_block_dynamics_match_brian2_on_mnist():
    """The 50 ms spike block in Brian2 2.9 (bench/peers/dc_brian2.py --spike-block-ms 50, seeds
    1-3, first 200 images): spikes per image and threshold growth agree across seeds."""
    reference = json.loads(REFERENCE.read_text())
    x, _, _ = load_images(str(MNIST))
    ours = []
    for seed in (1, 2, 3):
        model = DiehlCookNetwork(DiehlCookConfig(n_exc=100, seed=seed, max_retries=0, spike_block_ms=50.0))
        counts = model.present(x[: reference["n_images"]], learn=True)
        ours.append((counts.sum(1).mean(), float(model.exc.theta.mean())))
    spikes, theta = np.mean(ours, axis=0)
    peer = reference["brian2_cpp_standalone_spike_block_50ms"]
    peer_spikes = np.mean([r["exc_spikes_per_image"] for r in peer])
    peer_theta = np.mean([r["mean_theta_mv"] for r in peer])
    assert abs(spikes - peer_spikes) < 0.05 * peer_spikes, (spikes, peer_spikes)
    assert abs(theta - peer_theta) < 0.05 * peer_theta, (theta, peer_theta)
    unblocked = np.mean([r["exc_spikes_per_image"] for r in reference["brian2_cpp_standalone"]])
    assert abs(peer_spikes - unblocked) > 0.2 * unblocked      # the block changes the dynamics (more neurons fire)
