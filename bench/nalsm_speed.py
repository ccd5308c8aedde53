"""Cost of a NALSM liquid per image: 1000 LIF neurons, astrocyte-modulated STDP, 250 ms per image at dt 1 ms.

Measures the wall time per image (median of ``--repeats`` runs of ``--images`` images,
one thread, compiled CPU path, compilation excluded by a warm-up run) of

* the static liquid (feature collection), and
* the liquid with the astrocyte and AstrocyteSTDP on every liquid and input synapse
  (the plasticity phase of ``synaptica run nalsm`` with 250 ms presentations),

on 8x8 digits encoded as Poisson rates, and writes the section
"NALSM liquid: ms per image" of BENCHMARKS.md. Run it alone on the machine::

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

from synaptica.experiments.nalsm import SCHEMA, load_data, make_liquid, plasticity_phase  # noqa: E402

TITLE = "NALSM liquid: ms per image"


def per_image_ms(p: dict, images, plastic: bool, repeats: int) -> float:
    times = []
    for r in range(repeats + 1):   # the first run compiles
        liquid = make_liquid(p, images.shape[1], 1, 1.0, p["present_ms"])
        start = time.perf_counter()
        if plastic:
            plasticity_phase(liquid, images, p, 3 + r, astrocyte=True)
        else:
            liquid.run(images[:, None, :] * p["max_rate_hz"], seed=r)
        if r:
            times.append((time.perf_counter() - start) * 1e3 / len(images))
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--images", type=int, default=40)
    parser.add_argument("--no-write", action="store_true", help="print the table only, leave BENCHMARKS.md alone")
    parser.add_argument("--quick", action="store_true", help="tiny sizes, no file written")
    args = parser.parse_args()
    torch.set_num_threads(1)
    p = {k: f.default for k, f in SCHEMA.items()}
    n_units, n_images, repeats = (100, 3, 1) if args.quick else (1000, args.images, args.repeats)
    p.update(n_units=n_units, init_ms=p["present_ms"], n_train=max(n_images, 10), n_test=10)
    images = load_data(p, 1)[0][:n_images]
    static = per_image_ms(p, images, False, repeats)
    plastic = per_image_ms(p, images, True, repeats)
    print(f"{n_units} neurons, {p['present_ms']:g} ms per image: static {static:.2f} ms/image, "
          f"astrocyte + STDP {plastic:.2f} ms/image")
    if args.quick or args.no_write:
        return
    section = (f"{n_units} LIF neurons (Maass wiring of `synaptica.reservoir.Liquid`), 8x8 digits as Poisson rates, "
               f"{p['present_ms']:g} ms per image at dt 1 ms, one thread, median of {repeats} runs of {n_images} "
               f"images ({platform.processor() or platform.machine()}).\n\n"
               "| liquid | ms per image |\n|---|---|\n"
               f"| static (feature collection) | {static:.2f} |\n"
               f"| astrocyte + AstrocyteSTDP on all synapses | {plastic:.2f} |\n\n"
               "Command: `.venv/bin/python bench/nalsm_speed.py`\n")
    write_section(HERE.parent / "BENCHMARKS.md", TITLE, section)


if __name__ == "__main__":
    main()
