"""Intrinsic plasticity: thresholds settle where every neuron fires at the target rate,
identically on both engine paths; a model without the variable is refused."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from synaptica.engine.network import Network
from synaptica.neurons import LIF, AdaptiveLIF
from synaptica.plasticity import IntrinsicPlasticity


def run(backend: str):
    net = Network(dt=0.5, dtype=torch.float64, seed=1)
    pop = net.add_population(12, AdaptiveLIF(theta_jump=0.0, tau_adapt=1e12), name="p")
    pop.i_ext[:] = torch.linspace(200, 600, 12)   # very different drives
    net.add_intrinsic(pop, IntrinsicPlasticity(eta=0.2, target_rate=10.0))
    counts = net.monitor_counts(pop)
    net.run(15000.0, backend=backend)
    before = counts.counts[0, 0].copy()
    net.run(5000.0, backend=backend)
    return (counts.counts[0, 0] - before) / 5.0, pop.theta.clone()


def test_rates_converge_to_target_on_both_paths():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        rates_cpu, theta_cpu = run("cpu")
        rates_torch, theta_torch = run("torch")
    finally:
        torch.set_num_threads(threads)
    # within one spike of 10 Hz over 5 s (the threshold moves by eta per spike)
    np.testing.assert_allclose(rates_cpu, 10.0, atol=0.21)
    assert np.all(np.diff(theta_cpu[0].numpy()) > 0)          # stronger drive, higher threshold
    np.testing.assert_array_equal(rates_cpu, rates_torch)
    np.testing.assert_allclose(theta_cpu, theta_torch, atol=1e-9)


def test_needs_a_threshold_variable():
    net = Network(dt=0.5)
    pop = net.add_population(3, LIF(), name="plain")
    with pytest.raises(ValueError, match="no state variable 'theta'"):
        net.add_intrinsic(pop, IntrinsicPlasticity())
    with pytest.raises(ValueError, match="'eta'.*>= 0"):
        IntrinsicPlasticity(eta=-1.0)
