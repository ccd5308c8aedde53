"""Spike-and-reset shared by models that reset to a value at a spike peak (Izhikevich, AdEx).

Same rules as every model function: arithmetic and primitives only, so it runs on every
engine path (listed in the models' ``helpers``).
"""
from __future__ import annotations

from synaptica.primitives import detach, spike, where


def fire_and_reset(v, v_peak, v_reset):
    """Spike where v >= v_peak and set v to v_reset there; returns (v, reset mask, spike)."""
    s = spike(v - v_peak)
    s_reset = detach(s)
    return where(s_reset > 0.0, v_reset, v), s_reset, s
