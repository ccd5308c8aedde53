"""CUBA benchmark network in NEST (peer for synaptica's benchmarks).

Vogels & Abbott (2005), J. Neurosci. 25:10786, as used in Brette et al. (2007),
J. Comput. Neurosci. 23:349 (benchmark 2, current-based); same model and parameters as
Brian2's examples/CUBA.py (see cuba_brian2.py).  Run inside bench/.venv-peers:

    python bench/peers/cuba_nest.py --n 4000 --duration 1.0 --seed 1
    python bench/peers/cuba_nest.py --check-psp     # single-synapse PSP vs Brian2's equations

Mapping to iaf_psc_exp (dV/dt = -(V-E_L)/tau_m + I/C_m, I jumps by w and decays with tau_syn):
Brian2's dv/dt = (ge+gi-(v-El))/taum has ge in volts, so I/C_m = ge/taum, i.e. a jump of
w_mV in ge is a current jump of w_pA = w_mV * C_m / tau_m (mV * pF / ms = pA).  C_m is
arbitrary (250 pF here); V is clamped at V_reset during t_ref while the currents decay, as
with Brian2's "(unless refractory)".  Brian2 has no explicit delay (a spike acts on the next
step); NEST's minimal delay, one step of 0.1 ms, is the same.

Timings: import_s is `import nest`; build_s is node creation, connection and NEST's
connection-infrastructure preparation (kernel timer time_communicate_prepare, spent inside
the first Run); sim_s is the wall time of nest.Run minus that preparation.
"""
from __future__ import annotations

import json
import os
import time

import cuba_common as C

os.environ.setdefault("PYNEST_QUIET", "1")  # no banner on stdout

C_M = 250.0  # pF
W_EXC_PA = C.WE * C_M / C.TAUM
W_INH_PA = C.WI * C_M / C.TAUM
NEURON_PARAMS = dict(C_m=C_M, tau_m=C.TAUM, tau_syn_ex=C.TAUE, tau_syn_in=C.TAUI,
                     t_ref=C.REFRACTORY, E_L=C.EL, V_th=C.VT, V_reset=C.VR, I_e=0.0)


def reset_kernel(nest, seed: int) -> None:
    nest.ResetKernel()
    nest.set(resolution=C.DT, local_num_threads=1, rng_seed=seed, print_time=False)


def check_psp(nest) -> dict:
    """One input spike of each sign into a neuron at rest; compare the PSP with the exact
    solution of Brian2's equations, u(t) = w tau_s/(tau_m - tau_s) (e^{-t/tau_m} - e^{-t/tau_s})."""
    import numpy as np

    out = {}
    for name, w_mv, w_pa, tau_s in [("exc", C.WE, W_EXC_PA, C.TAUE), ("inh", C.WI, W_INH_PA, C.TAUI)]:
        reset_kernel(nest, 1)
        cell = nest.Create("iaf_psc_exp", params=dict(NEURON_PARAMS, V_th=1e3, V_m=C.EL))
        gen = nest.Create("spike_generator", params={"spike_times": [1.0]})
        mm = nest.Create("multimeter", params={"record_from": ["V_m"], "interval": C.DT})
        nest.Connect(gen, cell, syn_spec={"weight": w_pa, "delay": C.DT})
        nest.Connect(mm, cell)
        nest.Simulate(80.0)
        ev = mm.events
        t, u = ev["times"], ev["V_m"] - C.EL
        onset = 1.0 + C.DT  # spike time + delay: the current jumps at the end of this step
        s = np.clip(t - onset, 0.0, None)
        ref = w_mv * tau_s / (C.TAUM - tau_s) * (np.exp(-s / C.TAUM) - np.exp(-s / tau_s))
        out[name] = dict(weight_pA=w_pa, peak_nest_mV=float(u[np.argmax(abs(u))]),
                         peak_exact_mV=float(ref[np.argmax(abs(ref))]),
                         max_abs_err_mV=float(np.max(abs(u - ref))))
    return out


def main() -> None:
    parser = C.make_parser(__doc__)
    parser.add_argument("--check-psp", action="store_true", help="only run the PSP mapping check")
    args = parser.parse_args()

    t_begin = time.perf_counter()
    import nest
    t_imported = time.perf_counter()
    nest.verbosity = nest.VerbosityLevel.ERROR
    if args.check_psp:
        print(json.dumps(check_psp(nest)))
        return

    reset_kernel(nest, args.seed)
    n_exc = int(C.EXC_FRACTION * args.n)
    pop = nest.Create("iaf_psc_exp", args.n, params=NEURON_PARAMS)
    pop.V_m = nest.random.uniform(min=C.VR, max=C.VT)
    rec = nest.Create("spike_recorder")
    nest.Connect(pop, rec)
    conn = {"rule": "pairwise_bernoulli", "p": C.P_CONNECT, "allow_autapses": True}
    nest.Connect(pop[:n_exc], pop, conn, {"weight": W_EXC_PA, "delay": C.DT})
    nest.Connect(pop[n_exc:], pop, conn, {"weight": W_INH_PA, "delay": C.DT})

    nest.Prepare()
    t_run = time.perf_counter()
    nest.Run(args.duration * 1000.0)
    t_end = time.perf_counter()
    nest.Cleanup()
    prepare_s = float(sum(nest.GetKernelStatus("time_communicate_prepare")))
    sim_s = (t_end - t_run) - prepare_s

    ev = rec.events
    C.report(args, "nest", None, import_s=t_imported - t_begin,
             build_s=(t_end - t_imported) - sim_s, sim_s=sim_s, total_s=t_end - t_begin,
             t_s=ev["times"] / 1000.0, ids=ev["senders"] - pop[0].global_id,
             version=nest.__version__, nest_time_simulate=float(nest.GetKernelStatus("time_simulate")),
             prepare_s=round(prepare_s, 4))


if __name__ == "__main__":
    main()
