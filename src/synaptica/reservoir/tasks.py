"""Standard reservoir-computing benchmarks and their metrics.

* :func:`nrmse` -- normalised root-mean-square error, sqrt(mean((y - y_hat)^2)) / std(y)
  (std over all samples and outputs; 0 is perfect, 1 is as good as predicting the mean).
* :func:`memory_capacity` -- short-term memory (Jaeger 2001, "Short term memory in echo
  state networks", GMD Report 152): for i.i.d. uniform input u, one linear readout per
  delay k = 1..max_delay is trained to output u[t-k]; on held-out steps
  MC_k = corr(u[t-k], y_k[t])^2 and MC = sum_k MC_k. For N linear units MC <= N.
* :func:`narma10` -- the 10th-order nonlinear autoregressive moving average system
  (Atiya & Parlos 2000, "New results on recurrent network training: unifying the
  algorithms and accelerating convergence", IEEE Trans. Neural Networks 11(3): 697-709),
  with u[t] i.i.d. uniform in [0, 0.5]::

      y[t+1] = 0.3 y[t] + 0.05 y[t] sum_{i=0}^{9} y[t-i] + 1.5 u[t-9] u[t] + 0.1

* :func:`mackey_glass` -- the delay differential equation (Mackey & Glass 1977,
  "Oscillation and chaos in physiological control systems", Science 197: 287-289),
  chaotic for tau = 17::

      dx/dt = beta x(t - tau) / (1 + x(t - tau)^n) - gamma x(t)

  integrated with 4th-order Runge-Kutta (step ``h``; the delayed value at half steps by
  linear interpolation), sampled every ``sample_every`` time units.
* :func:`spike_encoded_digits` -- scikit-learn's 8x8 digits (Alpaydin & Kaynak 1998)
  presented row by row: 8 time bins, 8 input channels (columns), pixel intensity as a
  Poisson rate, for a spiking liquid with ``input_mode="rates"``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from synaptica.reservoir._inputs import check_washout, finite_float, positive_int
from synaptica.reservoir.readout import RidgeReadout

__all__ = ["nrmse", "memory_capacity", "memory_capacity_of_states", "MemoryCapacity", "squared_correlations", "narma10",
           "mackey_glass", "spike_encoded_digits"]


def nrmse(y_true: Any, y_pred: Any) -> float:
    """sqrt(mean((y_true - y_pred)^2)) / std(y_true), over all samples and outputs."""
    y_true, y_pred = np.asarray(y_true, dtype=np.float64), np.asarray(y_pred, dtype=np.float64)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"nrmse: y_true {y_true.shape} and y_pred {y_pred.shape} differ in shape")
    if y_true.size < 2 or not (np.all(np.isfinite(y_true)) and np.all(np.isfinite(y_pred))):
        raise ValueError("nrmse: needs at least two finite values in y_true and y_pred")
    spread = np.std(y_true)
    if spread == 0:
        raise ValueError("nrmse: y_true is constant; its standard deviation cannot normalise the error")
    return float(np.sqrt(np.mean((y_true - y_pred) ** 2)) / spread)


@dataclass
class MemoryCapacity:
    """``total`` MC = sum of ``per_delay`` (max_delay,), MC_k for k = 1..max_delay."""

    total: float
    per_delay: np.ndarray


def memory_capacity(reservoir, max_delay: int | None = None, n_train: int = 2000, n_test: int = 1000,
                    washout: int | None = None, ridge: float = 1e-8, input_range: tuple[float, float] = (-0.5, 0.5),
                    seed: int = 0) -> MemoryCapacity:
    """Jaeger's (2001) memory capacity of a one-input reservoir (see module doc).

    Args:
        reservoir: anything with ``n_inputs == 1``, ``n_features`` and ``run(inputs) -> states``.
        max_delay: largest delay k (default 2 x n_features, past which MC_k ~ 0).
        n_train, n_test: steps for fitting the readouts and for measuring MC (after washout).
        washout: steps dropped first (default max_delay).
        ridge: of the :class:`RidgeReadout` (one fit, one output column per delay).
        input_range: u i.i.d. uniform in this interval.
    """
    if getattr(reservoir, "n_inputs", 1) != 1:
        raise ValueError(f"memory_capacity: needs a one-input reservoir, got n_inputs={reservoir.n_inputs}")
    max_delay = positive_int(max_delay if max_delay is not None else 2 * reservoir.n_features,
                             "memory_capacity: max_delay")
    washout = max_delay if washout is None else washout
    n_train = positive_int(n_train, "memory_capacity: n_train")
    n_steps = washout + n_train + positive_int(n_test, "memory_capacity: n_test")
    low, high = (finite_float(v, "memory_capacity: input_range") for v in input_range)
    inputs = np.random.default_rng(seed).uniform(low, high, (n_steps, 1))
    return memory_capacity_of_states(np.asarray(reservoir.run(inputs)), inputs, max_delay, n_train, washout, ridge)


def memory_capacity_of_states(states: Any, inputs: Any, max_delay: int, n_train: int, washout: int,
                              ridge: float = 1e-8) -> MemoryCapacity:
    """Memory capacity from states (T, F) recorded for i.i.d. inputs (T, 1): readouts fit
    on the ``n_train`` steps after ``washout`` (>= max_delay), MC measured on the rest."""
    states, inputs = np.asarray(states, dtype=np.float64), np.asarray(inputs, dtype=np.float64)
    if states.ndim != 2 or inputs.shape != (len(states), 1):
        raise ValueError(f"memory_capacity: states must be (T, F) and inputs (T, 1), got {states.shape} "
                         f"and {inputs.shape}")
    check_washout(washout, len(states), "memory_capacity")
    if washout < max_delay:
        raise ValueError(f"memory_capacity: washout ({washout}) must be >= max_delay ({max_delay}) so that "
                         "every target u[t-k] exists")
    if len(states) - washout - n_train < 2:
        raise ValueError(f"memory_capacity: T={len(states)} leaves fewer than 2 test steps after washout "
                         f"{washout} and {n_train} training steps")
    if not np.all(np.isfinite(states)):
        raise ValueError(f"memory_capacity: states contain {int(np.isnan(states).sum())} NaN and "
                         f"{int(np.isinf(states).sum())} infinite value(s): the reservoir diverged or was fed NaN")
    u = inputs[:, 0]
    steps = np.arange(washout, len(states))
    targets = np.stack([u[steps - k] for k in range(1, max_delay + 1)], axis=1)   # (steps, max_delay)
    train, test = slice(0, n_train), slice(n_train, None)
    readout = RidgeReadout(ridge).fit(states[steps[train]], targets[train])     # one solve for every delay
    per_delay = squared_correlations(targets[test], readout.predict(states[steps[test]]))
    return MemoryCapacity(float(per_delay.sum()), per_delay)


def squared_correlations(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """corr(a[:, k], b[:, k])^2 for every column k at once (0 where a column is constant)."""
    a, b = a - a.mean(axis=0), b - b.mean(axis=0)
    cross, norms = (a * b).sum(axis=0), (a * a).sum(axis=0) * (b * b).sum(axis=0)
    out = np.zeros(a.shape[1])
    np.divide(cross * cross, norms, out=out, where=norms > 0)
    return out


def narma10(n_steps: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """NARMA-10 (see module doc): inputs u (n_steps, 1) and targets (n_steps, 1) with
    targets[t] = y[t+1], the value the reservoir must output after seeing u[t]. The
    system starts from y = 0; in the rare case it diverges, the message says so."""
    n_steps = positive_int(n_steps, "narma10: n_steps")
    u = np.random.default_rng(seed).uniform(0.0, 0.5, n_steps)
    y = np.zeros(n_steps + 1)
    for t in range(n_steps):
        window = y[max(0, t - 9):t + 1]
        y[t + 1] = 0.3 * y[t] + 0.05 * y[t] * window.sum() + 1.5 * (u[t - 9] if t >= 9 else 0.0) * u[t] + 0.1
    if not np.all(np.isfinite(y)) or np.abs(y).max() > 10:
        raise ValueError(f"narma10: the series diverged with seed {seed}; use another seed")
    return u[:, None], y[1:, None]


def mackey_glass(n_steps: int, tau: float = 17.0, beta: float = 0.2, gamma: float = 0.1, exponent: float = 10.0,
                 h: float = 0.1, sample_every: float = 1.0, transient: float = 500.0, x0: float = 1.2,
                 seed: int | None = None) -> np.ndarray:
    """Mackey-Glass series (see module doc), shape (n_steps,), time unit as the equation's.

    The history before t = 0 is constant ``x0`` (plus uniform noise of +-0.01 when ``seed``
    is given, for different trajectories); the first ``transient`` time units are dropped.
    ``tau``, ``sample_every`` and ``transient`` must be whole multiples of ``h``.
    """
    n_steps = positive_int(n_steps, "mackey_glass: n_steps")
    h = finite_float(h, "mackey_glass: h", 0.0, low_open=True)

    def in_steps(value: float, name: str) -> int:
        count = int(round(finite_float(value, f"mackey_glass: {name}", 0.0) / h))
        if abs(count * h - value) > 1e-9 * max(1.0, value):
            raise ValueError(f"mackey_glass: {name}={value} is not a whole multiple of h={h}")
        return count

    delay, every, skip = in_steps(tau, "tau"), in_steps(sample_every, "sample_every"), in_steps(transient, "transient")
    if delay < 1 or every < 1:
        raise ValueError("mackey_glass: tau and sample_every must be at least one step h")
    total = skip + n_steps * every
    x = np.empty(delay + total + 1)
    x[:delay + 1] = x0
    if seed is not None:
        x[:delay + 1] += np.random.default_rng(seed).uniform(-0.01, 0.01, delay + 1)

    def rate(value: float, delayed: float) -> float:
        return beta * delayed / (1.0 + delayed ** exponent) - gamma * value

    for i in range(delay, delay + total):
        lag, lag_next = x[i - delay], x[i - delay + 1]
        lag_mid = 0.5 * (lag + lag_next)
        k1 = rate(x[i], lag)
        k2 = rate(x[i] + 0.5 * h * k1, lag_mid)
        k3 = rate(x[i] + 0.5 * h * k2, lag_mid)
        k4 = rate(x[i] + h * k3, lag_next)
        x[i + 1] = x[i] + h / 6.0 * (k1 + 2 * k2 + 2 * k3 + k4)
    return x[delay + skip + every::every][:n_steps].copy()


def spike_encoded_digits(n_samples: int | None = None, max_rate_hz: float = 200.0, seed: int = 0
                         ) -> tuple[np.ndarray, np.ndarray]:
    """8x8 digits as input rates for a spiking liquid: (rates (n, 8, 8) Hz, labels (n,)).

    Row r of an image drives time bin r; column c is input channel c with rate
    ``max_rate_hz`` x intensity (intensity in [0, 1]). ``n_samples`` (default all 1797)
    are taken in a seeded random order, so any prefix mixes the classes.
    """
    from synaptica.datasets import load_images

    images, labels, shape = load_images("digits")
    max_rate_hz = finite_float(max_rate_hz, "spike_encoded_digits: max_rate_hz", 0.0, low_open=True)
    order = np.random.default_rng(seed).permutation(len(images))
    if n_samples is not None:
        order = order[:positive_int(n_samples, "spike_encoded_digits: n_samples")]
    return images[order].reshape(len(order), *shape) * max_rate_hz, labels[order]
