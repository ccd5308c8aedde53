"""How far one reward moves a synapse whose activity it is unrelated to, in the network of
:mod:`synaptica.experiments.distal_reward` (Izhikevich 2007, Fig. 1).

Dopamine pulses of ``reward_amount`` at random times (one every ``every_s`` seconds, at a
random phase within the first half second, from ``start_s`` on), no coincidence rewards;
the weights are read at the end of every second. For each pulse, the change of every
synapse over the second of the pulse and the next (its dopamine decays with 0.2 s) is
compared with the change over 2 s between pulses.
The rewarded synapse of the experiment needs w_max / (rewards until the bound) per reward
(0.077 for seed 1 of the paper protocol); if the others' spread per pulse is larger, the
rewarded synapse is not singled out among tens of thousands. Run:
``python -m synaptica.experiments.distal_reward_spread [seed] [seconds]``.
"""
from __future__ import annotations

import json
import sys

import numpy as np

from synaptica.experiments.distal_reward import SCHEMA, build_distal_reward
from synaptica.experiments.distal_reward_program import program_input


def reward_spread(p: dict, seconds: int = 400, start_s: int = 100, every_s: int = 5, seed: int = 99) -> dict:
    """Weight change per pulse and between pulses (mean, s.d., upper percentiles) of all
    excitatory synapses but the rewarded one; ``p`` as the experiment (paper protocol)."""
    net, _, exc, dopamine, _, synapse, _, _, drive = build_distal_reward(p)
    pulse_seconds = np.arange(start_s, seconds - every_s, every_s)
    dopamine.deliver(pulse_seconds * 1000.0 + np.random.default_rng(seed).uniform(0, 500, pulse_seconds.size),
                     p["reward_amount"])
    weights = []
    for second in range(seconds):
        if drive is not None:
            drive.values = program_input(np.random.default_rng([p["seed"], 11, second]), 1000, drive.population.n,
                                         p["input_range"])
            drive.start_step = net.step
        net.run(1000.0, chunk_steps=1000)
        weights.append(exc.weights.detach().numpy().copy())
    w = np.delete(np.array(weights), synapse, axis=1)   # w[k]: end of second k
    pulsed = np.concatenate([w[s] - w[s - 2] for s in pulse_seconds + 1])
    quiet = np.concatenate([w[s] - w[s - 2] for s in pulse_seconds[:-1] + every_s // 2 + 2])
    return {"pulses": int(pulse_seconds.size), "pulse_mean": float(pulsed.mean()), "pulse_sd": float(pulsed.std()),
            "pulse_p99": float(np.percentile(pulsed, 99)), "pulse_p999": float(np.percentile(pulsed, 99.9)),
            "pulse_fraction_above_0.077": float(np.mean(pulsed > 0.077)),
            "between_mean": float(quiet.mean()), "between_sd": float(quiet.std())}


if __name__ == "__main__":
    args = [int(a) for a in sys.argv[1:]]
    params = {k: f.default for k, f in SCHEMA.items()} | {"seed": args[0] if args else 1}
    print(json.dumps(reward_spread(params, *(args[1:2] or [400]))))
