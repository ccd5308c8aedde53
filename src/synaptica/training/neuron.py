"""The discrete-time LIF neuron of the training layers, written once.

Per step, in threshold units (``beta = exp(-dt / tau_m)``, time in steps)::

    h_t = beta * v_{t-1} + I_t                      charge
    s_t = H(h_t - theta)                            fire (surrogate gradient backward)
    v_t = h_t - theta * s_t   or   h_t - h_t * s_t  reset by subtraction / to zero

The functions below use plain arithmetic and the primitives ``spike`` and ``detach`` of
:mod:`synaptica.primitives` only, so one definition serves every path:

* torch tensors (the reference sequence, the recurrent layer, the online rule):
  :func:`torch_step` binds ``spike`` to a surrogate-gradient Heaviside and ``detach`` to
  ``Tensor.detach`` when the reset is detached;
* the fused numba kernels (:mod:`synaptica.training.kernels`) compile the same functions
  with the scalar primitives, element by element.

``to_zero`` selects the reset; a plain bool (branch outside the tensor ops; loop-invariant
inside the kernels, where LLVM hoists it).
"""
from __future__ import annotations

from functools import lru_cache
from types import FunctionType

from synaptica.primitives import bind, detach, spike, torch_primitives


def charge(v, current, beta):
    """Membrane before the spike decision: ``h = beta v + I``."""
    return beta * v + current


def fire(h, threshold):
    """Spike ``H(h - theta)`` (a surrogate gradient on the torch path)."""
    return spike(h - threshold)


def reset(h, s, threshold, to_zero):
    """Membrane after the spike; with a detached reset the spike is a constant here."""
    return h - detach(s) * (h if to_zero else threshold)


def step(v, current, beta, threshold, to_zero):
    """One step: ``(h_t, s_t, v_t)`` from ``v_{t-1}`` and ``I_t``."""
    h = charge(v, current, beta)
    s = fire(h, threshold)
    return h, s, reset(h, s, threshold, to_zero)


FUNCTIONS = (charge, fire, reset, step)  # each may call only the ones before it


def bind_all(primitives: dict, wrap=lambda f: f) -> dict[str, FunctionType]:
    """The functions of this module with the primitive names resolved from ``primitives``.

    Each function also sees the already bound versions of the ones it calls; ``wrap``
    (e.g. a numba ``njit``) is applied to each bound function in order.
    """
    table = dict(primitives)
    for function in FUNCTIONS:
        table[function.__name__] = wrap(bind(function, table))
    return {f.__name__: table[f.__name__] for f in FUNCTIONS}


@lru_cache(maxsize=None)
def torch_step(surrogate, detach_reset: bool) -> FunctionType:
    """:func:`step` on torch tensors with ``surrogate``'s spike (a hashable
    :class:`~synaptica.primitives.surrogate.Surrogate`) and, if asked, a detached reset."""
    return bind_all(torch_primitives(surrogate, detach_reset))["step"]
