"""Write bench/peers/dc_reference.json: Brian2 2.9 (cpp_standalone) statistics of the
Diehl & Cook network on the first 200 MNIST images, seeds 1-3, for tests/test_stdp_digits.py.

    python3 bench/stdp_reference.py          # creates bench/.venv-peers if needed
"""
from __future__ import annotations

import json
import shlex
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "peers"))
from peers_env import ensure_peers_env  # noqa: E402

N_IMAGES, SEEDS = 200, (1, 2, 3)


def main() -> None:
    data = sys.argv[1] if len(sys.argv) > 1 else str(HERE.parent.parent / "shared" / "data" / "mnist")
    py = ensure_peers_env()
    rows = []
    for seed in SEEDS:
        cmd = [str(py), str(HERE / "peers" / "dc_brian2.py"), "--data", data, "--n-images", str(N_IMAGES),
               "--seed", str(seed)]
        out = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.splitlines()[-1])
        rows.append({"seed": seed, "exc_spikes_per_image": out["exc_spikes"] / out["n_images"],
                     "mean_theta_mv": out["mean_theta_mv"], "images_under_5_spikes": out["images_under_5_spikes"]})
        print(json.dumps(rows[-1]), flush=True)
    reference = {"generated_by": shlex.join(["python3", "bench/stdp_reference.py", *sys.argv[1:]]),
                 "n_images": N_IMAGES, "brian2_cpp_standalone": rows}
    (HERE / "peers" / "dc_reference.json").write_text(json.dumps(reference, indent=2) + "\n")


if __name__ == "__main__":
    main()
