"""A plain NumPy transcription of ``daspnet.m`` (Izhikevich 2007, Cereb. Cortex 17:2443,
Fig. 1; ModelDB 84167), rewards and MATLAB's indexing included, as an independent check of
``protocol = "paper"`` of :mod:`synaptica.experiments.distal_reward` (no framework code).

The order within a step is the program's: input ``13 (rand - 0.5)``; neurons at >= 30 mV
fire and reset; STDP traces set to 0.1; potentiation of the synapses onto each fired
neuron by its presynaptic neurons' traces of the previous step; delivery and depression
of each fired neuron's outgoing synapses (``I(ind) = I(ind) + s``: a target listed twice
receives one copy, as in MATLAB); two half steps of v, one of u; traces x 0.95; dopamine
x 0.995; every 10 ms ``s += (0.002 + DA) sd`` clipped to [0, 4] and ``sd *= 0.99``; a
coincidence (n2 less than 20 ms after n1, n1 strictly earlier) schedules +0.5 after
1001-3000 ms; rewards due in the same ms add once. The wiring is drawn first from
``numpy.random.default_rng(seed)``, as the framework draws it, so the network is the same
as the experiment's for that seed; the input and reward delays come from the same stream
afterwards (not the experiment's). About 10 min of CPU per simulated hour. Run:
``python -m synaptica.experiments.distal_reward_reference [seed] [seconds] [control|every_copy]``.
"""
from __future__ import annotations

import json
import sys

import numpy as np

N_EXC, N_INH, M, W_MAX = 800, 200, 100, 4.0


def run_program(seed: int, seconds: int, reward: bool = True, every_copy: bool = False) -> dict:
    """One run of the transcription: rewards, the rewarded synapse, rates and the other
    excitatory weights' statistics. ``every_copy``: a target listed twice receives both copies
    (as the framework delivers), instead of MATLAB's one."""
    rng = np.random.default_rng(seed)
    n = N_EXC + N_INH
    a = np.r_[np.full(N_EXC, 0.02), np.full(N_INH, 0.1)]
    d = np.r_[np.full(N_EXC, 8.0), np.full(N_INH, 2.0)]
    post = np.r_[rng.integers(0, n, (N_EXC, M)), rng.integers(0, N_EXC, (N_INH, M))]
    s = np.r_[np.ones((N_EXC, M)), -np.ones((N_INH, M))]
    sd = np.zeros((n, M))
    onto = [np.argwhere(post[:N_EXC] == i) for i in range(n)]   # (pre, slot) of excitatory synapses onto i
    v = np.full(n, -65.0)
    u = 0.2 * v
    trace, previous = np.zeros(n), np.zeros(n)
    dopamine, due, rewards, counts, history = 0.0, set(), 0, np.zeros(n), []
    n1, n2 = 0, int(post[0, 0])
    s[n1, 0] = 0.0
    last_n1, last_n2 = -100, -1
    for second in range(seconds):
        for t in range(1, 1001):
            now = second * 1000 + t
            current = 13.0 * (rng.random(n) - 0.5)
            fired = np.flatnonzero(v >= 30.0)
            v[fired], u[fired] = -65.0, u[fired] + d[fired]
            trace[fired] = 0.1
            for k in fired:
                pairs = onto[k]
                sd[pairs[:, 0], pairs[:, 1]] += previous[pairs[:, 0]]
            for k in fired:
                if every_copy:
                    np.add.at(current, post[k], s[k])
                else:
                    current[post[k]] += s[k]      # buffered: a repeated target gets one copy
                sd[k] -= 1.5 * trace[post[k]]
            counts[fired] += 1
            v = v + 0.5 * ((0.04 * v + 5.0) * v + 140.0 - u + current)
            v = v + 0.5 * ((0.04 * v + 5.0) * v + 140.0 - u + current)
            u = u + a * (0.2 * v - u)
            previous, trace = trace.copy(), 0.95 * trace
            dopamine *= 0.995
            if t % 10 == 0:
                s[:N_EXC] = np.clip(s[:N_EXC] + (0.002 + dopamine) * sd[:N_EXC], 0.0, W_MAX)
                sd *= 0.99
            if n1 in fired:
                last_n1 = now
            if n2 in fired:
                last_n2 = now
                if now - last_n1 < 20 and last_n2 > last_n1 and reward:
                    due.add(now + 1000 + int(np.ceil(2000 * rng.random())))
                    rewards += 1
            if now in due:
                dopamine += 0.5
        history.append(float(s[n1, 0]))
    others = s[:N_EXC].ravel()[1:]
    at_bound = np.flatnonzero(np.array(history) >= W_MAX)
    return {"seed": seed, "seconds": seconds, "rewards": rewards, "rewarded_post": n2,
            "rewarded_final": history[-1], "rewarded_max": max(history),
            "rewarded_time_to_bound_s": int(at_bound[0]) + 1 if at_bound.size else None,
            "others_fraction_above_90pct": float(np.mean(others >= 0.9 * W_MAX)),
            "others_fraction_at_bound": float(np.mean(others >= W_MAX)), "others_mean": float(others.mean()),
            "others_p95": float(np.percentile(others, 95)),
            "rate_exc_hz": float(counts[:N_EXC].mean() / seconds), "rate_inh_hz": float(counts[N_EXC:].mean() / seconds)}


if __name__ == "__main__":
    args = sys.argv[1:]
    option = args[2] if len(args) > 2 else ""
    print(json.dumps(run_program(int(args[0]) if args else 1, int(args[1]) if len(args) > 1 else 3600,
                                 reward=option != "control", every_copy=option == "every_copy")))
