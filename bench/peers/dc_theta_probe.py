"""Diagnostic for stdp-digits (README, "What limits 100 neurons"): train the paper protocol's
Diehl & Cook network (100 neurons, first 8,000 MNIST test-split images), then label and test
it frozen with (a) its learned thresholds, (b) all thresholds lowered by one amount so that
their median is 15 mV (spread kept), (c) one threshold for all neurons (15 or 25 mV).
Same weights throughout; not a protocol, a measurement of what the thresholds do at test.

    SYNAPTICA_CACHE=/tmp/syncache .venv/bin/python bench/peers/dc_theta_probe.py --seed 1
"""
from __future__ import annotations

import argparse
import json

import numpy as np
import torch

from synaptica.datasets import load_images
from synaptica.experiments.stdp_digits import PAPER_MAX_RETRIES, REST_MS
from synaptica.models.diehl_cook import DiehlCookConfig, DiehlCookNetwork

parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("--data", default="/work/shared/data/mnist")
parser.add_argument("--seed", type=int, default=1)
args = parser.parse_args()
x, y, _ = load_images(args.data)
x_train, y_train, x_test, y_test = x[:8000], y[:8000], x[8000:10000], y[8000:10000]
model = DiehlCookNetwork(DiehlCookConfig(n_exc=100, seed=args.seed, max_retries=PAPER_MAX_RETRIES,
                                         tau_theta=1e7 * 350.0 / (350.0 + REST_MS)))
model.present(x_train, learn=True)
learned = model.exc.state["theta"].clone()
variants = {"learned": learned, "median_15mV_spread_kept": learned - (learned.median() - 15.0),
            "all_15mV": torch.full_like(learned, 15.0), "all_25mV": torch.full_like(learned, 25.0)}
result = {"seed": args.seed}
for name, theta in variants.items():
    model.exc.state["theta"][:] = theta
    label_counts = model.present(x_train, learn=False)
    retried = float(np.mean(model.last_boost > 1.0))
    model.assign_labels(label_counts, y_train)
    test_counts = model.present(x_test, learn=False)
    result[name] = dict(accuracy=float(np.mean(model.predict(test_counts) == y_test)), retried_label_images=retried,
                        neurons_labelled_as_1=int(np.sum(model.labels == 1)),
                        spikes_per_test_image=float(test_counts.sum(1).mean()))
print(json.dumps(result))
