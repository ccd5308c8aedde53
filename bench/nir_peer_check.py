"""NIR peer check: a SpikingMLP trained with synaptica, exported to NIR, run by snnTorch.

    .venv/bin/python bench/nir_peer_check.py            # prints one line per reset mode
    .venv/bin/python bench/nir_peer_check.py --json     # the same as JSON

Trains two small SpikingMLPs (20-32-5, 50 steps, 5 spike-pattern classes) with our package,
one per reset mode ("zero", "subtract"), exports each with :func:`synaptica.io.nir.export_nir`
(dt = 1e-4 s, the step snnTorch's NIR import assumes; the subtract model with
``allow_subtract=True``), writes it with ``nir.write`` and runs it in snnTorch 1.0.0's
``import_from_nir`` on the same input spikes. snnTorch lives in the benchmark-only
environment bench/.venv-train (``python3 bench/peers_env.py --train``), never in synaptica's;
this script runs itself there with ``--peer DIR``, exchanging files only. It compares the
output spikes of every step, batch element and unit, and reports which reset modes map
exactly. NIR resets to ``v_reset``: "zero" must match exactly (exit code 1 if it does not);
"subtract" cannot be expressed in NIR, so snnTorch resets those neurons to 0 and the outputs
are expected to diverge after the first spike.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PEER_PYTHON = HERE / ".venv-train" / "bin" / "python"
DT = 1e-4  # s
SIZES = (20, 32, 5)
N_STEPS, BATCH = 50, 64


def _data(seed: int):
    """Spike trains (T, B, 20) from 5 class prototypes of input rates, and the labels."""
    rng = np.random.default_rng(seed)
    prototypes = rng.uniform(0.02, 0.5, size=(SIZES[-1], SIZES[0]))
    labels = rng.integers(0, SIZES[-1], size=BATCH)
    spikes = rng.random((N_STEPS, BATCH, SIZES[0])) < prototypes[labels][None]
    return spikes.astype(np.float32), labels


def _train(reset: str, seed: int = 0):
    """A SpikingMLP trained for 60 Adam steps on spike-count cross-entropy; returns the model
    and its training accuracy."""
    import torch

    from synaptica.training.layers import SpikingMLP

    torch.manual_seed(seed)
    model = SpikingMLP(list(SIZES), reset=reset, beta=0.9, threshold=1.0)
    with torch.no_grad():  # start with active hidden units
        for layer in model.layers:
            layer.linear.weight.mul_(3.0)
    optimiser = torch.optim.Adam(model.parameters(), lr=2e-2)
    x, y = _data(seed)
    x, y = torch.from_numpy(x), torch.from_numpy(y)
    for _ in range(60):
        optimiser.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x).sum(0), y)
        loss.backward()
        optimiser.step()
    with torch.no_grad():
        accuracy = float((model(x).sum(0).argmax(1) == y).float().mean())
    return model, accuracy


def run_ours(workdir: Path) -> dict[str, dict]:
    """Train, export and run both models with synaptica; files for the peer go to ``workdir``."""
    import torch

    from synaptica.io.nir import export_nir, import_nir, write_nir

    x_test, _ = _data(seed=1)  # held-out spikes, the input every simulator runs
    np.save(workdir / "input.npy", x_test)
    results = {}
    for reset in ("zero", "subtract"):
        model, accuracy = _train(reset)
        graph = export_nir(model, DT, allow_subtract=reset == "subtract")
        write_nir(workdir / f"{reset}.nir", graph)
        with torch.no_grad():
            ours = model(torch.from_numpy(x_test)).numpy()
            reimported = import_nir(workdir / f"{reset}.nir", DT)(torch.from_numpy(x_test)).numpy()
        np.save(workdir / f"{reset}.ours.npy", ours)
        results[reset] = {"train_accuracy": accuracy, "our_spikes": int(ours.sum()),
                          "round_trip_identical": bool(np.array_equal(ours, reimported))}
    return results


def run_peer(workdir: Path) -> None:
    """In bench/.venv-train: run every ``*.nir`` of ``workdir`` in snnTorch, step by step."""
    import nir
    import torch
    from snntorch import utils as snn_utils
    from snntorch.import_nir import import_from_nir

    x = torch.from_numpy(np.load(workdir / "input.npy"))
    for path in sorted(workdir.glob("*.nir")):
        net = import_from_nir(nir.read(str(path)))
        snn_utils.reset(net)  # the Leaky neurons keep their state between calls
        with torch.no_grad():
            out = torch.stack([net(x_t)[0] for x_t in x.unbind(0)])
        np.save(workdir / f"{path.stem}.peer.npy", out.numpy())


def compare(workdir: Path, results: dict[str, dict]) -> dict[str, dict]:
    for reset, row in results.items():
        ours = np.load(workdir / f"{reset}.ours.npy")
        peer = np.load(workdir / f"{reset}.peer.npy")
        if peer.shape != ours.shape:
            raise SystemExit(f"{reset}: snnTorch output has shape {peer.shape}, ours {ours.shape}")
        differ = ours != peer
        steps = np.flatnonzero(differ.any(axis=(1, 2)))
        row.update(peer_spikes=int(peer.sum()), mismatched=int(differ.sum()), total=int(differ.size),
                   first_differing_step=int(steps[0]) if steps.size else None, exact=not differ.any())
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--peer", type=Path, help=argparse.SUPPRESS)  # internal: run in the peer env
    parser.add_argument("--peer-python", type=Path, default=PEER_PYTHON,
                        help="python of the environment holding snnTorch (default: bench/.venv-train)")
    args = parser.parse_args()
    if args.peer is not None:
        run_peer(args.peer)
        return 0
    if not args.peer_python.exists():
        print(f"no peer environment at {args.peer_python}: run `python3 bench/peers_env.py --train`", file=sys.stderr)
        return 2
    sys.path.insert(0, str(ROOT / "src"))
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        results = run_ours(workdir)
        done = subprocess.run([str(args.peer_python), str(Path(__file__).resolve()), "--peer", str(workdir)],
                              capture_output=True, text=True)
        if done.returncode != 0:
            print(f"snnTorch run failed:\n{done.stderr[-3000:]}", file=sys.stderr)
            return 2
        results = compare(workdir, results)
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        print(f"NIR export (dt = {DT} s) of a trained SpikingMLP {'-'.join(map(str, SIZES))}, run by snnTorch 1.0.0 "
              f"import_from_nir, {N_STEPS} steps x {BATCH} inputs")
        for reset, r in results.items():
            verdict = "exact" if r["exact"] else f"differs from step {r['first_differing_step']}"
            print(f"  reset={reset:<8} train acc {r['train_accuracy']:.2f}  spikes ours {r['our_spikes']} "
                  f"snnTorch {r['peer_spikes']}  mismatched {r['mismatched']}/{r['total']}  {verdict}; "
                  f"synaptica round trip {'identical' if r['round_trip_identical'] else 'DIFFERS'}")
    return 0 if results["zero"]["exact"] and all(r["round_trip_identical"] for r in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
