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

Contended rows: the same timing while one busy process (``python -c "while True: pass"``,
started by this script and stopped after each run) keeps a core occupied, as when the
machine is shared; by default for synaptica and the dense floor (``--contended all`` adds
the peers, ``--contended none`` skips it).

synaptica and the dense floor (the same matrix multiplies without neurons) run in the
main .venv; the peers in bench/.venv-train (``python3 bench/peers_env.py --train``).
Run alone on the machine:

    .venv/bin/python bench/train.py [--repeats 3] [--skip-peers] [--contended ours|all|none]
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from report import write_section  # noqa: E402

COMMAND = ".venv/bin/python bench/train.py"
TITLE = "Surrogate-gradient training"  # the section of BENCHMARKS.md this script owns
OURS = ["synaptica", "synaptica-online", "dense-floor"]
PEERS = ["snntorch", "norse", "spikingjelly", "spikingjelly+compile"]
MNIST = ROOT.parent / "shared" / "data" / "mnist"


def _run(python: str, script: str, *args: str, contended: bool = False) -> dict:
    """Run a peers/ script in a fresh process; with ``contended``, beside one busy process."""
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if contended else None
    try:
        out = subprocess.run([python, str(HERE / "peers" / script), *args], capture_output=True, text=True,
                             cwd=ROOT)
    finally:
        if busy is not None:
            busy.kill()
            busy.wait()
    if out.returncode != 0:
        raise RuntimeError(f"{script} {' '.join(args)} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--batches", type=int, default=20)
    ap.add_argument("--skip-peers", action="store_true")
    ap.add_argument("--contended", choices=("ours", "all", "none"), default="ours",
                    help="which libraries also run beside a busy process (default: synaptica and the floor)")
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
        contended_names = {"ours": OURS, "all": list(libraries), "none": []}[args.contended]
        busy: dict[str, list[dict]] = {name: [] for name in libraries if name in contended_names}
        for round_ in range(args.repeats):
            for name, python in libraries.items():
                result = _run(python, "train_timing.py", name, path, "--batches", str(args.batches))
                speed[name].append(result)
                print(f"round {round_ + 1}: {name:22s} {result['samples_per_s']:8.0f} samples/s "
                      f"(first step {result['first_step_s']:.1f} s)", flush=True)
            for name in busy:
                result = _run(libraries[name], "train_timing.py", name, path, "--batches", str(args.batches),
                              contended=True)
                busy[name].append(result)
                print(f"round {round_ + 1}: {name:22s} {result['samples_per_s']:8.0f} samples/s contended",
                      flush=True)
    memory = {}
    for name, python in libraries.items():
        if name == "spikingjelly+compile":
            continue  # recompiles for T = 100; its eager memory is SpikingJelly's row
        memory[name] = _run(python, "train_memory.py", name, "100")
        print(f"memory T=100: {name:22s} {memory[name]['activation_mb']:8.1f} MB", flush=True)
    lean = {T: _run(ours_python, "train_memory.py", "synaptica-online", str(T)) for T in (25, 50, 100)}
    for T, m in lean.items():
        print(f"memory lean T={T}: {m['activation_mb']:.1f} MB", flush=True)
    section = _table(speed, busy, memory, lean, args)
    print(section)
    if not args.no_write:
        write_section(ROOT / "BENCHMARKS.md", TITLE, section)


def _table(speed: dict, busy: dict, memory: dict, lean: dict, args) -> str:
    """The BENCHMARKS.md section (with its heading line) from the measured runs: one row
    per library on the quiet machine, then one per library run beside the busy process."""
    def med(runs, key):
        return statistics.median(r[key] for r in runs)

    lines = [f"## {TITLE} (`bench/train.py`)", "",
             f"Command: `{COMMAND}` ({args.repeats} rounds of {args.batches} timed batches after 3 warm-up "
             f"batches; medians; every library in its own process; input spike density "
             f"{speed['synaptica'][0]['input_density']:.3f}; 784-512-10 LIF, T = 25, batch 128, 2 threads). "
             f"Contended rows: the same run beside one busy process (`python -c \"while True: pass\"`) on "
             f"the 2-core machine. Measured {time.strftime('%Y-%m-%d')}.", "",
             "| library | machine | samples/s | synaptica speed-up | first step incl. compile (s) | "
             "activation memory T=100 (MB) |", "|---|---|---|---|---|---|"]
    for condition, runs in (("quiet", speed), ("contended", busy)):
        if not runs.get("synaptica"):
            continue
        ours = med(runs["synaptica"], "samples_per_s")
        for name, results in runs.items():
            rate = med(results, "samples_per_s")
            mem = memory.get(name, {}).get("activation_mb") if condition == "quiet" else None
            lines.append(f"| {name} | {condition} | {rate:.0f} | {ours / rate:.2f}x | "
                         f"{med(results, 'first_step_s'):.1f} | {'-' if mem is None else f'{mem:.0f}'} |")
    lines += ["", "Memory-lean mode (OTTT, `Trainer(mode=\"online\")`), activation memory of one step: " +
              ", ".join(f"T={T}: {m['activation_mb']:.1f} MB" for T, m in lean.items()) + "."]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
