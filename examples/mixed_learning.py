"""Mixed learning: local plasticity rules and gradients trained together in one network.

(a) STDP hidden layer (plastic) + gradient-trained readout on the 8x8 digits, against the
    same network with the hidden layer frozen at its random start;
(b) a three-factor rule gated by a learned modulator (a critic's reward-prediction
    error) on a 4-pattern -> 4-action task, against the raw reward and no modulator.

Run:  .venv/bin/python examples/mixed_learning.py [--seeds 3] [--out runs/mixed-learning]
Prints mean +- sd over seeds and writes metrics.json and reward_curves.png to --out.
See synaptica.training.mixed for the API (MixedTrainer).
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from synaptica.training.mixed import learned_modulator_task, stdp_readout_digits


def summary(values: list[float]) -> str:
    return f"{np.mean(values):.3f} +- {np.std(values):.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--out", default="runs/mixed-learning")
    parser.add_argument("--episodes", type=int, default=150, help="episodes of task (b)")
    parser.add_argument("--n-train", type=int, default=1000, help="training digits of task (a)")
    args = parser.parse_args()
    torch.set_num_threads(1)  # the torch path issues many small ops: one thread is fastest
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    metrics: dict[str, float] = {}

    for name, rate in (("stdp", 1.0), ("frozen", 0.0)):
        runs = [stdp_readout_digits(stdp_rate=rate, batch=16, n_train=args.n_train, n_test=500, seed=s)
                for s in range(args.seeds)]
        for key in ("test_accuracy", "train_accuracy", "plastic_change_pA", "hidden_rate_hz", "seconds"):
            values = [r[key] for r in runs]
            metrics[f"a_{name}_{key}"] = float(np.mean(values))
            metrics[f"a_{name}_{key}_sd"] = float(np.std(values))
            print(f"(a) hidden {name:6s} {key:18s} {summary(values)}", flush=True)

    curves = {}
    for mode in ("learned", "reward", "none"):
        runs = [learned_modulator_task(mode, episodes=args.episodes, seed=s) for s in range(args.seeds)]
        curves[mode] = np.mean([r["reward_curve"] for r in runs], axis=0)
        for key in ("reward_first", "reward_last"):
            values = [r[key] for r in runs]
            metrics[f"b_{mode}_{key}"] = float(np.mean(values))
            metrics[f"b_{mode}_{key}_sd"] = float(np.std(values))
            print(f"(b) modulator {mode:8s} {key:13s} {summary(values)}", flush=True)
        correct = [float(np.mean(r["weights_pA"].argmax(1) == r["target"])) for r in runs]
        metrics[f"b_{mode}_mapping_learned"] = float(np.mean(correct))

    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(5, 3.2))
    for mode, curve in curves.items():
        smooth = np.convolve(curve, np.ones(10) / 10, mode="valid")
        ax.plot(np.arange(smooth.size) + 10, smooth, label=mode)
    ax.axhline(0.25, color="grey", lw=0.8, ls=":")
    ax.set(xlabel="episode (16 samples each)", ylabel="reward (fraction of right-action spikes)",
           title="three-factor rule, modulator")
    ax.legend(frameon=False)
    fig.tight_layout()
    fig.savefig(out / "reward_curves.png", dpi=120)
    print(f"wrote {out / 'metrics.json'} and {out / 'reward_curves.png'}")


if __name__ == "__main__":
    main()
