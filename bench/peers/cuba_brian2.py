"""CUBA benchmark network in Brian2 (peer for synaptica's benchmarks).

Vogels & Abbott (2005), J. Neurosci. 25:10786, as used in Brette et al. (2007),
J. Comput. Neurosci. 23:349 (benchmark 2, current-based), written as in Brian2's
examples/CUBA.py with N a parameter.  Run inside bench/.venv-peers:

    python bench/peers/cuba_brian2.py --n 4000 --duration 1.0 --target cython --seed 1

Prints one JSON line (see cuba_common.report).  Timing choices:
  * import_s: `import brian2` (numpy already imported by cuba_common).
  * sim_s: `device._last_run_time`.  For the runtime (cython) target Brian2 sets it to the
    wall time (time.time) of Network.run's main loop, after code generation and
    compilation.  For cpp_standalone it is read from the generated binary's
    results/last_run_info.txt: the time the binary spends in its network run loop, excluding
    its start-up, synapse creation and writing of results; without OpenMP the template
    measures it with std::clock, i.e. CPU time of the (single-threaded) process, which equals
    wall time unless the process is preempted.  Both measure time stepping only.
  * build_s: everything from the first Brian2 call to the end of run() minus sim_s:
    network construction, code generation, compilation (Cython extensions or the C++
    project), and for standalone the binary's initialisation and result writing.
    cpp_standalone always builds in a fresh temporary directory, so compile time is honest.
    The cython target by default also compiles into a fresh cache directory (cold build);
    `--cython-cache user` uses Brian2's normal cache in ~/.cython (warm after a first run).
"""
from __future__ import annotations

import shutil
import tempfile
import time

import cuba_common as C

parser = C.make_parser(__doc__)
parser.add_argument("--target", choices=["cython", "cpp_standalone"], default="cython")
parser.add_argument("--cython-cache", choices=["fresh", "user"], default="fresh")
args = parser.parse_args()
t_begin = time.perf_counter()
import brian2 as b2  # noqa: E402
from brian2 import ms, mV, second  # noqa: E402

t_imported = time.perf_counter()

workdir = tempfile.mkdtemp(prefix="cuba_brian2_")
b2.prefs.logging.console_log_level = "WARNING"
if args.target == "cpp_standalone":
    b2.set_device("cpp_standalone", directory=workdir, build_on_run=True)
    b2.prefs.devices.cpp_standalone.openmp_threads = 0
else:
    b2.prefs.codegen.target = "cython"  # no silent fallback to numpy
    if args.cython_cache == "fresh":
        b2.prefs.codegen.runtime.cython.cache_dir = workdir
b2.seed(args.seed)
b2.defaultclock.dt = C.DT * ms

taum, taue, taui = C.TAUM * ms, C.TAUE * ms, C.TAUI * ms
Vt, Vr, El = C.VT * mV, C.VR * mV, C.EL * mV
we, wi = C.WE * mV, C.WI * mV
n_exc = int(C.EXC_FRACTION * args.n)

eqs = """
dv/dt  = (ge+gi-(v-El))/taum : volt (unless refractory)
dge/dt = -ge/taue : volt
dgi/dt = -gi/taui : volt
"""
P = b2.NeuronGroup(args.n, eqs, threshold="v>Vt", reset="v = Vr",
                   refractory=C.REFRACTORY * ms, method="exact")
P.v = "Vr + rand() * (Vt - Vr)"
P.ge = 0 * mV
P.gi = 0 * mV
Ce = b2.Synapses(P, P, on_pre="ge += we")
Ci = b2.Synapses(P, P, on_pre="gi += wi")
Ce.connect("i < n_exc", p=C.P_CONNECT)  # independent Bernoulli per pair, autapses allowed
Ci.connect("i >= n_exc", p=C.P_CONNECT)
mon = b2.SpikeMonitor(P)

b2.run(args.duration * second)
t_end = time.perf_counter()

sim_s = float(b2.device._last_run_time)
t_s, ids = mon.t_[:].copy(), mon.i_[:].copy()
shutil.rmtree(workdir, ignore_errors=True)
C.report(args, "brian2", args.target, import_s=t_imported - t_begin,
         build_s=(t_end - t_imported) - sim_s, sim_s=sim_s, total_s=t_end - t_begin,
         t_s=t_s, ids=ids, version=b2.__version__,
         **({"cython_cache": args.cython_cache} if args.target == "cython" else {}))
