"""Plasticity rules: each file one rule, described once for every engine path
(see :mod:`synaptica.plasticity.base` for the framework)."""
from synaptica.plasticity.base import PlasticityRule, Trace, apply_weight_change, split_change
from synaptica.plasticity.stdp import PairSTDP
from synaptica.plasticity.three_factor import ThreeFactor
from synaptica.plasticity.rstdp import RewardModulatedSTDP
from synaptica.plasticity.scaling import SynapticScaling
from synaptica.plasticity.vogels import InhibitorySTDP
from synaptica.plasticity.short_term import TsodyksMarkram
from synaptica.plasticity.bcm import BCM
from synaptica.plasticity.diehl_cook import DiehlCookSTDP
from synaptica.plasticity.hebbian import AntiHebbian, Hebbian
from synaptica.plasticity.oja import Oja
from synaptica.plasticity.symmetric import SymmetricSTDP
from synaptica.plasticity.triplet import TripletSTDP

__all__ = ["AntiHebbian", "BCM", "DiehlCookSTDP", "Hebbian", "Oja", "SymmetricSTDP", "TripletSTDP",
           "PairSTDP", "PlasticityRule", "Trace", "apply_weight_change", "split_change"]
__all__ += ["InhibitorySTDP", "RewardModulatedSTDP", "SynapticScaling", "ThreeFactor", "TsodyksMarkram"]
from synaptica.plasticity.intrinsic import IntrinsicPlasticity  # noqa: E402

__all__ += ["IntrinsicPlasticity"]
