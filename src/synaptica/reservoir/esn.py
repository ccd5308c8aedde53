"""Rate reservoir: the leaky-integrator echo-state network.

Equations (Jaeger 2001, "The 'echo state' approach to analysing and training recurrent
neural networks", GMD Report 148; leaky integrators after Jaeger, Lukosevicius, Popovici &
Siewert 2007; conventions of Lukosevicius 2012, "A practical guide to applying echo state
networks", in Neural Networks: Tricks of the Trade)::

    x[t] = (1 - a) x[t-1] + a tanh(W_in u[t] + W x[t-1] + b  [+ W_fb z[t-1]])

x (n_units,) is the state (dimensionless, in (-1, 1)), u (n_inputs,) the input at step t,
a in (0, 1] the leak rate, b the bias and z the optional fed-back readout output (FORCE,
see :mod:`synaptica.reservoir.readout`). Time is counted in steps: the network has no
physical time unit. ``run`` returns x[1..T] for inputs u[1..T] starting from x[0]
(zeros by default), the same convention as ReservoirPy.

Generated weights (all from ``seed``): W sparse with ``density``, nonzero entries standard
normal, then rescaled so that its spectral radius (largest |eigenvalue|) is exactly
``spectral_radius``; W_in uniform in [-input_scaling, input_scaling] with ``input_density``;
b uniform in [-bias_scaling, bias_scaling]. Any of them may be given explicitly instead
(e.g. to load a peer's exact weights); an explicit W is rescaled only if
``spectral_radius`` is also given.

Two ways to run the same equation (``run(..., backend=...)``), equal to rounding:

* ``"kernel"`` (chosen by ``"auto"`` on the CPU): the input part W_in u[t] + b of every
  step in one matrix product, then the recurrence in a compiled loop
  (:mod:`synaptica.reservoir._esn_kernel`, numba) over W stored sparse (CSR) when at most
  a quarter of its entries are nonzero, dense otherwise. No gradient, as ``run`` never
  promised one.
* ``"torch"``: the step of :meth:`step` in a Python loop, on any device (chosen by
  ``"auto"`` off the CPU, and for subclasses that override the step).
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from synaptica.reservoir import _esn_kernel
from synaptica.reservoir._inputs import as_float64, as_sequences, finite_float, positive_int

__all__ = ["EchoStateNetwork", "spectral_radius_of"]

DEFAULT_SPECTRAL_RADIUS = 0.9
BACKENDS = ("auto", "kernel", "torch")


def spectral_radius_of(matrix: Any) -> float:
    """Largest absolute eigenvalue of a square matrix (computed in float64)."""
    array = as_float64(matrix)
    return float(np.max(np.abs(np.linalg.eigvals(array)))) if array.size else 0.0


def _matrix(value: Any, shape: tuple[int, ...], name: str) -> np.ndarray:
    array = as_float64(value)
    if array.shape != shape:
        raise ValueError(f"EchoStateNetwork: {name} must have shape {shape}, got {array.shape}")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"EchoStateNetwork: {name} contains NaN or infinity")
    return array


class EchoStateNetwork:
    """Leaky-integrator echo-state network in torch, batched over independent sequences.

    Args:
        n_units: reservoir size N.
        n_inputs: input dimension.
        spectral_radius: target spectral radius of W (> 0, finite); default 0.9 for a
            generated W; with an explicit ``W`` it rescales that matrix if given.
        input_scaling: W_in entries uniform in [-input_scaling, input_scaling].
        leak_rate: a in (0, 1] (1: no leak, the original ESN).
        density: fraction of nonzero entries of a generated W, in (0, 1].
        input_density: fraction of nonzero entries of a generated W_in, in (0, 1].
        bias_scaling: b uniform in [-bias_scaling, bias_scaling] (0: no bias).
        n_feedback: size of the fed-back readout output z (0: none); W_fb (N, n_feedback)
            uniform in [-feedback_scaling, feedback_scaling].
        seed: seeds every generated weight.
        W, W_in, bias, W_fb: explicit weights, shapes (N, N), (N, n_inputs), (N,), (N, n_feedback).
        dtype, device: of the state and weight tensors (torch.float32 or torch.float64).
    """

    def __init__(self, n_units: int, n_inputs: int, spectral_radius: float | None = None,
                 input_scaling: float = 1.0, leak_rate: float = 1.0, density: float = 0.1,
                 input_density: float = 1.0, bias_scaling: float = 0.0, n_feedback: int = 0,
                 feedback_scaling: float = 1.0, seed: int = 0, W: Any = None, W_in: Any = None,
                 bias: Any = None, W_fb: Any = None, dtype: torch.dtype = torch.float64,
                 device: str | torch.device = "cpu") -> None:
        self.n_units = positive_int(n_units, "EchoStateNetwork: n_units")
        self.n_inputs = positive_int(n_inputs, "EchoStateNetwork: n_inputs")
        if spectral_radius is not None:
            finite_float(spectral_radius, "EchoStateNetwork: spectral_radius", 0.0, math.inf, low_open=True)
        self.leak_rate = finite_float(leak_rate, "EchoStateNetwork: leak_rate", 0.0, 1.0, low_open=True)
        density = finite_float(density, "EchoStateNetwork: density", 0.0, 1.0, low_open=True)
        input_density = finite_float(input_density, "EchoStateNetwork: input_density", 0.0, 1.0, low_open=True)
        input_scaling = finite_float(input_scaling, "EchoStateNetwork: input_scaling", 0.0)
        bias_scaling = finite_float(bias_scaling, "EchoStateNetwork: bias_scaling", 0.0)
        feedback_scaling = finite_float(feedback_scaling, "EchoStateNetwork: feedback_scaling", 0.0)
        if dtype not in (torch.float32, torch.float64):
            raise ValueError(f"EchoStateNetwork: dtype must be torch.float32 or torch.float64, got {dtype}")
        self.n_feedback = int(n_feedback)
        if self.n_feedback < 0:
            raise ValueError(f"EchoStateNetwork: n_feedback must be >= 0, got {n_feedback!r}")
        self.dtype, self.device, self.seed = dtype, torch.device(device), int(seed)
        n = self.n_units
        rng = np.random.default_rng(seed)
        if W is None:
            w = rng.standard_normal((n, n)) * (rng.random((n, n)) < density)
            target = DEFAULT_SPECTRAL_RADIUS if spectral_radius is None else spectral_radius
        else:
            w = _matrix(W, (n, n), "W")
            target = spectral_radius
        if target is not None:
            radius = spectral_radius_of(w)
            if radius == 0.0:
                raise ValueError(f"EchoStateNetwork: W has spectral radius 0 (density {density:g} of {n} units "
                                 "leaves no cycle); it cannot be rescaled: raise density or n_units")
            w = w * (target / radius)
        if W_in is None:
            w_in = rng.uniform(-input_scaling, input_scaling, (n, self.n_inputs)) \
                * (rng.random((n, self.n_inputs)) < input_density)
        else:
            w_in = _matrix(W_in, (n, self.n_inputs), "W_in")
        b = rng.uniform(-bias_scaling, bias_scaling, n) if bias is None else _matrix(bias, (n,), "bias")
        if W_fb is None:
            w_fb = rng.uniform(-feedback_scaling, feedback_scaling, (n, self.n_feedback))
        else:
            w_fb = _matrix(W_fb, (n, self.n_feedback), "W_fb")
        as_tensor = lambda a: torch.as_tensor(a, dtype=dtype, device=self.device)  # noqa: E731
        self.W, self.W_in, self.bias, self.W_fb = as_tensor(w), as_tensor(w_in), as_tensor(b), as_tensor(w_fb)
        self.last_state: torch.Tensor | None = None   # (batch, N) after the last run
        self._recurrent: tuple | None = None           # (W it was built from, its version, kernel matrix)

    @property
    def n_features(self) -> int:
        return self.n_units

    def _initial(self, initial_state: Any, batch: int) -> torch.Tensor:
        if initial_state is None:
            return torch.zeros(batch, self.n_units, dtype=self.dtype, device=self.device)
        x0 = torch.as_tensor(initial_state, dtype=self.dtype, device=self.device)
        if tuple(x0.shape) not in ((self.n_units,), (batch, self.n_units)):
            raise ValueError(f"EchoStateNetwork: initial_state must have shape ({self.n_units},) or "
                             f"({batch}, {self.n_units}), got {tuple(x0.shape)}")
        if not bool(torch.isfinite(x0).all()):
            raise ValueError("EchoStateNetwork: initial_state contains NaN or infinity")
        return x0.expand(batch, self.n_units).clone()

    def _advance(self, x: torch.Tensor, drive: torch.Tensor, feedback: torch.Tensor | None) -> torch.Tensor:
        """One step from state x (batch, N) given the input drive W_in u + b (batch, N)."""
        pre = drive + x @ self.W.T
        if feedback is not None:
            pre = pre + feedback @ self.W_fb.T
        return (1.0 - self.leak_rate) * x + self.leak_rate * torch.tanh(pre)

    def step(self, x: torch.Tensor, u: Any, feedback: Any = None) -> torch.Tensor:
        """The next state for state x (batch, N), input u (batch, n_inputs) and, with
        feedback weights, the previous readout output z (batch, n_feedback)."""
        u = torch.as_tensor(u, dtype=self.dtype, device=self.device).reshape(x.shape[0], self.n_inputs)
        z = None
        if self.n_feedback:
            if feedback is None:
                raise ValueError("EchoStateNetwork.step: this network has feedback weights; pass feedback")
            z = torch.as_tensor(feedback, dtype=self.dtype, device=self.device).reshape(x.shape[0], self.n_feedback)
        return self._advance(x, u @ self.W_in.T + self.bias, z)

    def run(self, inputs: Any, initial_state: Any = None, backend: str = "auto") -> Any:
        """States for an input sequence.

        Args:
            inputs: (T, n_inputs) or (batch, T, n_inputs); NumPy/array-like or a tensor.
            initial_state: x[0], (N,) or (batch, N); zeros by default.
            backend: "auto", "kernel" (compiled CPU loop) or "torch" (see module doc).

        Returns:
            states x[1..T], (T, N) or (batch, T, N), a NumPy array for array inputs and a
            tensor (on the network's device) for tensor inputs. The final state is kept in
            ``last_state``. Feedback (if any) is zero here; see ``readout.train_force``.
            No gradient flows through ``run`` (use :meth:`step` for that).
        """
        if backend not in BACKENDS:
            raise ValueError(f"EchoStateNetwork.run: backend must be one of {BACKENDS}, got {backend!r}")
        sequences, batched = as_sequences(inputs, self.n_inputs, "EchoStateNetwork.run")
        was_tensor = torch.is_tensor(sequences)
        x0 = self._initial(initial_state, sequences.shape[0])
        if backend == "auto":
            backend = "kernel" if self._kernel_applies() else "torch"
        if backend == "kernel":
            if self.device.type != "cpu":
                raise ValueError(f"EchoStateNetwork.run: backend='kernel' runs on the CPU; the network is on {self.device}")
            states = self._run_kernel(sequences, x0)
        else:
            states = self._run_torch(sequences, x0)
        states = states if batched else states[0]
        return states if was_tensor else states.cpu().numpy()

    def _kernel_applies(self) -> bool:
        """The compiled loop computes this class's step: on the CPU, unless a subclass changed the step."""
        own = type(self)._advance is EchoStateNetwork._advance and type(self).step is EchoStateNetwork.step
        return self.device.type == "cpu" and own

    def _kernel_matrix(self):
        """W for the kernel (CSR triple or dense array), rebuilt when W is replaced or edited in place."""
        cached = self._recurrent
        if cached is None or cached[0] is not self.W or cached[1] != self.W._version:
            cached = (self.W, self.W._version, _esn_kernel.recurrent_matrix(self.W.detach().numpy()))
            self._recurrent = cached
        return cached[2]

    def _run_kernel(self, sequences: Any, x0: torch.Tensor) -> torch.Tensor:
        dtype = np.float64 if self.dtype == torch.float64 else np.float32
        u = sequences.cpu().numpy() if torch.is_tensor(sequences) else sequences
        u = np.asarray(u, dtype=dtype)
        w_in, bias = self.W_in.detach().numpy(), self.bias.detach().numpy()
        states = np.matmul(u, w_in.T)                 # (batch, T, N): the input part of every step at once
        states += bias
        x = np.ascontiguousarray(x0.detach().numpy(), dtype=dtype)
        _esn_kernel.run_recurrence(states, x, self._kernel_matrix(), self.leak_rate)
        self.last_state = torch.from_numpy(x)
        return torch.from_numpy(states)

    def _run_torch(self, sequences: Any, x0: torch.Tensor) -> torch.Tensor:
        u = torch.as_tensor(sequences, dtype=self.dtype, device=self.device)
        batch, n_steps, _ = u.shape
        drive = u @ self.W_in.T + self.bias          # (batch, T, N): the input part of every step at once
        x = x0
        states = torch.empty(batch, n_steps, self.n_units, dtype=self.dtype, device=self.device)
        with torch.no_grad():
            for t in range(n_steps):
                x = self._advance(x, drive[:, t], None)
                states[:, t] = x
        self.last_state = x
        return states
