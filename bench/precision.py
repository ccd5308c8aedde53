"""Precision by dtype and path, and what float32 costs in the compiled loop's machine code.

Prints (the README's "Paths that agree" figures):

* the largest deviation of the exact LIF trace (140 pA, 300 ms, dt 0.1 ms) from its
  closed form, per path (compiled, torch) and dtype;
* for the CUBA kernel (N = 400), the instructions of the compiled loop per dtype:
  conversions between float32 and float64, and packed (vector) arithmetic.

    .venv/bin/python bench/precision.py

It compiles into a temporary kernel cache (numba shows machine code of fresh compiles only).
"""
from __future__ import annotations

import collections
import os
import re
import tempfile


def lif_error(dtype, backend: str) -> float:
    import numpy as np

    from synaptica import LIF, Network

    net = Network(dt=0.1, dtype=dtype)
    pop = net.add_population(1, LIF())
    pop.i_ext[:] = 140.0
    mon = net.monitor_state(pop, "v")
    net.run(300.0, backend=backend)
    closed = -65.0 + 0.1 * 140.0 * (1.0 - np.exp(-mon.times_ms / 20.0))
    return float(np.abs(mon.values[:, 0, 0] - closed).max())


def instruction_counts(dtype_name: str) -> dict[str, int]:
    from synaptica.experiments.cuba import SCHEMA, build_cuba

    params = {k: f.default for k, f in SCHEMA.items()} | {"n": 400, "dtype": dtype_name}
    net, _, _ = build_cuba(params)
    net.compile()
    asm = list(net._compiled.kernel.inspect_asm().values())[-1]
    ops = collections.Counter(re.findall(r"^\s+(v?[a-z0-9]+)", asm, re.M))
    return {"conversions": sum(v for op, v in ops.items() if "cvt" in op),
            "packed arithmetic": sum(v for op, v in ops.items()
                                     if re.match(r"v?(mul|add|sub|div|fmadd\w*|max|min)p[sd]", op))}


def main() -> None:
    os.environ["SYNAPTICA_CACHE"] = tempfile.mkdtemp()
    import torch

    for dtype in (torch.float32, torch.float64):
        for backend in ("cpu", "torch"):
            print(f"LIF closed form, {str(dtype)[6:]}, {backend} path: max |v - exact| = "
                  f"{lif_error(dtype, backend):.2g} mV")
    for name in ("float32", "float64"):
        print(f"CUBA kernel, {name}: {instruction_counts(name)}")


if __name__ == "__main__":
    main()
