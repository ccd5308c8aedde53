"""NIR interchange (synaptica.io.nir): export/import round trips, HDF5 files, refusals, a
hand-built NIR graph against a direct Euler simulation of NIR's equations, and the snnTorch
peer check (bench/nir_peer_check.py, run only where bench/.venv-train exists)."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

nir = pytest.importorskip("nir", reason="the NIR tests need the optional 'nir' package: pip install 'synaptica[nir]'")

from synaptica.io.nir import NIRError, export_nir, import_nir, read_nir, write_nir  # noqa: E402
from synaptica.training.layers import SpikingMLP  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
PEER_PYTHON = ROOT / "bench" / ".venv-train" / "bin" / "python"


def _model(reset: str, bias: bool = True, seed: int = 0) -> SpikingMLP:
    torch.manual_seed(seed)
    model = SpikingMLP([12, 24, 6], reset=reset, bias=bias, beta=0.9, beta_spread=0.3, threshold=0.8)
    with torch.no_grad():
        for layer in model.layers:
            layer.linear.weight.mul_(3.0)
    return model


def _spikes(seed: int = 1, steps: int = 40, batch: int = 5, n: int = 12) -> torch.Tensor:
    return (torch.rand(steps, batch, n, generator=torch.Generator().manual_seed(seed)) < 0.3).float()


@pytest.mark.parametrize("reset, bias", [("zero", True), ("zero", False), ("subtract", True)])
def test_export_import_round_trip_is_identical(reset, bias):
    model = _model(reset, bias)
    x = _spikes()
    with torch.no_grad():
        expected = model(x)
    assert expected.sum() > 0 and model.layers[0].neurons.beta().unique().numel() > 1  # active, heterogeneous
    graph = export_nir(model, allow_subtract=reset == "subtract")
    kinds = {name: type(node).__name__ for name, node in graph.nodes.items()}
    assert kinds == {"input": "Input", "hidden1_affine": "Affine" if bias else "Linear", "hidden1_lif": "LIF",
                     "output_affine": "Affine" if bias else "Linear", "output_lif": "LIF", "output": "Output"}
    lif = graph.nodes["hidden1_lif"]
    beta = model.layers[0].neurons.beta().double().numpy()
    np.testing.assert_allclose(lif.tau, 1e-4 / (1 - beta), rtol=1e-12)  # forward Euler: beta = 1 - dt/tau
    np.testing.assert_allclose(lif.r * 1e-4 / lif.tau, 1.0, rtol=1e-12)  # unit input gain
    with torch.no_grad():
        got = import_nir(graph)(x)
    assert torch.equal(got, expected)


def test_write_read_hdf5(tmp_path):
    for reset in ("zero", "subtract"):
        model = _model(reset)
        x = _spikes(seed=2)
        path = tmp_path / f"{reset}.nir"
        write_nir(path, export_nir(model, allow_subtract=True))
        graph = nir.read(str(path))  # the file is plain NIR
        assert set(graph.nodes) == {"input", "hidden1_affine", "hidden1_lif", "output_affine", "output_lif", "output"}
        with torch.no_grad():
            assert torch.equal(import_nir(path)(x), model(x))
        metadata = read_nir(path).nodes["output_lif"].metadata
        assert (metadata.get("synaptica_reset") == "subtract") == (reset == "subtract")


def test_refusals(tmp_path):
    graph = export_nir(_model("zero"))
    conv = nir.Conv2d(input_shape=(4, 4), weight=np.ones((1, 1, 2, 2)), stride=1, padding=0, dilation=1, groups=1,
                      bias=np.zeros(1))
    graph.nodes["hidden1_conv"] = conv
    with pytest.raises(NIRError, match=r"'hidden1_conv' \(Conv2d\)"):
        import_nir(graph)
    branched = export_nir(_model("zero"))
    branched.edges.append(("hidden1_lif", "output"))
    with pytest.raises(NIRError, match="'hidden1_lif' feeds more than one node"):
        import_nir(branched)
    with pytest.raises(NIRError, match="resets by subtraction"):
        export_nir(_model("subtract"))
    with pytest.raises(NIRError, match="recurrent"):
        export_nir(SpikingMLP([4, 3, 2], recurrent=True))
    with pytest.raises(NIRError, match="tau must exceed dt"):
        import_nir(export_nir(_model("zero"), dt=1e-4), dt=1.0)
    with pytest.raises(NIRError, match="dt must be"):
        export_nir(_model("zero"), dt=0.0)
    bad = tmp_path / "corrupt.nir"
    bad.write_bytes(b"not hdf5")
    with pytest.raises(NIRError, match="corrupt.nir: not a readable NIR graph"):
        import_nir(bad)
    nan_graph = export_nir(_model("zero"))
    nan_graph.nodes["output_lif"].v_threshold[0] = np.nan
    with pytest.raises(NIRError, match=r"'output_lif' \(LIF\): v_threshold contains NaN"):
        import_nir(nan_graph)


def _euler_reference(graph_nodes, x: np.ndarray, dt: float) -> np.ndarray:
    """NIR's equations integrated with forward Euler directly (float64), v starting at 0."""
    (a1, lif, w2, cuba) = graph_nodes
    T, B, _ = x.shape
    v1 = np.zeros((B, lif.tau.size))
    i2, v2 = np.zeros((B, cuba.tau_mem.size)), np.zeros((B, cuba.tau_mem.size))
    out = np.zeros((T, B, cuba.tau_mem.size))
    for t in range(T):
        current = x[t] @ a1.weight.T + a1.bias
        v1 = v1 + dt / lif.tau * ((lif.v_leak - v1) + lif.r * current)
        s1 = v1 > lif.v_threshold
        v1 = np.where(s1, lif.v_reset, v1)
        i2 = i2 + dt / cuba.tau_syn * (-i2 + cuba.w_in * (s1 @ w2.weight.T))
        v2 = v2 + dt / cuba.tau_mem * ((cuba.v_leak - v2) + cuba.r * i2)
        out[t] = v2 > cuba.v_threshold
        v2 = np.where(out[t] > 0, cuba.v_reset, v2)
    return out


def test_hand_built_graph_matches_nir_equations():
    """A graph written by hand in NIR's conventions (s, continuous-time parameters, nonzero
    v_leak and v_reset, r and w_in not 1) runs like a direct Euler integration of its ODEs."""
    rng = np.random.default_rng(4)
    n_in, n_hid, n_out, dt = 6, 10, 4, 1e-3
    affine = nir.Affine(weight=rng.normal(0, 2.0, (n_hid, n_in)), bias=rng.normal(0, 0.2, n_hid))
    lif = nir.LIF(tau=rng.uniform(0.005, 0.02, n_hid), r=rng.uniform(5, 15, n_hid), v_leak=rng.uniform(-0.2, 0.2, n_hid),
                  v_threshold=rng.uniform(0.8, 1.2, n_hid), v_reset=rng.uniform(-0.3, 0.1, n_hid))
    linear = nir.Linear(weight=rng.normal(0, 1.5, (n_out, n_hid)))
    cuba = nir.CubaLIF(tau_syn=rng.uniform(0.003, 0.01, n_out), tau_mem=rng.uniform(0.01, 0.03, n_out),
                       r=rng.uniform(10, 30, n_out), v_leak=np.zeros(n_out), v_threshold=np.full(n_out, 0.5),
                       v_reset=np.zeros(n_out), w_in=rng.uniform(1.0, 3.0, n_out))
    graph = nir.NIRGraph.from_list(nir.Input(input_type=np.array([n_in])), affine, lif, linear, cuba,
                                   nir.Output(output_type=np.array([n_out])))
    x = (rng.random((200, 3, n_in)) < 0.3).astype(np.float64)
    expected = _euler_reference((affine, lif, linear, cuba), x, dt)
    assert expected.sum() > 20  # the output layer is active
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)  # the reference is float64
    try:
        with torch.no_grad():
            got = import_nir(graph, dt=dt)(torch.from_numpy(x)).numpy()
    finally:
        torch.set_default_dtype(previous)
    np.testing.assert_array_equal(got, expected)


def test_snntorch_peer_runs_our_export():
    """bench/nir_peer_check.py: snnTorch runs our exported, trained MLP with identical output
    spikes for reset 'zero'; 'subtract' (not expressible in NIR) diverges there."""
    if not PEER_PYTHON.exists():
        pytest.skip("no bench/.venv-train (python3 bench/peers_env.py --train): snnTorch peer check not run")
    probe = subprocess.run([str(PEER_PYTHON), "-c", "import snntorch, nir"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip("bench/.venv-train has no snntorch/nir: snnTorch peer check not run")
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "nir_peer_check.py"), "--json"], capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    results = json.loads(done.stdout)
    assert results["zero"]["exact"] and results["zero"]["mismatched"] == 0 and results["zero"]["our_spikes"] > 0
    assert not results["subtract"]["exact"]
    assert results["zero"]["round_trip_identical"] and results["subtract"]["round_trip_identical"]
