"""brain-modes: a frozen MLP switched to rotated digits by per-neuron thresholds and gains
(Ghasemlou 2026), the reusable pieces in synaptica.training.modes, and config checks."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from synaptica.config import ConfigError
from synaptica.experiments import load_experiment_config
from synaptica.experiments.brain_modes import fit, cross_entropy, make_mlp, rotate_images
from synaptica.training.modes import LoRALinear, NeuronModulation, count_trainable, lora_rank_for_budget


SMALL = ["n_seeds=1", "seed=1", "hidden=[32]", "epochs_base=10", "epochs_adapt=20", "n_train=800", "n_test=400",
         "gate_cost=0", "batch_size=64"]


@pytest.fixture(scope="module")
def small_run():
    experiment, params, _ = load_experiment_config("brain-modes", SMALL)
    return experiment.run(params), params


def test_mode_beats_frozen_base_with_two_parameters_per_hidden_neuron(small_run, tmp_path):
    from synaptica.cli.output import check_result

    result, params = small_run
    m = result.metrics
    assert m["rotated_accuracy_mode"] >= m["rotated_accuracy_base"] + 0.03
    assert m["trainable_params_mode"] == 2 * sum(params["hidden"]) == 64
    assert m["trainable_params_base"] == 0
    assert m["trainable_params_finetune"] == (64 * 32 + 32) + (32 * 10 + 10)
    rank = int(m["lora_rank"])  # auto: largest rank within the mode's budget, at least 1
    assert rank == 1 and m["trainable_params_lora"] == rank * ((64 + 32) + (32 + 10))
    assert m["gate_hardening_agreement"] >= 0.98
    assert 0 < m["active_fraction_mode"] < 1 and 0 < m["active_fraction_base"] < 1
    check_result(result, "brain-modes")  # gate openings as a valid raster
    result.figures["brain_modes.png"](tmp_path / "brain_modes.png")
    assert (tmp_path / "brain_modes.png").stat().st_size > 1000


def _random_mode(n: int, seed: int) -> NeuronModulation:
    mode = NeuronModulation(n, temperature=0.3)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        mode.threshold.raw.copy_(0.5 * torch.randn(n, generator=g))
        mode.gain.raw.copy_(torch.randn(n, generator=g))
    return mode


def test_hardened_gate_is_a_binary_gate():
    g = torch.Generator().manual_seed(3)
    net = make_mlp([64, 20, 12, 10], g)
    modes = torch.nn.ModuleList([_random_mode(20, 1), _random_mode(12, 2)])
    x = torch.rand(300, 64, generator=g)
    for m in modes:
        m.harden(True)
    with torch.no_grad():
        logits, gates = net(x, modes)
    # the same network written out in numpy with a 0/1 gate: y = g * 1[z > theta] * (z - theta)
    h = x.numpy().astype(np.float64)
    for layer, m in zip(net.linears[:-1], modes):
        z = h @ layer.weight.detach().numpy().T + layer.bias.detach().numpy()
        theta, gain = m.threshold().detach().numpy(), m.gain().detach().numpy()
        h = gain * (z > theta) * (z - theta)
    out = h @ net.linears[-1].weight.detach().numpy().T + net.linears[-1].bias.detach().numpy()
    np.testing.assert_allclose(logits.numpy(), out, atol=1e-5)
    assert set(torch.cat(gates, 1).unique().tolist()) <= {0.0, 1.0}
    # a sigmoid gate at a vanishing temperature gives the binary gate's predictions
    for m in modes:
        m.harden(False)
        m.temperature = 1e-6
    with torch.no_grad():
        smooth = net(x, modes)[0]
    assert torch.equal(smooth.argmax(1), logits.argmax(1))


def test_initial_mode_is_the_base_and_switching_off_restores_it():
    g = torch.Generator().manual_seed(0)
    net = make_mlp([64, 16, 10], g)
    x = torch.rand(200, 64, generator=g)
    mode = torch.nn.ModuleList([NeuronModulation(16).harden()])
    with torch.no_grad():
        base = net(x)[0]
        torch.testing.assert_close(net(x, mode)[0], base, atol=1e-5, rtol=0)
        mode[0].threshold.raw.add_(1.0)  # a different mode changes the output ...
        assert not torch.allclose(net(x, mode)[0], base)
        assert torch.equal(net(x)[0], base)  # ... and off is exactly the base


def test_lora_counts_and_starts_as_identity():
    layer = torch.nn.Linear(64, 32)
    lora = LoRALinear(layer, rank=3)
    assert count_trainable(lora) == 3 * (64 + 32)
    x = torch.rand(5, 64)
    torch.testing.assert_close(lora(x), layer(x))
    assert lora_rank_for_budget([(64, 64), (64, 64), (64, 10)], 256) == 1  # 330 per rank > 256: at least rank 1
    assert lora_rank_for_budget([(64, 64)], 1000) == 7
    with pytest.raises(ValueError, match="rank"):
        LoRALinear(layer, rank=40)


def test_rotation_matches_rot90_and_zero_is_identity():
    x = np.random.default_rng(0).random((3, 64))
    np.testing.assert_allclose(rotate_images(x, (8, 8), 0.0), x)
    turned = rotate_images(x, (8, 8), 90.0).reshape(3, 8, 8)
    np.testing.assert_allclose(turned, np.rot90(x.reshape(3, 8, 8), 1, axes=(1, 2)), atol=1e-12)
    with pytest.raises(ValueError, match=r"\(n, 64\)"):
        rotate_images(x[:, :60], (8, 8), 45.0)


def test_bad_shapes_and_values_are_named():
    mode = NeuronModulation(8, name="hidden1")
    with pytest.raises(ValueError, match=r"hidden1.*\(batch, 8\).*\(8, 5\)"):
        mode(torch.zeros(8, 5))
    with pytest.raises(ValueError, match="temperature"):
        mode.temperature = 0.0
    net = make_mlp([64, 8, 10], torch.Generator().manual_seed(0))
    with pytest.raises(ValueError, match=r"\(batch, 64\).*\(4, 63\)"):
        net(torch.zeros(4, 63))
    x = torch.full((10, 64), float("nan"))
    with pytest.raises(FloatingPointError, match="pretraining loss is not finite at epoch 0"):
        fit(net.parameters(), lambda xb, yb: cross_entropy(net, xb, yb), x, torch.zeros(10, dtype=torch.int64),
            1, 1e-3, 5, torch.Generator().manual_seed(0), "pretraining")


@pytest.mark.parametrize("override, key", [
    ("lora_rank=11", "lora_rank"),          # the output layer has 10 units
    ("temperature_end=1.0", "temperature_end"),
    ("hidden=[]", "hidden"),
    ("hidden=[0]", "hidden"),
    ("n_seeds=0", "n_seeds"),
    ("lr_mode=-1", "lr_mode"),
])
def test_bad_config_rejected(override, key):
    with pytest.raises(ConfigError, match=key):
        load_experiment_config("brain-modes", [override])


def test_impossible_split_rejected():
    experiment, params, _ = load_experiment_config("brain-modes", ["n_train=1700", "n_test=200"])
    with pytest.raises(ConfigError, match="n_train"):
        experiment.run(params)
