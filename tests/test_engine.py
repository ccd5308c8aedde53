"""Engine: compiled CPU loop vs torch path, determinism, split runs, checkpoints, monitor
memory, construction errors, batches and event-driven sparse delivery."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from synaptica.engine.network import Network
from synaptica.neurons import AdaptiveLIFConductance, LIF, AdaptiveLIF, AdEx, Izhikevich, LIFConductance, Parrot

F64 = torch.float64
DT = 0.1




# -- CPU compiled loop == torch path, every model, every kind of projection -----------------------
# model factory, i_ext range (background drive near rheobase), weight scale, inhibitory
# weights negative (current synapses) or positive conductances (conductance synapses)
MODELS = {
    "LIF": (lambda: LIF(), (100.0, 170.0), 40.0, -1.0),
    "AdaptiveLIF": (lambda: AdaptiveLIF(theta_jump=2.0, tau_adapt=30.0), (100.0, 170.0), 40.0, -1.0),
    "Izhikevich": (lambda: Izhikevich.preset("RS"), (0.0, 8.0), 4.0, -1.0),
    "AdEx": (lambda: AdEx(), (300.0, 650.0), 250.0, -1.0),
    "LIFConductance": (lambda: LIFConductance(), (100.0, 170.0), 1.5, +1.0),
    "AdaptiveLIFConductance": (lambda: AdaptiveLIFConductance(theta_jump=2.0, tau_adapt=30.0), (100.0, 170.0),
                               1.5, +1.0),
}


def build_mixed(model_name: str, batch_size: int = 2):
    """Generator (16 sources as a 1x4x4 image) -> 32 neurons through a random sparse
    projection with per-synapse weights and delays, a dense projection with a delay
    matrix and a 3x3 convolution; recurrent one-to-one and random (p) inhibitory
    projections. One population per network keeps the compiled kernel small (numba
    compile time grows faster than linearly with the kernel)."""
    make, (i_lo, i_hi), scale, inh_sign = MODELS[model_name]
    rng = np.random.default_rng(11)
    net = Network(dt=DT, batch_size=batch_size, seed=3, dtype=F64)
    n_events = 120
    gen = net.add_spike_generator(16, np.round(rng.uniform(0, 40.0, n_events), 1), rng.integers(0, 16, n_events))
    pop = net.add_population(32, make(), name="A")
    pop.i_ext[:] = torch.as_tensor(rng.uniform(i_lo, i_hi, (batch_size, 32)))  # entries differ
    # random sparse, per-synapse weights and delays (1..12 steps)
    pre, post = rng.integers(0, 16, 70), rng.integers(0, 32, 70)
    net.connect(gen, pop, pre_index=pre, post_index=post, weight=scale * rng.uniform(0.5, 2.0, 70),
                delay=rng.integers(1, 13, 70) * DT)
    # dense with a delay matrix (1..5 steps)
    net.connect(gen, pop, weight=scale * rng.uniform(0.0, 0.8, (16, 32)), delay=rng.integers(1, 6, (16, 32)) * DT)
    # convolution, padding 1: (1, 4, 4) -> (2, 4, 4)
    net.connect(gen, pop, kernel=scale * rng.uniform(0.2, 1.0, (2, 1, 3, 3)), in_shape=(1, 4, 4), padding=1,
                delay=0.5)
    # one-to-one (each neuron excites itself after 1 ms)
    net.connect(pop, pop, one_to_one=True, weight=scale, delay=1.0)
    # random recurrent inhibition (positive conductances for the conductance model)
    net.connect(pop, pop, p=0.2, weight=inh_sign * scale, target=pop.model.receptors[1], delay=2.0,
                sign="inhibitory" if inh_sign < 0 else None)
    mons = {"spikes": net.monitor_spikes(pop), "v": net.monitor_state(pop, "v")}
    return net, mons


def assert_same_run(net1, mons1, net2, mons2, atol=1e-9):
    for key in mons1:
        if key.startswith("spikes"):
            for attr in ("steps", "ids", "batch"):
                np.testing.assert_array_equal(mons1[key].arrays()[attr], mons2[key].arrays()[attr], err_msg=key)
        else:
            np.testing.assert_array_equal(mons1[key].steps, mons2[key].steps)
            np.testing.assert_allclose(mons1[key].values, mons2[key].values, rtol=0, atol=atol, err_msg=key)
    s1, s2 = net1.state_arrays(), net2.state_arrays()
    assert sorted(s1) == sorted(s2)
    for key in s1:
        if key in ("noise_state", "torch_generator"):
            continue
        np.testing.assert_allclose(s1[key], s2[key], rtol=0, atol=atol, err_msg=key)


@pytest.mark.parametrize("model_name", list(MODELS))
def test_cpu_and_torch_paths_agree(model_name, torch_one_thread):
    net_cpu, mons_cpu = build_mixed(model_name)
    net_torch, mons_torch = build_mixed(model_name)
    net_cpu.run(45.0, backend="cpu")
    net_torch.run(45.0, backend="torch")
    # a meaningful comparison: the population spikes in both entries without saturating
    count = mons_cpu["spikes"].count
    assert 20 <= count <= 0.5 * 2 * 32 * 450, count
    assert len(np.unique(mons_cpu["spikes"].batch_ids)) == 2
    assert_same_run(net_cpu, mons_cpu, net_torch, mons_torch)


# -- determinism, split runs, checkpoints (Poisson-driven network, compiled path) ------------------
def build_poisson(seed: int = 1, batch_size: int = 1):
    net = Network(dt=DT, batch_size=batch_size, seed=seed, dtype=F64)
    src = net.add_poisson(40, 40.0, name="src")
    # given spikes on both sides of the split / checkpoint (the generator's read position
    # must be recovered from the step count)
    gen = net.add_spike_generator(5, np.arange(2.0, 100.0, 3.7), np.arange(27) % 5, name="gen")
    pop = net.add_population(50, LIF(), name="pop")
    pop.i_ext[:] = 120.0
    net.connect(src, pop, p=0.2, weight=60.0, delay=1.0)
    net.connect(gen, pop, weight=40.0, delay=0.3)
    net.connect(pop, pop, p=0.1, weight=-30.0, sign="inhibitory", delay=0.5)
    mons = {"spikes_src": net.monitor_spikes(src), "spikes_pop": net.monitor_spikes(pop),
            "v_pop": net.monitor_state(pop, "v", every=7)}
    return net, mons


def test_same_seed_same_spikes_different_seed_different():
    net1, m1 = build_poisson(seed=1)
    net2, m2 = build_poisson(seed=1)
    net3, m3 = build_poisson(seed=2)
    for net in (net1, net2, net3):
        net.run(60.0)
    assert m1["spikes_pop"].count > 20
    assert_same_run(net1, m1, net2, m2, atol=0)
    for key in ("spikes_src", "spikes_pop"):
        a, c = m1[key].arrays(), m3[key].arrays()
        assert a["steps"].size != c["steps"].size or not (
            np.array_equal(a["steps"], c["steps"]) and np.array_equal(a["ids"], c["ids"])), key


def test_split_run_equals_single_run():
    whole, mw = build_poisson()
    whole.run(100.0)
    halves, mh = build_poisson()
    halves.run(50.0)
    halves.run(50.0)
    chunked, mc = build_poisson()
    chunked.run(100.0, chunk_steps=137)  # chunk boundaries inside the run
    assert whole.step == halves.step == chunked.step == 1000
    assert mw["spikes_pop"].count > 20
    assert_same_run(whole, mw, halves, mh, atol=0)
    assert_same_run(whole, mw, chunked, mc, atol=0)


def test_checkpoint_resumes_identically(tmp_path):
    reference, mr = build_poisson()
    reference.run(50.0)
    path = tmp_path / "mid.npz"
    reference.save_checkpoint(path)
    reference.run(50.0)

    resumed, ms = build_poisson()  # freshly built: same structure, nothing run yet
    resumed.load_checkpoint(path)
    assert resumed.step == 500
    resumed.run(50.0)
    late = mr["spikes_pop"].steps[: mr["spikes_pop"].count] >= 500
    assert late.sum() > 10  # spikes after the checkpoint are compared too
    assert_same_run(reference, mr, resumed, ms, atol=0)


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_corrupt_checkpoint_raises_naming_file(tmp_path, damage):
    net, _ = build_poisson()
    good = tmp_path / "good.npz"
    net.save_checkpoint(good)
    bad = tmp_path / f"{damage}.npz"
    if damage == "garbage":
        bad.write_bytes(b"this is not a checkpoint" * 10)
    else:
        data = good.read_bytes()
        bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match=str(bad).replace("\\", "\\\\")):
        build_poisson()[0].load_checkpoint(bad)


def test_checkpoint_of_other_network_raises(tmp_path):
    other = Network(dt=DT, dtype=F64)
    other.add_population(3, LIF(), name="other")
    path = tmp_path / "other.npz"
    other.save_checkpoint(path)
    with pytest.raises(ValueError, match=r"does not match this network"):
        build_poisson()[0].load_checkpoint(path)


def test_batch_entries_independent():
    """batch_size=3: each entry has its own Poisson draws, and changing the drive of
    entry 2 leaves the spikes of entries 0 and 1 unchanged (no cross-talk)."""
    net1, m1 = build_poisson(batch_size=3)
    net2, m2 = build_poisson(batch_size=3)
    net2.populations[0].i_ext[2] = 200.0
    net1.run(60.0)
    net2.run(60.0)

    def entry(mon, b):
        arr = mon.arrays()
        sel = arr["batch"] == b
        return arr["steps"][sel], arr["ids"][sel]

    src = [entry(m1["spikes_src"], b) for b in range(3)]
    for b in range(3):
        # 40 sources x 40 Hz x 60 ms: 96 expected spikes per entry
        assert 96 - 5 * math.sqrt(96) < src[b][0].size < 96 + 5 * math.sqrt(96)
    for b, c in ((0, 1), (0, 2), (1, 2)):
        assert not (src[b][0].size == src[c][0].size and np.array_equal(src[b][0], src[c][0])
                    and np.array_equal(src[b][1], src[c][1]))
    for b in (0, 1):
        for key in ("spikes_src", "spikes_pop"):
            s1, i1 = entry(m1[key], b)
            s2, i2 = entry(m2[key], b)
            assert np.array_equal(s1, s2) and np.array_equal(i1, i2), (key, b)
        np.testing.assert_array_equal(m1["v_pop"].values[:, b], m2["v_pop"].values[:, b])
    assert entry(m2["spikes_pop"], 2)[0].size > entry(m1["spikes_pop"], 2)[0].size


# -- spike monitor memory ---------------------------------------------------------------------------
def monitor_bytes(mon) -> int:
    return mon.buffer_bytes


def test_spike_monitor_memory_grows_with_spikes_not_steps():
    n = 10_000
    net = Network(dt=DT, dtype=torch.float32)
    pop = net.add_population(n, LIF())
    mon = net.monitor_spikes(pop)
    net.run(100.0)  # 1000 steps, silent
    assert mon.count == 0
    size = monitor_bytes(mon)
    # a dense record would be n x steps = 10^7 entries; the event arrays keep a fixed
    # head-room of 8 x batch x n events (16 bytes each) = 1.28 MB, independent of steps
    assert size < 1.5e6, size
    net.run(400.0)  # 4000 more silent steps: nothing grows
    assert mon.count == 0 and monitor_bytes(mon) == size
    # with spikes, the arrays hold exactly the events
    pop.i_ext[0, :10] = 1e6  # ten neurons fire every refractory period (20 steps)
    net.run(100.0)
    assert mon.count == 10 * 1000 // 20
    assert monitor_bytes(mon) == size
    assert np.array_equal(np.unique(mon.neuron_ids), np.arange(10))


# -- construction errors ------------------------------------------------------------------------------
@pytest.fixture()
def small():
    net = Network(dt=DT, dtype=F64)
    gen = net.add_spike_generator(4, [1.0], [0])
    pop = net.add_population(3, LIF())
    return net, gen, pop


def test_dale_law_violations_raise(small):
    net, gen, pop = small
    with pytest.raises(ValueError, match=r"excitatory \(Dale's law\) but has negative weights"):
        net.connect(gen, pop, weight=-5.0, sign="excitatory")
    with pytest.raises(ValueError, match=r"inhibitory \(Dale's law\) but has positive weights"):
        net.connect(gen, pop, weight=5.0, sign="inhibitory")
    with pytest.raises(ValueError, match=r"Dale's law"):
        net.connect(gen, pop, pre_index=[0, 1, 2], post_index=[0, 1, 2], weight=[1.0, -1.0, 2.0],
                    sign="excitatory")
    with pytest.raises(ValueError, match=r"sign must be"):
        net.connect(gen, pop, weight=5.0, sign="positive")
    assert net.projections == []


def test_delay_shorter_than_dt_raises(small):
    net, gen, pop = small
    with pytest.raises(ValueError, match=r"delay 0\.05 ms is shorter than dt = 0\.1 ms"):
        net.connect(gen, pop, weight=1.0, delay=0.05)
    with pytest.raises(ValueError, match=r"shorter than dt"):
        net.connect(gen, pop, pre_index=[0, 1], post_index=[0, 1], delay=[0.5, 0.0])
    with pytest.raises(ValueError, match=r"delays must be finite"):
        net.connect(gen, pop, weight=1.0, delay=float("nan"))
    with pytest.raises(ValueError, match=r"2 delays for 3 synapses"):
        net.connect(gen, pop, pre_index=[0, 1, 2], post_index=[0, 1, 2], delay=[0.5, 0.2])


def test_unknown_receptor_raises(small):
    net, gen, pop = small
    with pytest.raises(ValueError, match=r"has no receptor 'i_nmda'; receptors: \['i_exc', 'i_inh'\]"):
        net.connect(gen, pop, weight=1.0, target="i_nmda")
    with pytest.raises(ValueError, match=r"has no receptor 'v'"):
        net.connect(gen, pop, weight=1.0, target="v")  # a state variable, but not a receptor


def test_post_index_without_pre_index_raises(small):
    net, gen, pop = small
    with pytest.raises(ValueError, match="pre_index"):
        net.connect(gen, pop, post_index=[0, 1], weight=5.0)


# -- event-driven sparse delivery ---------------------------------------------------------------------
# (pre, post, weight pA, delay steps); a multapse 2 -> 0 with two delays; given unsorted
SYNAPSES = [(4, 5, 50.0, 10), (2, 5, 40.0, 5), (0, 1, 10.0, 1), (2, 0, 30.0, 2), (0, 3, 20.0, 3),
            (2, 0, 60.0, 4)]
EVENTS = [(1.0, 2), (1.2, 3), (1.5, 0), (1.5, 4)]  # (time ms, source); source 3 has no synapses


def build_delivery():
    net = Network(dt=DT, dtype=F64)
    gen = net.add_spike_generator(5, [t for t, _ in EVENTS], [i for _, i in EVENTS])
    pop = net.add_population(6, LIF(tau_exc=5.0))
    pre, post, w, d = (np.array(x) for x in zip(*SYNAPSES))
    net.connect(gen, pop, pre_index=pre, post_index=post, weight=w, delay=d * DT)
    mon = net.monitor_state(pop, "i_exc")
    return net, pop, mon


def test_sparse_spike_reaches_exactly_its_targets():
    net, pop, _ = build_delivery()
    net.run(1.1)  # steps 0..10: source 2 has spiked (step 10), nothing else yet
    ring = net.buffers[0].numpy()
    assert ring.shape == (11, 1, 6)  # max delay 10 steps + 1
    expected = np.zeros_like(ring)
    for pre, post, w, d in SYNAPSES:
        if pre == 2:
            expected[(10 + d) % 11, 0, post] += w
    np.testing.assert_array_equal(ring, expected)
    assert np.all(pop.i_exc.numpy() == 0.0)


@pytest.mark.parametrize("backend", ["cpu", "torch"])
def test_sparse_delivery_weights_and_delays(backend, torch_one_thread):
    """i_exc of each target: every spike of source i adds w_ij in step t + d_ij, before
    the update, which then decays it once: sample m = sum w exp(-(m - arrival + 1) dt / tau)."""
    net, pop, mon = build_delivery()
    net.run(4.0, backend=backend)
    decay = math.exp(-DT / 5.0)
    n = 40
    expected = np.zeros((n, 6))
    for t, src in EVENTS:
        for pre, post, w, d in SYNAPSES:
            if pre == src:
                arrival = int(round(t / DT)) + d
                m = np.arange(arrival, n)
                expected[m, post] += w * decay ** (m - arrival + 1)
    np.testing.assert_allclose(mon.values[:, 0, :], expected, rtol=0, atol=1e-12)
    assert np.all(mon.values[:, 0, [2, 4]] == 0.0)  # no synapses onto 2 and 4


# -- regressions and known bugs (see the report) --------------------------------------------
def test_torch_path_float32_with_projections(torch_one_thread):
    """Regression (fixed in 5fbba84): projection weights were float64 tensors, so the torch
    path failed for float32 networks (the default dtype) in s @ w and index_add."""
    results = {}
    for dtype in (torch.float32, torch.float64):
        net = Network(dt=DT, dtype=dtype)
        gen = net.add_spike_generator(2, [1.0, 1.5], [0, 1])
        pop = net.add_population(3, LIF())
        net.connect(gen, pop, weight=100.0)                                          # dense
        net.connect(gen, pop, pre_index=[0, 1], post_index=[1, 2], weight=50.0)      # sparse
        net.run(5.0, backend="torch")
        assert pop.v.dtype == dtype
        results[dtype] = pop.v.double().numpy().copy()
    assert np.all(results[torch.float64] > -64.0)
    np.testing.assert_allclose(results[torch.float32], results[torch.float64], rtol=0, atol=1e-4)


def test_rate_monitor_consistent_with_spike_monitor_when_buffers_grow():
    net = Network(dt=DT, dtype=F64)
    pop = net.add_population(100, LIF(t_ref=0.0))
    pop.i_ext[:] = 1e5  # every neuron fires every step
    spikes, rate = net.monitor_spikes(pop), net.monitor_rate(pop)
    net.run(200.0)  # 200,000 events: the event buffer must grow inside the chunk
    assert spikes.count == 200_000
    assert rate.counts.sum() == spikes.count
    assert np.all(rate.counts == 100)


def test_inhibitory_conductance_projection_adds_positive_conductance():
    from synaptica.neurons import LIFConductance

    net = Network(dt=DT, dtype=F64)
    gen = net.add_spike_generator(1, [1.0], [0])
    pop = net.add_population(1, LIFConductance(v_rest=-60.0, v_reset=-70.0, v_th=-50.0))
    net.connect(gen, pop, weight=4.0, sign="inhibitory")
    net.run(2.0)
    assert pop.g_inh.item() > 0 and pop.g_exc.item() == 0  # inhibition: g_inh up, v pulled to e_inh
    assert pop.v.item() < -60.0
    with pytest.raises(ValueError, match="must be >= 0"):
        net.connect(gen, pop, weight=-1.0, target="g_inh")


def test_state_monitor_times_are_the_end_of_each_step():
    net = Network(dt=DT, dtype=F64)
    pop = net.add_population(1, LIF())
    mon = net.monitor_state(pop, "v", every=2)
    net.run(1.0)
    np.testing.assert_allclose(mon.times_ms, (np.arange(0, 10, 2) + 1) * DT)


def test_poisson_set_rates_rejects_more_than_one_spike_per_step():
    net = Network(dt=1.0)
    source = net.add_poisson(3, 10.0)
    with pytest.raises(ValueError, match="exceeds one spike per step"):
        source.set_rates(2000.0)


@pytest.mark.parametrize("dtype", [torch.float32, F64])
@pytest.mark.parametrize("n", [1, 63, 64, 65, 130])
def test_spike_list_finds_every_spike_at_block_edges(n, dtype, torch_one_thread):
    """The compiled loop lists spikes by testing blocks of 64 neurons first: spikes at the
    first and last neuron of a block, in the last partial block and in several blocks in
    one step are all listed, in every batch entry, as on the torch path, in both dtypes and
    with chunk boundaries between the spikes and their relayed copies."""
    candidates = [0, 1, 62, 63, 64, 65, 127, 128, 129]
    ids = np.array([k for k in candidates if k < n] * 3)
    times = np.repeat([0.5, 1.0, 2.0], len(ids) // 3)
    recorded = {}
    for backend in ("cpu", "torch"):
        net = Network(dt=DT, dtype=dtype, batch_size=2)
        gen = net.add_spike_generator(n, times, ids)
        relay = net.add_population(n, Parrot())
        net.connect(gen, relay, one_to_one=True)
        mon_gen, mon_relay = net.monitor_spikes(gen), net.monitor_spikes(relay)
        net.run(3.0, backend=backend, chunk_steps=6)   # the spikes of step 5 end a chunk: relayed in the next
        recorded[backend] = [(m.steps.tolist(), m.ids.tolist(), m.batch.tolist()) for m in (mon_gen, mon_relay)]
        expected = sorted(zip(np.round(times / DT).astype(int).tolist() * 2, ids.tolist() * 2,
                              [0] * ids.size + [1] * ids.size))
        assert sorted(zip(*recorded[backend][0])) == expected
        relayed = sorted((s - 1, i, b) for s, i, b in zip(*recorded[backend][1]))  # one synaptic delay step
        assert relayed == expected
    assert sorted(zip(*recorded["cpu"][1])) == sorted(zip(*recorded["torch"][1]))
