"""HLOP (Xiao et al. 2024): the Hebbian subspace rule, the projection, forgetting on a tiny
continual problem, refused configurations and the hlop-continual CLI run."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from synaptica.config import ConfigError
from synaptica.experiments import load_experiment_config
from synaptica.experiments import hlop_continual
from synaptica.experiments.hlop_continual import EWC, acc_bwt, lateral_schedule, learning_accuracy, make_model
from synaptica.training.hlop import HLOP, HebbianSubspace

TINY = ["n_seeds=1", "n_tasks=3", "hidden=[100, 100]", "n_train=500", "n_test=300", "epochs_per_task=4", "lrs=[0.1]",
        "fisher_samples=50", "n_steps=10", "ewc_lambdas=[1, 100]"]


def _low_rank_data(n: int, dim: int, rank: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Samples whose second moment has ``rank`` dominant directions (variances 9..4) plus 0.01 noise."""
    g = torch.Generator().manual_seed(seed)
    basis, _ = torch.linalg.qr(torch.randn(dim, rank, generator=g, dtype=torch.float64))
    scales = torch.linspace(3.0, 2.0, rank, dtype=torch.float64)
    x = (torch.randn(n, rank, generator=g, dtype=torch.float64) * scales) @ basis.T
    return x + 0.1 * torch.randn(n, dim, generator=g, dtype=torch.float64), basis


def _largest_principal_angle(a: torch.Tensor, b: torch.Tensor) -> float:
    """Largest principal angle (radians) between the column spaces of orthonormal a and b."""
    cosines = torch.linalg.svdvals(a.T @ b).clamp(max=1.0)
    return float(torch.arccos(cosines.min()))


def test_hebbian_rule_finds_the_principal_subspace():
    x, _ = _low_rank_data(4000, 30, 5, seed=0)
    s = HebbianSubspace(30, lr=0.01, momentum=0.9, iterations=5)
    s.add_neurons(5, torch.Generator().manual_seed(1))
    before = _largest_principal_angle(s.basis(frozen_only=False), torch.linalg.svd(x.T, full_matrices=False)[0][:, :5])
    for _ in range(3):
        s.learn(x[i:i + 64] for i in range(0, len(x), 64))
    top = torch.linalg.svd(x.T, full_matrices=False)[0][:, :5]  # SVD reference (uncentred, like the rule)
    angle = _largest_principal_angle(s.basis(frozen_only=False), top)
    assert before > 0.5 and angle < 0.05, (before, angle)
    assert s.orthonormality_error() < 0.05  # Oja's subspace rule drives U U^T to I


def test_new_neurons_learn_what_frozen_ones_leave_out():
    x, _ = _low_rank_data(4000, 30, 6, seed=2)
    s = HebbianSubspace(30, lr=0.01)
    s.add_neurons(3, torch.Generator().manual_seed(0))
    s.learn(x[i:i + 64] for i in range(0, len(x), 64))
    s.freeze()
    frozen = s.weight.clone()
    s.add_neurons(3, torch.Generator().manual_seed(1))
    for _ in range(3):
        s.learn(x[i:i + 64] for i in range(0, len(x), 64))
    assert torch.equal(s.weight[:3], frozen)  # old lateral neurons do not move
    top = torch.linalg.svd(x.T, full_matrices=False)[0][:, :6]
    assert s.basis().shape[1] == 3 and _largest_principal_angle(s.basis(), top) < 0.1  # 3 of the 6 directions
    s.freeze()
    # together: the whole 6-d principal subspace, the new neurons spanning what the old ones miss
    assert s.basis().shape[1] == 6 and _largest_principal_angle(s.basis(), top) < 0.1
    # the frozen subspace holds the low-rank data's energy (all but the 0.1-std noise in 24
    # other directions: 1 - 24 * 0.01 / (sum of the 6 variances 9..4 + 0.3) ~ 0.995), and none
    # of data orthogonal to it
    assert 0.98 < s.captured_energy(x) <= 1.0
    other = torch.randn(100, 30, dtype=torch.float64)
    other -= other @ s.basis() @ s.basis().T
    assert s.captured_energy(other) < 1e-12


def test_projected_update_is_orthogonal_to_the_subspace():
    layer = torch.nn.Linear(50, 20, bias=False)
    hlop = HLOP([layer], lrs=[0.01])
    x, _ = _low_rank_data(2000, 50, 8, seed=3)
    hlop.add_neurons([8], torch.Generator().manual_seed(0))
    hlop.learn([x[i:i + 64].float()] for i in range(0, len(x), 64))
    hlop.freeze()
    layer.weight.grad = torch.randn(20, 50, dtype=torch.float32)
    raw = layer.weight.grad.clone()
    hlop.project_gradients()
    q = hlop.subspaces[0].basis().float()
    assert float((raw @ q).abs().max()) > 0.1
    assert float((layer.weight.grad @ q).abs().max()) < 1e-5  # U^T dW ~ 0 (float32)
    # the raw Hebbian weights span the same space: their responses change just as little
    u = hlop.subspaces[0].weight.float()
    assert float((layer.weight.grad @ u.T).abs().max()) < 1e-5
    # and the part orthogonal to the subspace is untouched
    p = torch.eye(50) - q @ q.T
    torch.testing.assert_close(layer.weight.grad, raw @ p, atol=1e-5, rtol=0)


def test_bad_inputs_are_refused_naming_the_problem():
    s = HebbianSubspace(10)
    with pytest.raises(ValueError, match="n_lateral.*exceed the input dimension 10"):
        s.add_neurons(11)
    s.add_neurons(4)
    with pytest.raises(ValueError, match="n_samples"):
        s.hebbian_step(torch.zeros(0, 10))
    with pytest.raises(ValueError, match=r"shape \(batch, 10\)"):
        s.hebbian_step(torch.zeros(5, 9))
    with pytest.raises(ValueError, match="NaN"):
        s.hebbian_step(torch.full((5, 10), float("nan")))
    hlop = HLOP([torch.nn.Linear(10, 3), torch.nn.Linear(3, 2)], lrs=[0.01, 0.01])
    with pytest.raises(ValueError, match="n_lateral"):
        hlop.add_neurons([2, 4])
    assert hlop.n_neurons() == [0, 0]  # nothing added when one layer refuses
    with pytest.raises(ValueError, match="at least one layer"):
        HLOP([], lrs=[])


@pytest.mark.parametrize("override, key", [("n_tasks=0", "n_tasks"), ("n_tasks=1", "n_tasks"),
                                           ("n_train=0", None), ("lateral_scale=3", "lateral_scale"),
                                           ("ewc_lambdas=[]", "ewc_lambdas"), ("ewc_lambdas=[-1]", "ewc_lambdas"),
                                           ("val_fraction=0.9", None), ("val_fraction=0", "val_fraction"),
                                           ("lrs=[]", "lrs"), ("lrs=[0]", "lrs"),
                                           ("hidden=[100, 5]", "lateral_scale")])
def test_config_refusals_name_the_key(override, key):
    if key is None:  # n_train = 0 means the default split: accepted
        load_experiment_config("hlop-continual", [override])
        return
    with pytest.raises(ConfigError, match=key):
        load_experiment_config("hlop-continual", [override])


def test_zero_samples_refused_at_run_naming_the_keys():
    experiment, params, _ = load_experiment_config("hlop-continual", [*TINY, "n_train=1797"])
    with pytest.raises(ConfigError, match="n_train"):
        experiment.run(params)


def test_paper_schedule_and_metrics():
    schedule = lateral_schedule([784, 800, 800], 10, 1.0)
    assert schedule[0] == [80, 200, 100] and schedule[1] == [70, 70, 70] and schedule[3] == [50, 50, 50]
    assert schedule[8] == [30, 30, 30] and len(schedule) == 9
    R = np.array([[0.9, 0.1], [0.5, 0.8]])
    acc, bwt = acc_bwt(R)
    assert acc == pytest.approx(0.65) and bwt == pytest.approx(-0.4)
    assert learning_accuracy(R) == pytest.approx(0.85)


def _ewc_after_one_task(strength: float):
    params = {"hidden": [12], "beta": 0.5, "threshold": 2.0, "reset": "zero", "readout": "rate"}
    model = make_model(params, 16, torch.Generator().manual_seed(0))
    ewc = EWC(strength, lr=0.01)
    x = torch.rand(40, 16, generator=torch.Generator().manual_seed(1))
    fisher = ewc.consolidate(model, x, n_samples=20, n_steps=8, generator=torch.Generator().manual_seed(2))
    return model, ewc, fisher


def test_ewc_fisher_and_proximal_step():
    model, ewc, fisher = _ewc_after_one_task(1e9)
    assert all(bool((f >= 0).all()) and f.shape == q.shape for f, q in zip(fisher, model.parameters()))
    assert sum(float(f.sum()) for f in fisher) > 0
    anchor = [q.detach().clone() for q in model.parameters()]
    with torch.no_grad():
        for q in model.parameters():
            q.add_(1.0)  # a large step away from the anchor
    ewc.prox(model)  # lr lambda F ~ 1e7: explicit SGD would diverge, the proximal step lands on the anchor
    for q, a, f in zip(model.parameters(), anchor, fisher):
        important = f > 1e-3
        assert bool(torch.isfinite(q).all())
        torch.testing.assert_close(q[important], a[important], atol=1e-3, rtol=0)
    # a small lr lambda F: the proximal step equals the explicit gradient step on the penalty to first order
    model, ewc, fisher = _ewc_after_one_task(1e-3)
    anchor = [q.detach().clone() for q in model.parameters()]
    with torch.no_grad():
        for q in model.parameters():
            q.add_(0.5)
    ewc.prox(model)
    for q, a, f in zip(model.parameters(), anchor, fisher):
        explicit = (a + 0.5) - 0.01 * 1e-3 * f * 0.5
        torch.testing.assert_close(q, explicit, atol=1e-7, rtol=0)


def test_selections_never_read_test_images(monkeypatch):
    from synaptica.experiments.unit_results import UnitResults

    load = hlop_continual.load_tasks

    def poisoned(p, seed):  # test images full of NaN: any use of them fails the run
        d = load(p, seed)
        return dict(d, x_test=torch.full_like(d["x_test"], float("nan")))

    monkeypatch.setattr(hlop_continual, "load_tasks", poisoned)
    _, params, _ = load_experiment_config("hlop-continual", [*TINY, "n_tasks=2", "epochs_per_task=2",
                                                             "ewc_lambdas=[1, 1000, 10]", "lrs=[0.0001, 0.1]"])
    store = UnitResults(None, params, hlop_continual.unit_shapes(params))
    lr, lr_scores = hlop_continual.select_lr(params, 1, lambda *_: None, store)
    assert set(lr_scores) == {0.0001, 0.1} and lr == max(lr_scores, key=lambda v: (lr_scores[v], -v))
    assert lr_scores[0.1] > lr_scores[0.0001] + 0.1  # one pass at lr 1e-4 barely moves the weights
    strength, scores = hlop_continual.select_ewc_lambda(dict(params, lr=lr), 1, lambda *_: None, store)
    assert set(scores) == {1.0, 10.0, 1000.0} and strength == max(scores, key=lambda s: (scores[s], -s))
    assert all(0.0 <= v <= 1.0 for v in scores.values())


@pytest.fixture(scope="module")
def tiny_run():
    experiment, params, _ = load_experiment_config("hlop-continual", TINY)
    return experiment.run(params)


def test_hlop_forgets_less_than_fine_tuning(tiny_run, tmp_path):
    from synaptica.cli.output import check_result

    m = tiny_run.metrics
    assert m["acc_multitask"] > 0.5  # the network learns the tasks at all
    assert m["bwt_finetune"] < -0.05  # permuted tasks interfere
    assert m["bwt_hlop"] > m["bwt_finetune"] + 0.05
    assert m["acc_hlop"] > m["acc_finetune"]
    assert m["ewc_lambda"] in (1.0, 100.0) and {"ewc_val_acc_lambda1", "ewc_val_acc_lambda100"} <= set(m)
    check_result(tiny_run, "hlop-continual")
    for name, write in tiny_run.figures.items():
        write(tmp_path / name)
        assert (tmp_path / name).stat().st_size > 1000


class _Interrupted(Exception):
    """Stands for a run stopped from outside (Ctrl-C, a killed job)."""


def test_interrupted_run_resumes_to_the_same_numbers(monkeypatch, tmp_path):
    """Units finished before an interruption are kept in the checkpoint and not rerun; the
    resumed run's metrics equal an uninterrupted run's. A damaged field is refused by name."""
    from synaptica.engine.checkpoints import CheckpointError

    experiment, params, _ = load_experiment_config("hlop-continual", [*TINY, "n_tasks=2", "epochs_per_task=1",
                                                                      "n_train=200", "n_test=100", "lrs=[0.01, 0.03]"])
    reference = experiment.run(params).metrics
    checkpoint = tmp_path / "run.checkpoint.npz"
    run_sequential, calls = hlop_continual.run_sequential, []

    def interrupted(method, *args, **kwargs):
        calls.append(method)
        if method == "hlop":
            raise _Interrupted
        return run_sequential(method, *args, **kwargs)

    monkeypatch.setattr(hlop_continual, "run_sequential", interrupted)
    with pytest.raises(_Interrupted):
        experiment.run(params, checkpoint=checkpoint)
    saved = set(np.load(checkpoint).files)
    assert {"select.lr0.01", "select.lr0.03", "finetune.1.R", "ewc.1.R"} <= saved and "hlop.1.R" not in saved
    calls.clear()
    monkeypatch.setattr(hlop_continual, "run_sequential", lambda method, *args, **kwargs: (
        calls.append(method), run_sequential(method, *args, **kwargs))[1])
    resumed = experiment.run(params, checkpoint=checkpoint).metrics
    assert calls == ["hlop"]  # only the unfinished unit ran again
    for key, value in reference.items():
        if key != "run_s":
            assert resumed[key] == pytest.approx(value, abs=1e-12), key
    arrays = dict(np.load(checkpoint))
    np.savez(checkpoint, **dict(arrays, **{"ewc.1.R": np.zeros((3, 3))}))
    with pytest.raises(CheckpointError, match="ewc.1.R"):
        experiment.run(params, checkpoint=checkpoint)


def test_cli_runs_a_small_config(tmp_path):
    from click.testing import CliRunner

    from synaptica.cli.main import main

    out = tmp_path / "out"
    args = ["run", "hlop-continual", "--out", str(out)]
    for item in [*TINY, "n_tasks=2", "epochs_per_task=1", "n_train=200", "n_test=100"]:
        args += ["--set", item]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert {"acc_hlop", "bwt_hlop", "acc_multitask", "bwt_finetune"} <= set(metrics)


def test_rate_readout_is_the_papers_weighted_rate():
    """Class scores = sum_t beta^(T-1-t) c_t / sum_t beta^(T-1-t), c_t = W s_t the readout's input
    current (DSR's weight_rate_spikes with beta = exp(-dt / tau)); written out by hand here."""
    params = {"hidden": [30], "beta": 0.9, "threshold": 0.3, "reset": "subtract", "readout": "rate"}
    model = make_model(params, 16, torch.Generator().manual_seed(0))
    x = torch.rand(5, 16, generator=torch.Generator().manual_seed(1))
    model.keep_hidden = True
    with torch.no_grad():
        scores = hlop_continual.class_scores(model, x, 7)
    hidden = model.hidden_spikes[0]  # (7, 5, 30)
    assert 0 < float(hidden.mean()) < 1  # some, not all, neurons spike
    weights = 0.9 ** torch.arange(6, -1, -1, dtype=torch.float32)
    current = hidden @ model.layers[-1].linear.weight.T  # (7, 5, 10)
    expected = (weights[:, None, None] * current).sum(0) / weights.sum()
    torch.testing.assert_close(scores, expected, rtol=1e-5, atol=1e-6)
