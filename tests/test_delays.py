"""Learnable synaptic delays (DCLS, synaptica.training.delays) and the delay-motifs
experiment: rounding equals an integer shift, delay gradients point the right way, bad
input is refused, and a small run recovers the planted delays."""
from __future__ import annotations

import pytest
import torch

from synaptica.config import ConfigError
from synaptica.experiments import load_experiment_config
from synaptica.training.delays import DelayedLinear, annealed_sigma, delay_kernel, integer_delay_current


def spikes(shape, rate=0.2, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return (torch.rand(shape, generator=gen) < rate).float()


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_rounded_delays_equal_an_integer_shift_exactly(dtype):
    torch.manual_seed(0)
    layer = DelayedLinear(12, 5, max_delay=9).to(dtype)
    with torch.no_grad():  # quarter-integer weights: every sum is exact, so any order of summation agrees
        layer.weight.copy_(torch.randint(-8, 9, (5, 12)).to(dtype) / 4)
        layer.delay.add_(0.37)  # off-grid before rounding
    layer.round_delays()
    assert layer.mode == "hard"
    delays = layer.delay.detach()
    assert torch.equal(delays, delays.round()) and delays.min() >= 0 and delays.max() <= 8
    x = spikes((40, 3, 12)).to(dtype)
    out = layer(x)
    assert torch.equal(out, integer_delay_current(x, layer.weight.detach(), delays))
    # and the shift itself, written out for one synapse
    single = torch.zeros(5, 12, dtype=dtype)
    single[2, 7] = 1.0
    shifted = integer_delay_current(x, single, delays)[:, :, 2]
    k = int(delays[2, 7])
    assert torch.equal(shifted[k:], x[: 40 - k, :, 7]) and not shifted[:k].any()


def test_straight_through_forward_is_the_rounded_one_and_still_trains_delays():
    torch.manual_seed(1)
    layer = DelayedLinear(6, 3, max_delay=8, sigma=1.0)
    x = spikes((30, 2, 6), seed=3)
    layer.set_mode("straight_through")
    out = layer(x)
    out.pow(2).sum().backward()
    assert layer.delay.grad is not None and layer.delay.grad.abs().sum() > 0
    hard = delay_kernel(layer.delay.detach(), 8, 1.0, mode="hard")
    expected = integer_delay_current(x, layer.weight.detach(), layer.delay.detach().round())
    assert torch.allclose(out.detach(), expected, atol=1e-6)
    assert torch.equal(hard.sum(-1), torch.ones(3, 6))


@pytest.mark.parametrize("normalise", ["peak", "sum"])
@pytest.mark.parametrize("kind", ["gaussian", "triangle"])
def test_delay_gradient_is_finite_and_moves_the_delay_to_the_right_answer(kind, normalise):
    """One synapse, one input spike at step 2; maximising the current at step 2 + 6 by
    gradient ascent on the delay alone must take it from 3 to 6."""
    layer = DelayedLinear(1, 1, max_delay=12, kernel=kind, sigma=4.0, delay_init=3.0, normalise=normalise)
    with torch.no_grad():
        layer.weight.fill_(1.0)
    layer.weight.requires_grad_(False)
    x = torch.zeros(20, 1, 1)
    x[2] = 1.0
    optimiser = torch.optim.Adam([layer.delay], lr=0.1)
    for _ in range(150):
        loss = -layer(x)[8].sum()
        optimiser.zero_grad()
        loss.backward()
        assert torch.isfinite(layer.delay.grad).all()
        optimiser.step()
        layer.clamp_delays_()
    assert abs(layer.delay.item() - 6.0) < 0.25


def test_delay_gradient_matches_finite_differences():
    layer = DelayedLinear(4, 3, max_delay=10, sigma=1.5).double()
    x = spikes((25, 2, 4), seed=5).double()
    with torch.no_grad():
        layer.delay.clamp_(1.0, 8.0)  # away from the clamp, where the derivative is defined
    torch.autograd.gradcheck(lambda d: (layer.weight.unsqueeze(-1) * delay_kernel(d, 10, 1.5)).sum(0), layer.delay)
    d0 = layer.delay.detach().clone()

    def loss_at(d):
        with torch.no_grad():
            layer.delay.copy_(d)
        return layer(x).pow(2).sum()

    loss = loss_at(d0)
    loss.backward()
    eps = 1e-6
    bump = torch.zeros_like(d0)
    bump[1, 2] = eps
    numeric = (loss_at(d0 + bump) - loss_at(d0 - bump)).item() / (2 * eps)
    assert layer.delay.grad[1, 2].item() == pytest.approx(numeric, rel=1e-5, abs=1e-8)


def test_delays_stay_in_range():
    layer = DelayedLinear(3, 2, max_delay=5)
    with torch.no_grad():
        layer.delay.copy_(torch.tensor([[-3.0, 2.0, 9.0], [4.0, 0.0, 4.6]]))
    assert layer.delays().min() == 0 and layer.delays().max() == 4
    layer.clamp_delays_()
    assert torch.equal(layer.delay.detach(), torch.tensor([[0.0, 2.0, 4.0], [4.0, 0.0, 4.0]]))
    assert annealed_sigma(0.0, 10.0, 0.5) == 10.0 and annealed_sigma(1.0, 10.0, 0.5) == pytest.approx(0.5)


def test_no_delay_layer_is_a_plain_linear_projection():
    layer = DelayedLinear(7, 4, max_delay=1)
    x = spikes((15, 3, 7), seed=2)
    assert torch.allclose(layer(x), x @ layer.weight.detach().t(), atol=1e-6)


@pytest.mark.parametrize("kwargs, match", [
    (dict(n_in=4, n_out=2, max_delay=-3), "max_delay"),
    (dict(n_in=4, n_out=2, max_delay=0), "max_delay"),
    (dict(n_in=0, n_out=2, max_delay=5), "n_in"),
    (dict(n_in=4, n_out=2, max_delay=5, kernel="box"), "kernel"),
    (dict(n_in=4, n_out=2, max_delay=5, normalise="max"), "normalise"),
    (dict(n_in=4, n_out=2, max_delay=5, sigma=0.0), "sigma"),
    (dict(n_in=4, n_out=2, max_delay=5, sigma=0.5, kernel="triangle"), "sigma must be >= 1"),
    (dict(n_in=4, n_out=2, max_delay=5, delay_init=7.0), "delay_init"),
])
def test_bad_construction_is_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        DelayedLinear(**kwargs)


def test_bad_shapes_and_values_are_refused():
    layer = DelayedLinear(4, 2, max_delay=5)
    with pytest.raises(ValueError, match=r"\(T, B, 4\).*got \(3, 5\)"):
        layer(torch.zeros(3, 5))
    with pytest.raises(ValueError, match=r"got \(10, 4, 3\)"):  # features in the wrong place
        layer(torch.zeros(10, 4, 3))
    with pytest.raises(ValueError, match="sigma"):
        layer.set_sigma(-1.0)
    with pytest.raises(ValueError, match="mode"):
        layer.set_mode("fuzzy")
    with pytest.raises(ValueError, match="whole numbers"):
        integer_delay_current(torch.zeros(5, 1, 4), torch.ones(2, 4), torch.full((2, 4), 1.5))
    with pytest.raises(ValueError, match=r"\(n_out, n_in\)"):
        integer_delay_current(torch.zeros(5, 1, 4), torch.ones(2, 4), torch.ones(4, 2))
    with pytest.raises(ValueError, match="progress"):
        annealed_sigma(1.5, 10.0)


def test_experiment_config_checks():
    with pytest.raises(ConfigError, match="max_delay"):
        load_experiment_config("delay-motifs", ["max_delay=10", "max_latency=15"])
    with pytest.raises(ConfigError, match="n_steps"):
        load_experiment_config("delay-motifs", ["n_steps=30"])
    with pytest.raises(ConfigError, match="motif_size"):
        load_experiment_config("delay-motifs", ["motif_size=40"])
    with pytest.raises(ConfigError, match="sigma_end"):
        load_experiment_config("delay-motifs", ["protocol=tuned", "kernel=triangle", "sigma_end=0.5"])


SMALL = ["protocol=tuned", "n_seeds=1", "seed=4", "n_inputs=20", "n_motifs=2", "motif_size=5", "max_latency=12",
         "max_delay=16", "n_steps=48", "n_train=400", "n_test=300", "epochs=20", "batch_size=40"]


def test_small_run_recovers_planted_delays_and_beats_no_delays(tmp_path):
    from synaptica.cli.output import check_result

    experiment, params, _ = load_experiment_config("delay-motifs", SMALL)
    result = experiment.run(params)
    m = result.metrics
    assert m["accuracy_rounded"] >= m["accuracy_no_delays"] + 0.15
    # a motif and its time-reversed twin use the same inputs: told apart by timing only
    assert m["order_accuracy_learned_delays"] >= 0.95 and m["order_accuracy_no_delays"] <= 0.85
    assert m["delay_error_strong_steps"] <= 1.0 and m["delay_within_1_step_strong"] >= 0.9
    assert m["strong_motif_synapses"] >= 0.4
    # over every motif synapse (vetoes included) the learned delays are closer to the planted ones than random
    assert m["delay_error_steps"] < m["delay_error_random_steps"]
    assert m["delay_within_1_step"] >= m["delay_within_1_step_random"] + 0.3
    for kind in ("recurrent_lif", "adaptive_lif", "no_delays", "fixed_delays"):
        assert m[f"params_{kind}"] <= m["params_learned_delays"]
    check_result(result, "delay-motifs")
    for name, write in result.figures.items():
        write(tmp_path / name)
        assert (tmp_path / name).stat().st_size > 0
