"""Synaptic operations (NeuroBench's Dense / Effective_MACs / Effective_ACs) and energy
estimates for engine runs and torch models, checked against hand counts."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import nn

from synaptica.analysis.energy import (HOROWITZ_45NM, OperationCountError, OperationCounts,
                                       count_model_operations, count_network_operations, energy_estimate)
from synaptica.record import SpikeRecord
from synaptica.engine.network import Network
from synaptica.neurons import LIF
from synaptica.plasticity import TsodyksMarkram

DT = 1.0


def row(counts: OperationCounts, name: str):
    return next(p for p in counts.projections if p.name == name)


def pop_row(counts: OperationCounts, name: str):
    return next(p for p in counts.populations if p.name == name)


# -- engine networks ---------------------------------------------------------------------------------
# sparse wiring with a known out-degree per presynaptic neuron, and a spike schedule
SPARSE_PRE = np.array([0, 0, 0, 1, 3, 3])
SPARSE_POST = np.array([0, 1, 2, 0, 1, 2])
GEN_TIMES = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0])
GEN_IDS = np.array([0, 0, 1, 2, 2, 2, 3])


def build(delay: np.ndarray):
    """One structure for every run here (one compiled kernel: delays are data)."""
    net = Network(dt=DT, batch_size=2, seed=5, dtype=torch.float64)
    src = net.add_poisson(20, 50.0, name="src")
    gen = net.add_spike_generator(4, GEN_TIMES, GEN_IDS, name="gen")
    rated = net.add_poisson(10, 80.0, name="rated")  # only its population rate is recorded
    pop = net.add_population(7, LIF(), name="A")
    pop.i_ext[:] = 160.0  # fires on its own: a known nonzero activation count
    net.connect(src, pop, weight=5.0, delay=delay, name="src->A")
    net.connect(gen, pop, pre_index=SPARSE_PRE, post_index=SPARSE_POST, weight=5.0, name="gen->A")
    net.connect(rated, pop, weight=1.0, name="rated->A")
    net.connect(pop, pop, p=0.5, weight=-2.0, sign="inhibitory", allow_self=False, name="A->A",
                stp=TsodyksMarkram())
    mons = {"src": net.monitor_counts(src), "src_spikes": net.monitor_spikes(src), "A": net.monitor_counts(pop),
            "rated": net.monitor_rate(rated)}
    return net, mons


ONE_STEP = np.full((20, 7), DT)


@pytest.fixture(scope="module")
def run_net():
    net, mons = build(ONE_STEP)
    net.set_trials(100.0)
    net.run(400.0)
    return net, mons


def test_dense_projection_acs_are_spikes_times_fan_out(run_net):
    net, mons = run_net
    counts = count_network_operations(net)
    r = row(counts, "src->A")
    spikes = int(mons["src"].counts.sum())
    assert spikes > 100
    assert r.effective_acs == spikes * 7 and r.effective_macs == 0
    assert r.nonzero_inputs == spikes and r.inputs == 20 * 400 * 2
    assert r.dense == 20 * 7 * 400 * 2  # every synapse, every step, every batch entry
    # four trials of two batch entries: eight samples of 100 steps
    assert counts.n_samples == 8 and counts.sample_steps == 800 and counts.steps_per_sample == 100
    synapses = 20 * 7 + SPARSE_PRE.size + 10 * 7 + net.projections[3].n_synapses
    assert counts.per_sample()["Dense"] == synapses * 100
    assert counts.per_step()["Effective_ACs"] == pytest.approx(counts.effective_acs / 800)


def test_counts_from_spike_monitor_and_record_agree(run_net):
    net, mons = run_net
    from_monitor = count_network_operations(net)
    mon = mons["src_spikes"]
    rec = SpikeRecord.from_arrays(mon.times_ms / 1000.0, mon.neuron_ids, n_units=20, t_stop=0.4, sort=True)
    from_record = count_network_operations(net, spike_counts={"src": rec})
    per_neuron = np.bincount(mon.neuron_ids, minlength=20)
    from_array = count_network_operations(net, spike_counts={"src": per_neuron})
    for c in (from_record, from_array):
        assert row(c, "src->A") == row(from_monitor, "src->A")


def test_sparse_projection_uses_out_degree_and_generator_schedule(run_net):
    net, _ = run_net
    r = row(count_network_operations(net), "gen->A")
    degree = np.bincount(SPARSE_PRE, minlength=4)
    spikes = np.bincount(GEN_IDS, minlength=4) * 2  # the schedule plays in both batch entries
    assert r.kind == "sparse" and r.n_synapses == SPARSE_PRE.size
    assert r.effective_acs == int(spikes @ degree)
    assert r.dense == SPARSE_PRE.size * 400 * 2


def test_short_term_plasticity_makes_macs_and_populations(run_net):
    net, mons = run_net
    counts = count_network_operations(net)
    r = row(counts, "A->A")
    proj = net.projections[3]
    out_degree = np.bincount(proj.synapse_index()[0], minlength=7)
    a_counts = mons["A"].counts.sum((0, 1))
    assert a_counts.sum() > 0
    assert r.effective_macs == int(a_counts @ out_degree) and r.effective_acs == 0
    a = pop_row(counts, "A")
    assert a.neuron_updates == 7 * 400 * 2 and a.spikes == a_counts.sum()
    assert counts.activation_sparsity == pytest.approx(1 - a_counts.sum() / (7 * 800))  # inputs excluded
    assert pop_row(counts, "src").neuron_updates == 0


def test_delays_do_not_change_counts():
    rng = np.random.default_rng(0)
    short, _ = build(ONE_STEP)
    long, _ = build(rng.integers(1, 20, (20, 7)).astype(float) * DT)
    for net in (short, long):
        net.run(200.0)
    a, b = count_network_operations(short), count_network_operations(long)
    assert row(a, "src->A") == row(b, "src->A") and row(a, "src->A").effective_acs > 0
    assert row(a, "gen->A") == row(b, "gen->A")


def test_convolution_fan_out_and_zero_weights_without_running():
    net = Network(dt=DT)
    gen = net.add_spike_generator(16, [1.0, 2.0, 3.0, 4.0, 5.0], [0, 0, 0, 5, 5])
    pop = net.add_population(4, LIF())
    kernel = np.ones((1, 1, 3, 3))
    net.connect(gen, pop, kernel=kernel, in_shape=(1, 4, 4), name="conv")
    counts = count_network_operations(net, duration_ms=10.0)  # the schedule is known in advance
    # 4x4 input, 3x3 kernel, no padding: corner pixel 0 reaches 1 output, inner pixel 5 all 4
    assert row(counts, "conv").effective_acs == 3 * 1 + 2 * 4
    assert row(counts, "conv").dense == 4 * 9 * 10
    net.projections[0].weights[0, 0, 0, 0] = 0.0  # the tap pixel 0 uses, and pixel 5 onto output (1, 1)
    assert row(count_network_operations(net, duration_ms=10.0), "conv").effective_acs == 2 * 3
    kept = count_network_operations(net, duration_ms=10.0, skip_zero_weights=False)
    assert row(kept, "conv").effective_acs == 3 * 1 + 2 * 4


def test_rate_monitor_suffices_for_uniform_fan_out_only(run_net):
    net, mons = run_net
    counts = count_network_operations(net)
    assert row(counts, "rated->A").effective_acs == int(mons["rated"].counts.sum()) * 7 > 0
    assert pop_row(counts, "rated").spikes == int(mons["rated"].counts.sum())
    other = Network(dt=DT)
    src = other.add_poisson(10, 80.0, name="src")
    other.monitor_rate(src)
    other.connect(src, other.add_population(3, LIF()), pre_index=[0, 0, 1], post_index=[0, 1, 2])
    with pytest.raises(OperationCountError, match="monitor_counts"):
        count_network_operations(other, duration_ms=10.0)


def test_network_bad_input():
    net = Network(dt=DT)
    src = net.add_poisson(5, 10.0, name="src")
    pop = net.add_population(3, LIF(), name="B")
    net.connect(src, pop)
    with pytest.raises(OperationCountError, match="not run"):
        count_network_operations(net)
    with pytest.raises(OperationCountError, match="no per-neuron spike counts.*'src'"):
        count_network_operations(net, duration_ms=10.0)
    with pytest.raises(OperationCountError, match=r"unknown group\(s\) \['nope'\]"):
        count_network_operations(net, {"nope": np.ones(5)}, duration_ms=10.0)
    with pytest.raises(OperationCountError, match=r"shape \(\.\.\., 5\)"):
        count_network_operations(net, {"src": np.ones(4)}, duration_ms=10.0)
    with pytest.raises(OperationCountError, match="non-negative"):
        count_network_operations(net, {"src": -np.ones(5)}, duration_ms=10.0)
    with pytest.raises(OperationCountError, match="more than one per step"):
        count_network_operations(net, {"src": np.full(5, 11)}, duration_ms=10.0)
    for duration in (2.5, -1.0, float("nan")):
        with pytest.raises(OperationCountError, match="multiple of dt"):
            count_network_operations(net, {"src": np.ones(5)}, duration_ms=duration)
    with pytest.raises(OperationCountError, match="map group names"):
        count_network_operations(net, [np.ones(5)], duration_ms=10.0)
    ok = count_network_operations(net, {"src": np.arange(5)}, duration_ms=10.0)
    assert ok.effective_acs == 10 * 3


# -- torch models ------------------------------------------------------------------------------------
class Heaviside(nn.Module):
    def forward(self, x):
        return (x > 0).to(x.dtype)


class ToyLIF(nn.Module):
    """A stateful spiking activation: v <- v/2 + x, spike at v >= 1, reset by subtraction."""

    def __init__(self):
        super().__init__()
        self.v = None

    def forward(self, x):
        self.v = x if self.v is None else 0.5 * self.v + x
        s = (self.v >= 1.0).to(x.dtype)
        self.v = self.v - s
        return s


def test_mlp_relu_inputs_are_macs_with_nonzero_times_fan_out():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 5), nn.ReLU(), nn.Linear(5, 3))
    x = torch.randn(4, 6)
    x[x < 0.3] = 0.0
    counts = count_model_operations(model, x)
    hidden = model[1](model[0](x))
    first, second = row(counts, "0"), row(counts, "2")
    assert 0 < int((x != 0).sum()) < x.numel() and 0 < int((hidden != 0).sum()) < hidden.numel()
    assert first.effective_macs == int((x != 0).sum()) * 5 and first.effective_acs == 0
    assert second.effective_macs == int((hidden != 0).sum()) * 3
    assert counts.per_sample()["Dense"] == 6 * 5 + 5 * 3
    assert counts.n_samples == 4 and counts.sample_steps == 4
    assert pop_row(counts, "1").spikes == int((hidden != 0).sum())
    assert counts.activation_sparsity == pytest.approx(float((hidden == 0).float().mean()))


def test_mlp_spike_inputs_are_acs_and_zero_weights_do_not_count():
    torch.manual_seed(1)
    model = nn.Sequential(nn.Linear(8, 5), Heaviside(), nn.Linear(5, 3))
    with torch.no_grad():
        model[0].weight[:, 0] = 0.0  # input 0 has no synapses left
        model[0].weight[2, 1] = 0.0
    x = (torch.rand(6, 8) < 0.4).float()
    counts = count_model_operations(model, x)
    first = row(counts, "0")
    fan_out = (model[0].weight != 0).sum(0).numpy()
    assert first.effective_acs == int((x != 0).sum(0).numpy() @ fan_out) and first.effective_macs == 0
    assert first.dense == 6 * 8 * 5  # the dense equivalent counts pruned weights too
    spikes = model[1](model[0](x))
    assert row(counts, "2").effective_acs == int(spikes.sum()) * 3
    scaled = count_model_operations(model, 0.5 * x)  # graded values are not spikes
    assert row(scaled, "0").effective_macs == first.effective_acs and row(scaled, "0").effective_acs == 0


def test_conv_counts_by_hand_and_padding_is_not_dense():
    conv = nn.Conv2d(1, 2, 3)
    for pixel, fan_out in (((0, 0), 1), ((1, 1), 4)):  # corner and inner pixel of a 4x4 image
        x = torch.zeros(1, 1, 4, 4)
        x[0, 0, pixel[0], pixel[1]] = 1.0
        counts = count_model_operations(conv, x)
        assert counts.effective_acs == 2 * fan_out and counts.dense == 2 * 4 * 9
    padded = count_model_operations(nn.Conv2d(1, 2, 3, padding=1), torch.zeros(1, 1, 4, 4))
    # 4x4 outputs: 4 corners see 4 taps inside the image, 8 edges 6, 4 inner 9
    assert padded.dense == 2 * (4 * 4 + 8 * 6 + 4 * 9) and padded.synaptic_operations == 0


def test_time_steps_and_stateful_spiking_neurons():
    torch.manual_seed(2)
    model = nn.Sequential(nn.Linear(8, 6), ToyLIF(), nn.Linear(6, 3), ToyLIF())
    x = (torch.rand(5, 4, 8) < 0.5).float()  # (T, batch, features)
    hidden, out = [], []
    for t in range(5):
        h = model[1](model[0](x[t]))
        hidden.append(h)
        out.append(model[3](model[2](h)))
    h, o = torch.stack(hidden), torch.stack(out)
    model[1].v = model[3].v = None
    counts = count_model_operations(model, x, time_dim=0)
    assert counts.n_samples == 4 and counts.sample_steps == 20 and counts.steps_per_sample == 5
    assert row(counts, "0").effective_acs == int(x.sum()) * 6
    assert row(counts, "2").effective_acs == int(h.sum()) * 3
    assert counts.per_step()["Dense"] == 8 * 6 + 6 * 3
    assert pop_row(counts, "1").neuron_updates == 20 * 6 and pop_row(counts, "3").spikes == int(o.sum())
    assert counts.activation_sparsity == pytest.approx(1 - float(h.sum() + o.sum()) / (20 * 9))


def test_model_bad_input():
    with pytest.raises(OperationCountError, match="torch.nn.Module"):
        count_model_operations(lambda x: x, torch.ones(2, 3))
    with pytest.raises(OperationCountError, match="ran no layer"):
        count_model_operations(nn.ReLU(), torch.ones(2, 3))
    with pytest.raises(OperationCountError, match="time_dim 3"):
        count_model_operations(nn.Linear(3, 2), torch.ones(2, 3), time_dim=3)


# -- energy ------------------------------------------------------------------------------------------
def test_energy_is_macs_and_acs_times_costs_and_json_ready():
    torch.manual_seed(3)
    model = nn.Sequential(nn.Linear(6, 5), Heaviside(), nn.Linear(5, 3))
    x = torch.randn(4, 6)
    counts = count_model_operations(model, x)
    assert counts.effective_macs > 0 and counts.effective_acs > 0
    e = energy_estimate(counts)
    assert e.e_mac == pytest.approx(4.6e-12) and e.e_ac == pytest.approx(0.9e-12)
    assert e.total_j == pytest.approx(counts.effective_macs * 4.6e-12 + counts.effective_acs * 0.9e-12)
    assert e.per_sample_j == pytest.approx(e.total_j / 4)
    assert e.dense_j == pytest.approx(counts.dense * 4.6e-12) and e.total_j < e.dense_j
    with_neurons = energy_estimate(counts, **HOROWITZ_45NM["int8"], e_neuron=1e-12)
    assert with_neurons.total_j == pytest.approx(counts.effective_macs * 0.23e-12 + counts.effective_acs * 0.03e-12
                                                 + counts.neuron_updates * 1e-12)
    report = json.loads(json.dumps({"ops": counts.as_dict(), "energy": e.as_dict()}))
    assert report["ops"]["per_sample"]["Effective_ACs"] == counts.effective_acs / 4
    assert "Horowitz" in report["energy"]["citation"]


@pytest.mark.parametrize("bad", [{"e_mac": -1e-12}, {"e_ac": float("nan")}, {"e_neuron": -0.1}, {"e_ac": "1pJ"}])
def test_energy_bad_input(bad):
    counts = count_model_operations(nn.Linear(3, 2), torch.ones(2, 3))
    with pytest.raises(OperationCountError, match=next(iter(bad))):
        energy_estimate(counts, **bad)
    with pytest.raises(OperationCountError, match="OperationCounts"):
        energy_estimate({"Effective_MACs": 1})
