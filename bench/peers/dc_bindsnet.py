"""Diehl & Cook (2015) unsupervised STDP network in BindsNET 0.3.4 (peer for bench/stdp.py).

Diehl & Cook (2015), Front. Comput. Neurosci. 9:99, as BindsNET ships it:
`bindsnet.models.DiehlAndCook2015`.  Training only, batch 1, one image at a time, on CPU with
one torch thread.  Run inside bench/.venv-peers:

    python bench/peers/dc_bindsnet.py --data /work/shared/data/mnist --n-images 50 --seed 1

Per image: the 784 input rates (pixel / 255 * 63.75 Hz, as for Brian2 and synaptica) are
encoded by BindsNET's PoissonEncoder into 700 steps (350 ms at dt = 0.5 ms), the network
runs them (`network.run`, learning on; BindsNET normalises the input -> exc weights after
each sample), a Monitor records the excitatory spikes, then `network.reset_state_variables()`
(voltages to rest, refractoriness and traces cleared, theta kept).  Timed: encoding, run,
reading the monitor and the reset, for --n-images images after 5 untimed warm-up images
(the warm-up images precede the timed ones in the file).

Model parameters are BindsNET's defaults except dt, norm and the layer size:
n_inpt 784, n_neurons --n-exc, dt 0.5 ms, norm 78.0 (BindsNET's default is 78.4),
exc 22.5, inh 17.5, theta_plus 0.05 mV, tc_theta_decay 1e7 ms, nu (1e-4, 1e-2), weights
in [0, 1], initial weights 0.3 * U[0, 1), learning rule PostPre (its default pair-based
STDP; pre and post traces, tau 20 ms).

This is BindsNET's model, not exactly the network of dc_brian2.py: its neurons are
current-based (a spike adds its weight to v; no conductances, no reversal potentials),
the excitatory reset is -60 mV, the STDP rule is pair-based PostPre, and its Poisson
encoder draws inter-spike intervals in whole steps.  Like dc_brian2.py it departs from the
paper in having no 150 ms rest period (state reset instead), one-step delays (BindsNET has
no others) and no re-presentation of images that give fewer than 5 spikes.
build_s is the construction of the network (and monitor); import_s is `import bindsnet`.
"""
from __future__ import annotations

import importlib.metadata
import time

import dc_common as C

parser = C.make_parser(__doc__, n_images=100)
parser.add_argument("--warmup", type=int, default=5, help="untimed images before the timed ones")
parser.add_argument("--norm", type=float, default=78.0, help="BindsNET's default is 78.4")
args = parser.parse_args()
images, _labels = C.load_mnist(args.data, args.warmup + args.n_images)
rates = C.input_rates_hz(images)

t_begin = time.perf_counter()
import torch  # noqa: E402

torch.set_num_threads(1)
import bindsnet  # noqa: E402,F401  (needs the torchvision stub of bench/peers_env.py)
from bindsnet.encoding import PoissonEncoder  # noqa: E402
from bindsnet.models import DiehlAndCook2015  # noqa: E402
from bindsnet.network.monitors import Monitor  # noqa: E402

t_imported = time.perf_counter()

torch.manual_seed(args.seed)
steps = int(C.IMAGE_MS / C.DT)
params = dict(n_inpt=784, n_neurons=args.n_exc, dt=C.DT, norm=args.norm, exc=22.5, inh=17.5,
              theta_plus=0.05, tc_theta_decay=1e7, nu=(1e-4, 1e-2))
network = DiehlAndCook2015(**params)
spike_mon = Monitor(network.layers["Ae"], state_vars=["s"], time=steps)
network.add_monitor(spike_mon, name="Ae_spikes")
encoder = PoissonEncoder(time=C.IMAGE_MS, dt=C.DT)
rates_t = torch.as_tensor(rates, dtype=torch.float32)
t_built = time.perf_counter()


def train_one(k: int) -> int:
    """Present image k (350 ms); return its number of excitatory spikes."""
    spikes_in = encoder(rates_t[k]).view(steps, 1, 784)
    network.run(inputs={"X": spikes_in}, time=C.IMAGE_MS)
    n = int(spike_mon.get("s").sum())
    network.reset_state_variables()
    return n


for k in range(args.warmup):
    train_one(k)
t0 = time.perf_counter()
per_image = [train_one(args.warmup + k) for k in range(args.n_images)]
sim_s = time.perf_counter() - t0

import numpy as np  # noqa: E402

C.report(args, "bindsnet", build_s=t_built - t_imported, sim_s=sim_s, exc_spikes=sum(per_image),
         version=importlib.metadata.version("bindsnet"), torch=torch.__version__,
         torch_threads=torch.get_num_threads(), import_s=round(t_imported - t_begin, 4),
         warmup_images=args.warmup,
         images_under_5_spikes=int(sum(n < 5 for n in per_image)),
         exc_spikes_per_image_quartiles=[float(q) for q in np.percentile(per_image, [25, 50, 75])],
         mean_theta_mv=float(network.layers["Ae"].theta.mean()),
         model_params={**params, "learning_rule": "PostPre"})
