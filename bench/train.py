"""Surrogate-gradient training benchmark: synaptica against snnTorch, SpikingJelly and Norse.

The network of the issue: 784-512-10 LIF, beta = 0.9, threshold 1, reset by subtraction,
arctan surrogate (SuperSpike for Norse, which has no arctan), T = 25 Poisson steps of
MNIST images (P(spike per step) = intensity, the first 8,000 images of
``../shared/data/mnist``), batch 128, Adam, 2 threads, timed from ``zero_grad`` to the
optimiser step (bench/peers/train_timing.py). Every library runs in its own fresh process,
one after the other, and the whole round is repeated; the table gives medians over rounds
of each run's median batch time. Also measured: activation memory of one training step at
T = 100 and, for the memory-lean mode, at T = 25/50/100 (bench/peers/train_memory.py: peak
RSS during forward+backward minus RSS before, with glibc returning freed memory).

synaptica and the dense floor (the same matrix multiplies without neurons) run in the
main .venv; the peers in bench/.venv-train (``python3 bench/peers_env.py --train``).
Run alone on the machine:

    .venv/bin/python bench/train.py [--repeats 3] [--skip-peers]
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from report import write_section  # noqa: E402

COMMAND = ".venv/bin/python bench/train.py"
OURS = ["synaptica", "synaptica-online", "dense-floor"]
PEERS = ["snntorch", "norse", "spikingjelly", "spikingjelly+compile"]
MNIST = ROOT.parent / "shared" / "data" / "mnist"


def _run(python: str, script: str, *args: str) -> dict:
    out = subprocess.run([python, str(HERE / "peers" / script), *args], capture_output=True, text=True, cwd=ROOT)
    if out.returncode != 0:
        raise RuntimeError(f"{script} {' '.join(args)} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--batches", type=int, default=20)
    ap.add_argument("--skip-peers", action="store_true")
    ap.add_argument("--no-write", action="store_true", help="print, do not update BENCHMARKS.md")
    args = ap.parse_args(argv)
    if not MNIST.is_dir():
        raise SystemExit(f"bench/train.py needs the MNIST split in {MNIST} (see ../shared/data/README)")
    sys.path.insert(0, str(ROOT / "src"))
    from synaptica.datasets import load_images

    ours_python = sys.executable
    libraries = {name: ours_python for name in OURS}
    if not args.skip_peers:
        from peers_env import ensure_train_env

        peer_python = str(ensure_train_env())
        libraries.update({name: peer_python for name in PEERS})
    images, labels, _ = load_images(str(MNIST))
    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "mnist8k.npy")
        np.save(path, images[:8000].astype(np.float32))
        np.save(path.replace(".npy", "_labels.npy"), labels[:8000])
        speed: dict[str, list[dict]] = {name: [] for name in libraries}
        for round_ in range(args.repeats):
            for name, python in libraries.items():
                result = _run(python, "train_timing.py", name, path, "--batches", str(args.batches))
                speed[name].append(result)
                print(f"round {round_ + 1}: {name:22s} {result['samples_per_s']:8.0f} samples/s "
                      f"(first step {result['first_step_s']:.1f} s)", flush=True)
    memory = {}
    for name, python in libraries.items():
        if name == "spikingjelly+compile":
            continue  # recompiles for T = 100; its eager memory is SpikingJelly's row
        memory[name] = _run(python, "train_memory.py", name, "100")
        print(f"memory T=100: {name:22s} {memory[name]['activation_mb']:8.1f} MB", flush=True)
    lean = {T: _run(ours_python, "train_memory.py", "synaptica-online", str(T)) for T in (25, 50, 100)}
    for T, m in lean.items():
        print(f"memory lean T={T}: {m['activation_mb']:.1f} MB", flush=True)
    section = _table(speed, memory, lean, args)
    print(section)
    if not args.no_write:
        write_section(ROOT / "BENCHMARKS.md", "Surrogate-gradient training (784-512-10 LIF)", section)


def _table(speed, memory, lean, args) -> str:
    def med(name, key):
        return statistics.median(r[key] for r in speed[name])

    ours = med("synaptica", "samples_per_s")
    lines = [f"Command: `{COMMAND}` ({args.repeats} rounds of {args.batches} timed batches after 3 warm-up "
             f"batches; medians; every library in its own process; input spike density "
             f"{speed['synaptica'][0]['input_density']:.3f}).", "",
             "| library | samples/s | synaptica speed-up | first step incl. compile (s) | "
             "activation memory T=100 (MB) |", "|---|---|---|---|---|"]
    for name in speed:
        rate = med(name, "samples_per_s")
        mem = memory.get(name, {}).get("activation_mb")
        lines.append(f"| {name} | {rate:.0f} | {ours / rate:.2f}x | {med(name, 'first_step_s'):.1f} | "
                     f"{'-' if mem is None else f'{mem:.0f}'} |")
    lines += ["", "Memory-lean mode (OTTT, `Trainer(mode=\"online\")`), activation memory of one step: " +
              ", ".join(f"T={T}: {m['activation_mb']:.1f} MB" for T, m in lean.items()) + "."]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
