"""Gradient training: fused kernels against plain PyTorch, surrogates, parametrisations,
losses, bad input, NaN reporting, exact resume, the memory-lean rule and BPTT through
engine networks."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from synaptica.training import (Bounded, LIFLayer, Positive, RecurrentLIFLayer, SpikingMLP, Surrogate,
                                count_mse, first_spike_times, firing_rate_regulariser, hoyer_regulariser,
                                lif_sequence, lif_sequence_reference, spike_linear, surrogate_derivative)
from synaptica.training.online import online_backward
from synaptica.training.trainer import Trainer
from synaptica.training.losses import spike_count_cross_entropy


def plain_pytorch_forward(x, w1, b1, w2, b2, beta=0.9, threshold=1.0, width=0.5):
    """An independent reference: nn.functional.linear + an explicit LIF loop with an
    arctan surrogate written out here (subtractive reset, gradient through the reset)."""

    class Spike(torch.autograd.Function):
        @staticmethod
        def forward(ctx, u):
            ctx.save_for_backward(u)
            return (u >= 0).float()

        @staticmethod
        def backward(ctx, g):
            (u,) = ctx.saved_tensors
            return g / (1 + (math.pi / 2 * u / width) ** 2)

    def layer(inp, w, b):
        cur = torch.nn.functional.linear(inp, w, b)
        v = torch.zeros_like(cur[0])
        out = []
        for c in cur.unbind(0):
            h = beta * v + c
            s = Spike.apply(h - threshold)
            v = h - threshold * s
            out.append(s)
        return torch.stack(out)

    return layer(layer(x, w1, b1), w2, b2)


def test_gradients_equal_plain_pytorch_on_the_benchmark_network():
    torch.manual_seed(0)
    model = SpikingMLP([784, 512, 10], beta=0.9, threshold=1.0, surrogate="arctan")
    model.keep_hidden = True
    with torch.no_grad():  # stronger weights so that both layers spike
        for layer in model.layers:
            layer.linear.weight.mul_(6.0)
    x = (torch.rand(25, 16, 784) < 0.13).float()
    labels = torch.randint(0, 10, (16,))
    out = model(x)
    assert out.sum() > 0 and model.hidden_spikes[0].mean() > 0.01
    spike_count_cross_entropy(out, labels).backward()
    params = [p.detach().clone().requires_grad_() for p in
              (model.layers[0].linear.weight, model.layers[0].linear.bias,
               model.layers[1].linear.weight, model.layers[1].linear.bias)]
    ref = plain_pytorch_forward(x, *params)
    assert torch.equal(ref, out.detach())
    torch.nn.functional.cross_entropy(ref.sum(0), labels).backward()
    ours = [model.layers[0].linear.weight.grad, model.layers[0].linear.bias.grad,
            model.layers[1].linear.weight.grad, model.layers[1].linear.bias.grad]
    for g, p in zip(ours, params):
        assert p.grad.abs().max() > 0
        torch.testing.assert_close(g, p.grad, rtol=0, atol=1e-5)


@pytest.mark.parametrize("reset", ["subtract", "zero"])
@pytest.mark.parametrize("detach_reset", [False, True])
@pytest.mark.parametrize("surrogate", ["fast_sigmoid", "arctan", "triangle", "exponential", "straight_through"])
def test_fused_lif_matches_reference(reset, detach_reset, surrogate):
    g = torch.Generator().manual_seed(1)
    current = (0.8 * torch.randn(30, 3, 6, generator=g, dtype=torch.float64) + 0.3).requires_grad_()
    beta = torch.linspace(0.5, 0.95, 6, dtype=torch.float64).requires_grad_()
    threshold = torch.linspace(0.8, 1.2, 6, dtype=torch.float64).requires_grad_()
    v0 = torch.randn(3, 6, generator=g, dtype=torch.float64).requires_grad_()
    w_s, w_v = torch.randn(30, 3, 6, generator=g, dtype=torch.float64), torch.randn(3, 6, generator=g, dtype=torch.float64)
    results = []
    for fn in (lif_sequence, lif_sequence_reference):
        s, v = fn(current, beta, threshold, v0, reset, detach_reset, surrogate)
        grads = torch.autograd.grad((s * w_s).sum() + (v * w_v).sum(), [current, beta, threshold, v0])
        results.append((s, v, *grads))
    assert results[0][0].sum() > 10  # neurons do spike
    for a, b in zip(*results):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10)


def test_surrogate_closed_forms():
    x = torch.tensor([0.0, 0.5, -0.5, 2.0])
    assert torch.allclose(surrogate_derivative(x, "fast_sigmoid", 0.5), torch.tensor([1.0, 0.25, 0.25, 1 / 25]))
    assert torch.allclose(surrogate_derivative(x, "arctan", 0.5), 1 / (1 + (math.pi * x) ** 2))
    assert torch.allclose(surrogate_derivative(x, "triangle", 1.0), torch.tensor([1.0, 0.5, 0.5, 0.0]))
    assert torch.allclose(surrogate_derivative(x, "exponential", 0.5), torch.exp(-2 * x.abs()))
    assert torch.equal(surrogate_derivative(x, "straight_through", 1.0), torch.tensor([1.0, 1.0, 1.0, 0.0]))
    u = torch.tensor([-0.1, 0.0, 0.3], requires_grad=True)
    s = Surrogate("triangle", 0.2)(u)
    assert torch.equal(s, torch.tensor([0.0, 1.0, 1.0]))
    s.sum().backward()
    assert torch.allclose(u.grad, torch.tensor([0.5, 1.0, 0.0]))
    with pytest.raises(ValueError, match="unknown surrogate"):
        Surrogate("sigmoidish")
    with pytest.raises(ValueError, match="width must be > 0"):
        Surrogate("arctan", -1.0)


def test_parametrisations_stay_in_range():
    tau = Positive(torch.tensor([5.0, 20.0]), name="tau")
    assert torch.allclose(tau(), torch.tensor([5.0, 20.0]))
    beta = Bounded(torch.tensor([0.5, 0.99]), 0.0, 1.0, name="beta")
    assert torch.allclose(beta(), torch.tensor([0.5, 0.99]))
    opt = torch.optim.SGD([tau.raw, beta.raw], lr=1e4)
    for _ in range(5):  # huge steps that would make a raw time constant negative
        opt.zero_grad()
        (tau().sum() + beta().sum()).backward()
        opt.step()
    assert (tau() > 0).all() and torch.isfinite(tau()).all()
    assert ((beta() >= 0) & (beta() <= 1)).all()
    with pytest.raises(ValueError, match="must be > 0"):
        Positive(torch.tensor([-1.0]), name="tau")
    with pytest.raises(ValueError, match="strictly inside"):
        Bounded(torch.tensor([1.0]), 0.0, 1.0, name="beta")


def test_learnable_neuron_parameters_receive_gradients():
    torch.manual_seed(0)
    layer = LIFLayer(20, 8, learn_beta=True, learn_threshold=True, beta_spread=0.3)
    assert layer.neurons.beta().std() > 0  # heterogeneous initialisation
    with torch.no_grad():
        layer.linear.weight.mul_(5)
    out = layer((torch.rand(40, 4, 20) < 0.3).float())
    out.sum().backward()
    assert layer.neurons.beta_param.raw.grad.abs().sum() > 0
    assert layer.neurons.threshold_param.raw.grad.abs().sum() > 0


def test_spike_linear_sparse_equals_dense_and_falls_back():
    torch.manual_seed(0)
    w, b = torch.randn(50, 300, requires_grad=True), torch.randn(50, requires_grad=True)
    for x in ((torch.rand(40, 300) < 0.1).float(), torch.rand(40, 300)):  # binary sparse; then real-valued
        x.requires_grad_()
        grads = []
        for fn in (spike_linear, torch.nn.functional.linear):
            y = fn(x, w, b)
            grads.append((y, *torch.autograd.grad((y * y).sum(), [x, w, b])))
        for a, c in zip(*grads):
            torch.testing.assert_close(a, c, rtol=1e-5, atol=1e-4)


def test_shape_errors_name_expected_and_given():
    model = SpikingMLP([64, 32, 10])
    with pytest.raises(ValueError, match=r"expected input of shape \(T, B, 64\).*got \(25, 8, 63\)"):
        model(torch.zeros(25, 8, 63))
    trainer = Trainer(model, n_steps=25, batch_size=8)
    with pytest.raises(ValueError, match=r"look batch-major; expected \(T, B, F\) = \(25, 8, 64\)"):
        trainer.train_step(torch.zeros(8, 25, 64), torch.zeros(8, dtype=torch.long))
    with pytest.raises(ValueError, match="labels must have shape"):
        trainer.fit(np.zeros((10, 64)), np.zeros(9))
    with pytest.raises(ValueError, match="in \\[0, 1\\]"):
        trainer.fit(np.full((10, 64), np.nan), np.zeros(10))


def test_nan_names_population_and_step():
    model = SpikingMLP([16, 8, 4])
    x = (torch.rand(20, 2, 16) < 0.5).float()
    x[7, 1, 3] = float("nan")
    with pytest.raises(FloatingPointError, match="population 'hidden1'.*step 7"):
        model(x)


def test_engine_nan_names_population_and_step():
    from synaptica import Network
    from synaptica.neurons import LIF

    net = Network(dt=1.0)
    src = net.add_spike_generator(1, times_ms=[3.0], ids=[0])
    pop = net.add_population(3, LIF(), name="exc")
    proj = net.connect(src, pop, weight=np.ones((1, 3)))
    with torch.no_grad():
        proj.weights[0, 1] = float("nan")  # e.g. a diverged gradient step: refused before a run
    with pytest.raises(FloatingPointError, match=r"projection '.*': weights contain NaN or infinity \(first at index "
                                                 r"\(0, 1\)\)"):
        net.run(10.0, backend="torch")
    with torch.no_grad():
        proj.weights[0, 1] = 1.0
    pop.i_ext[0, 1] = float("inf")         # a state that turns non-finite during the run
    with pytest.raises(FloatingPointError, match=r"population 'exc': state 'v' is not finite \(neuron 1, batch "
                                                 r"entry 0\); it became so between step 0 and step 9"):
        net.run(10.0, backend="torch")


def test_losses_and_regularisers_closed_forms():
    spikes = torch.zeros(5, 1, 3)
    spikes[2, 0, 0] = 1
    spikes[0, 0, 1] = 1
    assert torch.equal(first_spike_times(spikes), torch.tensor([[2.0, 0.0, 5.0]]))
    counts_target = count_mse(torch.ones(10, 2, 3), torch.tensor([0, 2]), 0.8, 0.2)
    # counts 10 everywhere; targets 8 (correct) and 2 (others): ((2^2)*2 + (8^2)*4) / 6
    assert math.isclose(float(counts_target), (2 * 4 + 4 * 64) / 6, rel_tol=1e-6)
    assert math.isclose(float(hoyer_regulariser(torch.tensor([1.0, 0.0, 0.0]))), 1.0, rel_tol=1e-6)
    assert math.isclose(float(hoyer_regulariser(torch.ones(4))), 4.0, rel_tol=1e-6)
    rates = torch.zeros(10, 1, 2)
    rates[:, 0, 0] = 1.0  # neuron 0 rate 1, neuron 1 rate 0
    assert math.isclose(float(firing_rate_regulariser(rates, 0.1, 0.5)), ((0.5 ** 2) + (0.1 ** 2)) / 2, rel_tol=1e-6)


def test_recurrent_mask_keeps_absent_synapses_at_zero_gradient():
    torch.manual_seed(0)
    layer = RecurrentLIFLayer(10, 12, recurrent_density=0.3)
    with torch.no_grad():
        layer.linear.weight.mul_(5)
    layer((torch.rand(30, 3, 10) < 0.5).float()).sum().backward()
    grad = layer.recurrent.grad
    assert grad[layer.recurrent_mask == 0].abs().max() == 0
    assert grad[layer.recurrent_mask == 1].abs().max() > 0


def test_online_rule_equals_bptt_for_one_step():
    """With T = 1 there is no temporal credit to assign: OTTT's gradient is BPTT's."""
    torch.manual_seed(0)
    model = SpikingMLP([30, 20, 5])
    with torch.no_grad():
        for layer in model.layers:
            layer.linear.weight.mul_(4)
    x, labels = (torch.rand(1, 6, 30) < 0.5).float(), torch.randint(0, 5, (6,))
    online_backward(model, x, labels, spike_count_cross_entropy)
    online = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    spike_count_cross_entropy(model(x), labels).backward()
    assert any(g.abs().sum() > 0 for g in online)
    for a, p in zip(online, model.parameters()):
        torch.testing.assert_close(a, p.grad, rtol=1e-5, atol=1e-6)


def test_training_learns_and_resumes_exactly(tmp_path):
    from synaptica.datasets import load_images

    x, y, _ = load_images("digits")
    x, y = x[:384], y[:384]

    def make():
        torch.manual_seed(3)
        return Trainer(SpikingMLP([64, 48, 10]), lr=3e-3, n_steps=10, batch_size=32, seed=3, checkpoint_every=2)

    full = make().fit(x, y, epochs=3)
    assert full.history[-1]["train_accuracy"] > 0.5  # chance is 0.1
    path = tmp_path / "ckpt.npz"

    class Stop(Exception):
        pass

    def interrupt(done, total):
        if done == 17:
            raise Stop

    with pytest.raises(Stop):
        make().fit(x, y, epochs=3, checkpoint=path, progress=interrupt)
    resumed = make().fit(x, y, epochs=3, checkpoint=path)
    for a, b in zip(full.model.state_dict().values(), resumed.model.state_dict().values()):
        assert torch.equal(a, b)
    assert resumed.history == [{**h, "seconds": r["seconds"]} for h, r in zip(full.history, resumed.history)]
    path.write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="unreadable"):
        make().fit(x, y, epochs=3, checkpoint=path)


def test_bptt_through_engine_network_with_learnable_parameters_and_delays():
    from synaptica import Network
    from synaptica.neurons import LIF
    from synaptica.training import make_learnable

    net = Network(dt=1.0, seed=2)
    src = net.add_spike_generator(4, times_ms=[1.0, 2.0, 3.0, 4.0], ids=[0, 1, 2, 3])
    pop = net.add_population(3, LIF(v_th=-64.0, t_ref=0.0), name="out")
    proj = net.connect(src, pop, weight=np.full((4, 3), 40.0), delay=np.array([[1.0, 2, 3]] * 3 + [[30.0, 30, 30]]))
    pop.surrogate = Surrogate("exponential", 1.0)
    tau = make_learnable(pop, "tau_m")
    proj.weights.requires_grad_(True)
    net.run(10.0, backend="torch")
    loss = pop.state["v"].sum()
    loss.backward()
    assert tau.raw.grad is not None and tau.raw.grad.abs().sum() > 0
    grad = proj.weights.grad
    assert grad[:3].abs().min() > 0    # delivered within the run: they shape v
    assert grad[3].abs().max() == 0    # delay 30 ms: never delivered in 10 ms
    with pytest.raises(ValueError, match="not a numeric parameter"):
        make_learnable(pop, "reset")


def test_fused_kernel_refuses_a_second_backward_with_a_clear_message():
    current = torch.randn(5, 2, 3, requires_grad=True)
    spikes, v = lif_sequence(current * 3, torch.full((3,), 0.9), torch.ones(3))
    loss = spikes.sum() + v.sum()
    loss.backward(retain_graph=True)
    with pytest.raises(RuntimeError, match="backpropagate through it once"):
        loss.backward()


# --- Hand-written backward passes against finite differences (torch.autograd.gradcheck, float64) ---
# The spikes' surrogate gradient is by design not the derivative of the Heaviside forward, so
# gradcheck sees the outputs whose forward is differentiable: the final membrane with a
# detached reset (the spikes then enter as constants), the firing probabilities. The
# surrogate terms are checked against autograd through the reference step
# (test_fused_lif_matches_reference, to 1e-10).

def _recomputed(fn):
    """``fn`` (tensors -> one tensor) with a backward that runs ``fn`` again each time:
    gradcheck backpropagates several times through one graph, while the fused LIF
    kernel's backward consumes its saved state (it refuses a second backward)."""

    class Recomputed(torch.autograd.Function):
        @staticmethod
        def forward(ctx, *inputs):
            ctx.save_for_backward(*inputs)
            return fn(*inputs).detach()

        @staticmethod
        def backward(ctx, grad):
            inputs = [x.detach().requires_grad_(x.requires_grad) for x in ctx.saved_tensors]
            with torch.enable_grad():
                wanted = [x for x in inputs if x.requires_grad]
                grads = iter(torch.autograd.grad(fn(*inputs), wanted, grad, allow_unused=True))
            return tuple(next(grads) if x.requires_grad else None for x in inputs)

    return Recomputed.apply


def _away_from_threshold(h: torch.Tensor, threshold: torch.Tensor, margin: float = 1e-3) -> bool:
    return bool(((h - threshold).abs() > margin).all())


@pytest.mark.parametrize("reset", ["subtract", "zero"])
@pytest.mark.parametrize("learn_beta", [True, False])
def test_gradcheck_fused_lif(reset, learn_beta):
    g = torch.Generator().manual_seed(3)
    current = (0.6 * torch.randn(7, 2, 3, generator=g, dtype=torch.float64) + 0.4).requires_grad_()
    beta = torch.tensor([0.6, 0.8, 0.95], dtype=torch.float64, requires_grad=learn_beta)
    threshold = torch.tensor([0.7, 1.0, 1.2], dtype=torch.float64, requires_grad=True)
    v0 = (0.3 * torch.randn(2, 3, generator=g, dtype=torch.float64)).requires_grad_()
    spikes, _ = lif_sequence(current, beta, threshold, v0, reset, True)
    assert spikes.sum() >= 3  # resets happen, so their gradient is exercised
    # every h is far from threshold next to gradcheck's 1e-6 steps: no spike flips
    h, v = [], v0.detach()
    for i_t, s_t in zip(current.detach(), spikes):
        h.append(beta.detach() * v + i_t)
        v = h[-1] - s_t * (h[-1] if reset == "zero" else threshold.detach())
    assert _away_from_threshold(torch.stack(h), threshold.detach())
    inputs = (current, beta, threshold, v0)
    assert torch.autograd.gradcheck(_recomputed(lambda *a: lif_sequence(*a, reset, True)[1]), inputs)


def test_gradcheck_spike_linear():
    """Sparse forward and backward at a binary input; gradcheck's perturbed (non-binary)
    inputs take the dense path, so the check also ties the two paths together."""
    from synaptica.training.functional import binary_rows

    g = torch.Generator().manual_seed(4)
    x = (torch.rand(3, 4, 9, generator=g) < 0.2).to(torch.float64).requires_grad_()
    assert binary_rows(x.detach().reshape(-1, 9).numpy()) is not None  # the sparse path is taken
    w = torch.randn(5, 9, generator=g, dtype=torch.float64, requires_grad=True)
    b = torch.randn(5, generator=g, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(spike_linear, (x, w, b))
    assert torch.autograd.gradcheck(lambda w, b: spike_linear(x.detach(), w, b), (w, b))


@pytest.mark.parametrize("escape", ["exponential", "sigmoid"])
@pytest.mark.parametrize("reset", ["value", "none"])
def test_gradcheck_escape_noise_kernel(escape, reset):
    from synaptica.training.stochastic import escape_noise_sequence

    g = torch.Generator().manual_seed(5)
    current = (0.5 * torch.randn(6, 2, 3, generator=g, dtype=torch.float64) + 0.5).requires_grad_()
    uniform = torch.rand(6, 2, 3, generator=g, dtype=torch.float64)
    params = [torch.tensor(v, dtype=torch.float64, requires_grad=True)
              for v in ([0.7, 0.85, 0.9], [0.8, 1.0, 1.1], [0.2, 0.3, 0.25], [0.0, -0.2, 0.1])]
    u0 = (0.2 * torch.randn(2, 3, generator=g, dtype=torch.float64)).requires_grad_()
    spikes, p, _ = escape_noise_sequence(current, uniform, *params, u0, escape, 0.5, reset, True)
    assert 3 <= spikes.sum() < spikes.numel() - 3
    assert bool(((uniform - p.detach()).abs() > 1e-4).all())  # no draw flips under gradcheck's steps

    def outputs(current, *rest):  # probabilities and final membrane; the reset is detached
        _, p, u = escape_noise_sequence(current, uniform, *rest, escape, 0.5, reset, True)
        return p, u

    assert torch.autograd.gradcheck(outputs, (current, *params, u0))


# --- One definition, every path ---

@pytest.mark.parametrize("name", ["fast_sigmoid", "arctan", "triangle", "exponential", "straight_through"])
def test_surrogate_single_definition_on_floats_numpy_and_tensors(name):
    x = np.array([-0.7, -0.05, 0.0, 0.03, 0.4, 2.0])
    on_numpy = np.asarray(surrogate_derivative(x, name, 0.5), dtype=float)
    on_floats = [float(surrogate_derivative(float(v), name, 0.5)) for v in x]
    on_tensor = surrogate_derivative(torch.tensor(x), name, 0.5)
    assert on_tensor.dtype == torch.float64
    np.testing.assert_allclose(on_floats, on_numpy, rtol=1e-15)
    np.testing.assert_allclose(on_tensor.numpy(), on_numpy, rtol=1e-15)


def test_kernels_follow_the_application_threads_and_give_the_same_result():
    """With two torch threads the spike-list products run serially or on two threads,
    whichever is timed faster; both give the same numbers as one thread."""
    from synaptica.training import parallel

    torch.manual_seed(0)
    model = SpikingMLP([300, 200, 10], beta=0.9)
    with torch.no_grad():
        model.layers[0].linear.weight.mul_(4.0)
    x = (torch.rand(20, 64, 300) < 0.1).float()
    used = []
    run = parallel.run

    def counting(*args):
        used.append(run(*args))
        return used[-1]

    results = []
    for threads, calls in ((1, 1), (2, 6)):  # 6 calls: each form is tried (twice) at first
        torch.set_num_threads(threads)
        parallel.run = counting
        try:
            for _ in range(calls):
                model.zero_grad()
                out = model(x)
                out.sum().backward()
                results.append([out] + [p.grad.clone() for p in model.parameters()])
        finally:
            parallel.run = run
            torch.set_num_threads(1)
    assert set(used) == {1, 2}
    for later in results[1:]:
        for a, b in zip(results[0], later):
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
