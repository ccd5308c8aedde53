"""A rule may read the postsynaptic membrane state: a voltage-gated rule defined here
(as a user would) gets the post neuron's v of the same step, on both engine paths."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from synaptica.engine.network import Network
from synaptica.neurons import LIF, Parrot
from synaptica.neurons.base import Parameter
from synaptica.plasticity import PlasticityRule


def voltage_gated_on_pre(v, eta, v_gate):
    return eta * (v - v_gate) * (v > v_gate), 0.0


class VoltageGated(PlasticityRule):
    """Potentiation at a presynaptic spike in proportion to the depolarisation above a gate."""

    parameters = {"eta": Parameter(0.01), "v_gate": Parameter(-60.0, "mV")}
    post_variables = ("v",)
    on_pre = staticmethod(voltage_gated_on_pre)


@pytest.mark.parametrize("backend", ["cpu", "torch"])
def test_rule_reads_post_voltage_of_the_same_step(backend):
    net = Network(dt=0.5, dtype=torch.float64)
    times = [5.0, 20.0, 35.0, 60.0, 80.0]
    gen = net.add_spike_generator(1, times, [0] * len(times))
    pre = net.add_population(1, Parrot(), name="pre")
    post = net.add_population(1, LIF(v_th=0.0), name="post")          # never fires
    post.i_ext[:] = 120.0                                               # pA: v climbs towards -53 mV
    net.connect(gen, pre, one_to_one=True)
    proj = net.connect(pre, post, weight=0.0, plasticity=VoltageGated(w_max=10.0))
    v = net.monitor_state(post, "v")
    spikes = net.monitor_spikes(pre)
    net.run(100.0, backend=backend)
    v_at = v.values[spikes.steps[: spikes.count], 0, 0]                 # v after the update of that step
    expected = np.sum(0.01 * np.maximum(v_at + 60.0, 0.0))
    assert expected > 0.1 and np.sum(v_at < -60.0) >= 1                # both branches of the gate used
    np.testing.assert_allclose(proj.weights.numpy().item(), expected, rtol=1e-9)


def test_missing_post_variable_is_refused():
    net = Network(dt=0.5)
    a, b = net.add_population(1, Parrot(), name="a"), net.add_population(1, Parrot(), name="b")
    with pytest.raises(ValueError, match="reads postsynaptic 'v'"):
        net.connect(a, b, plasticity=VoltageGated())
