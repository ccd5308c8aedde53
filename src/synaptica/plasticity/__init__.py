"""Plasticity rules: each file one rule, described once for every engine path
(see :mod:`synaptica.plasticity.base` for the framework)."""
from synaptica.plasticity.base import PlasticityRule, Trace, apply_weight_change, split_change
from synaptica.plasticity.stdp import PairSTDP

__all__ = ["PairSTDP", "PlasticityRule", "Trace", "apply_weight_change", "split_change"]
