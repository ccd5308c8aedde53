"""Cost of a NALSM liquid per image: 1000 LIF neurons, 250 ms per image at dt 1 ms, one thread.

For each liquid below, the wall time of one call on n images and on 2n images (median of
``--repeats`` each, after a warm-up call that compiles) gives the cost per image (the
slope, (T(2n) - T(n)) / n) and the fixed cost per call (wiring, network build, kernel
set-up: T(n) - n x slope), with the spikes per image that drive the cost:

* the static LSM as the experiment collects its features (|w| = weight_scale x w_max);
* the unlearnt liquid at w_max, run static: the state every plastic liquid starts from.
  It fires near the refractory limit (about 300 Hz with 2-3 ms refractory periods), so it
  costs more per image than the plastic run, whose depression lowers the weights within
  the first image: this, not the plasticity, was why "static" once measured slower;
* the liquid with the astrocyte and AstrocyteSTDP on every liquid and input synapse
  (the plasticity phase of ``synaptica run nalsm``, here with 250 ms presentations);
* the liquid learnt by that phase, run static (NALSM's feature collection).

8x8 digits encoded as Poisson rates as in the experiment. Writes the section "NALSM liquid:
ms per image" of BENCHMARKS.md unless ``--no-write``. Run it alone on the machine::

    .venv/bin/python bench/nalsm_speed.py [--repeats 5] [--images 40]
    .venv/bin/python bench/nalsm_speed.py --quick   # tiny sizes, checks it works, no file written
"""
from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import torch  # noqa: E402

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from report import write_section  # noqa: E402

from synaptica.experiments.nalsm import SCHEMA, _as_rates, load_data, make_liquid, plasticity_phase  # noqa: E402
from synaptica.reservoir.liquid import Liquid  # noqa: E402

TITLE = "NALSM liquid: ms per image"


class SpikeTally:
    """Counts the spikes of the networks that Liquid.build makes while active (the plasticity
    phase builds its network inside the experiment's code)."""

    def __enter__(self) -> "SpikeTally":
        self.monitors, self._build = [], Liquid.build
        tally = self

        def build(liquid, inputs, seed=0):
            parts = tally._build(liquid, inputs, seed)
            tally.monitors.append(parts[2])
            return parts
        Liquid.build = build
        return self

    def __exit__(self, *exc) -> None:
        Liquid.build = self._build

    def spikes(self) -> int:
        return len(self.monitors[-1].steps)


def timed(call, images, repeats: int) -> tuple[float, int]:
    """Median seconds of ``call(images, run_index)`` and the spikes of its last run."""
    times = []
    with SpikeTally() as tally:
        for r in range(repeats + 1):   # the first run compiles
            start = time.perf_counter()
            call(images, r)
            if r:
                times.append(time.perf_counter() - start)
        return statistics.median(times), tally.spikes()


def measure(call, images, repeats: int, present_ms: float, n_units: int) -> dict:
    n = len(images) // 2
    t1, _ = timed(call, images[:n], repeats)
    t2, spikes = timed(call, images, repeats)
    slope = (t2 - t1) / (len(images) - n)
    per_image = spikes / len(images)
    return dict(ms=slope * 1e3, fixed_ms=(t1 - n * slope) * 1e3, whole_ms=t2 / len(images) * 1e3, spikes=per_image,
                rate_hz=per_image / (present_ms * 1e-3) / n_units)


def liquids(p: dict, images):
    """(label, call(images, run index)) of the four liquids of the module doc."""
    n_inputs, ms = images.shape[1], p["present_ms"]
    static = make_liquid(p, n_inputs, 1, p["weight_scale"], ms)
    unlearnt = make_liquid(p, n_inputs, 1, 1.0, ms)
    learnt = make_liquid(p, n_inputs, 1, 1.0, ms)
    plasticity_phase(learnt, images, p, 2, astrocyte=True)
    return [(f"static LSM, weights {p['weight_scale']:g} x w_max (feature collection)",
             lambda x, r: static.run(_as_rates(x, p), seed=r)),
            ("unlearnt liquid at w_max, static (start of every plastic liquid)",
             lambda x, r: unlearnt.run(_as_rates(x, p), seed=r)),
            ("astrocyte + AstrocyteSTDP on all synapses (plasticity phase)",
             lambda x, r: plasticity_phase(make_liquid(p, n_inputs, 1, 1.0, ms), x, p, 3 + r, astrocyte=True)),
            ("NALSM liquid learnt by that phase, static (feature collection)",
             lambda x, r: learnt.run(_as_rates(x, p), seed=r))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--images", type=int, default=40)
    parser.add_argument("--no-write", action="store_true", help="print the table only, leave BENCHMARKS.md alone")
    parser.add_argument("--quick", action="store_true", help="tiny sizes, no file written")
    args = parser.parse_args()
    torch.set_num_threads(1)
    p = {k: f.default for k, f in SCHEMA.items()}
    n_units, n_images, repeats = (100, 4, 1) if args.quick else (1000, args.images, args.repeats)
    p.update(n_units=n_units, init_ms=p["present_ms"], n_train=max(n_images, 10), n_test=10)
    images = load_data(p, 1)[0][:n_images]
    rows = [(label, measure(call, images, repeats, p["present_ms"], n_units)) for label, call in liquids(p, images)]
    lines = [f"{n_units} LIF neurons (the experiment's default '{p['wiring']}' wiring), 8x8 digits as Poisson rates, "
             f"{p['present_ms']:g} ms per image at dt 1 ms, one thread ({platform.processor() or platform.machine()}). "
             f"Per image: the slope between calls on {n_images // 2} and {n_images} images (median of {repeats} "
             "calls each); fixed: the rest of a call (wiring, network build, set-up).",
             "", f"| liquid | ms per image | fixed ms per call | ms per image, whole call of {n_images} | spikes per image "
             "| mean rate (Hz) |", "|---|---|---|---|---|---|"]
    lines += [f"| {label} | {m['ms']:.2f} | {m['fixed_ms']:.0f} | {m['whole_ms']:.2f} | {m['spikes']:.0f} | "
              f"{m['rate_hz']:.1f} |" for label, m in rows]
    lines += ["", f"Command: `.venv/bin/python bench/nalsm_speed.py --repeats {repeats} --images {n_images}`"]
    section = "\n".join(lines) + "\n"
    print(section)
    if args.quick or args.no_write:
        return
    write_section(HERE.parent / "BENCHMARKS.md", TITLE, section)


if __name__ == "__main__":
    main()
