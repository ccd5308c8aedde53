"""Tutorial 3: train a spiking network with surrogate gradients, export it to NIR.

A 64-40-10 :class:`~synaptica.training.SpikingMLP` (discrete LIF: ``h = beta v + I``,
spike when ``h >= theta``, reset to zero) is trained on Poisson-encoded 8x8 digits with
the spike-count cross-entropy; the spike's derivative is replaced by the arctan
surrogate (Neftci, Mostafa & Zenke 2019, "Surrogate gradient learning in spiking neural
networks", IEEE Signal Process. Mag. 36:51). The trained network is exported to a NIR
graph (Pedersen et al. 2024, Nat. Commun. 15:8122; forward Euler with ``dt`` in s),
written to disk, read back and imported; the imported module gives the same output
spikes as the trained one.

Run:  .venv/bin/python docs/tutorials/surrogate_to_nir.py
"""
from __future__ import annotations

import importlib.util
import sys
import tempfile
from pathlib import Path

SKIPPED = 3  # exit status of a tutorial whose optional dependency is missing

if importlib.util.find_spec("nir") is None:
    print("SKIPPED: this tutorial needs nir (pip install 'synaptica[nir]')")
    sys.exit(SKIPPED)

import numpy as np  # noqa: E402
import torch  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402

from synaptica.io.nir import export_nir, import_nir, read_nir, write_nir  # noqa: E402
from synaptica.training import SpikingMLP, Trainer  # noqa: E402
from synaptica.training.trainer import poisson_encode  # noqa: E402

DT_S = 1e-4  # NIR's continuous-time constants are derived with this step (s)


def main() -> None:
    torch.manual_seed(0)
    digits = load_digits()
    images = (digits.data / 16.0).astype(np.float32)      # (n, 64) in [0, 1]
    labels = digits.target
    x_train, y_train, x_test, y_test = images[:1200], labels[:1200], images[1200:], labels[1200:]

    model = SpikingMLP([64, 40, 10], beta=0.9, surrogate="arctan", reset="zero")   # NIR resets to v_reset = 0
    trainer = Trainer(model, lr=5e-3, n_steps=20, batch_size=64)
    trainer.fit(x_train, y_train, epochs=2)
    accuracy = trainer.score(x_test, y_test)
    print(f"surrogate-gradient training: test accuracy {accuracy:.2f} on {len(y_test)} digits (chance 0.10)")
    assert accuracy > 0.5, "training failed: accuracy near chance"

    graph = export_nir(model, dt=DT_S)
    print("NIR nodes:", ", ".join(f"{name} ({type(node).__name__})" for name, node in graph.nodes.items()))
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "mlp.nir"
        write_nir(path, graph)                              # HDF5, readable by other NIR tools
        imported = import_nir(read_nir(path), dt=DT_S)

    spikes_in = poisson_encode(torch.as_tensor(x_test[:32]), 20, torch.Generator().manual_seed(1))  # (T, B, 64)
    with torch.no_grad():
        ours = model(spikes_in)
        theirs = imported(spikes_in.to(torch.float32))
    differ = int((ours != theirs).sum())
    print(f"imported NIR network: {differ} of {ours.numel()} output spikes differ from the trained model")
    assert differ == 0


if __name__ == "__main__":
    main()
