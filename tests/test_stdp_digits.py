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
from synaptica.models.diehl_cook import DiehlCookConfig, DiehlCookNetwork

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
                                       "--set", "n_test=100", "--out", str(out)])
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert 0.2 < metrics["accuracy"] <= 1.0 and metrics["n_test"] == 100
    assert (out / "receptive_fields.png").stat().st_size > 1000
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
