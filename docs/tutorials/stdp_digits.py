"""Tutorial 2: learn digits without labels, with STDP (Diehl & Cook 2015).

P. U. Diehl and M. Cook, "Unsupervised learning of digit recognition using
spike-timing-dependent plasticity", Front. Comput. Neurosci. 9:99 (2015).

Excitatory conductance-based LIF neurons with adaptive thresholds (theta, mV) receive
Poisson spike trains whose rates follow the pixel intensities (up to 255 Hz here) and
inhibit each other through a partner inhibitory population, so a few neurons win each
presentation and STDP moves their input weights towards that image. After training,
each neuron is labelled with the class it answers most; a test image is classified by
the vote of the labelled neurons. This is ``make demo`` at a tutorial's size: 30
neurons, 300 of scikit-learn's 8x8 digits, 150 ms presentations.

Run:  .venv/bin/python docs/tutorials/stdp_digits.py
"""
from __future__ import annotations

import numpy as np
from sklearn.datasets import load_digits

from synaptica.models.diehl_cook import DiehlCookConfig, DiehlCookNetwork

N_TRAIN, N_TEST = 300, 200


def main() -> float:
    digits = load_digits()
    images = digits.data / 16.0                           # (n, 64) intensities in [0, 1]
    labels = digits.target
    train, test = slice(0, N_TRAIN), slice(N_TRAIN, N_TRAIN + N_TEST)

    # 64 inputs instead of MNIST's 784: brighter inputs (255 Hz) and a smaller total input
    # weight per neuron (10 instead of 78), the settings of the stdp-digits experiment
    config = DiehlCookConfig(n_input=64, n_exc=30, present_ms=150.0, max_rate_hz=255.0, norm_total=10.0, seed=0)
    network = DiehlCookNetwork(config)

    network.present(images[train], learn=True)            # unsupervised: no labels used
    train_counts = network.present(images[train], learn=False)   # (n, n_exc) spike counts
    network.assign_labels(train_counts, labels[train])
    test_counts = network.present(images[test], learn=False)
    accuracy = float(np.mean(network.predict(test_counts) == labels[test]))
    print(f"{config.n_exc} neurons, {N_TRAIN} training digits: test accuracy {accuracy:.2f} on {N_TEST} digits "
          f"(chance 0.10); {int((network.labels >= 0).sum())} neurons labelled")
    assert accuracy > 0.2, "STDP learned nothing: accuracy near chance"
    return accuracy


if __name__ == "__main__":
    main()
