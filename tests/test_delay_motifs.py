"""delay-motifs baselines and metrics: parameter-matched memory baselines, the delay error
over every motif synapse, the adaptive LIF's adaptation, and the "paper" protocol."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from synaptica.config import ConfigError
from synaptica.experiments import delay_motifs as dm
from synaptica.experiments import load_experiment_config
from synaptica.experiments.delay_baselines import AdaptiveLIFLayer, matched_hidden, weights_per_hidden


def default_params(*overrides: str) -> dict:
    return load_experiment_config("delay-motifs", list(overrides))[1]


def trainable(model: dm.Detector) -> int:
    """Count the tensors the optimiser would see, independently of n_parameters()."""
    tensors = list(model.net.parameters()) if model.net is not None else list(model.layer.parameters())
    return sum(t.numel() for t in tensors if t.requires_grad) + model.none_logit.numel()


@pytest.mark.parametrize("n_inputs, n_motifs", [(30, 2), (12, 1), (50, 3)])
def test_memory_baselines_match_the_learned_delay_parameter_count(n_inputs, n_motifs):
    p = default_params(f"n_inputs={n_inputs}", f"n_motifs={n_motifs}", "motif_size=4")
    n_det = 2 * n_motifs
    rng = np.random.default_rng(0)
    models = {kind: dm.Detector(p, n_det, kind, rng) for kind in dm.MODELS}
    counts = {kind: m.n_parameters() for kind, m in models.items()}
    for kind, model in models.items():
        assert counts[kind] == trainable(model), kind
    target = counts["learned_delays"]
    assert target == 2 * n_inputs * n_det + 1  # weights + delays + the "none" logit
    assert counts["no_delays"] == counts["fixed_delays"] == n_inputs * n_det + 1
    for kind in ("recurrent_lif", "adaptive_lif"):
        hidden = models[kind].hidden_units
        # at most the delay model's count, and one more hidden unit would exceed it
        assert counts[kind] <= target < weights_per_hidden(kind, n_inputs, n_det, hidden + 1) + 1
        assert counts[kind] == weights_per_hidden(kind, n_inputs, n_det, hidden) + 1


def test_matched_widths_of_the_default_task():
    # 30 inputs, 4 detectors: 240 weights and delays; 30*6 + 6*6 + 6*4 = 240 and 30*7 + 7*4 = 238
    assert matched_hidden("recurrent_lif", 30, 4, 240) == 6
    assert matched_hidden("adaptive_lif", 30, 4, 240) == 7
    with pytest.raises(ValueError, match="kind"):
        weights_per_hidden("gru", 30, 4, 5)


def test_delay_error_counts_every_motif_synapse_not_only_the_strong_ones():
    # one detector, motif inputs 0..3 at latencies 0, 2, 5, 9; delays align inputs 0-2 on c = 10,
    # input 3 is inhibitory with a delay 4 steps off
    inputs, latencies = np.array([[0, 1, 2, 3]]), np.array([[0, 2, 5, 9]])
    weight = np.array([[1.0, 0.9, 0.8, -0.7, 0.0]])
    delays = np.array([[10.0, 8.0, 5.0, 5.0, 3.0]])  # arrivals 10, 10, 10, 14
    m = dm.recovery_metrics(weight, delays, inputs, latencies, strong_fraction=0.5)
    assert m["delay_error_strong_steps"] == 0.0 and m["delay_within_1_step_strong"] == 1.0
    assert m["strong_motif_synapses"] == 0.75
    assert m["delay_error_steps"] == pytest.approx(1.0)  # |0| + |0| + |0| + |4|, over 4 synapses
    assert m["delay_within_1_step"] == 0.75
    # rounding happens before the error: 9.6 counts as 10
    delays[0, 0] = 9.6
    assert dm.recovery_metrics(weight, delays, inputs, latencies, 0.5)["delay_error_steps"] == pytest.approx(1.0)


def test_adaptive_lif_adapts_and_without_adaptation_is_a_plain_lif():
    torch.manual_seed(0)
    x = torch.ones(60, 1, 1)  # a constant drive
    layer = AdaptiveLIFLayer(1, 1, tau_m=5.0, tau_adapt=30.0, strength=1.0)
    plain = AdaptiveLIFLayer(1, 1, tau_m=5.0, tau_adapt=30.0, strength=0.0)
    with torch.no_grad():
        layer.linear.weight.fill_(0.6)
        plain.linear.weight.fill_(0.6)
    with torch.no_grad():
        adapted, regular = layer(x)[:, 0, 0], plain(x)[:, 0, 0]
    gaps = np.diff(np.flatnonzero(adapted.numpy()))
    assert gaps[-1] > gaps[0]  # spike-frequency adaptation: intervals lengthen
    assert regular.sum() > adapted.sum()
    assert len(set(np.diff(np.flatnonzero(regular.numpy()))[1:])) <= 2  # regular firing
    # memory: the same late input evokes fewer spikes after an early burst
    burst = torch.zeros(60, 2, 1)
    burst[:10, 0] = 1.0
    burst[30:40] = 1.0
    with torch.no_grad():
        late = layer(burst)[30:, :, 0].sum(0)
    assert late[0] < late[1]


def test_paper_protocol_fixes_its_keys_and_refuses_a_third_value():
    p = default_params()
    assert p["protocol"] == "paper"
    q = dm.settings(p)
    assert (q["normalise"], q["sigma_end"], q["final_phase"], q["lr_delays"]) == ("sum", 0.23, "soft", 0.1)
    assert dm.settings(default_params("protocol=tuned"))["normalise"] == "peak"
    with pytest.raises(ConfigError, match="key 'sigma_end': protocol = 'paper'"):
        load_experiment_config("delay-motifs", ["sigma_end=0.5"])
    load_experiment_config("delay-motifs", ["sigma_end=0.5", "protocol=tuned"])
    with pytest.raises(ConfigError, match="baseline_hidden"):
        load_experiment_config("delay-motifs", ["baseline_hidden=-1"])


def test_paper_protocol_anneals_sigma_per_epoch_and_keeps_soft_kernels():
    p = default_params("n_inputs=8", "motif_size=3", "max_latency=4", "max_delay=6", "n_steps=14", "epochs=8",
                       "batch_size=10")
    rng = np.random.default_rng(0)
    model = dm.Detector(p, 2, True, rng)
    x = (torch.rand(14, 20, 8) < 0.1).float()
    seen = []
    dm.train(model, x, torch.zeros(20, dtype=torch.int64), p, rng, lambda: seen.append(model.layer.sigma))
    # 2 steps per epoch; the sigma of an epoch is constant, 3 -> 0.23 over the first 8 // 4 = 2 epochs
    assert seen[0] == seen[1] == 3.0 and seen[2] == seen[3] < 3.0
    assert seen[4] == pytest.approx(0.23) and seen[-1] == pytest.approx(0.23)
    assert model.layer.mode == "soft" and model.layer.normalise == "sum"


@pytest.mark.parametrize("readout", dm.READOUTS)
def test_readouts(readout):
    p = default_params("protocol=tuned", f"readout={readout}", "n_inputs=3", "motif_size=2", "distractors=0",
                       "max_latency=2", "max_delay=4", "n_steps=12", "tau_m_steps=2")
    model = dm.Detector(p, 2, "no_delays", np.random.default_rng(0))
    with torch.no_grad():
        model.layer.weight.copy_(torch.tensor([[0.6, 0.0, 0.0], [0.0, 0.0, 2.0]]))
    x = torch.zeros(12, 1, 3)
    x[5, 0, 0] = 1.0  # detector 0: 0.6 at step 5, below threshold 1; detector 1: silent
    scores, _ = model.logits(x)
    v = model.membrane(x)[:, 0, 0].detach()
    assert v[5] == pytest.approx(0.6) and v[7] == pytest.approx(0.6 * np.exp(-0.5) ** 2, rel=1e-5) and v[4] == 0
    if readout == "fired":  # nobody fired: every detector's logit 0, the "none" logit wins
        assert scores[0, 1:].tolist() == [0.0, 0.0] and model.predict(x).item() == 0
    elif readout == "max_membrane":
        assert scores[0, 1].item() == pytest.approx(0.6) and scores[0, 2].item() == 0.0
    else:  # probabilities of the 12 - 4 post-warm-up steps, summed
        assert scores.sum().item() == pytest.approx(8.0, rel=1e-5)
        assert scores[0, 1] > scores[0, 2]
    x[6, 0, 2] = 1.0  # detector 1 fires (2 > 1): predicted by every readout
    assert model.predict(x).item() == 2
