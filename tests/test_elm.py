"""The ELM neuron (Spieler et al. 2024) and the `elm` experiment."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from synaptica.training.elm import ELMLayer, ELMState, elm_parameter_count, elm_step


def _layer(dtype=torch.float64, **kw) -> ELMLayer:
    torch.manual_seed(0)
    return ELMLayer(3, 2, n_memory=4, **kw).to(dtype)


def test_gradcheck_of_the_step_function_in_float64():
    layer = _layer(tau_max=20.0)
    w = layer.step_weights()
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(2, 3, dtype=torch.float64, generator=gen, requires_grad=True)
    s = torch.randn(2, 3, dtype=torch.float64, generator=gen, requires_grad=True)
    m = torch.randn(2, 4, dtype=torch.float64, generator=gen, requires_grad=True)
    kappa_m = w["kappa_m"].detach().clone().requires_grad_(True)
    w_h = w["w_h"].detach().clone().requires_grad_(True)

    def f(x, s, m, kappa_m, w_h):
        out = elm_step(x, ELMState(s, m), w["kappa_s"], w["w_s"], kappa_m, w_h, w["b_h"], w["w_d"], w["b_d"], 5.0)
        return out.s, out.m

    assert torch.autograd.gradcheck(f, (x, s, m, kappa_m, w_h))


def test_gradcheck_through_a_sequence_including_the_learned_timescales():
    from torch.func import functional_call

    layer = _layer(tau_max=20.0)
    x = torch.randn(2, 6, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(2), requires_grad=True)
    raw_tau = layer.tau_m_param.raw.detach().clone().requires_grad_(True)
    raw_w_s = layer.w_s_raw.detach().clone().requires_grad_(True)

    def f(x, raw_tau, raw_w_s):
        return functional_call(layer, {"tau_m_param.raw": raw_tau, "w_s_raw": raw_w_s}, (x,))[0]

    assert torch.autograd.gradcheck(f, (x, raw_tau, raw_w_s))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_fused_cpu_scan_agrees_with_the_eager_step_functions(dtype):
    """Outputs and every parameter gradient of the fused kernels equal the eager loop over
    :func:`memory_step` / :func:`synaptic_step` (to rounding), with a non-zero initial state."""
    torch.manual_seed(3)
    layer = ELMLayer(3, 2, n_memory=6, tau_max=40.0).to(dtype)
    x = torch.randn(4, 25, 3, dtype=dtype)
    state = ELMState(torch.randn(4, 3, dtype=dtype), torch.randn(4, 6, dtype=dtype))
    results = []
    for fused in (True, False):
        layer.fused = fused
        layer.zero_grad()
        y, final = layer(x, state)
        (y.sin().sum() + final.m.sum()).backward()
        results.append((y.detach(), final, {n: q.grad.clone() for n, q in layer.named_parameters()}))
    (y_fused, final_fused, g_fused), (y_eager, final_eager, g_eager) = results
    tol = 1e-12 if dtype == torch.float64 else 1e-4
    assert torch.allclose(y_fused, y_eager, atol=tol, rtol=tol)
    assert torch.allclose(final_fused.s, final_eager.s, atol=tol) and torch.allclose(final_fused.m, final_eager.m, atol=tol)
    assert set(g_fused) == set(g_eager) and "tau_m_param.raw" in g_fused
    for name in g_fused:
        assert torch.allclose(g_fused[name], g_eager[name], atol=tol, rtol=tol), name


def test_gradcheck_of_the_fused_kernels_in_float64():
    from synaptica.training import elm_kernels

    g = torch.Generator().manual_seed(5)

    def leaf(*shape, low=None):
        t = torch.rand(*shape, dtype=torch.float64, generator=g) * 0.8 + 0.1 if low else \
            torch.randn(*shape, dtype=torch.float64, generator=g)
        return t.requires_grad_(True)

    assert torch.autograd.gradcheck(elm_kernels.memory_scan, (leaf(2, 7, 5), leaf(2, 3), leaf(3, low=True),
                                                             leaf(5, 3), leaf(3, 5), leaf(3), 5.0))
    assert torch.autograd.gradcheck(elm_kernels.trace_scan, (leaf(2, 7, 3), leaf(2, 3), leaf(3, low=True), leaf(3)))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_memory_decays_exactly_with_its_timescales_without_input(dtype):
    """With zero input and an MLP whose output is zero, m_t = exp(-t dt / tau_m) m_0."""
    layer = _layer(dtype, tau_min=2.0, tau_max=50.0, dt=0.5)
    with torch.no_grad():
        layer.delta.weight.zero_()
        layer.delta.bias.zero_()
    m0 = torch.linspace(-1.0, 2.0, 4, dtype=dtype).expand(2, 4).clone()
    state = ELMState(torch.zeros(2, 3, dtype=dtype), m0)
    T = 40
    layer(torch.zeros(2, T, 3, dtype=dtype), state)
    t = torch.arange(1, T + 1, dtype=dtype)[:, None]
    expected = m0[0] * torch.exp(-t * 0.5 / layer.tau_m().detach())
    tol = 1e-6 if dtype == torch.float32 else 1e-13
    torch.testing.assert_close(layer.last_memory[0].detach(), expected, rtol=tol, atol=tol)
    tau = layer.tau_m().detach()
    assert float(tau.min()) > 2.0 and float(tau.max()) < 50.0


def test_step_function_and_module_agree():
    layer = _layer()
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(3, 12, 3, dtype=torch.float64, generator=gen)
    y, final = layer(x)
    state, w, ys = layer.initial_state(3), layer.step_weights(), []
    for t in range(12):
        state = elm_step(x[:, t], state, **w)
        ys.append(layer.readout(state.m))
    torch.testing.assert_close(y, torch.stack(ys, 1), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(final.m, state.m, rtol=1e-12, atol=1e-12)
    # a split sequence continued from its state gives the same outputs
    y1, mid = layer(x[:, :5])
    y2, _ = layer(x[:, 5:], mid)
    torch.testing.assert_close(torch.cat([y1, y2], 1), y, rtol=1e-12, atol=1e-12)


def test_parameter_count_formula_and_float32_default():
    layer = ELMLayer(2, 1, n_memory=20)
    assert layer.hidden.weight.dtype == torch.float32
    assert sum(q.numel() for q in layer.parameters() if q.requires_grad) == elm_parameter_count(2, 1, 20) == 1783
    fixed = ELMLayer(2, 1, n_memory=20, learn_tau_m=False)
    assert sum(q.numel() for q in fixed.parameters() if q.requires_grad) == elm_parameter_count(2, 1, 20,
                                                                                             learn_tau_m=False)


@pytest.mark.parametrize("kwargs, match", [
    (dict(tau_min=0.0), "tau_min must be a finite number > 0"),
    (dict(tau_min=-1.0), "tau_min must be a finite number > 0"),
    (dict(tau_s=0.0), "tau_s must be a finite number > 0"),
    (dict(tau_max=float("nan")), "tau_max must be a finite number > 0"),
    (dict(tau_min=5.0, tau_max=5.0), "tau_max .* must exceed tau_min"),
    (dict(dt=-1.0), "dt must be"),
    (dict(lam=0.0), "lam must be"),
    (dict(n_memory=0), "n_memory must be a positive integer"),
])
def test_impossible_parameters_are_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ELMLayer(3, 2, **kwargs)


def test_bad_input_is_refused():
    layer = _layer(torch.float32)
    with pytest.raises(ValueError, match=r"expected input of shape \(B, T, 3\)"):
        layer(torch.zeros(4, 3))
    with pytest.raises(ValueError, match=r"expected input of shape \(B, T, 3\)"):
        layer(torch.zeros(2, 5, 4))
    x = torch.zeros(2, 5, 3)
    x[1, 3, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN or infinite .first at step 3"):
        layer(x)
    with pytest.raises(ValueError, match="dtype"):
        layer(torch.zeros(2, 5, 3, dtype=torch.float64))
    with pytest.raises(ValueError, match="state must be an ELMState"):
        layer(torch.zeros(2, 5, 3), ELMState(torch.zeros(2, 3), torch.zeros(2, 5)))


# -- the adding problem ---------------------------------------------------------------------------
def test_adding_problem_follows_hochreiter_schmidhuber_1997():
    from synaptica.experiments.elm import ADDING_BASELINE_MSE, adding_problem

    x, lengths, y = adding_problem(4000, 100, np.random.default_rng(0))
    assert x.shape == (4000, 110, 2) and lengths.min() >= 100 and lengths.max() <= 110
    marked = x[..., 1] == 1.0
    assert (marked.sum(1) == 2).all()
    first = marked.argmax(1)
    assert first.max() <= 9
    second = 109 - marked[:, ::-1].argmax(1)
    assert second.max() <= 100 // 2 - 2
    rows = np.arange(len(x))
    assert (x[rows, lengths - 1, 1] == -1).all()
    assert all((x[i, lengths[i]:] == 0).all() for i in range(50))  # nothing after the end
    np.testing.assert_allclose(y, 0.5 + (x[rows, first, 0] + x[rows, second, 0]) / 4, rtol=1e-6)
    # the best constant (0.5) has MSE E[(X1 + X2)^2] / 16, X1 = 0 when the first element is marked
    assert np.mean((y - 0.5) ** 2) == pytest.approx(ADDING_BASELINE_MSE, rel=0.06)


def test_elm_learns_a_short_adding_problem_below_the_constant_baseline():
    from synaptica.config import load_config
    from synaptica.experiments import elm

    p = load_config({}, elm.SCHEMA, origin="test")
    p.update(adding_batches=400, adding_test=1000, lr=0.02)
    out = elm.run_adding("elm", p, 50, seed=1)
    baseline = out["test_baseline_mse"]       # variance of the test targets: the best constant's MSE
    assert baseline == pytest.approx(elm.ADDING_BASELINE_MSE, rel=0.15)
    assert out["mse"] < 0.85 * baseline, (out["mse"], baseline)
    assert out["solved"] > 0.17                # a constant solves about 16 % of the sequences


# -- the experiment -------------------------------------------------------------------------------
def test_matched_parameter_counts():
    from synaptica.config import load_config
    from synaptica.experiments import elm

    p = load_config({}, elm.SCHEMA, origin="test")
    counts = {k: elm.trainable(elm.SequenceModel.build(k, p, 2, 1, 110)) for k in elm.MODELS}
    assert counts["elm"] == 1783
    for kind in ("lstm", "lif"):
        assert abs(counts[kind] - counts["elm"]) / counts["elm"] < 0.03, counts


def test_cli_run_with_a_small_config(tmp_path):
    from click.testing import CliRunner
    from synaptica.cli.main import main

    out = tmp_path / "run"
    args = ["run", "elm", "--out", str(out)]
    for s in ("adding_lengths=[20]", "adding_batches=3", "adding_test=20", "digits_epochs=1", "n_train=64",
              "n_test=32", "n_memory=4", "n_seeds=2"):
        args += ["--set", s]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "metrics.json").read_text())
    for kind in ("elm", "lstm", "lif"):
        assert 0.0 <= metrics[f"permuted_digits_{kind}_accuracy"] <= 1.0
        assert math.isfinite(metrics[f"adding20_{kind}_mse"]) and metrics[f"adding20_{kind}_mse"] >= 0
        assert metrics[f"params_{kind}_adding20"] > 0
    assert metrics["n_seeds"] == 2
    assert (out / "elm.png").exists()


def test_cli_refuses_bad_configs(tmp_path):
    from click.testing import CliRunner
    from synaptica.cli.main import main

    for setting, word in (("tau_max=0.5", "tau_max"), ("adding_lengths=[5]", "adding_lengths"),
                          ("digits_task=other", "digits_task"), ("lr=nan", "lr"),
                          ('models=["lstm", "lstm"]', "models"), ('models=["gru"]', "models")):
        result = CliRunner().invoke(main, ["run", "elm", "--out", str(tmp_path / "x"), "--set", setting])
        assert result.exit_code == 2, (setting, result.output)
        assert word in result.output


@pytest.mark.parametrize("task, stop", [("adding", 7), ("digits", 7), ("digits", 6)])
def test_an_interrupted_unit_resumes_to_the_same_numbers(tmp_path, monkeypatch, task, stop):
    """A unit killed mid-training continues from its last save (here after every update)
    and ends with the losses and score of an uninterrupted run (digits: 5 updates per
    epoch, so stop 6 resumes at an epoch boundary and stop 7 inside one); a damaged or
    foreign save is refused with the field named."""
    from synaptica.engine.checkpoints import CheckpointError
    from synaptica.experiments import elm
    from synaptica.experiments.sequence_training import TrainingCheckpoint

    p = _small_params(task)
    loss_name = "_mse" if task == "adding" else "_cross_entropy"
    run = (lambda cp: elm.run_adding("elm", p, 20, 7, cp)) if task == "adding" else \
        (lambda cp: elm.run_digits("elm", p, 7, cp))
    reference = run(None)
    path = tmp_path / "unit.npz"
    real, calls = getattr(elm, loss_name), []

    def failing(*args):
        calls.append(1)
        if len(calls) == stop:
            raise KeyboardInterrupt
        return real(*args)

    monkeypatch.setattr(elm, loss_name, failing)
    with pytest.raises(KeyboardInterrupt):
        run(TrainingCheckpoint(path, {"run": 1}, every_s=0.0))
    monkeypatch.setattr(elm, loss_name, real)
    saved = dict(np.load(path))
    assert int(saved["step"]) == stop - 1
    resumed = run(TrainingCheckpoint(path, {"run": 1}, every_s=0.0))
    assert resumed["losses"] == reference["losses"]
    score = "mse" if task == "adding" else "accuracy"
    assert resumed[score] == reference[score]
    with pytest.raises(CheckpointError, match="settings|run"):
        run(TrainingCheckpoint(path, {"run": 2}))
    for key, value in (("step", np.array(10**6)), ("lr", np.array(np.nan)), ("rng", np.array("{}"))):
        np.savez(tmp_path / "bad.npz", **{**saved, key: value})
        with pytest.raises(CheckpointError, match=f"'{key}'"):
            run(TrainingCheckpoint(tmp_path / "bad.npz", {"run": 1}))


def _small_params(task: str) -> dict:
    from synaptica.experiments import elm

    p = {key: field.default for key, field in elm.SCHEMA.items()}
    p.update(n_memory=4, batch_size=8, adding_batches=12, adding_test=16, digits_epochs=2, n_train=40, n_test=20)
    return p
