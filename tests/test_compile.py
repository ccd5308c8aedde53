"""torch.compile around the fused kernels: registered as opaque custom operators (fake
shapes, autograd), a compiled model gives the eager model's outputs and gradients."""
import pytest
import torch

from synaptica.training import SpikingMLP, lif_sequence, spike_linear
from synaptica.training.stochastic import escape_noise_sequence


def _outputs_and_grads(model, x, forward=None):
    """Output and parameter gradients of ``forward`` (default: the model itself)."""
    model.zero_grad(set_to_none=True)
    out = (model if forward is None else forward)(x)
    (out * torch.linspace(0.5, 1.5, out.shape[-1], dtype=out.dtype)).sum().backward()
    return out.detach(), {name: p.grad.clone() for name, p in model.named_parameters()}


def _model(dtype):
    torch.manual_seed(0)
    model = SpikingMLP([20, 12, 5], learn_beta=True, learn_threshold=True).to(dtype)
    with torch.no_grad():  # strong weights: every layer spikes, so every kernel matters
        for layer in model.layers:
            layer.linear.weight.mul_(4.0)
    x = (torch.rand(6, 4, 20) < 0.2).to(dtype)
    return model, x


@pytest.mark.parametrize("backend", ["eager", "aot_eager"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_compiled_mlp_matches_eager(backend, dtype):
    torch._dynamo.reset()
    model, x = _model(dtype)
    out, grads = _outputs_and_grads(model, x)
    assert out.sum() > 0 and all(g.abs().sum() > 0 for g in grads.values())
    out_c, grads_c = _outputs_and_grads(model, x, torch.compile(model, backend=backend))
    tol = 1e-12 if dtype == torch.float64 else 1e-5
    assert torch.equal(out_c, out)
    for name in grads:
        assert torch.allclose(grads_c[name], grads[name], rtol=tol, atol=tol), name


def test_compiled_mlp_with_inductor_matches_eager():
    torch._dynamo.reset()
    model, x = _model(torch.float64)
    out, grads = _outputs_and_grads(model, x)
    out_c, grads_c = _outputs_and_grads(model, x, torch.compile(model, backend="inductor"))
    assert torch.equal(out_c, out)
    for name in grads:
        assert torch.allclose(grads_c[name], grads[name], rtol=1e-10, atol=1e-12), name


def test_compiled_fused_ops_are_single_calls_in_the_graph():
    """fullgraph=True: the kernels trace as operators, not as a graph break."""
    torch._dynamo.reset()
    current = torch.randn(5, 3, 4, dtype=torch.float64) * 2
    beta, theta = torch.full((4,), 0.9, dtype=torch.float64), torch.ones(4, dtype=torch.float64)
    x = (torch.rand(5, 3, 4) < 0.3).double()
    w = torch.randn(6, 4, dtype=torch.float64)

    def run(current, x, w):
        spikes, v = lif_sequence(current, beta, theta, surrogate="arctan")
        return spike_linear(x, w).sum() + spikes.sum() + v.sum()

    compiled = torch.compile(run, backend="aot_eager", fullgraph=True)
    assert torch.allclose(compiled(current, x, w), run(current, x, w), rtol=1e-12, atol=0)


@pytest.mark.parametrize("escape", ["exponential", "sigmoid"])
def test_compiled_escape_noise_matches_eager(escape):
    torch._dynamo.reset()
    torch.manual_seed(1)
    current = (torch.randn(7, 3, 5, dtype=torch.float64) * 1.5).requires_grad_()
    uniform = torch.rand(7, 3, 5, dtype=torch.float64)
    params = [torch.tensor(v, dtype=torch.float64).expand(5).clone().requires_grad_()
              for v in (0.8, 0.5, 0.3, -0.2)]

    def run(current, *params):
        spikes, p, u = escape_noise_sequence(current, uniform, *params, escape=escape)
        return spikes.sum() + (p * p).sum() + u.sum()

    grads = torch.autograd.grad(run(current, *params), [current, *params])
    compiled = torch.compile(run, backend="aot_eager", fullgraph=True)
    grads_c = torch.autograd.grad(compiled(current, *params), [current, *params])
    for g, g_c in zip(grads, grads_c):
        assert g.abs().sum() > 0
        assert torch.allclose(g_c, g, rtol=1e-12, atol=1e-14)


def test_operators_pass_torch_library_opcheck():
    """Schema, fake (meta) implementation and autograd registration checked by torch itself."""
    current = torch.randn(4, 2, 3, dtype=torch.float64, requires_grad=True)
    beta = torch.full((3,), 0.9, dtype=torch.float64, requires_grad=True)
    theta = torch.ones(3, dtype=torch.float64, requires_grad=True)
    v0 = torch.zeros(2, 3, dtype=torch.float64)
    torch.library.opcheck(torch.ops.synaptica.lif_sequence.default,
                          (current, beta, theta, v0, False, False, "fast_sigmoid", 0.5))
    x = (torch.rand(8, 3) < 0.3).double()
    w = torch.randn(5, 3, dtype=torch.float64, requires_grad=True)
    b = torch.zeros(5, dtype=torch.float64, requires_grad=True)
    torch.library.opcheck(torch.ops.synaptica.spike_linear.default, (x, w, b, 2))
    uniform = torch.rand(4, 2, 3, dtype=torch.float64)
    params = [torch.full((3,), v, dtype=torch.float64, requires_grad=True) for v in (0.8, 0.5, 0.3, 0.0)]
    torch.library.opcheck(torch.ops.synaptica.escape_noise_sequence.default,
                          (current, uniform, *params, v0, True, 0.0, True, False))
