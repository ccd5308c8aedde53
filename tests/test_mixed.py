"""Mixed learning (training/mixed.py): local rules and gradients in one engine network.

(a) an STDP hidden layer with a gradient-trained readout on the 8x8 digits; (b) a
three-factor rule gated by a learned modulator (critic's reward-prediction error);
roles kept apart (the rule never touches gradient weights, plastic weights get no
gradient); bad configurations rejected."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from synaptica.engine.network import Network
from synaptica.neurons import LIF
from synaptica.plasticity import PairSTDP, ThreeFactor
from synaptica.training import make_learnable
from synaptica.training.mixed import MixedTrainer, learned_modulator_task, stdp_readout_digits


pytestmark = pytest.mark.usefixtures("torch_one_thread")  # fixture in conftest.py


def small_net(batch: int = 4, seed: int = 0):
    """Poisson -> hidden (plastic STDP) -> readout (gradient-trained) + fixed inhibition."""
    rng = np.random.default_rng(seed)
    net = Network(dt=1.0, batch_size=batch, seed=seed)
    inp = net.add_poisson(16, 80.0, name="in")
    hidden = net.add_population(12, LIF(), name="hidden")
    readout = net.add_population(3, LIF(tau_m=1000.0, r_m=20.0, v_th=1e6), name="readout")
    net.connect(inp, hidden, weight=rng.uniform(50.0, 150.0, (16, 12)), name="plastic",
                plasticity=PairSTDP(a_plus=2.0, a_minus=2.1, w_max=200.0))
    net.connect(hidden, hidden, p=1.0, allow_self=False, weight=-5.0, sign="inhibitory", name="lateral")
    net.connect(hidden, readout, weight=rng.normal(0.0, 1.0, (12, 3)), name="readout")
    return net, hidden, readout


def proj(net, name):
    return next(p for p in net.projections if p.name == name)


def test_roles_kept_apart_in_one_episode():
    net, hidden, readout = small_net()
    trainer = MixedTrainer(net, gradient=["readout"], count=[hidden], lr=0.1)
    assert trainer.roles == {"plastic": "plastic", "lateral": "fixed", "readout": "gradient"}
    plastic, grad, fixed = proj(net, "plastic"), proj(net, "readout"), proj(net, "lateral")
    assert isinstance(grad.weights, torch.nn.Parameter) and not plastic.weights.requires_grad
    assert [id(p) for p in trainer.parameters()] == [id(grad.weights)]
    w_plastic, w_grad, w_fixed = (p.weights.detach().clone() for p in (plastic, grad, fixed))
    trainer.reset()
    counts = trainer.run(30.0)
    assert counts["hidden"].shape == (4, 12) and counts["hidden"].sum() > 0
    # the local rule changed its weights during the forward run, and only those
    assert (plastic.weights - w_plastic).abs().max() > 0.1
    assert torch.equal(grad.weights.detach(), w_grad) and torch.equal(fixed.weights, w_fixed)
    w_plastic = plastic.weights.clone()
    loss = (readout.state["v"] - (-65.0)).pow(2).mean()
    trainer.update(loss)
    # the optimiser changed the gradient weights, and only those
    assert grad.weights.grad is not None and grad.weights.grad.abs().sum() > 0
    assert plastic.weights.grad is None and fixed.weights.grad is None
    assert not torch.equal(grad.weights.detach(), w_grad)
    assert torch.equal(plastic.weights, w_plastic) and torch.equal(fixed.weights, w_fixed)


def test_local_rule_runs_exactly_as_in_a_plain_engine_run():
    """The trainer reuses the engine's rule: same plastic weights as net.run on the torch path."""
    net_a, _, _ = small_net(seed=3)
    trainer = MixedTrainer(net_a, gradient=["readout"])
    trainer.reset()
    trainer.run(25.0)
    net_b, _, _ = small_net(seed=3)
    net_b.run(25.0, backend="torch")
    torch.testing.assert_close(proj(net_a, "plastic").weights, proj(net_b, "plastic").weights, rtol=0, atol=0)


def test_gradient_flows_through_fixed_projections_to_upstream_gradient_weights():
    net = Network(dt=1.0, batch_size=2, seed=1)
    inp = net.add_poisson(10, 100.0, name="in")
    a = net.add_population(8, LIF(), name="a")
    b = net.add_population(2, LIF(tau_m=1000.0, r_m=20.0, v_th=1e6), name="b")
    first = net.connect(inp, a, weight=120.0, name="first")
    net.connect(a, b, weight=3.0, name="fixed")
    trainer = MixedTrainer(net, gradient=[first])
    trainer.reset()
    trainer.run(20.0)
    trainer.update(b.state["v"].sum())
    assert first.weights.grad is not None and first.weights.grad.abs().sum() > 0


def test_a_stdp_hidden_layer_with_gradient_readout_learns_digits():
    out = stdp_readout_digits(n_hidden=64, batch=16, n_train=384, n_test=128, seed=0)
    net = out["net"]
    plastic, readout = proj(net, "pixels->hidden"), proj(net, "hidden->readout")
    assert out["plastic_change_pA"] > 0.5                        # STDP changed the hidden weights
    assert plastic.weights.grad is None and not plastic.weights.requires_grad
    assert readout.weights.grad is not None and readout.weights.grad.abs().sum() > 0
    assert 5.0 < out["hidden_rate_hz"] < 200.0
    assert out["test_accuracy"] > 0.35, out                      # chance: 0.10


def test_b_learned_modulator_raises_reward_above_unmodulated_baseline():
    learned = learned_modulator_task("learned", episodes=60, seed=0)
    baseline = learned_modulator_task("none", episodes=20, seed=0)  # no weight change: a short run suffices
    chance = baseline["reward_curve"].mean()
    assert abs(chance - 0.25) < 0.03                            # 1 / 4 actions
    assert learned["reward_first"] < chance + 0.05
    assert learned["reward_last"] > chance + 0.12, (learned["reward_curve"], chance)
    critic = learned["trainer"].modules[0]
    assert critic.weight.grad is not None
    # the rule made each pattern's synapses onto its rewarded action the strongest
    w, target = learned["weights_pA"], learned["target"]
    np.testing.assert_array_equal(w.argmax(1), target)


def test_broadcast_sets_the_modulator_only_while_it_runs():
    net = Network(dt=1.0, batch_size=3, seed=0)
    inp = net.add_poisson(6, 200.0, name="in")
    out = net.add_population(2, LIF(), name="out")
    net.add_modulator("da")
    p = net.connect(inp, out, weight=300.0, name="p",
                    plasticity=ThreeFactor(modulator="da", a_plus=1.0, a_minus=0.0, w_max=1e4, learning_rate=1.0))
    trainer = MixedTrainer(net)
    trainer.reset()
    trainer.run(20.0)
    w0 = p.weights.clone()
    assert torch.equal(w0, torch.full_like(w0, 300.0))          # no modulator: eligibility only
    trainer.broadcast("da", torch.tensor([1.0, 0.0, 2.0]), 1.0)
    assert (p.weights - w0).min() >= 0 and (p.weights - w0).max() > 0
    assert torch.equal(net.modulators["da"].value, torch.zeros(3, dtype=torch.float64))


# -- bad configurations and inputs ----------------------------------------------------------
def test_a_projection_cannot_be_both_plastic_and_gradient_trained():
    net, _, _ = small_net()
    with pytest.raises(ValueError, match="'plastic' is both plastic .*PairSTDP.* and gradient-trained"):
        MixedTrainer(net, gradient=["plastic"])


def test_plastic_projection_fed_by_gradient_carrying_group_is_rejected():
    net = Network(dt=1.0, batch_size=2)
    inp = net.add_poisson(4, 50.0, name="in")
    a = net.add_population(3, LIF(), name="a")
    b = net.add_population(3, LIF(), name="b")
    c = net.add_population(3, LIF(), name="c")
    net.connect(inp, a, weight=100.0, name="grad")
    net.connect(a, b, weight=100.0, name="fixed")
    net.connect(b, c, weight=50.0, name="stdp", plasticity=PairSTDP(w_max=200.0))
    with pytest.raises(ValueError, match="'stdp' is fed by 'b'.*gradient projection 'grad'"):
        MixedTrainer(net, gradient=["grad"])
    make_learnable(a, "tau_m")     # learnable neurons upstream of a plastic projection
    with pytest.raises(ValueError, match="'stdp' is fed by 'b'.*learnable parameters of 'a'"):
        MixedTrainer(net)
    net2, hidden, _ = small_net()
    tau = make_learnable(hidden, "tau_m")  # downstream of the plastic projection: fine, and trained
    trainer = MixedTrainer(net2, gradient=["readout"])
    assert any(p is tau.raw for p in trainer.parameters())


def test_bad_configurations_and_inputs_fail_clearly():
    net, hidden, _ = small_net()
    with pytest.raises(ValueError, match="'nope' is not in the network"):
        MixedTrainer(net, gradient=["nope"])
    with pytest.raises(ValueError, match="listed twice"):
        MixedTrainer(net, gradient=["readout", proj(net, "readout")])
    with pytest.raises(ValueError, match="must be a synaptica Network"):
        MixedTrainer("net")
    bare = Network(dt=1.0)
    bare.connect(bare.add_poisson(2, 10.0), bare.add_population(2, LIF()), weight=1.0)
    with pytest.raises(ValueError, match="nothing learns"):
        MixedTrainer(bare)
    net_trials, _, _ = small_net()
    net_trials.set_trials(20.0)
    with pytest.raises(ValueError, match="set_trials"):
        MixedTrainer(net_trials, gradient=["readout"])
    trainer = MixedTrainer(net, gradient=["readout"])
    with pytest.raises(ValueError, match=r"must have shape \(batch=4, n=16\) or \(16,\), got \(16, 4\)"):
        trainer.present({"in": np.zeros((16, 4))})           # time/batch and feature axes swapped
    with pytest.raises(ValueError, match="not a Poisson input"):
        trainer.present({"hidden": np.zeros((4, 12))})
    with pytest.raises(ValueError, match="no modulator 'da'"):
        trainer.broadcast("da", 1.0, 1.0)
    with pytest.raises(ValueError, match="scalar tensor"):
        trainer.update(torch.ones(3, requires_grad=True))
    with pytest.raises(ValueError, match="does not depend on any trained parameter"):
        trainer.update(torch.tensor(1.0))
    with pytest.raises(FloatingPointError, match="not finite"):
        trainer.update(proj(net, "readout").weights.sum() * float("nan"))
    plastic_only = MixedTrainer(small_net()[0])
    with pytest.raises(ValueError, match="nothing is trained by gradient"):
        plastic_only.update(torch.tensor(1.0, requires_grad=True))
