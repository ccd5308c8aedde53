"""The surrogate-gradient training benchmark network, built with each peer library.

Run in ``bench/.venv-train`` (``python3 bench/peers_env.py --train`` creates it and prints
its python).  The peer libraries are imported inside the builders only, so this module can
be imported anywhere (for ``versions()`` or by ``train_memory.py``).

The network (same for every peer): 784 -> Linear(bias) -> 512 LIF -> Linear(bias) -> 10 LIF,
membrane decay beta = 0.9, threshold 1, reset by subtraction, arctan surrogate (alpha = 2)
where the library has it, zero initial membrane.  Input: spikes (T, B, 784) float32,
time-major.  Output: the output layer's spike counts (B, 10), used as logits with
cross-entropy by ``bench/train.py``::

    optimizer.zero_grad(); loss = cross_entropy(model.forward(spikes), labels)
    loss.backward(); optimizer.step()

Every builder seeds torch with ``seed`` and then creates ``Linear(n_in, n_hidden)`` and
``Linear(n_hidden, n_out)`` in that order with torch.nn.Linear's default initialisation,
so all peers start from identical weights.  Every peer runs layer by layer: one matrix
multiply of the whole sequence per Linear, then the neuron recurrence over time (the
fastest use of each API; SpikingJelly's multi-step mode does exactly this).  Time loops
iterate over ``tensor.unbind(0)``: ``x[t]`` on a tensor that requires grad makes backward
O(T^2).

What each peer actually integrates (h = charged membrane, s = spike, v = membrane after
reset, I[t] = Linear output at step t):

* snnTorch 1.0.0, ``snn.Leaky(beta=0.9, threshold=1, reset_mechanism="subtract",
  spike_grad=surrogate.atan(alpha=2))`` (snntorch/_neurons/leaky.py, forward and
  _base_sub; neurons.py mem_reset/fire)::

      r[t] = H(U[t-1] - 1)            (detached; "reset_delay=True", the default)
      U[t] = 0.9 U[t-1] + I[t] - r[t]
      s[t] = H(U[t] - 1)              (strict >; atan: dS/dU = 1/(1+(pi (U-1))^2))

  i.e. the threshold is subtracted one step after the spike, *after* the decay, and the
  reset path carries no gradient: U[t] = 0.9 U[t-1] + I[t] - s[t-1].

* SpikingJelly 2.0.0, ``neuron.LIFNode(tau=10., decay_input=False, v_threshold=1.,
  v_reset=None, surrogate_function=surrogate.ATan(alpha=2.), detach_reset=False,
  step_mode='m')`` (spikingjelly/_ops/lif/cpu.py _forward_impl, reference.py charge)::

      h[t] = v[t-1] - (v[t-1] - 0)/10 + I[t] = 0.9 v[t-1] + I[t]
      s[t] = H(h[t] - 1)              (>=; ATan: alpha/2 / (1 + (pi/2 alpha x)^2))
      v[t] = h[t] - s[t]              (gradient flows through the reset)

  On CPU with a built-in surrogate it runs the registered op ``torch.ops.sj_lif`` (Python
  time loop forward, hand-written backward storing only h).  2.0 has no ``backend=``
  argument (no cupy path to choose).  ``compile=True`` wraps the Sequential in
  ``torch.compile`` (inductor, C++ on CPU); the state reset stays outside the compiled code.

* Norse 1.1.0, ``LIFBoxCell(LIFBoxParameters(tau_mem_inv=100, v_th=1, v_leak=0,
  reset_method=reset_subtract, method="super"), dt=0.001)`` (norse/torch/functional/
  lif_box.py lif_box_feed_forward_step, reset.py reset_subtract, superspike.py)::

      h[t] = v[t-1] + dt/tau (0 - v[t-1] + i[t]) = 0.9 v[t-1] + 0.1 i[t]
      s[t] = H(h[t] - 1)              (strict >)
      v[t] = (1 - s) h + s (h - 1) = h[t] - s[t]   (gradient flows through the reset)

  with i[t] = 10 I[t]: the Linear outputs are multiplied by 1/(dt/tau) = 10 (one extra
  elementwise op per layer) so that h[t] = 0.9 v[t-1] + I[t] like the others.  Norse has
  no arctan surrogate; "super" (SuperSpike) is its default: dS/dx = 1/(1+|x|)^2, and in
  1.1.0 the alpha parameter is ignored by it.  LIFBoxCell is the model without synaptic
  current, which is the benchmark's neuron; norse's LIF/LIFCell adds a current i (with
  dt/tau_syn = 1 it would vanish) but only offers reset to a value, not subtraction.
  ``norse.torch.Lift`` is not used: it loops with ``x[ts]`` (O(T^2) backward).

So SpikingJelly and Norse integrate the same forward dynamics (checked: with weights x8,
T=25, batch 16, their output spike counts equal those of a hand-written
h = 0.9 v + I; s = H(h - 1); v = h - s, and each other's); snnTorch subtracts the threshold
one step later (854 vs 865 output spikes in that check).  Backward differs too: snnTorch
detaches the reset, SpikingJelly (detach_reset=False) and Norse differentiate through it
(dv/dh = 1 - dS/dh), and Norse's surrogate is SuperSpike, not arctan.
"""
from __future__ import annotations

import functools
from importlib import metadata

import torch

BETA = 0.9
THRESHOLD = 1.0
ALPHA = 2.0  # arctan surrogate slope (snnTorch, SpikingJelly); Norse uses SuperSpike
TAU_SJ = 10.0  # SpikingJelly's tau with decay_input=False: 1 - 1/tau = BETA


def _linears(n_in: int, n_hidden: int, n_out: int, seed: int, cls=torch.nn.Linear):
    torch.manual_seed(seed)
    return cls(n_in, n_hidden), cls(n_hidden, n_out)


class SnnTorchNet(torch.nn.Module):
    def __init__(self, n_in=784, n_hidden=512, n_out=10, seed=0):
        super().__init__()
        import snntorch as snn
        from snntorch import surrogate

        self.fc1, self.fc2 = _linears(n_in, n_hidden, n_out, seed)
        kw = dict(beta=BETA, threshold=THRESHOLD, reset_mechanism="subtract",
                  spike_grad=surrogate.atan(alpha=ALPHA))
        self.lif1 = snn.Leaky(**kw)
        self.lif2 = snn.Leaky(**kw)

    @staticmethod
    def _run(lif, currents: torch.Tensor) -> torch.Tensor:
        mem = lif.reset_mem()  # empty: the first forward makes zeros of the input's shape
        spikes = []
        for cur in currents.unbind(0):
            spk, mem = lif(cur, mem)
            spikes.append(spk)
        return torch.stack(spikes)

    def forward(self, spikes: torch.Tensor) -> torch.Tensor:
        s1 = self._run(self.lif1, self.fc1(spikes))
        s2 = self._run(self.lif2, self.fc2(s1))
        return s2.sum(0)


class SpikingJellyNet(torch.nn.Module):
    def __init__(self, n_in=784, n_hidden=512, n_out=10, seed=0, compile=False):
        super().__init__()
        from spikingjelly.activation_based import functional, layer, neuron, surrogate

        self._reset_net = functional.reset_net
        fc1, fc2 = _linears(n_in, n_hidden, n_out, seed,
                            cls=functools.partial(layer.Linear, step_mode="m"))

        def lif():
            # tau = 1/(1 - beta) = 10: decay_input=False gives h = v - v/tau + x = 0.9 v + x
            return neuron.LIFNode(tau=TAU_SJ, decay_input=False,
                                  v_threshold=THRESHOLD, v_reset=None,
                                  surrogate_function=surrogate.ATan(alpha=ALPHA),
                                  detach_reset=False, step_mode="m")
        self.net = torch.nn.Sequential(fc1, lif(), fc2, lif())
        # not registered as a submodule (the compiled wrapper would list the parameters twice
        # in state_dict); parameters() come from self.net
        object.__setattr__(self, "_run", torch.compile(self.net) if compile else self.net)

    def forward(self, spikes: torch.Tensor) -> torch.Tensor:
        self._reset_net(self.net)  # membrane back to 0 (and drop the previous graph)
        return self._run(spikes).sum(0)


class NorseNet(torch.nn.Module):
    DT = 1e-3
    TAU_MEM_INV = 100.0  # dt/tau_mem = 0.1  ->  decay 0.9

    def __init__(self, n_in=784, n_hidden=512, n_out=10, seed=0):
        super().__init__()
        from norse.torch import LIFBoxCell, LIFBoxParameters
        from norse.torch.functional.reset import reset_subtract

        self.fc1, self.fc2 = _linears(n_in, n_hidden, n_out, seed)
        p = LIFBoxParameters(tau_mem_inv=torch.as_tensor(self.TAU_MEM_INV),
                             v_leak=torch.as_tensor(0.0), v_th=torch.as_tensor(THRESHOLD),
                             v_reset=torch.as_tensor(0.0), method="super",
                             reset_method=reset_subtract)
        self.lif1 = LIFBoxCell(p, dt=self.DT)
        self.lif2 = LIFBoxCell(p, dt=self.DT)
        self.in_scale = 1.0 / (self.DT * self.TAU_MEM_INV)  # 10: h = 0.9 v + I

    @staticmethod
    def _run(cell, currents: torch.Tensor) -> torch.Tensor:
        state = None  # the cell's initial state: v = v_leak = 0
        spikes = []
        for cur in currents.unbind(0):
            z, state = cell(cur, state)
            spikes.append(z)
        return torch.stack(spikes)

    def forward(self, spikes: torch.Tensor) -> torch.Tensor:
        s1 = self._run(self.lif1, self.fc1(spikes) * self.in_scale)
        s2 = self._run(self.lif2, self.fc2(s1) * self.in_scale)
        return s2.sum(0)


def build_snntorch(n_in=784, n_hidden=512, n_out=10, seed=0) -> SnnTorchNet:
    return SnnTorchNet(n_in, n_hidden, n_out, seed)


def build_spikingjelly(n_in=784, n_hidden=512, n_out=10, seed=0, compile=False) -> SpikingJellyNet:
    return SpikingJellyNet(n_in, n_hidden, n_out, seed, compile=compile)


def build_spikingjelly_compiled(n_in=784, n_hidden=512, n_out=10, seed=0) -> SpikingJellyNet:
    """SpikingJelly multi-step under torch.compile: the first step compiles (tens of seconds
    on 2 cores at T=25), and a new input shape compiles again."""
    return SpikingJellyNet(n_in, n_hidden, n_out, seed, compile=True)


def build_norse(n_in=784, n_hidden=512, n_out=10, seed=0) -> NorseNet:
    return NorseNet(n_in, n_hidden, n_out, seed)


class SynapticaNet(torch.nn.Module):
    """synaptica's SpikingMLP (fused LIF kernels, spike-sparse input products) with the
    same initial weights as the peers. ``online=True``: the memory-lean OTTT mode, whose
    gradient is accumulated step by step inside ``train_step``."""

    def __init__(self, n_in=784, n_hidden=512, n_out=10, seed=0, online=False):
        super().__init__()
        from synaptica.training import SpikingMLP

        fc1, fc2 = _linears(n_in, n_hidden, n_out, seed)
        self.net = SpikingMLP([n_in, n_hidden, n_out], beta=0.9, threshold=THRESHOLD, reset="subtract",
                              surrogate="arctan")
        with torch.no_grad():
            for layer, fc in zip(self.net.layers, (fc1, fc2)):
                layer.linear.weight.copy_(fc.weight)
                layer.linear.bias.copy_(fc.bias)
        self.online = online

    def forward(self, spikes: torch.Tensor) -> torch.Tensor:
        return self.net(spikes).sum(0)

    def train_step(self, spikes, labels, optimizer):
        """The training step for ``online=True`` (bench/train.py and train_memory.py call
        it when present): zero_grad, OTTT forward/backward, optimizer step."""
        from synaptica.training.losses import spike_count_cross_entropy
        from synaptica.training.online import online_backward

        optimizer.zero_grad()
        online_backward(self.net, spikes, labels, spike_count_cross_entropy)
        optimizer.step()


class DenseFloor(torch.nn.Module):
    """The network's matrix multiplies without any neuron: Linear -> Linear on all steps,
    summed over time (the dense-compute floor of the issue's targets)."""

    def __init__(self, n_in=784, n_hidden=512, n_out=10, seed=0):
        super().__init__()
        self.fc1, self.fc2 = _linears(n_in, n_hidden, n_out, seed)

    def forward(self, spikes: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.fc1(spikes)).sum(0)


def build_synaptica(n_in=784, n_hidden=512, n_out=10, seed=0) -> SynapticaNet:
    return SynapticaNet(n_in, n_hidden, n_out, seed)


def build_synaptica_online(n_in=784, n_hidden=512, n_out=10, seed=0) -> SynapticaNet:
    net = SynapticaNet(n_in, n_hidden, n_out, seed, online=True)
    return net


def build_dense_floor(n_in=784, n_hidden=512, n_out=10, seed=0) -> DenseFloor:
    return DenseFloor(n_in, n_hidden, n_out, seed)


#: Run in the main .venv (synaptica and numba installed there), not in .venv-train.
SYNAPTICA = {"synaptica": build_synaptica, "synaptica-online": build_synaptica_online,
             "dense-floor": build_dense_floor}

PEERS = {
    **SYNAPTICA,
    "snntorch": build_snntorch,
    "spikingjelly": build_spikingjelly,
    "spikingjelly+compile": build_spikingjelly_compiled,
    "norse": build_norse,
}


def versions() -> dict[str, str | None]:
    """Installed versions of torch and the peers (None when a package is missing)."""
    out = {}
    for name in ("torch", "snntorch", "spikingjelly", "norse"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


if __name__ == "__main__":
    # smoke test: python bench/peers/train_peers.py [T] [B]
    import sys
    import time

    T = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    B = int(sys.argv[2]) if len(sys.argv) > 2 else 8
    print(versions())
    g = torch.Generator().manual_seed(0)
    x = torch.bernoulli(torch.rand(B, 784, generator=g).mul(0.26).expand(T, B, 784), generator=g)
    y = torch.randint(0, 10, (B,), generator=g)
    for name, build in PEERS.items():
        model = build()
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        t0 = time.perf_counter()
        for _ in range(2):
            opt.zero_grad()
            out = model.forward(x)
            loss = torch.nn.functional.cross_entropy(out, y)
            loss.backward()
            opt.step()
        gnorm = sum(p.grad.norm() ** 2 for p in model.parameters()) ** 0.5
        print(f"{name:22s} out {tuple(out.shape)} counts {out.sum().item():.0f} "
              f"loss {loss.item():.4f} |grad| {gnorm.item():.4g} "
              f"({time.perf_counter() - t0:.2f} s)")
