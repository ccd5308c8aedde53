"""Readouts: linear maps from reservoir features to outputs, trained offline or online.

* :class:`RidgeReadout` -- Tikhonov-regularised least squares in closed form (Hoerl &
  Kennard 1970, "Ridge regression: biased estimation for nonorthogonal problems"; the
  standard ESN readout, Lukosevicius 2012, "A practical guide to applying echo state
  networks", eq. 9). With the bias column A = [X, 1] (n_samples, F + 1)::

      [W; c] = (A^T A + lambda D)^-1 A^T Y,   D = diag(1, ..., 1, 0)

  so the intercept c is not penalised (as scikit-learn's ``Ridge`` and ReservoirPy 0.4).
* :class:`LogisticReadout` -- multinomial logistic regression (scikit-learn's
  ``LogisticRegression``) on standardised features, for classification.
* :class:`ForceReadout` -- recursive least squares learnt while the reservoir runs, the
  rule of FORCE learning (Sussillo & Abbott 2009, "Generating coherent patterns of activity
  from chaotic neural networks", Neuron 63: 544-557, eqs. 4-5)::

      z(t)  = W(t-1) x(t)                      (output before the update)
      k(t)  = P(t-1) x(t) / (1 + x(t)^T P(t-1) x(t))
      P(t)  = P(t-1) - k(t) x(t)^T P(t-1),     P(0) = I / alpha
      W(t)  = W(t-1) - (z(t) - f(t)) k(t)^T    (f: the target)

  :func:`train_force` runs an :class:`~synaptica.reservoir.esn.EchoStateNetwork` with the
  output z fed back through W_fb while the weights learn, as in the paper;
  :func:`run_closed_loop` then runs the trained loop freely.

Shapes: features X (n_samples, F); targets Y (n_samples,) or (n_samples, k).
"""
from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import scipy.linalg
import torch

from synaptica.reservoir._inputs import as_float64, finite_float

__all__ = ["RidgeReadout", "LogisticReadout", "ForceReadout", "ReadoutWarning", "train_force", "run_closed_loop"]


class ReadoutWarning(UserWarning):
    """A readout was fitted on data that cannot support it (too few samples, dead units)."""


def _non_finite_message(array: np.ndarray, what: str, cause: str = "") -> str:
    where = np.argwhere(~np.isfinite(array))[0]
    return (f"{what} contain {int(np.isnan(array).sum())} NaN and {int(np.isinf(array).sum())} infinite "
            f"value(s) (first at index {tuple(int(i) for i in where)}){cause}")


def _features(X: Any, name: str, n_features: int | None = None) -> np.ndarray:
    X = as_float64(X)
    if X.ndim != 2 or min(X.shape) < 1:
        raise ValueError(f"{name}: features must have shape (n_samples, n_features), got {X.shape}")
    if n_features is not None and X.shape[1] != n_features:
        raise ValueError(f"{name}: fitted on {n_features} features, got {X.shape[1]}")
    if not np.isfinite(X.sum()) and not np.all(np.isfinite(X)):     # the sum: one cheap pass when all is well
        raise ValueError(f"{name}: " + _non_finite_message(X, "features (states)",
                                                               ": the reservoir diverged or was fed NaN"))
    return X


def _check_training_set(X: np.ndarray, name: str, n_parameters: int, min_samples: int = 2) -> None:
    """Refuse what cannot be fitted, warn about what fits without meaning (messages give the numbers).

    * fewer than ``min_samples`` samples: error;
    * every feature constant over the samples (a dead or saturated reservoir: the readout
      can only output the mean, a chance-level result): error;
    * more than half of the features constant: warning (dead or saturated units);
    * no more samples than free parameters per output: warning (unless strongly
      regularised, the fit can interpolate any training targets).
    """
    n_samples, n_features = X.shape
    if n_samples < min_samples:
        raise ValueError(f"{name}: {n_samples} sample(s) for {n_features} features; need at least {min_samples}")
    high, low = X.max(axis=0), X.min(axis=0)
    constant = high - low <= 1e-12 * np.maximum(1.0, np.maximum(np.abs(high), np.abs(low)))
    n_constant = int(constant.sum())
    if n_constant == n_features:
        value = X[0, 0] if n_features == 1 else f"{X[0].min():.3g}..{X[0].max():.3g}"
        raise ValueError(f"{name}: all {n_features} features are constant over the {n_samples} samples (values "
                         f"{value}): the reservoir is dead (no activity) or saturated, so no readout can do better "
                         "than chance; check the input scaling and the weights")
    if n_constant > n_features // 2:
        warnings.warn(f"{name}: {n_constant} of {n_features} features are constant over the {n_samples} samples "
                      "(dead or saturated units)", ReadoutWarning, stacklevel=3)
    if n_samples <= n_parameters:
        warnings.warn(f"{name}: {n_samples} samples for {n_parameters} free parameters per output; unless strongly "
                      "regularised the fit can match any training targets (its training score then says nothing): "
                      f"use more than {n_parameters} samples, fewer features or more regularisation",
                      ReadoutWarning, stacklevel=3)


def _targets(Y: Any, n_samples: int, name: str) -> np.ndarray:
    Y = as_float64(Y)
    if Y.ndim not in (1, 2) or Y.shape[0] != n_samples:
        raise ValueError(f"{name}: targets must have shape ({n_samples},) or ({n_samples}, k), got {Y.shape}")
    if not np.all(np.isfinite(Y)):
        raise ValueError(f"{name}: " + _non_finite_message(Y, "targets"))
    return Y


class RidgeReadout:
    """Closed-form ridge regression with an unpenalised bias column (see module doc).

    Args:
        ridge: lambda >= 0 (0: ordinary least squares; a singular system then falls back
            to the minimum-norm least-squares solution).
        fit_bias: learn the intercept c (else c = 0 and A = X).
    """

    task = "regression"

    def __init__(self, ridge: float = 1e-6, fit_bias: bool = True) -> None:
        self.ridge = finite_float(ridge, "RidgeReadout: ridge", 0.0)
        self.fit_bias = bool(fit_bias)
        self.weights: np.ndarray | None = None    # (F, k) or (F,)
        self.intercept: np.ndarray | float = 0.0

    def fit(self, X: Any, Y: Any) -> "RidgeReadout":
        """One solve for all outputs; the Gram matrix of [X, 1] is built from X^T X, the
        column sums and n (no copy of X with the ones column)."""
        X = _features(X, "RidgeReadout.fit")
        Y = _targets(Y, X.shape[0], "RidgeReadout.fit")
        n_samples, n_features = X.shape
        _check_training_set(X, "RidgeReadout.fit", n_features + self.fit_bias)
        size = n_features + self.fit_bias
        gram = np.empty((size, size))
        gram[:n_features, :n_features] = X.T @ X
        rhs = np.empty((size,) + Y.shape[1:])
        rhs[:n_features] = X.T @ Y
        if self.fit_bias:
            gram[n_features, :n_features] = gram[:n_features, n_features] = X.sum(axis=0)
            gram[n_features, n_features] = n_samples
            rhs[n_features] = Y.sum(axis=0)
        gram[np.arange(n_features), np.arange(n_features)] += self.ridge    # the intercept is not penalised
        try:
            solution = scipy.linalg.solve(gram, rhs, assume_a="sym", check_finite=False)
        except (np.linalg.LinAlgError, scipy.linalg.LinAlgError):
            A = np.hstack([X, np.ones((n_samples, 1))]) if self.fit_bias else X
            solution = np.linalg.lstsq(A, Y, rcond=None)[0]
        self.weights, self.intercept = (solution[:-1], solution[-1]) if self.fit_bias else (solution, 0.0)
        return self

    def predict(self, X: Any) -> np.ndarray:
        if self.weights is None:
            raise RuntimeError("RidgeReadout.predict: call fit first")
        return _features(X, "RidgeReadout.predict", self.weights.shape[0]) @ self.weights + self.intercept

    def score(self, X: Any, Y: Any) -> float:
        """Coefficient of determination R^2 (1 - SSE / SST over all outputs), as scikit-learn."""
        from sklearn.metrics import r2_score

        return float(r2_score(_targets(Y, np.shape(X)[0], "RidgeReadout.score"), self.predict(X)))


class LogisticReadout:
    """Multinomial logistic regression on standardised features (scikit-learn).

    Args:
        C: inverse L2 regularisation strength (> 0).
        max_iter: iterations of the solver (lbfgs).
    """

    task = "classification"

    def __init__(self, C: float = 1.0, max_iter: int = 2000) -> None:
        self.C = finite_float(C, "LogisticReadout: C", 0.0, low_open=True)
        self.max_iter = int(max_iter)
        self.model = None

    def fit(self, X: Any, labels: Any) -> "LogisticReadout":
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        X = _features(X, "LogisticReadout.fit")
        labels = np.asarray(labels)
        if labels.shape != (X.shape[0],):
            raise ValueError(f"LogisticReadout.fit: labels must have shape ({X.shape[0]},), got {labels.shape}")
        classes, counts = np.unique(labels, return_counts=True)
        if classes.size < 2:
            raise ValueError("LogisticReadout.fit: labels hold a single class; need at least two")
        _check_training_set(X, "LogisticReadout.fit", X.shape[1] + 1, min_samples=2)
        if counts.min() < 2:
            warnings.warn(f"LogisticReadout.fit: class {classes[np.argmin(counts)].item()!r} has {counts.min()} sample(s) "
                          f"among {X.shape[0]}; a class needs several to be learnt", ReadoutWarning, stacklevel=2)
        self.model = make_pipeline(StandardScaler(), LogisticRegression(C=self.C, max_iter=self.max_iter))
        self.model.fit(X, labels)
        return self

    def _check(self, X: Any, name: str) -> np.ndarray:
        if self.model is None:
            raise RuntimeError(f"LogisticReadout.{name}: call fit first")
        return _features(X, f"LogisticReadout.{name}", self.model.n_features_in_)

    def predict(self, X: Any) -> np.ndarray:
        X = self._check(X, "predict")
        return self.model.predict(X)

    def predict_proba(self, X: Any) -> np.ndarray:
        X = self._check(X, "predict_proba")
        return self.model.predict_proba(X)

    def score(self, X: Any, labels: Any) -> float:
        """Accuracy (fraction of labels predicted right)."""
        return float(np.mean(self.predict(X) == np.asarray(labels)))


class ForceReadout:
    """Recursive least squares readout (FORCE rule, see module doc).

    Args:
        alpha: P(0) = I / alpha; a small alpha learns fast (Sussillo & Abbott use 1 to 100
            times the squared input scale). Must be > 0.
    """

    task = "regression"

    def __init__(self, alpha: float = 1.0) -> None:
        self.alpha = finite_float(alpha, "ForceReadout: alpha", 0.0, low_open=True)
        self.weights: np.ndarray | None = None      # (k, F)
        self.P: np.ndarray | None = None            # (F, F)
        self._vector_target = False
        self.last_output: np.ndarray | None = None   # z at the end of train_force / run_closed_loop

    def start(self, n_features: int, n_outputs: int) -> None:
        """Zero weights and P = I / alpha (a fresh learner)."""
        self.weights = np.zeros((n_outputs, n_features))
        self.P = np.eye(n_features) / self.alpha

    def learn_step(self, x: np.ndarray, target: np.ndarray) -> np.ndarray:
        """One RLS update on features x (F,) and target (k,); returns z(t), the output
        before the update (the one FORCE feeds back)."""
        z = self.weights @ x
        Px = self.P @ x
        k = Px / (1.0 + x @ Px)
        self.P -= np.outer(k, Px)
        self.weights -= np.outer(z - target, k)
        return z

    def fit(self, X: Any, Y: Any) -> "ForceReadout":
        """Learn online over the rows of X in order (one pass), starting afresh."""
        X = _features(X, "ForceReadout.fit")
        Y = _targets(Y, X.shape[0], "ForceReadout.fit")
        _check_training_set(X, "ForceReadout.fit", X.shape[1])
        self._vector_target = Y.ndim == 1
        Y2 = Y.reshape(len(Y), -1)
        self.start(X.shape[1], Y2.shape[1])
        for x, y in zip(X, Y2):
            self.learn_step(x, y)
        return self

    def predict(self, X: Any) -> np.ndarray:
        if self.weights is None:
            raise RuntimeError("ForceReadout.predict: call fit or train_force first")
        out = _features(X, "ForceReadout.predict", self.weights.shape[1]) @ self.weights.T
        return out[:, 0] if self._vector_target else out

    def score(self, X: Any, Y: Any) -> float:
        """R^2, as :meth:`RidgeReadout.score`."""
        from sklearn.metrics import r2_score

        return float(r2_score(_targets(Y, np.shape(X)[0], "ForceReadout.score"), self.predict(X)))


def _one_sequence(esn, inputs: Any, n_steps: int | None, name: str) -> torch.Tensor:
    if inputs is None:
        return torch.zeros(n_steps, esn.n_inputs, dtype=esn.dtype, device=esn.device)
    u = torch.as_tensor(np.asarray(inputs, dtype=np.float64), dtype=esn.dtype, device=esn.device)
    if u.ndim != 2 or u.shape[1] != esn.n_inputs or (n_steps is not None and u.shape[0] != n_steps):
        raise ValueError(f"{name}: inputs must have shape ({n_steps or 'T'}, {esn.n_inputs}), got {tuple(u.shape)}")
    if not bool(torch.isfinite(u).all()):
        raise ValueError(f"{name}: inputs contain NaN or infinity")
    return u


def train_force(esn, readout: ForceReadout, targets: Any, inputs: Any = None,
                initial_state: Any = None) -> tuple[np.ndarray, np.ndarray]:
    """FORCE learning: run ``esn`` (one sequence) with its readout output fed back
    (needs ``esn.n_feedback == k``, or 0 for no feedback) while ``readout`` learns the
    ``targets`` (T, k) by RLS at every step.

    Returns (states (T, N), outputs z (T, k) before each update). The final state and
    output stay in ``esn.last_state`` and ``readout.last_output`` for
    :func:`run_closed_loop`.
    """
    f = np.asarray(targets, dtype=np.float64)
    f = f.reshape(len(f), -1) if f.ndim == 1 else f
    if f.ndim != 2 or not np.all(np.isfinite(f)):
        raise ValueError(f"train_force: targets must be finite, shape (T,) or (T, k), got {np.shape(targets)}")
    if esn.n_feedback not in (0, f.shape[1]):
        raise ValueError(f"train_force: the network feeds back {esn.n_feedback} outputs, targets have {f.shape[1]}")
    u = _one_sequence(esn, inputs, len(f), "train_force")
    readout.start(esn.n_units, f.shape[1])
    readout._vector_target = np.ndim(targets) == 1
    x = esn._initial(initial_state, 1)
    z = np.zeros(f.shape[1])
    states, outputs = np.empty((len(f), esn.n_units)), np.empty_like(f)
    with torch.no_grad():
        for t in range(len(f)):
            x = esn.step(x, u[t], feedback=z[None] if esn.n_feedback else None)
            states[t] = x[0].cpu().numpy()
            z = readout.learn_step(states[t], f[t])
            outputs[t] = z
    esn.last_state, readout.last_output = x, readout.weights @ states[-1]
    return states, outputs


def run_closed_loop(esn, readout: ForceReadout, n_steps: int, inputs: Any = None) -> np.ndarray:
    """Continue from the end of :func:`train_force` with fixed weights, the output fed back:
    returns outputs z (n_steps, k)."""
    if esn.last_state is None or getattr(readout, "last_output", None) is None:
        raise RuntimeError("run_closed_loop: run train_force first")
    u = _one_sequence(esn, inputs, n_steps, "run_closed_loop")
    x, z = esn.last_state, readout.last_output
    outputs = np.empty((n_steps, readout.weights.shape[0]))
    with torch.no_grad():
        for t in range(n_steps):
            x = esn.step(x, u[t], feedback=z[None] if esn.n_feedback else None)
            z = readout.weights @ x[0].cpu().numpy()
            outputs[t] = z
    esn.last_state, readout.last_output = x, z
    return outputs
