"""Storage of a network's arrays (synaptica.engine.storage) and synapse construction.

A CPU network keeps state, weights, spikes, ring buffers and modulators in NumPy and
hands out tensors that share that memory; writes through either side must be seen by the
other and by both paths. Building synapses fills preallocated arrays and maps views by
offset; both must give exactly what the straightforward construction gave.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

from synaptica import LIF, Network
from synaptica.engine import storage
from synaptica.synapses import connectivity


def _net(dtype="float32", seed=4, poisson=True) -> tuple[Network, object, object]:
    net = Network(dt=0.1, seed=seed, dtype=dtype)
    pop = net.add_population(60, LIF(tau_m=20.0, v_rest=-60.0, v_reset=-60.0, v_th=-50.0, r_m=1.0), name="pop")
    if poisson:
        src = net.add_poisson(40, 80.0, name="src")
    else:   # the same input on both paths (their Poisson streams differ)
        times = np.random.default_rng(seed).uniform(0.0, 15.0, 300)
        src = net.add_spike_generator(40, times, np.arange(300) % 40, name="src")
    proj = net.connect(src, pop, p=0.3, weight=2.0, delay=0.5, name="in")
    return net, pop, proj


@pytest.mark.parametrize("backend", ["cpu", "torch"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_writes_through_tensors_reach_both_paths_and_back(dtype, backend):
    reference, ref_pop, ref_proj = _net(dtype)
    ref_pop.set_state(v=-52.0)
    with torch.no_grad():
        ref_proj.weights.mul_(3.0)   # through the tensor view
    written, pop, proj = _net(dtype)
    pop.state["v"][:] = -52.0        # through the state tensor
    storage.assign(storage.raw(proj, "weights"), storage.as_numpy(storage.raw(proj, "weights")) * 3.0)
    spikes = [n.monitor_spikes(p) for n, p in ((reference, ref_pop), (written, pop))]
    view = pop.state["v"]            # a tensor made before the run ...
    for n in (reference, written):   # chunks of 7 steps: spikes in flight cross chunk boundaries
        n.run(20.0, backend=backend, chunk_steps=7)
    assert spikes[0].neuron_ids.size > 0
    np.testing.assert_array_equal(spikes[0].steps, spikes[1].steps)
    np.testing.assert_array_equal(spikes[0].neuron_ids, spikes[1].neuron_ids)
    if backend == "cpu":   # the torch path replaces the state tensors each step
        assert view is pop.state["v"]    # ... is the state the loop wrote into
    np.testing.assert_array_equal(pop.state["v"].numpy(), ref_pop.state["v"].numpy())
    assert view.dtype == getattr(torch, dtype) and written.dtype == getattr(torch, dtype)


def test_cpu_and_torch_paths_share_the_stored_state():
    """A torch-path run replaces the state tensors; a CPU run after it continues from them."""
    split, pop, _ = _net("float64", poisson=False)
    whole, whole_pop, _ = _net("float64", poisson=False)
    for backend in ("cpu", "torch", "cpu"):   # chunks of 7 steps inside each 50-step run
        split.run(5.0, backend=backend, chunk_steps=7)
    for backend in ("cpu", "torch", "torch"):
        whole.run(5.0, backend=backend, chunk_steps=7)
    assert float(pop.state["v"].std()) > 0.1   # the input moved the membranes
    # the last 5 ms of `whole` ran on torch, of `split` on the CPU: float64 parity holds
    np.testing.assert_allclose(pop.state["v"].numpy(), whole_pop.state["v"].numpy(), atol=1e-9)
    np.testing.assert_allclose(split.buffers[0].numpy(), whole.buffers[0].numpy(), atol=1e-9)


@pytest.mark.parametrize("dtype, expected", [("float32", np.float32), (np.float64, np.float64),
                                             (torch.float64, np.float64), (np.dtype("float32"), np.float32)])
def test_dtype_is_accepted_as_torch_numpy_or_name(dtype, expected):
    net = Network(dtype=dtype)
    assert net.float_type == np.dtype(expected)
    pop = net.add_population(3, LIF())
    assert storage.raw(pop, "spikes").dtype == expected


@pytest.mark.parametrize("dtype", ["int32", "float16", torch.bfloat16, "double precision", None])
def test_other_dtypes_are_refused_naming_the_choice(dtype):
    with pytest.raises(ValueError, match="dtype must be float32 or float64"):
        Network(dtype=dtype)


def test_an_unused_torch_generator_is_saved_empty_and_reseeded_on_load(tmp_path):
    """A CPU run never makes the torch path's generator: its checkpoint stores an empty
    field, and a network loaded from it draws on the torch path as a fresh one would."""
    first, pop, _ = _net("float64", seed=9)
    first.run(2.0, backend="cpu")
    first.save_checkpoint(tmp_path / "c.npz")
    assert first._torch_generator is None
    assert np.load(tmp_path / "c.npz")["torch_generator"].size == 0
    loaded, loaded_pop, _ = _net("float64", seed=9)
    loaded.load_checkpoint(tmp_path / "c.npz")
    fresh, fresh_pop, _ = _net("float64", seed=9)
    fresh.run(2.0, backend="cpu")
    mons = [n.monitor_spikes(n.groups[1]) for n in (loaded, fresh)]   # the Poisson source
    for n in (loaded, fresh):
        n.run(5.0, backend="torch")
    assert mons[0].neuron_ids.size > 0
    np.testing.assert_array_equal(mons[0].steps, mons[1].steps)
    np.testing.assert_array_equal(mons[0].neuron_ids, mons[1].neuron_ids)
    # after a torch-path run the generator's state is saved in full and restored
    loaded.save_checkpoint(tmp_path / "d.npz")
    assert np.load(tmp_path / "d.npz")["torch_generator"].size > 0
    again, _, _ = _net("float64", seed=9)
    again.monitor_spikes(again.groups[1])
    again.load_checkpoint(tmp_path / "d.npz")
    assert torch.equal(again.torch_generator.get_state(), loaded.torch_generator.get_state())


@pytest.mark.parametrize("view", [slice(10, 50), slice(0, 40), slice(5, 60, 3)])
def test_views_map_to_the_group_as_the_id_table_does(view):
    """Consecutive views add their offset (in place for generated pairs); the result is
    the id-table mapping, and explicit index arrays given by the user are left untouched."""
    net = Network(seed=1)
    pop = net.add_population(60, LIF(), name="pop")
    ids = np.arange(60)[view]
    rng = np.random.default_rng(1)   # the same draws the network makes for p
    pre, post = connectivity.random_pairs(ids.size, 60, 0.2, rng)
    proj = net.connect(pop[view], pop, p=0.2, name="random")
    got_pre, got_post = proj.synapse_index()
    np.testing.assert_array_equal(got_pre, ids[pre])
    np.testing.assert_array_equal(got_post, post)
    given_pre, given_post = np.array([0, 1, 2], dtype=np.int32), np.array([5, 6, 7], dtype=np.int32)
    explicit = net.connect(pop[view], pop[view], pre_index=given_pre, post_index=given_post, name="explicit")
    np.testing.assert_array_equal(given_pre, [0, 1, 2])   # the caller's arrays are unchanged
    np.testing.assert_array_equal(given_post, [5, 6, 7])
    np.testing.assert_array_equal(explicit.synapse_index()[0], ids[[0, 1, 2]])
    np.testing.assert_array_equal(explicit.synapse_index()[1], ids[[5, 6, 7]])


def test_is_sorted_finds_a_descent_at_every_block_edge(monkeypatch):
    monkeypatch.setattr(connectivity, "_BLOCK", 4)
    ramp = np.arange(19)
    assert connectivity.is_sorted(ramp) and connectivity.is_sorted(ramp[:1]) and connectivity.is_sorted(ramp[:0])
    for k in range(1, ramp.size):
        bad = ramp.copy()
        bad[k] = bad[k - 1] - 1
        assert not connectivity.is_sorted(bad), k


@pytest.mark.parametrize("size, dtype", [(10, np.int32), (3 << 20, np.float32), (1 << 21, np.int64)])
def test_synapse_arrays_are_writable_and_freed_with_the_array(size, dtype):
    array = connectivity.synapse_array(size, dtype)
    assert array.shape == (size,) and array.dtype == dtype and array.flags.writeable
    array.fill(3)
    tensor = torch.from_numpy(array)   # weights are read as tensors sharing this memory
    tensor[-1] = 7
    assert array[-1] == 7 and array[0] == 3


def test_weight_checks_find_nan_and_sign_without_temporaries():
    net = Network()
    pop = net.add_population(4, LIF())
    with pytest.raises(ValueError, match="NaN or infinity"):
        net.connect(pop, pop, pre_index=[0, 1], post_index=[1, 2], weight=[1.0, np.nan])
    with pytest.raises(ValueError, match="NaN or infinity"):
        net.connect(pop, pop, pre_index=[0, 1], post_index=[1, 2], weight=[-np.inf, 1.0])
    with pytest.raises(ValueError, match="excitatory"):
        net.connect(pop, pop, pre_index=[0, 1], post_index=[1, 2], weight=[1.0, -0.5], sign="excitatory")
    with pytest.raises(ValueError, match="inhibitory"):
        net.connect(pop, pop, pre_index=[0, 1], post_index=[1, 2], weight=[-1.0, 0.5], sign="inhibitory")
