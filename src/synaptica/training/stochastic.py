"""Stochastic (escape-noise) LIF neurons whose internal parameters are learned with the weights.

Escape noise (Gerstner & Kistler 2002, ch. 5.3; Jolivet et al. 2006, J. Neurosci. Methods
"Predicting spike timing of neocortical pyramidal neurons by simple threshold models";
Pfister, Toyoizumi, Barber & Gerstner 2006, Neural Comput. 18:1318): instead of a hard
threshold, a neuron fires in each time step with a probability that grows with its membrane
potential. Per step (all quantities dimensionless, in units of the input current; time in steps):

    h_t = beta * u_{t-1} + I_t                          membrane before the spike decision
    p_t = 1 - exp(-rho0_dt * exp((h_t - theta) / delta_u))   ("exponential" escape rate), or
    p_t = sigmoid((h_t - theta) / delta_u)                   ("sigmoid" escape)
    s_t ~ Bernoulli(p_t)
    u_t = h_t + s_t * (v_reset - h_t)                   reset to ``v_reset`` (``reset="value"``),
    u_t = h_t                                           or no reset (``reset="none"``).

``rho0_dt`` is the escape rate at threshold times the step (rho_0 dt of Jolivet et al.), so at
``h = theta`` the exponential escape fires with probability ``1 - exp(-rho0_dt)``.

Learnable per neuron (through :mod:`synaptica.training.parametrise`): ``beta`` (membrane decay,
:class:`Bounded` in (0, 1)), ``theta`` (soft threshold, :class:`Unconstrained`), ``delta_u``
(noise width, :class:`Positive` above ``min_delta_u`` so the neuron never becomes deterministic
and the gradient never a delta function) and ``v_reset`` (:class:`Unconstrained`).

Gradient: the spike is sampled, but backpropagation uses the derivative of its *expectation*,
``ds/dh := dp/dh`` (the straight-through estimator for stochastic binary units of Bengio,
Leonard & Courville 2013, in the form ``s = p + stop_grad(sample - p)``). The escape function
is therefore its own surrogate: its width ``delta_u``, being learned, also sets the width of the
pseudo-derivative. No :class:`~synaptica.primitives.surrogate.Surrogate` is needed.

The step is written once (:func:`escape_step`, with the charge of
:mod:`synaptica.training.neuron`). On CPU the recurrence runs as one fused numba pass
forward and one backward (:func:`escape_noise_sequence`, serial, time-major), which compile
that step; :func:`escape_noise_sequence_reference` runs it on tensors with autograd, and the
tests compare the two and check the hand-written backward pass with ``gradcheck``.
"""
from __future__ import annotations

import math
from functools import lru_cache
from typing import Iterable

import numba
import numpy as np
import torch

from synaptica.primitives import bind, detach, exp, maximum, minimum, torch_primitives
from synaptica.training import kernels, neuron
from synaptica.training.functional import spike_linear
from synaptica.training.layers import check_finite, check_sequence
from synaptica.training.parametrise import Bounded, Positive, Unconstrained

ESCAPES = ("exponential", "sigmoid")
STOCHASTIC_RESETS = ("value", "none")
LEARNABLE = ("beta", "theta", "delta_u", "v_reset")
# The log-hazard is clamped to [-30, 12]: beyond, p is 1 or below 1e-13 and dp/dh is as
# good as 0, so nothing is lost, while far-negative arguments send exp() down its underflow
# path (measured ~70x slower in torch on x86).
_LOG_HAZARD_RANGE = (-30.0, 12.0)


# --- The neuron, written once (module formulas) --------------------------------------
# Plain arithmetic and primitives: those of synaptica.primitives plus ``expm1``,
# ``sigmoid`` and ``sample`` (a Bernoulli draw from a given uniform). As written they run
# on NumPy; :func:`_torch_step` binds them to torch (the reference, with autograd) and the
# fused kernels below compile them with numba's scalar versions.

charge = neuron.charge
expm1 = np.expm1  # NumPy versions of the extra primitives


def sigmoid(x):
    return 1.0 / (1.0 + exp(-x))


def sample(uniform, p):
    return (uniform < p) * 1.0


def probability(h, theta, delta_u, exponential, log_rho, lo, hi):
    """Firing probability of membrane ``h``: ``exponential`` escape (log-hazard clamped to
    [lo, hi]) or sigmoid escape."""
    x = (h - theta) / delta_u
    if exponential:
        return -expm1(-exp(minimum(maximum(x + log_rho, lo), hi)))
    return sigmoid(x)


def reset_to_value(h, s, v_reset, reset_value):
    """Membrane after the spike decision: ``v_reset`` after a spike, or no reset."""
    return h + detach(s) * (v_reset - h) if reset_value else h


def escape_step(u, current, uniform, beta, theta, delta_u, v_reset, exponential, log_rho, lo, hi, reset_value):
    """One step: ``(h_t, p_t, s_t, u_t)`` from ``u_{t-1}``, ``I_t`` and the draw ``uniform``."""
    h = charge(u, current, beta)
    p = probability(h, theta, delta_u, exponential, log_rho, lo, hi)
    s = sample(uniform, p)
    return h, p, s, reset_to_value(h, s, v_reset, reset_value)


def _bound(primitives: dict, wrap=lambda f: f) -> dict:
    """The functions above with ``primitives`` (and neuron.charge), by name."""
    table = dict(primitives)
    table["charge"] = neuron.bind_all(primitives, wrap)["charge"]
    for function in (probability, reset_to_value, escape_step):
        table[function.__name__] = wrap(bind(function, table))
    return table


@lru_cache(maxsize=None)
def _torch_step(detach_reset: bool):
    def straight_through(uniform, p):  # the sample forward, dp/dh backward (module doc)
        return p + ((uniform < p).to(p.dtype) - p).detach()

    primitives = {**torch_primitives(None, detach_reset), "expm1": torch.expm1, "sigmoid": torch.sigmoid,
                  "sample": straight_through}
    return _bound(primitives)


def escape_probability(h: torch.Tensor, theta: torch.Tensor, delta_u: torch.Tensor,
                       escape: str = "exponential", rho0_dt: float = 1.0) -> torch.Tensor:
    """Firing probability per step of a membrane ``h`` (module formulas), elementwise.

    ``theta``, ``delta_u`` broadcast against ``h`` (e.g. (N,) against (B, N)).
    """
    if escape not in ESCAPES:
        raise ValueError(f"escape must be one of {ESCAPES}, got {escape!r}")
    return _torch_step(False)["probability"](h, theta, delta_u, escape == "exponential", math.log(rho0_dt),
                                             *_LOG_HAZARD_RANGE)


def escape_noise_sequence_reference(current: torch.Tensor, uniform: torch.Tensor, beta: torch.Tensor,
                                    theta: torch.Tensor, delta_u: torch.Tensor, v_reset: torch.Tensor,
                                    u0: torch.Tensor | None = None, escape: str = "exponential",
                                    rho0_dt: float = 1.0, reset: str = "value", detach_reset: bool = False
                                    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Plain-PyTorch escape-noise recurrence (module formulas), autograd through every step:
    the definition the fused kernel (:func:`escape_noise_sequence`) is tested against.

    ``uniform`` (T, B, N) holds the U(0, 1) draws: a spike is ``uniform < p``.
    """
    if escape not in ESCAPES:
        raise ValueError(f"escape must be one of {ESCAPES}, got {escape!r}")
    step = _torch_step(detach_reset)["escape_step"]
    flags = (escape == "exponential", math.log(rho0_dt), *_LOG_HAZARD_RANGE, reset == "value")
    u = current.new_zeros(current.shape[1:]) if u0 is None else u0
    spikes, probabilities = [], []
    for i_t, r_t in zip(current.unbind(0), uniform.unbind(0)):
        _, p, s, u = step(u, i_t, r_t, beta, theta, delta_u, v_reset, *flags)
        spikes.append(s)
        probabilities.append(p)
    return torch.stack(spikes), torch.stack(probabilities), u


def escape_noise_sequence(current: torch.Tensor, uniform: torch.Tensor, beta: torch.Tensor, theta: torch.Tensor,
                          delta_u: torch.Tensor, v_reset: torch.Tensor, u0: torch.Tensor | None = None,
                          escape: str = "exponential", rho0_dt: float = 1.0, reset: str = "value",
                          detach_reset: bool = False) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Escape-noise LIF over ``current`` (T, B, N) with draws ``uniform`` (T, B, N); per-neuron
    ``beta``, ``theta``, ``delta_u``, ``v_reset`` of shape (N,).

    Returns ``(spikes (T, B, N), p (T, B, N), u_final (B, N))``, gradients to ``current``,
    the four parameters and ``u0``. On CPU (float32/float64) one fused forward and one
    backward pass (numba) replace the ~20 small tensor ops per step of
    :func:`escape_noise_sequence_reference`, with the same results.
    """
    if escape not in ESCAPES:
        raise ValueError(f"escape must be one of {ESCAPES}, got {escape!r}")
    if reset not in STOCHASTIC_RESETS:
        raise ValueError(f"reset must be one of {STOCHASTIC_RESETS}, got {reset!r}")
    if current.dim() != 3 or uniform.shape != current.shape:
        raise ValueError(f"escape_noise_sequence: expected current (T, B, N) and uniform of the same shape, "
                         f"got {tuple(current.shape)} and {tuple(uniform.shape)}")
    n = current.shape[2]
    params = [torch.as_tensor(x, dtype=current.dtype).expand(n) for x in (beta, theta, delta_u, v_reset)]
    u0 = current.new_zeros(current.shape[1:]) if u0 is None else u0
    tensors = (current, uniform, u0, *params)
    if not all(t.device.type == "cpu" and t.dtype == current.dtype for t in tensors) \
            or current.dtype not in (torch.float32, torch.float64):
        return escape_noise_sequence_reference(current, uniform, *params, u0, escape, rho0_dt, reset, detach_reset)
    spikes, prob, u_final, _ = torch.ops.synaptica.escape_noise_sequence(
        current, uniform, *params, u0, escape == "exponential", math.log(rho0_dt), reset == "value", detach_reset)
    return spikes, prob, u_final


@numba.njit(inline="always", fastmath=True, error_model="numpy")
def _sigmoid_scalar(x):
    return 1.0 / (1.0 + math.exp(-x))


@numba.njit(inline="always", fastmath=True, error_model="numpy")
def _sample_scalar(uniform, p):
    return 1.0 if uniform < p else 0.0


_NUMBA = _bound({**kernels.SCALAR_PRIMITIVES, "expm1": math.expm1, "sigmoid": _sigmoid_scalar,
                 "sample": _sample_scalar}, numba.njit(inline="always", fastmath=True, error_model="numpy"))
_escape_step_numba, _reset_numba = _NUMBA["escape_step"], _NUMBA["reset_to_value"]


def _escape_kernels(source: str):
    """The fused passes; ``source`` (kernels.SOURCE) puts neuron.py in the cache key."""

    # Time-major loops (t outer, contiguous (B, N) slices inner): ~10x faster than
    # per-neuron time loops, whose strided reads miss the cache.
    @numba.njit(cache=True, nogil=True)
    def forward(current, uniform, beta, theta, delta_u, v_reset, u0, exponential, log_rho, reset_value,
                lo, hi, spikes, prob, h_store, u_final):
        source  # noqa: B018 (a closure variable: part of the cache key)
        n_steps, batch, n = current.shape
        u = u0.copy()
        for t in range(n_steps):
            for b in range(batch):
                for j in range(n):
                    h, p, s, u_new = _escape_step_numba(u[b, j], current[t, b, j], uniform[t, b, j], beta[j],
                                                        theta[j], delta_u[j], v_reset[j], exponential, log_rho,
                                                        lo, hi, reset_value)
                    h_store[t, b, j] = h
                    prob[t, b, j] = p
                    spikes[t, b, j] = s
                    u[b, j] = u_new
        u_final[:] = u

    @numba.njit(cache=True, nogil=True)
    def backward(grad_spikes, grad_prob, grad_u_final, spikes, prob, h_store, u0, beta, theta, delta_u,
                 v_reset, exponential, log_rho, reset_value, detach_reset, lo, hi,
                 grad_current, grad_u0, grad_params):
        """Reverse pass; ``grad_params`` (4, batch, n) collects beta, theta, delta_u, v_reset per row."""
        source  # noqa: B018
        n_steps, batch, n = h_store.shape
        gu = grad_u_final.copy()  # gradient with respect to u_t, carried backwards
        for t in range(n_steps - 1, -1, -1):
            for b in range(batch):
                for j in range(n):
                    h, s = h_store[t, b, j], spikes[t, b, j]
                    g_u = gu[b, j]
                    gs = grad_spikes[t, b, j]
                    if reset_value:  # u = h + s (v_reset - h)
                        gh = g_u * (1.0 - s)
                        grad_params[3, b, j] += g_u * s
                        if not detach_reset:
                            gs += g_u * (v_reset[j] - h)
                    else:
                        gh = g_u
                    gp = grad_prob[t, b, j] + gs  # the spike's gradient is its expectation's
                    x = (h - theta[j]) / delta_u[j]
                    if exponential:
                        z = x + log_rho
                        dp = math.exp(z - math.exp(z)) if lo <= z <= hi else 0.0  # as the clamp's gradient
                    else:
                        p = prob[t, b, j]
                        dp = p * (1.0 - p)
                    gx = gp * dp / delta_u[j]  # dL/dh through p
                    gh += gx
                    grad_params[1, b, j] -= gx
                    grad_params[2, b, j] -= gx * x
                    if t > 0:
                        u_prev = _reset_numba(h_store[t - 1, b, j], spikes[t - 1, b, j], v_reset[j], reset_value)
                    else:
                        u_prev = u0[b, j]
                    grad_current[t, b, j] = gh
                    grad_params[0, b, j] += gh * u_prev
                    gu[b, j] = gh * beta[j]
        grad_u0[:] = gu

    return forward, backward


_escape_forward, _escape_backward = _escape_kernels(kernels.SOURCE)


# The fused passes as opaque operators (torch.ops.synaptica.*), so that torch.compile
# treats them as single calls with known output shapes (see synaptica.training.functional).
@torch.library.custom_op("synaptica::escape_noise_sequence", mutates_args=())
def _escape_noise_op(current: torch.Tensor, uniform: torch.Tensor, beta: torch.Tensor, theta: torch.Tensor,
                     delta_u: torch.Tensor, v_reset: torch.Tensor, u0: torch.Tensor, exponential: bool,
                     log_rho: float, reset_value: bool,
                     detach_reset: bool) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(spikes, p, u_final, h) of the fused forward pass; h (T, B, N) is kept for the backward pass."""
    spikes, prob, h_store = (torch.empty(current.shape, dtype=current.dtype) for _ in range(3))
    u_final = current.new_empty(current.shape[1:])
    arrays = [x.detach().contiguous() for x in (current, uniform, beta, theta, delta_u, v_reset, u0)]
    _escape_forward(*(x.numpy() for x in arrays), exponential, log_rho, reset_value, *_LOG_HAZARD_RANGE,
                    spikes.numpy(), prob.numpy(), h_store.numpy(), u_final.numpy())
    return spikes, prob, u_final, h_store


@_escape_noise_op.register_fake
def _escape_noise_fake(current, uniform, beta, theta, delta_u, v_reset, u0, *flags):
    shape = tuple(current.shape)
    return current.new_empty(shape), current.new_empty(shape), current.new_empty(shape[1:]), current.new_empty(shape)


@torch.library.custom_op("synaptica::escape_noise_sequence_backward", mutates_args=())
def _escape_noise_backward_op(grad_spikes: torch.Tensor, grad_prob: torch.Tensor, grad_u_final: torch.Tensor,
                              spikes: torch.Tensor, prob: torch.Tensor, h_store: torch.Tensor, beta: torch.Tensor,
                              theta: torch.Tensor, delta_u: torch.Tensor, v_reset: torch.Tensor, u0: torch.Tensor,
                              exponential: bool, log_rho: float, reset_value: bool,
                              detach_reset: bool) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(grad current (T, B, N), grad of beta, theta, delta_u, v_reset stacked (4, N), grad u0 (B, N))."""
    grads = [g.detach().contiguous() for g in (grad_spikes, grad_prob, grad_u_final)]
    saved = [x.detach().contiguous() for x in (spikes, prob, h_store, u0, beta, theta, delta_u, v_reset)]
    grad_current = torch.empty(prob.shape, dtype=prob.dtype)
    grad_u0 = torch.empty(u0.shape, dtype=u0.dtype)
    grad_params = prob.new_zeros(4, *u0.shape)
    _escape_backward(*(g.numpy() for g in grads), *(x.numpy() for x in saved), exponential, log_rho,
                     reset_value, detach_reset, *_LOG_HAZARD_RANGE, grad_current.numpy(), grad_u0.numpy(),
                     grad_params.numpy())
    return grad_current, grad_params.sum(1), grad_u0


@_escape_noise_backward_op.register_fake
def _escape_noise_backward_fake(grad_spikes, grad_prob, grad_u_final, spikes, prob, h_store, beta, *rest):
    u0 = rest[3]
    return prob.new_empty(prob.shape), beta.new_empty(4, beta.shape[0]), u0.new_empty(u0.shape)


def _escape_noise_setup(ctx, inputs, output):
    current, uniform, beta, theta, delta_u, v_reset, u0, *flags = inputs
    spikes, prob, _, h_store = output
    ctx.save_for_backward(spikes, prob, h_store, beta, theta, delta_u, v_reset, u0)
    ctx.flags = flags


def _escape_noise_grad(ctx, grad_spikes, grad_prob, grad_u_final, _grad_h):
    spikes, prob, h_store, beta, theta, delta_u, v_reset, u0 = ctx.saved_tensors
    grads = [torch.zeros_like(ref) if g is None else g
             for g, ref in ((grad_spikes, prob), (grad_prob, prob), (grad_u_final, u0))]
    grad_current, per_neuron, grad_u0 = torch.ops.synaptica.escape_noise_sequence_backward(
        *grads, spikes, prob, h_store, beta, theta, delta_u, v_reset, u0, *ctx.flags)
    return (grad_current, None, *per_neuron.unbind(0), grad_u0, None, None, None, None)


_escape_noise_op.register_autograd(_escape_noise_grad, setup_context=_escape_noise_setup)


class EscapeNoiseNeurons(torch.nn.Module):
    """``n`` escape-noise LIF neurons (module doc) with per-neuron parameters.

    beta:      membrane decay per step in (0, 1) (``tau_m = -dt / ln beta``), scalar or (n,).
    theta:     soft threshold, scalar or (n,).
    delta_u:   noise width (> ``min_delta_u``), scalar or (n,); smaller is closer to a hard threshold.
    v_reset:   potential after a spike (``reset="value"``), scalar or (n,).
    rho0_dt:   escape rate at threshold times the step (exponential escape only), > 0, fixed.
    learn:     which of ``beta``, ``theta``, ``delta_u``, ``v_reset`` are trained (the others stay fixed).
    seed:      seed of the layer's own ``torch.Generator`` (spike sampling is reproducible and
               independent of the global RNG); None draws one from the global RNG.
    """

    def __init__(self, n: int, beta: float | torch.Tensor = 0.9, theta: float | torch.Tensor = 1.0,
                 delta_u: float | torch.Tensor = 0.2, v_reset: float | torch.Tensor = 0.0,
                 escape: str = "exponential", rho0_dt: float = 1.0, reset: str = "value",
                 detach_reset: bool = False, learn: Iterable[str] = LEARNABLE, min_delta_u: float = 1e-2,
                 seed: int | None = None) -> None:
        super().__init__()
        if int(n) <= 0:
            raise ValueError(f"n must be a positive number of neurons, got {n}")
        if escape not in ESCAPES:
            raise ValueError(f"escape must be one of {ESCAPES}, got {escape!r}")
        if reset not in STOCHASTIC_RESETS:
            raise ValueError(f"reset must be one of {STOCHASTIC_RESETS}, got {reset!r}")
        if not (rho0_dt > 0 and math.isfinite(rho0_dt)):
            raise ValueError(f"rho0_dt must be a finite number > 0, got {rho0_dt}")
        learn = tuple(learn)
        unknown = sorted(set(learn) - set(LEARNABLE))
        if unknown:
            raise ValueError(f"learn: unknown parameter(s) {unknown}; choose from {LEARNABLE}")
        self.n, self.escape, self.rho0_dt = int(n), escape, float(rho0_dt)
        self.reset, self.detach_reset = reset, detach_reset

        def per_neuron(value, name):
            value = torch.as_tensor(value, dtype=torch.get_default_dtype())
            if value.dim() > 1 or (value.dim() == 1 and value.shape[0] not in (1, self.n)):
                raise ValueError(f"{name}: expected a scalar or shape ({self.n},), got {tuple(value.shape)}")
            return value.expand(self.n).clone()

        self.beta = Bounded(per_neuron(beta, "beta"), 0.0, 1.0, "beta")
        self.theta = Unconstrained(per_neuron(theta, "theta"), "theta")
        self.delta_u = Positive(per_neuron(delta_u, "delta_u"), min_delta_u, "delta_u")
        self.v_reset = Unconstrained(per_neuron(v_reset, "v_reset"), "v_reset")
        for name in LEARNABLE:
            getattr(self, name).raw.requires_grad_(name in learn)
        self.generator = torch.Generator()
        self.generator.manual_seed(int(torch.randint(2**62, (1,)).item()) if seed is None else int(seed))

    def parameters_now(self) -> dict[str, torch.Tensor]:
        """Current constrained values, name -> (n,) tensor (detached)."""
        return {name: getattr(self, name)().detach() for name in LEARNABLE}

    def forward(self, current: torch.Tensor, u0: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Run over ``current`` (T, B, n). Returns ``(spikes (T, B, n), p (T, B, n), u_final (B, n))``.

        ``spikes`` hold sampled 0/1 values; their gradient is that of ``p`` (module doc).
        """
        if current.dim() != 3 or current.shape[2] != self.n:
            raise ValueError(f"EscapeNoiseNeurons: expected current of shape (T, B, {self.n}), "
                             f"got {tuple(current.shape)}")
        # one draw for the whole sequence from the layer's own generator: reproducible
        uniform = torch.rand(current.shape, generator=self.generator, dtype=current.dtype)
        return escape_noise_sequence(current, uniform, *(getattr(self, name)() for name in LEARNABLE), u0,
                                     self.escape, self.rho0_dt, self.reset, self.detach_reset)


class EscapeNoiseLIFLayer(torch.nn.Module):
    """Linear projection then escape-noise LIF neurons: (T, B, n_in) -> (T, B, n_out) spikes.

    The projection is :func:`~synaptica.training.functional.spike_linear` (sums of weight rows
    for binary sparse inputs). Extra keywords go to :class:`EscapeNoiseNeurons`. After
    ``forward`` the layer keeps ``last_v`` (final membrane, (B, n_out)) and ``last_p`` (firing
    probabilities, (T, B, n_out)), e.g. for a rate regulariser on the expectation.
    """

    def __init__(self, n_in: int, n_out: int, bias: bool = True, name: str = "escape", **neuron) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(n_in, n_out, bias=bias)
        self.neurons = EscapeNoiseNeurons(n_out, **neuron)
        self.n_in, self.n_out, self.name = n_in, n_out, name

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_sequence(x, self.n_in, f"{type(self).__name__} '{self.name}'")
        current = spike_linear(x, self.linear.weight, self.linear.bias)
        spikes, self.last_p, self.last_v = self.neurons(current)
        check_finite(self.last_v, current, self.name)
        return spikes
