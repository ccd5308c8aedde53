"""Engine integrity: checked descriptions, paths that agree, split runs, one kernel per structure.

Each test reproduces a problem found on an earlier main (see the engine-integrity issue).
"""
from __future__ import annotations

import importlib.util
import itertools
import textwrap

import numpy as np
import pytest
import torch

from synaptica import LIF, Network
from synaptica.engine.description import DescriptionError, check_function
from synaptica.plasticity import PairSTDP

_counter = itertools.count()

MODEL_TEMPLATE = '''
from synaptica.neurons.base import NeuronModel, Parameter
from synaptica.primitives import spike, where

{prelude}

def coefficients(dt, gain):
    return {{"gain": gain}}

{update}

class {cls}(NeuronModel):
    """A toy integrator: v += gain * i_ext; spike and reset to 0 at v >= 1."""
    state = ("v",)
    receptors = ("v",)
    parameters = {{"gain": Parameter(0.3)}}
    coefficients_function = staticmethod(coefficients)
{body}

    def initial_state(self):
        return {{"v": 0.0}}
'''

FIRING_UPDATE = '''
def update(v, i_ext, gain):
    v = v + gain * i_ext
    s = spike(v - 1.0)
    return where(s > 0.0, 0.0, v), s
'''

SILENT_UPDATE = '''
def update(v, i_ext, gain):
    v = v + gain * i_ext
    s = spike(v - 1.0e9)
    return v, s
'''


def user_model(tmp_path, update: str, prelude: str = "", body: str = "    update_function = staticmethod(update)",
               cls: str = "Toy"):
    """Write a user model into its own module file and import it (source must be on disk)."""
    name = f"user_model_{next(_counter)}"
    path = tmp_path / f"{name}.py"
    path.write_text(MODEL_TEMPLATE.format(prelude=prelude, update=textwrap.dedent(update), cls=cls, body=body))
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return getattr(module, cls)


def count_spikes(models, backend: str, dtype=torch.float64, steps: int = 20) -> list[int]:
    net = Network(dt=1.0, dtype=dtype)
    monitors = []
    for m, model in enumerate(models):
        pop = net.add_population(1, model, name=f"p{m}")
        pop.i_ext.fill_(1.0)
        monitors.append(net.monitor_spikes(pop))
    net.run(float(steps), backend=backend)
    return [mon.count for mon in monitors]


# -- 1, 2: checked descriptions ---------------------------------------------------------------
def test_same_function_names_in_two_modules_run_their_own_code(tmp_path):
    firing = user_model(tmp_path, FIRING_UPDATE)()
    silent = user_model(tmp_path, SILENT_UPDATE)()
    assert type(firing).description().mangled != type(silent).description().mangled
    cpu, torch_ = count_spikes([firing, silent], "cpu"), count_spikes([firing, silent], "torch")
    assert cpu == torch_
    assert cpu[0] > 0 and cpu[1] == 0


def test_module_constant_is_inlined_on_both_paths(tmp_path):
    update = FIRING_UPDATE.replace("v - 1.0", "v - THRESHOLD")
    model = user_model(tmp_path, update, prelude="THRESHOLD = 2.0")()
    assert "THRESHOLD" not in type(model).description().source
    cpu, torch_ = count_spikes([model], "cpu"), count_spikes([model], "torch")
    assert cpu == torch_ == [20 // 7]   # 0.3 per step reaches 2.0 at the 7th step


def test_staticmethod_in_class_body_runs_on_both_paths(tmp_path):
    body = textwrap.indent(textwrap.dedent('''
        @staticmethod
        def update_function(v, i_ext, gain):
            v = v + gain * i_ext
            s = spike(v - 1.0)
            return where(s > 0.0, 0.0, v), s
        '''), "    ")
    model = user_model(tmp_path, "", body=body)()
    assert count_spikes([model], "cpu") == count_spikes([model], "torch") == [20 // 4]


@pytest.mark.parametrize("update, prelude, message", [
    ("@decorate\n" + FIRING_UPDATE.strip(), "def decorate(f):\n    return f", "decorator 'decorate'"),
    (FIRING_UPDATE.replace("v - 1.0", "v - np.exp(0.0)"), "import numpy as np", "calls 'np.exp'"),
    (FIRING_UPDATE.replace("v - 1.0", "v - LIMITS"), "LIMITS = [1.0]", "module-level name 'LIMITS'"),
    (FIRING_UPDATE.replace("v - 1.0", "v - undefined_name"), "", "unknown name 'undefined_name'"),
    (FIRING_UPDATE.replace("v - 1.0", "v - helper(v)"), "def helper(x):\n    return x", "calls 'helper'"),
    (FIRING_UPDATE.replace("return where(s > 0.0, 0.0, v), s", "return v"), "", "returns 1 value(s); its role needs 2"),
    (FIRING_UPDATE.replace("    s = spike(v - 1.0)", "    if v > 1.0:\n        v = 0.0\n    s = spike(v - 1.0)"),
     "", "a branch"),
])
def test_invalid_descriptions_are_refused_with_name_and_line(tmp_path, update, prelude, message):
    cls = user_model(tmp_path, update, prelude=prelude)
    with pytest.raises(DescriptionError, match="Toy.update") as error:
        Network(dt=1.0).add_population(1, cls())
    assert message in str(error.value)
    assert "line" in str(error.value)


def test_closure_is_refused():
    offset = 1.0

    def update(v, i_ext):
        return v + offset, v

    with pytest.raises(DescriptionError, match="closes over"):
        check_function(update, "Closure", returns=2)


def test_helper_that_calls_a_non_primitive_is_refused(tmp_path):
    prelude = "import math\n\ndef helper(x):\n    return math.exp(x)"
    update = FIRING_UPDATE.replace("v - 1.0", "helper(v) - 3.0")
    body = "    update_function = staticmethod(update)\n    helpers = (helper,)"
    cls = user_model(tmp_path, update, prelude=prelude, body=body)
    with pytest.raises(DescriptionError, match=r"Toy\.helper .*calls 'math\.exp'"):
        cls.description()


def test_declared_helper_runs_on_both_paths(tmp_path):
    prelude = "def threshold_of(x):\n    return x - 1.0"
    update = FIRING_UPDATE.replace("spike(v - 1.0)", "spike(threshold_of(v))")
    body = "    update_function = staticmethod(update)\n    helpers = (threshold_of,)"
    model = user_model(tmp_path, update, prelude=prelude, body=body)()
    assert count_spikes([model], "cpu") == count_spikes([model], "torch") == [20 // 4]


def test_update_arguments_must_be_known(tmp_path):
    update = FIRING_UPDATE.replace("def update(v, i_ext, gain)", "def update(v, i_ext, gain, mystery)")
    cls = user_model(tmp_path, update)
    with pytest.raises(ValueError, match="mystery"):
        Network(dt=1.0).add_population(1, cls())


# -- 3: NaN policy on every path ----------------------------------------------------------------
@pytest.mark.parametrize("backend", ["cpu", "torch"])
def test_nan_weight_is_refused_on_every_path(backend):
    net = Network(dt=0.1)
    source = net.add_spike_generator(1, [1.0], [0])
    pop = net.add_population(2, LIF())
    proj = net.connect(source, pop, weight=10.0)
    with torch.no_grad():
        proj.weights[0, 1] = float("nan")
    with pytest.raises(FloatingPointError, match="weights"):
        net.run(5.0, backend=backend)


@pytest.mark.parametrize("backend", ["cpu", "torch"])
def test_state_turning_nan_is_named_on_every_path(backend):
    net = Network(dt=0.1)
    pop = net.add_population(3, LIF(), name="cells")
    net.run(1.0, backend=backend)
    pop.i_ext[0, 2] = float("inf")
    with pytest.raises(FloatingPointError, match=r"population 'cells': state 'v' .*neuron 2.*step"):
        net.run(1.0, backend=backend)


# -- 6: one kernel per structure, parameters are arguments --------------------------------------
def test_one_kernel_for_any_size():
    def build(n: int, bounds: str) -> str:
        net = Network(dt=0.1, seed=3)
        src = net.add_poisson(n, 20.0)
        pop = net.add_population(n, LIF())
        net.connect(src, pop, p=0.1, weight=5.0)
        net.connect(src, pop, weight=0.1, plasticity=PairSTDP(bounds=bounds))
        net.monitor_spikes(pop)
        net.monitor_state(pop, "v", every=3 if n < 100 else 7)
        net.compile()
        return net._compiled.source

    assert build(40, "hard") == build(400, "soft")


def test_changing_rule_bounds_after_compile_takes_effect():
    def final_weight(change_after_compile: bool) -> float:
        net = Network(dt=0.1, dtype=torch.float64)
        pre = net.add_spike_generator(1, np.arange(1.0, 49.0, 2.0), np.zeros(24, dtype=int))
        post = net.add_population(1, LIF(v_th=-64.9))
        rule = PairSTDP(a_plus=0.2, a_minus=0.0, w_max=1.0, bounds="hard" if change_after_compile else "soft")
        proj = net.connect(pre, post, weight=0.5, plasticity=rule)
        if change_after_compile:
            net.compile()
            rule.bounds = "soft"
        net.run(50.0, backend="cpu")
        return float(proj.weights.sum())

    assert final_weight(True) == final_weight(False)


# -- 4: gradients cross chunk boundaries --------------------------------------------------------
def membrane_after_spike_in_flight(weight: float, chunk_steps: int, requires_grad: bool = False):
    """A spike emitted at step 1997 with a 0.8 ms delay reaches the neuron at step 2005,
    across the default chunk boundary at step 2000."""
    net = Network(dt=0.1, dtype=torch.float64)
    source = net.add_spike_generator(1, [199.7], [0])
    pop = net.add_population(1, LIF())
    pop.detach_reset = True   # else the surrogate of the (absent) spike adds to dv/dw
    proj = net.connect(source, pop, weight=weight, delay=0.8)
    if requires_grad:
        proj.weights.requires_grad_(True)
    net.run(202.0, backend="torch", chunk_steps=chunk_steps)
    return pop.state["v"][0, 0], proj.weights


@pytest.mark.parametrize("chunk_steps", [3, 2000, 100_000])
def test_gradient_crosses_chunk_boundaries(chunk_steps):
    v, w = membrane_after_spike_in_flight(50.0, chunk_steps, requires_grad=True)
    v.backward()
    h = 1e-4
    finite_difference = (float(membrane_after_spike_in_flight(50.0 + h, 100_000)[0])
                         - float(membrane_after_spike_in_flight(50.0 - h, 100_000)[0])) / (2 * h)
    assert finite_difference > 1e-3   # the input does reach the membrane
    assert float(w.grad.sum()) == pytest.approx(finite_difference, rel=1e-6)


# -- 5: split runs are identical in float32 too, plasticity included ----------------------------
def plastic_run(backend: str, dtype, chunk_steps: int):
    net = Network(dt=0.1, seed=5, dtype=dtype)
    source = net.add_poisson(30, 40.0)
    pop = net.add_population(10, LIF(v_th=-55.0))
    proj = net.connect(source, pop, p=0.5, weight=40.0,
                        plasticity=PairSTDP(a_plus=1.0, a_minus=1.05, w_max=100.0))
    spikes = net.monitor_spikes(pop)
    net.run(300.0, backend=backend, chunk_steps=chunk_steps)
    return (proj.weights.detach().clone(), proj.plastic_state["traces_pre"].clone(),
            pop.state["v"].detach().clone(), spikes.count)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("backend", ["cpu", "torch"])
def test_split_runs_identical_with_plasticity(backend, dtype):
    whole = plastic_run(backend, dtype, 100_000)
    split = plastic_run(backend, dtype, 37)
    assert whole[3] > 0
    for a, b in zip(whole[:3], split[:3]):
        assert a.dtype == dtype
        assert torch.equal(a, b)
    assert whole[3] == split[3]


# -- 9: small things a user trips on --------------------------------------------------------------
def test_spike_monitor_arrays_hold_only_recorded_spikes():
    net = Network(dt=0.1)
    source = net.add_spike_generator(3, [1.0, 2.0, 2.0], [0, 1, 2])
    mon = net.monitor_spikes(source)
    net.run(5.0)
    assert mon.count == 3
    assert mon.steps.tolist() == [10, 20, 20] and sorted(mon.ids.tolist()) == [0, 1, 2]
    assert mon.batch.tolist() == [0, 0, 0] and mon.capacity >= 3


def test_connecting_slices_of_populations_like_brian_subgroups():
    net = Network(dt=0.1, seed=2)
    cells = net.add_population(100, LIF())
    exc, inh = cells[:80], cells[80:]
    assert (exc.n, inh.n, exc.name) == (80, 20, f"{cells.name}[:80]")
    proj_e = net.connect(exc, cells, p=0.5, weight=2.0, allow_self=False)
    proj_i = net.connect(inh, cells, p=0.5, weight=-3.0, sign="inhibitory")
    pre_e, post_e = proj_e.synapse_index()
    pre_i, _ = proj_i.synapse_index()
    assert pre_e.max() < 80 and pre_i.min() >= 80 and not np.any(pre_e == post_e)
    assert 0.4 < pre_e.size / (80 * 99) < 0.6
    dense = net.connect(cells[10:12], cells[:3], weight=np.arange(6.0).reshape(2, 3))
    pre_d, post_d = dense.synapse_index()
    assert list(zip(pre_d, post_d)) == [(10, 0), (10, 1), (10, 2), (11, 0), (11, 1), (11, 2)]
    assert dense.weights.tolist() == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
    with pytest.raises(IndexError):
        cells[200]
    with pytest.raises(ValueError, match="does not match the views"):
        net.connect(cells[:2], cells[:3], weight=np.ones((3, 2)))
    conv = net.connect(cells[:16], cells[20:29], kernel=np.ones((1, 1, 2, 2)), in_shape=(1, 4, 4))
    assert conv.n_synapses == 36 and conv.synapse_index()[1].min() == 20
    with pytest.raises(ValueError, match="convolution output"):   # 3x3 outputs onto 8 neurons
        net.connect(cells[:16], cells[20:28], kernel=np.ones((1, 1, 2, 2)), in_shape=(1, 4, 4))


def test_set_state_validates():
    net = Network(dt=0.1, batch_size=2)
    pop = net.add_population(4, LIF())
    pop.set_state(v=np.array([-60.0, -55.0, -50.0, -70.0]), i_exc=5.0)
    assert pop.state["v"][1].tolist() == [-60.0, -55.0, -50.0, -70.0]
    assert float(pop.state["i_exc"].min()) == 5.0
    with pytest.raises(ValueError, match="no state variable 'voltage'"):
        pop.set_state(voltage=0.0)
    with pytest.raises(ValueError, match="needs a scalar, \\(4,\\)"):
        pop.set_state(v=np.zeros(3))
    with pytest.raises(ValueError, match="finite"):
        pop.set_state(v=np.nan)
    with pytest.raises(ValueError, match="refractory.*>= 0"):
        pop.set_state(refractory=-1.0)
    from synaptica.neurons import LIFConductance

    conductance = net.add_population(2, LIFConductance())
    with pytest.raises(ValueError, match=r"must be >= 0 \(nS\)"):
        conductance.set_state(**{conductance.model.receptors[0]: -1.0})


@pytest.mark.parametrize("backend", ["cpu", "torch"])
def test_state_monitor_records_t0(backend):
    net = Network(dt=0.5)
    pop = net.add_population(2, LIF())
    pop.set_state(v=-58.0)
    mon = net.monitor_state(pop, "v", initial=True)
    net.run(2.0, backend=backend)
    net.run(1.0, backend=backend)
    assert mon.times_ms.tolist() == [0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0]
    assert mon.values[0, 0].tolist() == [-58.0, -58.0]
    assert mon.values[1, 0, 0] < -58.0   # relaxing towards v_rest = -65 mV


# -- 2, 3: one step order as data, one protocol for plastic mechanisms -------------------------
def test_every_operation_is_lowered_by_every_path():
    from synaptica.engine import cpu_plasticity, step_order
    from synaptica.engine.cpu import CompiledLoop
    from synaptica.engine.torch_path import TorchStep

    kinds = [c for c in vars(step_order).values()
             if isinstance(c, type) and issubclass(c, step_order.Operation) and c is not step_order.Operation]
    assert len(kinds) >= 16
    for kind in kinds:
        name = f"lower_{kind.__name__}"
        assert hasattr(CompiledLoop, name) or hasattr(cpu_plasticity, name), name
        assert hasattr(TorchStep, name), name


def test_step_order_is_the_documented_sequence():
    from synaptica.engine import step_order as so
    from synaptica.plasticity import TsodyksMarkram

    net = Network(dt=0.1)
    source = net.add_poisson(5, 10.0)
    pop = net.add_population(3, LIF())
    net.connect(source, pop, weight=1.0, plasticity=PairSTDP(), stp=TsodyksMarkram())
    net.monitor_spikes(pop)
    net._prepare()
    kinds = [type(op).__name__ for op in so.step_operations(net)]
    assert kinds == ["EmitPoisson", "UpdatePopulation", "ListSpikes", "Propagate", "DecayTraces",
                     "PreSpikeEvents", "PostSpikeEvents", "RecordSpikes"]
    net.set_trials(10.0)  # trials add the trial start, first
    assert [type(op).__name__ for op in so.step_operations(net)] == ["TrialStart", *kinds]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_trials_set_after_compiling_regenerate_the_loop(dtype):
    """A network compiled without trials has no trial-start code; trials set later (or a
    trial length written directly) must not run that loop, on which resets would be lost.
    Chunks of 3 steps put boundaries inside and across the 5-step trials."""
    def build():
        net = Network(dt=1.0, dtype=dtype)
        pop = net.add_population(1, LIF(v_th=1e6))
        pop.i_ext += 100.0
        mon = net.monitor_state(pop, "v")
        return net, pop, mon

    net, pop, mon = build()
    net.compile()
    assert not net._compiled.trials
    net.set_trials(5.0)
    net.run(10.0, chunk_steps=3)
    assert net._compiled.trials
    np.testing.assert_array_equal(mon.values[:5, 0, 0], mon.values[5:, 0, 0])  # state reset at step 5
    net, pop, mon = build()
    net.compile()
    net.trial_steps = 5   # not the API, but the compiled loop must still follow it
    net.run(10.0, chunk_steps=3)
    np.testing.assert_array_equal(mon.values[:5, 0, 0], mon.values[5:, 0, 0])


def test_plastic_mechanisms_declare_state_events_and_reads():
    from synaptica.plasticity import IntrinsicPlasticity, ThreeFactor, TsodyksMarkram
    from synaptica.plasticity.mechanism import EVENTS

    for mechanism in (PairSTDP(), ThreeFactor(modulator="dopamine"), TsodyksMarkram(),
                      IntrinsicPlasticity()):
        for block in mechanism.state_blocks():
            assert block.over in ("pre", "post", "synapse") and len(block.initial) == len(block.names)
        assert set(mechanism.descriptions()) <= set(EVENTS) and mechanism.descriptions()
    assert ThreeFactor(modulator="dopamine").reads() == ("dopamine",)
    assert TsodyksMarkram().state_blocks()[0].initial == (0.0, 1.0, -1.0)


@pytest.mark.parametrize("backend", ["cpu", "torch"])
def test_trial_start_restores_declared_initial_state(backend):
    from synaptica.plasticity import TsodyksMarkram

    net = Network(dt=0.1)
    source = net.add_spike_generator(2, [0.5, 1.0], [0, 1])
    pop = net.add_population(2, LIF())
    proj = net.connect(source, pop, weight=1.0, plasticity=PairSTDP(), stp=TsodyksMarkram())
    net.set_trials(2.0)
    net.run(1.9, backend=backend)
    assert float(proj.plastic_state["traces_pre"].sum()) > 0 and float(proj.plastic_state["stp"][2].max()) >= 0
    net.run(0.1, backend=backend)   # the next step starts trial 1: state back to the declared values
    net.run(0.1, backend=backend)
    assert float(proj.plastic_state["traces_pre"].abs().sum()) == 0.0
    assert proj.plastic_state["stp"][:, 0].tolist() == [[0.0, 0.0], [1.0, 1.0], [-1.0, -1.0]]


# -- 8: checkpoints keep static structure out ---------------------------------------------------
def test_checkpoint_stores_static_weights_as_fingerprint(tmp_path):
    def build(seed: int = 4):
        net = Network(dt=0.1, seed=seed)
        src = net.add_poisson(200, 30.0)
        pop = net.add_population(100, LIF())
        static = net.connect(src, pop, p=0.3, weight=20.0)
        plastic = net.connect(src, pop, p=0.1, weight=1.0, plasticity=PairSTDP(w_max=5.0))
        return net, pop, static, plastic

    net, pop, static, plastic = build()
    path = tmp_path / "ck.npz"
    net.run(20.0)
    net.save_checkpoint(path)
    with np.load(path) as data:
        assert "projection.0.weights" not in data.files and "projection.0.weights_fingerprint" in data.files
        assert "projection.1.weights" in data.files     # plastic weights are state
        assert data["projection.0.weights_fingerprint"].size < static.n_synapses / 10
    net.run(20.0)

    resumed, pop2, _, plastic2 = build()
    resumed.load_checkpoint(path)
    resumed.run(20.0)
    assert torch.equal(pop.state["v"], pop2.state["v"]) and torch.equal(plastic.weights, plastic2.weights)

    other, *_ = build(seed=5)                      # another seed: other static weights
    with pytest.raises(Exception, match="static weights of projection"):
        other.load_checkpoint(path)

    edited, _, static3, _ = build()
    with torch.no_grad():
        static3.weights[7] += 1.0                   # edited since built: saved in full
    edited.save_checkpoint(tmp_path / "edited.npz")
    with np.load(tmp_path / "edited.npz") as data:
        assert "projection.0.weights" in data.files


# -- 4: precision each claim needs (README, "Precision") -----------------------------------------
@pytest.mark.parametrize("backend", ["cpu", "torch"])
@pytest.mark.parametrize("dtype, bound", [(torch.float32, 2e-3), (torch.float64, 1e-9)])
def test_exact_lif_trace_precision_by_dtype(backend, dtype, bound):
    net = Network(dt=0.1, dtype=dtype)
    pop = net.add_population(1, LIF())
    pop.i_ext[:] = 140.0          # pA: settles 14 mV above rest, below threshold
    mon = net.monitor_state(pop, "v")
    net.run(300.0, backend=backend)
    closed = -65.0 + 0.1 * 140.0 * (1.0 - np.exp(-mon.times_ms / 20.0))
    error = np.abs(mon.values[:, 0, 0] - closed).max()
    assert error < bound
    if dtype == torch.float32:
        assert error > 1e-6       # float32 storage rounding is visible: the claim is not vacuous


def test_readme_user_model_example_runs_on_both_paths(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    start = readme.index("# my_models.py (the source must be in a file)")
    script = tmp_path / "my_models.py"
    script.write_text(readme[start:readme.index("```", start)])
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, check=True).stdout
    lines = dict(line.split(" ", 1) for line in out.strip().splitlines())
    assert lines["cpu"] == lines["torch"] == "[ 3  7 11 15 19]"


@pytest.mark.parametrize("rate_hz", [1e-20, 1e-300, 5e-324])
def test_tiny_poisson_rates_never_crash_the_compiled_loop(rate_hz):
    net = Network(dt=0.1, seed=1)
    source = net.add_poisson(50, rate_hz)
    pop = net.add_population(5, LIF())
    net.connect(source, pop, p=0.5, weight=100.0)
    mon = net.monitor_spikes(source)
    net.run(50.0, backend="cpu")
    assert mon.count == 0


# -- tampered checkpoints are refused before anything reaches the compiled loop ---------------------
def _tamper(path, key, value):
    with np.load(path) as data:
        arrays = {k: data[k] for k in data.files}
    arrays[key] = value
    np.savez(path, **arrays)


@pytest.mark.parametrize("key, value, message", [
    ("step", np.array(-5), "negative"),
    ("step", np.array(3.5), "dtype"),
    ("step", np.array("ten"), "dtype"),
    ("noise_state", np.zeros(1, dtype=np.uint64), "state is 0"),
    ("group.cells.state.v", np.full((1, 20), np.nan, dtype=np.float32), "NaN"),
    ("group.cells.state.v", np.zeros((1, 20)), "dtype float64, float32 is needed"),
    ("group.cells.state.v", np.zeros((1, 20), dtype=complex), "dtype"),
    ("monitor.spikes:cells.ids", None, "ids' has 10000, above the largest possible value 19"),
    # the Poisson block the loop continues from: its ids and index are used as indices
    ("group.poisson0.block", lambda b: np.array([b[0] + 10**6, b[1]]), "block' is .* does not start before"),
    ("group.poisson0.block", lambda b: np.array([b[0], 10**6]), "longer than"),
    ("group.poisson0.block_ids", lambda ids: np.full_like(ids, 20), "neuron ids outside"),
    ("group.poisson0.block_index", lambda index: index[:, ::-1].copy(), "not an index"),
    ("monitor.spikes:cells.steps", lambda steps: steps[::-1].copy(), "out of order or twice"),
    ("projection.0.weights_fingerprint", lambda f: f * 2, "static weights"),
])
def test_tampered_checkpoints_are_refused(tmp_path, key, value, message):
    from synaptica.engine.errors import CheckpointError

    def build():
        net = Network(dt=0.1, seed=2)
        src = net.add_poisson(20, 50.0)
        pop = net.add_population(20, LIF(), name="cells")
        net.connect(src, pop, p=0.5, weight=200.0)
        return net, net.monitor_spikes(pop)

    net, mon = build()
    net.run(30.0)
    assert mon.count > 0
    path = tmp_path / "ck.npz"
    net.save_checkpoint(path)
    if value is None:   # an id out of range
        value = mon.ids.copy()
        value[0] = 10_000
    if callable(value):
        with np.load(path) as data:
            value = value(data[key])
    _tamper(path, key, value)
    fresh, _ = build()
    with pytest.raises(CheckpointError, match=message):
        fresh.load_checkpoint(path)


def test_checkpoint_step_past_the_run_is_refused(tmp_path):
    from synaptica.engine.errors import CheckpointError

    net = Network(dt=0.1, seed=2)
    net.add_population(3, LIF())
    path = tmp_path / "ck.npz"
    net.run(5.0, checkpoint=path)
    _tamper(path, "step", np.array(10_000))
    fresh = Network(dt=0.1, seed=2)
    fresh.add_population(3, LIF())
    with pytest.raises(CheckpointError, match="outside this run"):
        fresh.run(5.0, checkpoint=path)


# -- the compiled exp: branch-free (vectorises), within an ulp of libm ----------------------------
@pytest.mark.parametrize("float_type, ulp, bound", [("float64", 2.2e-16, 1.5), ("float32", 1.19e-7, 1.0)])
def test_compiled_exp_matches_libm(float_type, ulp, bound):
    import math

    import numba

    from synaptica.primitives import numba_primitives_source

    namespace = {"numba": numba, "np": np, "math": math, "F": getattr(np, float_type)}
    exec(numba_primitives_source(float_type), namespace)
    exp = namespace["exp"]

    @numba.njit
    def apply(values, out):
        for i in range(values.shape[0]):
            out[i] = exp(values[i])

    top = 700.0 if float_type == "float64" else 85.0
    x = np.concatenate([np.linspace(-top, top, 50001), np.linspace(-0.07, 0.07, 5001)]).astype(float_type)
    out = np.empty_like(x)
    apply(x, out)
    relative = np.abs(out / np.exp(x.astype(np.float64)) - 1.0)
    assert relative.max() < bound * ulp
    special = np.array([np.nan, -1e4, 1e4], dtype=float_type)
    out = np.empty_like(special)
    apply(special, out)
    assert np.isnan(out[0]) and out[1] == 0.0 and out[2] == np.inf


@pytest.mark.parametrize("p", [2.5e-320, 1e-300, 1e-19])
def test_tiny_connection_probabilities_end_the_draw(p):
    """A geometric gap drawn for a tiny p overflows int64; the draw must still end (it hung)."""
    from synaptica.synapses.connectivity import random_pairs

    pre, post = random_pairs(200, 300, p, np.random.default_rng(0))
    assert pre.size == post.size == 0


@pytest.mark.parametrize("p, allow_self", [(0.02, True), (0.3, False), (0.9, True), (1e-4, True)])
def test_random_pairs_follow_the_geometric_stream_at_any_block_size(p, allow_self, monkeypatch):
    """Pairs are the flat indices -1 + cumsum(gaps) of one geometric stream, split into
    (pre, post) rows; how many gaps are turned into pairs at a time (rows cut across
    blocks) changes neither the pairs nor their order."""
    from synaptica.synapses import connectivity

    n_pre, n_post = 70, 90
    total = n_pre * n_post
    expected = int(total * p + 6 * np.sqrt(total * p) + 16)
    flat = -1 + np.cumsum(np.random.default_rng(3).geometric(p, size=expected))
    ref_pre, ref_post = np.divmod(flat[flat < total], n_post)
    if not allow_self:
        keep = ref_pre != ref_post
        ref_pre, ref_post = ref_pre[keep], ref_post[keep]
    for block in (7, 64, 1 << 22):
        monkeypatch.setattr(connectivity, "_BLOCK", block)
        pre, post = connectivity.random_pairs(n_pre, n_post, p, np.random.default_rng(3), allow_self)
        assert pre.dtype == post.dtype == np.int32
        np.testing.assert_array_equal(pre, ref_pre)
        np.testing.assert_array_equal(post, ref_post)


def test_csr_pointer_in_narrow_index_types():
    from synaptica.synapses.connectivity import csr_pointer

    np.testing.assert_array_equal(csr_pointer(np.array([0, 0, 2, 255], dtype=np.uint8), 256)[[0, 1, 2, 3, 255, 256]],
                                  [0, 2, 2, 3, 3, 4])
    np.testing.assert_array_equal(csr_pointer(np.array([1, 1, 299], dtype=np.uint16), 300)[[0, 1, 2, 299, 300]],
                                  [0, 0, 2, 2, 3])
