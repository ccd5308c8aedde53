"""Export to PyNN (synaptica.io.pynn): parameter mapping with units, refusals naming what
does not map, the written script and its .npz, and (when bench/.venv-peers exists) the
CUBA network run by NEST through PyNN (bench/pynn_check.py --quick).

PyNN is not installed in the project's environment: a fake ``sim`` module records the
calls the exporter makes.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from synaptica.cli.main import main
from synaptica.engine.network import Network
from synaptica.io.pynn import PyNNExportError, build_network, describe, write_script
from synaptica.neurons import AdEx, AdaptiveLIF, Izhikevich, LIF, LIFConductance
from synaptica.plasticity import InhibitorySTDP, PairSTDP, TsodyksMarkram

ROOT = Path(__file__).resolve().parent.parent
PEER_PYTHON = ROOT / "bench" / ".venv-peers" / "bin" / "python"


class FakeSim:
    """Stands in for a PyNN simulator module: records every call."""

    def __init__(self) -> None:
        self.calls: list[tuple] = []
        self.populations: dict[str, "FakePopulation"] = {}
        self.projections: list[dict] = []

    def __getattr__(self, cell_type: str):
        if cell_type.startswith("__"):
            raise AttributeError(cell_type)

        def make(**parameters):
            self.calls.append((cell_type, parameters))
            return (cell_type, parameters)
        return make

    def setup(self, **options):
        self.calls.append(("setup", options))

    def Sequence(self, times):
        return ("Sequence", np.asarray(times))

    def Population(self, n, cell, label):
        pop = FakePopulation(n, cell, label)
        self.populations[label] = pop
        self.calls.append(("Population", label))
        return pop

    def FromListConnector(self, conn_list, column_names):
        return ("FromListConnector", np.asarray(conn_list), column_names)

    def Projection(self, pre, post, connector, synapse_type, receptor_type, label):
        self.projections.append(dict(pre=pre.label, post=post.label, synapses=connector[1], columns=connector[2],
                                     synapse_type=synapse_type, receptor_type=receptor_type, label=label))
        self.calls.append(("Projection", label))
        return label


class FakePopulation:
    def __init__(self, n, cell, label):
        self.n, self.cell_type, self.parameters, self.label = n, cell[0], cell[1], label
        self.initial: dict = {}
        self.recorded: list[str] = []

    def initialize(self, **values):
        self.initial.update(values)

    def record(self, what):
        self.recorded.append(what)


def lif_net(model=None, seed=3):
    net = Network(dt=0.1, seed=seed)
    cells = net.add_population(6, model or LIF(tau_m=20.0, r_m=0.1, v_rest=-65.0, v_reset=-70.0, v_th=-50.0,
                                                 t_ref=2.0, tau_exc=5.0, tau_inh=10.0), name="cells")
    cells.set_state(v=np.linspace(-70.0, -55.0, 6))
    return net, cells


def test_lif_maps_to_if_curr_exp_with_units():
    net, cells = lif_net()
    net.connect(cells[:3], cells, p=0.9, weight=25.0, target="i_exc", delay=0.3, sign="excitatory", name="exc")
    net.connect(cells[3:], cells, p=0.9, weight=-40.0, target="i_inh", delay=1.0, sign="inhibitory", name="inh")
    sim = FakeSim()
    net.to_pynn(sim)
    assert sim.calls[0] == ("setup", {"timestep": 0.1})
    pop = sim.populations["cells"]
    assert pop.cell_type == "IF_curr_exp"
    # cm = tau_m / r_m = 20 ms / 0.1 GOhm = 200 pF = 0.2 nF
    assert pop.parameters["cm"] == pytest.approx(0.2)
    assert {k: pop.parameters[k] for k in ("tau_m", "tau_syn_E", "tau_syn_I", "v_rest", "v_reset", "v_thresh",
                                            "tau_refrac")} == {"tau_m": 20.0, "tau_syn_E": 5.0, "tau_syn_I": 10.0,
                                                               "v_rest": -65.0, "v_reset": -70.0, "v_thresh": -50.0,
                                                               "tau_refrac": 2.0}
    np.testing.assert_allclose(pop.initial["v"], np.linspace(-70.0, -55.0, 6))
    assert pop.recorded == ["spikes"]
    exc, inh = sim.projections
    assert exc["receptor_type"] == "excitatory" and inh["receptor_type"] == "inhibitory"
    assert exc["columns"] == ["weight", "delay"]
    np.testing.assert_allclose(exc["synapses"][:, 2], 0.025)        # 25 pA = 0.025 nA
    np.testing.assert_allclose(inh["synapses"][:, 2], -0.040)
    np.testing.assert_allclose(exc["synapses"][:, 3], 0.3)
    np.testing.assert_allclose(inh["synapses"][:, 3], 1.0)
    assert set(exc["synapses"][:, 0]) <= {0, 1, 2} and set(inh["synapses"][:, 0]) <= {3, 4, 5}
    pre, post = net.projections[0].synapse_index()
    np.testing.assert_array_equal(exc["synapses"][:, :2], np.column_stack([pre, post]))


def test_conductance_lif_maps_to_if_cond_exp():
    net, cells = lif_net(LIFConductance(tau_m=10.0, r_m=0.05, e_exc=0.0, e_inh=-75.0))
    net.connect(cells, cells, p=0.5, weight=3.0, target="g_inh", name="inh")
    sim = FakeSim()
    net.to_pynn(sim)
    pop = sim.populations["cells"]
    assert pop.cell_type == "IF_cond_exp"
    assert pop.parameters["cm"] == pytest.approx(0.2)                # 10 ms / 0.05 GOhm = 200 pF
    assert (pop.parameters["e_rev_E"], pop.parameters["e_rev_I"]) == (0.0, -75.0)
    assert sim.projections[0]["receptor_type"] == "inhibitory"
    np.testing.assert_allclose(sim.projections[0]["synapses"][:, 2], 0.003)   # 3 nS = 0.003 uS


def test_per_neuron_parameters_are_arrays():
    net, cells = lif_net(LIF(tau_m=np.array([10.0, 20, 30, 40, 50, 60])))
    sim = FakeSim()
    net.to_pynn(sim)
    np.testing.assert_allclose(sim.populations["cells"].parameters["tau_m"], [10, 20, 30, 40, 50, 60])
    np.testing.assert_allclose(sim.populations["cells"].parameters["cm"], np.array([10, 20, 30, 40, 50, 60]) / 0.1e3)


def test_izhikevich_without_inputs_maps_and_with_projections_is_refused():
    net = Network(dt=0.1)
    net.add_population(4, Izhikevich.preset("FS"), name="fs")
    sim = FakeSim()
    net.to_pynn(sim)
    pop = sim.populations["fs"]
    assert pop.cell_type == "Izhikevich"
    assert (pop.parameters["a"], pop.parameters["c"], pop.parameters["d"]) == (0.1, -65.0, 2.0)
    assert pop.initial["u"] == pytest.approx(0.2 * -65.0)
    net.connect(net.groups[0], net.groups[0], p=0.5, weight=1.0)
    with pytest.raises(PyNNExportError, match="Izhikevich receives projections.*delta synapses"):
        describe(net)
    net2 = Network(dt=0.1)
    net2.add_population(4, Izhikevich(v_peak=35.0), name="iz")
    with pytest.raises(PyNNExportError, match="v_peak other than 30 mV"):
        describe(net2)


def test_everything_that_does_not_map_is_named_before_any_call():
    net = Network(dt=0.1)
    lif = net.add_population(4, LIF(reset="subtract"), name="sub")
    adex = net.add_population(4, AdEx(), name="adex")
    net.add_population(4, AdaptiveLIF(), name="alif")
    plain = net.add_population(4, LIF(), name="plain")
    net.add_modulator("dopamine", tau=100.0)
    net.connect(lif, plain, p=1.0, weight=-1.0, sign="inhibitory", plasticity=InhibitorySTDP(), name="vogels")
    net.connect(adex, plain, p=1.0, weight=1.0, plasticity=PairSTDP(pairing="nearest"), name="nearest")
    net.connect(plain, plain, p=1.0, weight=-1.0, target="i_exc", name="negative")
    sim = FakeSim()
    with pytest.raises(PyNNExportError) as error:
        net.to_pynn(sim)
    message = str(error.value)
    for expected in ("population 'sub': LIF: reset='subtract'",
                     "population 'adex': AdEx: PyNN's AdEx cells", "conductance synapses",
                     "population 'alif': AdaptiveLIF: no PyNN standard cell type",
                     "modulator 'dopamine'",
                     "projection 'vogels': plasticity rule InhibitorySTDP",
                     "projection 'nearest': PairSTDP with pairing='nearest'",
                     "projection 'negative': negative weights onto the excitatory receptor"):
        assert expected in message
    assert sim.calls == []          # refused before setup or any population


def test_trials_currents_and_batches_are_refused():
    net = Network(dt=0.1, batch_size=2)
    cells = net.add_population(3, LIF(), name="cells")
    net.add_current(cells, np.ones((10, 3)), name="drive")
    net.set_trials(50.0)
    with pytest.raises(PyNNExportError) as error:
        describe(net)
    for expected in ("batch_size = 2", "trials", "injected current 'drive'"):
        assert expected in str(error.value)


def test_stdp_and_tsodyks_markram_map_with_amplitudes_relative_to_w_max():
    net, cells = lif_net()
    source = net.add_poisson(5, np.arange(1.0, 6.0), name="noise")
    rule = PairSTDP(a_plus=0.5, a_minus=0.6, tau_plus=15.0, tau_minus=25.0, w_max=50.0, learning_rate=0.1,
                    bounds="soft")
    net.connect(source, cells, p=1.0, weight=10.0, plasticity=rule, name="learn")
    net.connect(source, cells, p=1.0, weight=10.0, stp=TsodyksMarkram(U=0.2, tau_d=300.0, tau_f=700.0), name="stp")
    sim = FakeSim()
    net.to_pynn(sim)
    assert sim.populations["noise"].cell_type == "SpikeSourcePoisson"
    np.testing.assert_allclose(sim.populations["noise"].parameters["rate"], [1, 2, 3, 4, 5])
    calls = dict((name, args) for name, args in (c for c in sim.calls if len(c) == 2 and isinstance(c[1], dict)))
    assert calls["SpikePairRule"] == pytest.approx({"tau_plus": 15.0, "tau_minus": 25.0,
                                                    "A_plus": 0.1 * 0.5 / 50.0, "A_minus": 0.1 * 0.6 / 50.0})
    assert calls["MultiplicativeWeightDependence"] == pytest.approx({"w_min": 0.0, "w_max": 0.05})
    assert calls["TsodyksMarkramSynapse"] == {"U": 0.2, "tau_rec": 300.0, "tau_facil": 700.0}
    rule_hard = PairSTDP(w_max=50.0)
    net.connect(source, cells, p=1.0, weight=10.0, plasticity=rule_hard, name="hard")
    assert describe(net).spec["projections"][-1]["parameters"]["weight_dependence"] == "AdditiveWeightDependence"


def test_spike_generator_maps_to_one_sequence_per_source():
    net, cells = lif_net()
    net.add_spike_generator(3, times_ms=[5.0, 1.0, 2.04, 7.0], ids=[2, 0, 0, 2], name="gen")
    sim = FakeSim()
    net.to_pynn(sim)
    trains = sim.populations["gen"].parameters["spike_times"]
    assert [t[0] for t in trains] == ["Sequence"] * 3
    np.testing.assert_allclose(trains[0][1], [1.0, 2.0])     # on the 0.1 ms grid the engine uses
    assert trains[1][1].size == 0
    np.testing.assert_allclose(trains[2][1], [5.0, 7.0])


def test_written_script_compiles_and_its_npz_round_trips(tmp_path):
    net, cells = lif_net()
    net.connect(cells[:3], cells, p=0.9, weight=25.0, target="i_exc", delay=0.3, name="a/b->c")
    net.connect(cells, cells, pre_index=[5, 4, 3, 5], post_index=[0, 1, 2, 3], weight=[-1.0, -2.0, -3.0, -4.0],
                target="i_inh", delay=[0.1, 0.5, 0.7, 2.0], name="inh")
    script, arrays_path = write_script(net, tmp_path / "model.py", duration_ms=250.0, source="test")
    assert arrays_path == tmp_path / "model.npz"
    text = script.read_text()
    compile(text, str(script), "exec")
    assert "synaptica" not in text.replace("exported by synaptica", "")   # self-contained
    description = describe(net)
    with np.load(arrays_path, allow_pickle=False) as data:
        assert sorted(data.files) == sorted(description.arrays)
        for key in data.files:
            np.testing.assert_array_equal(data[key], description.arrays[key])
        loaded = {k: data[k] for k in data.files}
    namespace: dict = {"__name__": "exported"}
    exec(compile(text, str(script), "exec"), namespace)
    assert namespace["DURATION_MS"] == 250.0 and namespace["SPEC"] == description.spec
    direct, from_script = FakeSim(), FakeSim()
    build_network(direct, description.spec, description.arrays)
    namespace["build_network"](from_script, namespace["SPEC"], loaded)
    assert [p["label"] for p in from_script.projections] == ["a/b->c", "inh"]
    for a, b in zip(direct.projections, from_script.projections):
        np.testing.assert_array_equal(a["synapses"], b["synapses"])
    inh = from_script.projections[1]["synapses"]
    order = np.argsort(inh[:, 1])
    np.testing.assert_allclose(inh[order], [[5, 0, -0.001, 0.1], [4, 1, -0.002, 0.5], [3, 2, -0.003, 0.7],
                                            [5, 3, -0.004, 2.0]])


def test_write_script_refuses_before_writing(tmp_path):
    net = Network(dt=0.1)
    net.add_population(2, AdEx(), name="adex")
    with pytest.raises(PyNNExportError, match="AdEx"):
        write_script(net, tmp_path / "m.py")
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ValueError, match="must end in .py"):
        write_script(lif_net()[0], tmp_path / "m.txt")
    with pytest.raises(ValueError, match="duration_ms"):
        write_script(lif_net()[0], tmp_path / "m.py", duration_ms=float("nan"))


def test_cli_export_writes_cuba_and_refuses_what_does_not_map(tmp_path):
    runner = CliRunner()
    out = tmp_path / "cuba.py"
    result = runner.invoke(main, ["export", "cuba", "--to", "pynn", "--out", str(out), "-s", "n=100"])
    assert result.exit_code == 0, result.output
    assert out.exists() and out.with_suffix(".npz").exists()
    namespace: dict = {"__name__": "exported"}
    exec(compile(out.read_text(), str(out), "exec"), namespace)
    assert namespace["SPEC"]["groups"][0]["n"] == 100 and namespace["DURATION_MS"] == 1000.0
    refused = runner.invoke(main, ["export", "distal-reward", "--to", "pynn", "--out", str(tmp_path / "d.py")])
    assert refused.exit_code == 2
    assert "modulator 'dopamine'" in refused.output and "RewardModulatedSTDP" in refused.output
    assert not (tmp_path / "d.py").exists()
    unknown = runner.invoke(main, ["export", "nalsm", "--to", "pynn", "--out", str(tmp_path / "n.py")])
    assert unknown.exit_code == 2 and "does not expose its network" in unknown.output


def _peers_have_pynn() -> str | None:
    if not PEER_PYTHON.exists():
        return f"no bench/.venv-peers ({PEER_PYTHON}); create it with `python3 bench/peers_env.py`"
    done = subprocess.run([str(PEER_PYTHON), "-c", "import pyNN, nest"], capture_output=True, text=True,
                          env={"PYNEST_QUIET": "1", "PATH": "/usr/bin:/bin"})
    if done.returncode != 0:
        return f"bench/.venv-peers lacks PyNN or NEST (re-run `python3 bench/peers_env.py`): {done.stderr[-300:]}"
    return None


def test_cuba_through_pynn_on_nest_matches_synaptica():
    reason = _peers_have_pynn()
    if reason:
        pytest.skip(reason)
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "pynn_check.py"), "--quick"],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "PASS" in done.stdout
