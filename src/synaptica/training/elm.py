"""The Expressive Leaky Memory (ELM) neuron as a trainable recurrent layer.

Spieler, Rahaman, Martius, Schoelkopf & Levina (2024), "The expressive leaky memory
neuron: an efficient and expressive phenomenological neuron model that can solve
long-horizon tasks", ICLR 2024 (arXiv 2306.16922). One neuron holds ``d_m`` memory units
``m`` that leak with their own timescales ``tau_m``, synaptic traces ``s`` of its ``n_in``
inputs, and a small MLP that integrates both into memory updates. Per step (time in steps
of ``dt``; all state variables dimensionless)::

    kappa_s = exp(-dt / tau_s)                          synaptic decay, (n_in,)
    kappa_m = exp(-dt / tau_m)                          memory decay, (d_m,)
    s_t     = kappa_s * s_{t-1} + w_s * x_t             synaptic traces, w_s = relu(raw) >= 0
    h_t     = relu(W_hs s_t + W_hm (kappa_m * m_{t-1}) + b_h)      MLP hidden layer (n_hidden,)
    dm_t    = 1.7159 tanh(2/3 (W_d h_t + b_d))          proposed memory change (LeCun's scaled tanh)
    m_t     = kappa_m * m_{t-1} + lambda (1 - kappa_m) * dm_t
    y_t     = W_y m_t + b_y                             output, (n_out,)

Defaults follow the authors' reference implementation (github.com/AaronSpieler/elmneuron):
``lambda = 5``, ``tau_s = 5`` steps (fixed), ``w_s`` initialised to 0.5, one hidden layer of
``2 d_m`` ReLU units, memory timescales spaced logarithmically over ``[tau_min, tau_max]``
(default 1 .. 1000 steps). Here ``tau_m`` is learned by default through
:class:`~synaptica.training.parametrise.Bounded` (a scaled sigmoid, so every timescale stays
inside ``(tau_min, tau_max)`` and positive); ``learn_tau_m=False`` keeps it fixed as the
authors' notebooks do. The per-branch routing of the "Branch-ELM" is not included (one
synapse per input).

Two levels, as in :mod:`.neuron`/:mod:`.layers`:

* pure functions -- :func:`synaptic_step`, :func:`memory_step` and their composition
  :func:`elm_step` (state in, state out, no module state), differentiable in float32/64;
* :class:`ELMLayer`, a ``torch.nn.Module`` owning the parameters, batch-first
  ``(B, T, n_in) -> (B, T, n_out)``; it hoists the input half of the MLP's first layer out
  of the time loop (one matrix product for all steps) and otherwise calls the same functions,
  or on the CPU the fused memory scan of :mod:`.elm_kernels` (checked against them).
"""
from __future__ import annotations

import math
from typing import NamedTuple

import torch

from synaptica.training.parametrise import Bounded

__all__ = ["ELMLayer", "ELMState", "elm_parameter_count", "elm_step", "memory_step", "scaled_tanh",
           "synaptic_step"]

TANH_GAIN, TANH_SLOPE = 1.7159, 2.0 / 3.0  # LeCun et al. 1998's tanh, as in the authors' code


class ELMState(NamedTuple):
    """State of a batch of ELM neurons: synaptic traces ``s`` (B, n_in), memory ``m`` (B, d_m)."""

    s: torch.Tensor
    m: torch.Tensor


def scaled_tanh(x: torch.Tensor) -> torch.Tensor:
    """``1.7159 tanh(2x/3)``: bounded memory updates with unit slope region near 0."""
    return TANH_GAIN * torch.tanh(TANH_SLOPE * x)


def synaptic_step(x_t: torch.Tensor, s: torch.Tensor, kappa_s: torch.Tensor, w_s: torch.Tensor) -> torch.Tensor:
    """``s_t = kappa_s s_{t-1} + w_s x_t``; shapes (B, n_in), decays and weights (n_in,)."""
    return torch.addcmul(kappa_s * s, w_s, x_t)


def memory_step(drive_t: torch.Tensor, m: torch.Tensor, kappa_m: torch.Tensor, w_hm: torch.Tensor,
                w_d: torch.Tensor, b_d: torch.Tensor, lam: float) -> torch.Tensor:
    """``m_t`` from ``m_{t-1}`` (B, d_m) and the synaptic drive ``W_hs s_t + b_h`` (B, n_hidden).

    w_hm: (n_hidden, d_m) memory half of the MLP's first layer; w_d (d_m, n_hidden), b_d (d_m,)
    its second layer; kappa_m (d_m,) memory decays in (0, 1); lam the update scale lambda.
    """
    decayed = kappa_m * m
    hidden = torch.relu(drive_t + decayed @ w_hm.t())
    change = scaled_tanh(hidden @ w_d.t() + b_d)
    return decayed + (lam * (1.0 - kappa_m)) * change


def elm_step(x_t: torch.Tensor, state: ELMState, kappa_s: torch.Tensor, w_s: torch.Tensor, kappa_m: torch.Tensor,
             w_h: torch.Tensor, b_h: torch.Tensor, w_d: torch.Tensor, b_d: torch.Tensor,
             lam: float) -> ELMState:
    """One full ELM step (module docstring): ``state_{t-1}, x_t (B, n_in) -> state_t``.

    w_h: (n_hidden, n_in + d_m), the MLP's first layer acting on ``[s_t, kappa_m m_{t-1}]``.
    """
    n_in = x_t.shape[-1]
    s = synaptic_step(x_t, state.s, kappa_s, w_s)
    drive = s @ w_h[:, :n_in].t() + b_h
    return ELMState(s, memory_step(drive, state.m, kappa_m, w_h[:, n_in:], w_d, b_d, lam))


def elm_parameter_count(n_in: int, n_out: int, n_memory: int, n_hidden: int | None = None,
                        learn_tau_m: bool = True) -> int:
    """Trainable parameters of :class:`ELMLayer` with these sizes (without building it)."""
    n_hidden = 2 * n_memory if n_hidden is None else n_hidden
    return (n_in + (n_memory if learn_tau_m else 0) + n_hidden * (n_in + n_memory + 1)
            + n_memory * (n_hidden + 1) + n_out * (n_memory + 1))


def _positive(name: str, value: float) -> float:
    value = float(value)
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"ELMLayer: {name} must be a finite number > 0, got {value}")
    return value


class ELMLayer(torch.nn.Module):
    """A layer of one ELM neuron per sample: ``(B, T, n_in) -> (B, T, n_out)``, batch-first.

    n_memory: memory units d_m; n_hidden: MLP hidden units (default 2 d_m);
    tau_min, tau_max: range of the initial memory timescales (steps of ``dt``, log-spaced);
    tau_s: synaptic timescale (steps of ``dt``); lam: memory update scale lambda;
    w_s_init: initial synaptic weight; dt: step length in the units of the timescales;
    fused: on the CPU, run the memory recurrence as one compiled scan with its hand-written
    adjoint (:mod:`.elm_kernels`, 5-10x faster at the default sizes; no double backward)
    instead of the eager step-by-step loop (used on other devices, or with ``fused=False``).

    ``forward(x, state=None)`` returns ``(y, state)``; ``y`` holds every step's output and
    ``state`` the final :class:`ELMState` (pass it back to continue a sequence). After a
    forward, ``last_memory`` is the memory trajectory (B, T, d_m).
    """

    def __init__(self, n_in: int, n_out: int, n_memory: int = 100, n_hidden: int | None = None,
                 tau_min: float = 1.0, tau_max: float = 1000.0, tau_s: float = 5.0, lam: float = 5.0,
                 w_s_init: float = 0.5, learn_tau_m: bool = True, dt: float = 1.0, fused: bool = True) -> None:
        super().__init__()
        n_hidden = 2 * n_memory if n_hidden is None else n_hidden
        for name, size in (("n_in", n_in), ("n_out", n_out), ("n_memory", n_memory), ("n_hidden", n_hidden)):
            if isinstance(size, bool) or not isinstance(size, int) or size < 1:
                raise ValueError(f"ELMLayer: {name} must be a positive integer, got {size!r}")
        tau_min, tau_max = _positive("tau_min", tau_min), _positive("tau_max", tau_max)
        self.tau_s_value, self.dt = _positive("tau_s", tau_s), _positive("dt", dt)
        self.lam = _positive("lam", lam)
        if not tau_max > tau_min:
            raise ValueError(f"ELMLayer: tau_max ({tau_max}) must exceed tau_min ({tau_min})")
        if not math.isfinite(w_s_init):
            raise ValueError(f"ELMLayer: w_s_init must be finite, got {w_s_init}")
        self.n_in, self.n_out, self.n_memory, self.n_hidden = n_in, n_out, n_memory, n_hidden
        self.tau_min, self.tau_max = tau_min, tau_max
        # log-spaced, moved 0.1 % inside the range so the sigmoid parametrisation is not saturated
        span = math.log(tau_max) - math.log(tau_min)
        inset = min(1e-3, 0.25 * span)
        tau = torch.exp(torch.linspace(math.log(tau_min) + inset, math.log(tau_max) - inset, n_memory,
                                       dtype=torch.float64)) if n_memory > 1 else \
            torch.tensor([math.sqrt(tau_min * tau_max)], dtype=torch.float64)
        tau = tau.to(torch.get_default_dtype())
        self.tau_m_param = Bounded(tau, tau_min, tau_max, "tau_m") if learn_tau_m else None
        self.register_buffer("tau_m_fixed", tau)
        self.register_buffer("tau_s", torch.full((n_in,), self.tau_s_value))
        self.w_s_raw = torch.nn.Parameter(torch.full((n_in,), float(w_s_init)))
        self.hidden = torch.nn.Linear(n_in + n_memory, n_hidden)
        self.delta = torch.nn.Linear(n_hidden, n_memory)
        self.readout = torch.nn.Linear(n_memory, n_out)
        self.last_memory: torch.Tensor | None = None
        self.fused = bool(fused)

    # -- the constrained quantities ----------------------------------------------------
    def tau_m(self) -> torch.Tensor:
        """Memory timescales (d_m,), steps of ``dt``, inside (tau_min, tau_max)."""
        return self.tau_m_param() if self.tau_m_param is not None else self.tau_m_fixed

    def kappa_m(self) -> torch.Tensor:
        return torch.exp(-self.dt / self.tau_m())

    def kappa_s(self) -> torch.Tensor:
        return torch.exp(-self.dt / self.tau_s)

    def w_s(self) -> torch.Tensor:
        """Synaptic weights (n_in,), kept >= 0 by a ReLU as in the reference implementation."""
        return torch.relu(self.w_s_raw)

    def step_weights(self) -> dict:
        """The keyword arguments of :func:`elm_step` for the current parameters."""
        return dict(kappa_s=self.kappa_s(), w_s=self.w_s(), kappa_m=self.kappa_m(), w_h=self.hidden.weight,
                    b_h=self.hidden.bias, w_d=self.delta.weight, b_d=self.delta.bias, lam=self.lam)

    def initial_state(self, batch: int) -> ELMState:
        weight = self.hidden.weight
        return ELMState(weight.new_zeros(batch, self.n_in), weight.new_zeros(batch, self.n_memory))

    # -- checks ------------------------------------------------------------------------
    def _check(self, x: torch.Tensor, state: ELMState | None) -> None:
        where = f"{type(self).__name__}"
        if not isinstance(x, torch.Tensor) or x.dim() != 3 or x.shape[2] != self.n_in:
            shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(f"{where}: expected input of shape (B, T, {self.n_in}) (batch, time, features), "
                             f"got {shape}")
        if x.shape[0] < 1 or x.shape[1] < 1:
            raise ValueError(f"{where}: input of shape {tuple(x.shape)} has no samples or no steps")
        if x.dtype != self.hidden.weight.dtype:
            raise ValueError(f"{where}: input dtype {x.dtype} differs from the layer's {self.hidden.weight.dtype} "
                             "(convert one of them, e.g. layer.double())")
        if not bool(torch.isfinite(x).all()):
            bad = (~torch.isfinite(x)).any(2).any(0).nonzero()
            raise ValueError(f"{where}: input is NaN or infinite (first at step {int(bad[0])})")
        if state is not None:
            expected = ((x.shape[0], self.n_in), (x.shape[0], self.n_memory))
            if not isinstance(state, ELMState) or tuple(state.s.shape) != expected[0] \
                    or tuple(state.m.shape) != expected[1]:
                raise ValueError(f"{where}: state must be an ELMState with s {expected[0]} and m {expected[1]}")
            if not (bool(torch.isfinite(state.s).all()) and bool(torch.isfinite(state.m).all())):
                raise ValueError(f"{where}: state is NaN or infinite")

    # -- the sequence --------------------------------------------------------------------
    def forward(self, x: torch.Tensor, state: ELMState | None = None) -> tuple[torch.Tensor, ELMState]:
        """``x`` (B, T, n_in) -> outputs (B, T, n_out) and the final state."""
        self._check(x, state)
        state = self.initial_state(x.shape[0]) if state is None else state
        w = self.step_weights()
        fused = self.fused and x.device.type == "cpu"
        if fused:
            from synaptica.training.elm_kernels import memory_scan, trace_scan

            traces = trace_scan(x, state.s, w["kappa_s"], w["w_s"])
        else:
            s, steps = state.s, []
            for x_t in x.unbind(1):  # the traces are linear: cheap, and kept for one big matrix product
                s = synaptic_step(x_t, s, w["kappa_s"], w["w_s"])
                steps.append(s)
            traces = torch.stack(steps, 1)
        s = traces[:, -1]
        w_h = w["w_h"]
        drives = traces @ w_h[:, :self.n_in].t() + w["b_h"]
        w_hm = w_h[:, self.n_in:]
        if fused:
            self.last_memory = memory_scan(drives, state.m, w["kappa_m"], w_hm, w["w_d"], w["b_d"], self.lam)
            m = self.last_memory[:, -1]
        else:
            m, memory = state.m, []
            for drive_t in drives.unbind(1):
                m = memory_step(drive_t, m, w["kappa_m"], w_hm, w["w_d"], w["b_d"], self.lam)
                memory.append(m)
            self.last_memory = torch.stack(memory, 1)
        return self.readout(self.last_memory), ELMState(s, m)

    def extra_repr(self) -> str:
        return (f"n_in={self.n_in}, n_out={self.n_out}, n_memory={self.n_memory}, n_hidden={self.n_hidden}, "
                f"tau_m in ({self.tau_min:g}, {self.tau_max:g}), tau_s={self.tau_s_value:g}, lam={self.lam:g}, "
                f"learn_tau_m={self.tau_m_param is not None}")
