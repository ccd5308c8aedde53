"""Diehl & Cook (2015) unsupervised STDP network in Brian2 cpp_standalone (peer for bench/stdp.py).

Diehl & Cook (2015), Front. Comput. Neurosci. 9:99.  Training only, one image at a time,
weights learn after every spike.  Run inside bench/.venv-peers:

    python bench/peers/dc_brian2.py --data /work/shared/data/mnist --n-images 200 --seed 1

Network (units ms, mV; conductances ge, gi dimensionless, in units of the 1 nS leak):
  * input: 784 Poisson neurons, rate = pixel / 255 * 63.75 Hz (TimedArray indexed by image).
  * excitatory (n_exc): tau dv/dt = (v_rest - v) + ge (0 mV - v) + gi (-100 mV - v),
    tau 100 ms, v_rest = v_reset = -65 mV, spike when v > -52 mV + theta, refractory 5 ms
    (v held), theta += 0.05 mV per spike, dtheta/dt = -theta / 1e7 ms;
    dge/dt = -ge / 1 ms, dgi/dt = -gi / 2 ms.
  * inhibitory (n_exc): tau 10 ms, v_rest -60, reset -45, threshold -40 mV, E_exc 0 mV,
    E_inh -85 mV, same ge/gi time constants, refractory 2 ms.
  * input -> exc: all-to-all, w ~ U[0, 0.3) (numpy, seeded), on_pre ge += w.  STDP (the
    paper's rule): traces pre (20 ms), post1 (20 ms), post2 (40 ms); on pre: pre = 1,
    w = clip(w - 1e-4 post1, 0, 1); on post: w = clip(w + 1e-2 pre post2_before, 0, 1), then
    post1 = post2 = 1.  Traces are event-driven synaptic variables (Brian2's usual STDP form).
  * exc -> inh one-to-one, ge += 10.4; inh -> exc all-to-all except self, gi += 17.0.
  * every image: 350 ms at dt = 0.5 ms.  At its first step (run_regularly every 350 ms,
    slot 'start'): v = v_rest, ge = gi = 0, refractoriness cleared, STDP traces 0 (theta
    kept); then each excitatory neuron's incoming weights are scaled to sum to 78.0
    (the sum is accumulated by a run_regularly on the synapses into a neuron variable).
  * Integration: exponential Euler (exact decay of ge, gi, theta; v exact for ge, gi held
    over the step).  Delays: Brian2 applies on_pre at the end of the spike's step, so a spike
    acts on the next step's integration; that is the one-step (0.5 ms) delay of every
    pathway (no explicit Brian2 delay, which would make it two steps).

  * ``--spike-block-ms T`` (> 0): an excitatory neuron may not fire again for T ms after a
    spike (threshold also needs timer > T, timer = time since its last spike), v integrating
    after the 5 ms refractory: the Brian2 ports' reading of the authors' ``timer`` (T = 50).
    In their Brian 1 code the timer passes its 5 ms one step after the spike, so it blocks
    nothing (bench/peers/dc_brian1_timer.py); T = 0 (default) leaves the timer out.

Differences from the paper: no 150 ms rest between images (the state is reset instead);
one-step delays instead of random 0-10 ms (input -> exc) and 0-5 ms ones; images that give
fewer than 5 excitatory spikes are not presented again with a higher rate; no evaluation.

The whole training is ONE standalone build and run.  Timings:
  * sim_s: `device._last_run_time`, the time the generated binary spends in its network
    run loop (std::clock of the single-threaded process: CPU time, equal to wall time unless
    preempted), excluding its start-up, synapse creation and result writing.
  * build_s: wall time from after `import brian2` to the end of run(), minus sim_s: network
    description, code generation, C++ compilation in a fresh directory, the binary's
    initialisation and result writing.  compile_s and binary_s (Brian2's device.timers:
    `make` and the whole binary run) are reported too.
"""
from __future__ import annotations

import shutil
import tempfile
import time

import numpy as np

import dc_common as C

parser = C.make_parser(__doc__, n_images=200)
parser.add_argument("--keep", action="store_true", help="keep the standalone build folder")
parser.add_argument("--spike-block-ms", type=float, default=0.0, help="no second excitatory spike within this time")
args = parser.parse_args()
images, _labels = C.load_mnist(args.data, args.n_images)
rates = C.input_rates_hz(images)  # (n_images, 784)

t_begin = time.perf_counter()
import brian2 as b2  # noqa: E402
from brian2 import Hz, ms, mV  # noqa: E402

t_imported = time.perf_counter()

workdir = tempfile.mkdtemp(prefix="dc_brian2_")
b2.prefs.logging.console_log_level = "WARNING"
b2.set_device("cpp_standalone", directory=workdir, build_on_run=True)
b2.prefs.devices.cpp_standalone.openmp_threads = 0
b2.seed(args.seed)
b2.defaultclock.dt = C.DT * ms

n_e = args.n_exc
T_IMG = C.IMAGE_MS * ms
ns = dict(  # constants of the generated code
    v_rest_e=-65 * mV, v_reset_e=-65 * mV, v_thresh_e=-52 * mV, tau_e=100 * ms,
    v_rest_i=-60 * mV, v_reset_i=-45 * mV, v_thresh_i=-40 * mV, tau_i=10 * ms,
    E_exc=0 * mV, E_inh_e=-100 * mV, E_inh_i=-85 * mV, tau_ge=1 * ms, tau_gi=2 * ms,
    theta_plus=0.05 * mV, tau_theta=1e7 * ms,
    tau_pre=20 * ms, tau_post1=20 * ms, tau_post2=40 * ms, nu_pre=1e-4, nu_post=1e-2, wmax=1.0,
    w_ei=10.4, w_ie=17.0, norm=78.0, t_block=args.spike_block_ms * ms,
    rates_ta=b2.TimedArray(rates * Hz, dt=T_IMG),
)

inp = b2.PoissonGroup(784, rates="rates_ta(t, i)", namespace=ns)
block = args.spike_block_ms > 0
exc = b2.NeuronGroup(n_e, """
    dv/dt = ((v_rest_e - v) + ge * (E_exc - v) + gi * (E_inh_e - v)) / tau_e : volt (unless refractory)
    dge/dt = -ge / tau_ge : 1
    dgi/dt = -gi / tau_gi : 1
    dtheta/dt = -theta / tau_theta : volt
    wsum : 1
    """ + ("dtimer/dt = 1 : second\n" if block else ""),
    threshold="v > v_thresh_e + theta" + (" and timer > t_block - 0.25 * ms" if block else ""),
    reset="v = v_reset_e; theta += theta_plus" + ("; timer = 0 * ms" if block else ""),
    refractory=5 * ms, method="exponential_euler", namespace=ns)
inh = b2.NeuronGroup(n_e, """
    dv/dt = ((v_rest_i - v) + ge * (E_exc - v) + gi * (E_inh_i - v)) / tau_i : volt (unless refractory)
    dge/dt = -ge / tau_ge : 1
    dgi/dt = -gi / tau_gi : 1
    """, threshold="v > v_thresh_i", reset="v = v_reset_i",
    refractory=2 * ms, method="exponential_euler", namespace=ns)
exc.v, inh.v = ns["v_rest_e"], ns["v_rest_i"]
if block:
    exc.timer = 1e4 * b2.second

s_in = b2.Synapses(inp, exc, """
    w : 1
    dpre/dt = -pre / tau_pre : 1 (event-driven)
    dpost1/dt = -post1 / tau_post1 : 1 (event-driven)
    dpost2/dt = -post2 / tau_post2 : 1 (event-driven)
    """, on_pre="""
    ge_post += w
    pre = 1
    w = clip(w - nu_pre * post1, 0, wmax)
    """, on_post="""
    post2_before = post2
    w = clip(w + nu_post * pre * post2_before, 0, wmax)
    post1 = 1
    post2 = 1
    """, namespace=ns)
s_in.connect()  # synapse k = i * n_e + j
rng = np.random.default_rng(args.seed)
s_in.w = 0.3 * rng.random(784 * n_e)
s_ei = b2.Synapses(exc, inh, on_pre="ge_post += w_ei", namespace=ns)
s_ei.connect(j="i")
s_ie = b2.Synapses(inh, exc, on_pre="gi_post += w_ie", namespace=ns)
s_ie.connect(condition="i != j")

# Start of every image (t = 0, 350 ms, ...), in this order: reset the neurons (and zero the
# weight sums), reset the traces and accumulate the sums, scale the weights.
every = dict(dt=T_IMG, when="start")
exc.run_regularly("v = v_rest_e; ge = 0; gi = 0; lastspike = -1e4 * second; "
                  "not_refractory = True; wsum = 0" + ("; timer = 1e4 * second" if block else ""), order=0, **every)
inh.run_regularly("v = v_rest_i; ge = 0; gi = 0; lastspike = -1e4 * second; "
                  "not_refractory = True", order=0, **every)
s_in.run_regularly("pre = 0; post1 = 0; post2 = 0; wsum_post += w", order=1, **every)
s_in.run_regularly("w = w * norm / wsum_post", order=2, **every)
mon = b2.SpikeMonitor(exc)

b2.run(args.n_images * T_IMG, namespace={})  # all constants come from the groups' namespaces
t_end = time.perf_counter()

sim_s = float(b2.device._last_run_time)
spike_t = mon.t_[:]
per_image = np.bincount((spike_t / (C.IMAGE_MS * 1e-3) + 1e-9).astype(int), minlength=args.n_images)
theta_mv = float(exc.theta_[:].mean() * 1e3)
timers = b2.device.timers
if not args.keep:
    shutil.rmtree(workdir, ignore_errors=True)
C.report(args, "brian2", build_s=(t_end - t_imported) - sim_s, sim_s=sim_s,
         exc_spikes=len(spike_t), target="cpp_standalone", version=b2.__version__,
         import_s=round(t_imported - t_begin, 4),
         compile_s=round(timers["compile"]["make"] or 0.0, 4),
         binary_s=round(timers["run_binary"] or 0.0, 4),
         images_under_5_spikes=int((per_image < 5).sum()),
         exc_spikes_per_image_quartiles=[float(q) for q in np.percentile(per_image, [25, 50, 75])],
         mean_theta_mv=theta_mv, norm=78.0, method="exponential_euler", spike_block_ms=args.spike_block_ms,
         **({"workdir": workdir} if args.keep else {}))
