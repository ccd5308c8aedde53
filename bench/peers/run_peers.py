"""Run the CUBA peer scripts one after another (never in parallel) and collect their JSON lines.

Vogels & Abbott (2005) / Brette et al. (2007) CUBA network; see cuba_brian2.py, cuba_nest.py.
Runs with any Python 3 (stdlib only); creates bench/.venv-peers if needed.  Example that
writes the test reference (Brian2 cpp_standalone and NEST, N=4000, 1 s, seeds 1..5):

    python3 bench/peers/run_peers.py --n 4000 --seeds 1 2 3 4 5 \
        --runs brian2:cpp_standalone nest --reference bench/peers/cuba_reference.json
"""
from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import tempfile
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
from peers_env import ensure_peers_env  # noqa: E402


def run_measured(cmd: list[str], env: dict | None = None) -> tuple[str, float]:
    """Run ``cmd``; its standard output and peak resident memory (MB), children included
    (wait4's usage covers the descendants it reaped, e.g. Brian2's standalone binary)."""
    with tempfile.TemporaryFile("w+") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.DEVNULL, env=env, text=True)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            raise subprocess.CalledProcessError(proc.returncode, cmd)
        out.seek(0)
        return out.read(), usage.ru_maxrss / 1024.0


def run_one(py: Path, run: str, n: int, duration: float, seed: int) -> dict:
    peer, _, target = run.partition(":")
    cmd = [str(py), str(HERE / f"cuba_{peer}.py"), "--n", str(n), "--duration", str(duration),
           "--seed", str(seed)] + (["--target", target] if target else [])
    out, peak_mb = run_measured(cmd)
    return json.loads(out.strip().splitlines()[-1]) | {"peak_mb": peak_mb}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=4000)
    p.add_argument("--duration", type=float, default=1.0)
    p.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4, 5])
    p.add_argument("--runs", nargs="+", default=["brian2:cython", "brian2:cpp_standalone", "nest"],
                   help="peer[:target] of cuba_<peer>.py")
    p.add_argument("--jsonl", help="append every result line to this file")
    p.add_argument("--reference", help="write {seed, mean_rate_hz, cv_isi} per run to this JSON file")
    args = p.parse_args()

    py = ensure_peers_env()
    results = {}
    for run in args.runs:
        for seed in args.seeds:
            res = run_one(py, run, args.n, args.duration, seed)
            print(json.dumps(res), flush=True)
            if args.jsonl:
                with open(args.jsonl, "a") as f:
                    f.write(json.dumps(res) + "\n")
            results.setdefault(run, []).append(res)
    if args.reference:
        ref = {"generated_by": shlex.join(["python3", "bench/peers/run_peers.py", *sys.argv[1:]]),
               "n": args.n, "duration_s": args.duration}
        for run, rows in results.items():
            ref[run.replace(":", "_")] = [{k: r[k] for k in ("seed", "mean_rate_hz", "cv_isi")} for r in rows]
        Path(args.reference).write_text(json.dumps(ref, indent=2) + "\n")


if __name__ == "__main__":
    main()
