"""Encoders: Poisson statistics, latency ordering, send-on-delta counts, bad inputs."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from synaptica.encoding import delta_encode, latency_encode, latency_steps, poisson_encode, spikes_to_events


# -- Poisson -------------------------------------------------------------------------------
def test_poisson_shape_values_and_mean_rate():
    rates = torch.tensor([[0.0, 10.0, 50.0, 200.0], [100.0, 400.0, 1000.0, 5.0]], dtype=torch.float64)
    steps, dt = 20000, 1.0
    g = torch.Generator().manual_seed(1)
    spikes = poisson_encode(rates, steps, dt, generator=g)
    assert spikes.shape == (steps, 2, 4) and spikes.dtype == torch.float64
    assert set(torch.unique(spikes).tolist()) <= {0.0, 1.0}
    counts = spikes.sum(0).numpy()
    p = rates.numpy() * dt * 1e-3
    expected, sigma = steps * p, np.sqrt(steps * p * (1 - p))
    # binomial count: within 5 standard deviations (and exact at p = 0 and p = 1)
    assert np.all(np.abs(counts - expected) <= 5 * sigma + 1e-12), (counts, expected)
    assert counts[0, 0] == 0 and counts[1, 2] == steps
    # Bernoulli trains: count variance over 100-step windows ~ 100 p (1 - p) (Fano ~ 1 - p)
    windows = spikes[:, 0, 3].reshape(200, 100).sum(1).numpy()
    assert windows.var(ddof=1) == pytest.approx(100 * 0.2 * 0.8, rel=0.3)
    # no serial correlation between successive steps
    train = spikes[:, 1, 1].numpy()
    r = np.corrcoef(train[:-1], train[1:])[0, 1]
    assert abs(r) < 5 / np.sqrt(steps)


def test_poisson_generator_reproducible_and_entries_independent():
    rates = torch.full((3, 50), 100.0)
    a = poisson_encode(rates, 400, 0.5, generator=torch.Generator().manual_seed(7))
    b = poisson_encode(rates, 400, 0.5, generator=torch.Generator().manual_seed(7))
    c = poisson_encode(rates, 400, 0.5, generator=torch.Generator().manual_seed(8))
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert not torch.equal(a[:, 0], a[:, 1])  # batch entries are not copies
    assert a.dtype == torch.float32


@pytest.mark.parametrize("rates, message", [
    (torch.ones(5), r"expected shape \(batch, n\).*got shape \(5,\)"),
    (torch.ones(2, 3, 4), r"expected shape \(batch, n\).*got shape \(2, 3, 4\)"),
    (torch.tensor([[1.0, -2.0]]), r">= 0"),
    (torch.tensor([[1.0, float("nan")]]), r"finite"),
    (torch.tensor([[1.0, float("inf")]]), r"finite"),
    (torch.tensor([[2001.0]]), r"rate x dt exceeds one spike per step"),
])
def test_poisson_bad_inputs(rates, message):
    with pytest.raises(ValueError, match=message):
        poisson_encode(rates, 10, 0.5)


@pytest.mark.parametrize("steps, dt", [(0, 1.0), (-3, 1.0), (2.5, 1.0), (10, 0.0), (10, -1.0), (10, float("nan"))])
def test_poisson_bad_steps_or_dt(steps, dt):
    with pytest.raises(ValueError, match="steps|dt_ms"):
        poisson_encode(torch.ones(1, 2), steps, dt)


# -- latency -------------------------------------------------------------------------------
def test_latency_linear_mapping_single_spike_and_order():
    x = torch.tensor([[1.0, 0.5, 0.0, 0.9, 0.05], [0.3, 0.3, 0.7, 0.2, 1.0]], dtype=torch.float64)
    steps = 11
    out = latency_encode(x, steps, threshold=0.1)
    assert out.shape == (steps, 2, 5) and out.dtype == torch.float64
    counts = out.sum(0)
    # exactly one spike for x > threshold, none at or below it
    assert torch.equal(counts, (x > 0.1).to(out.dtype))
    first = torch.where(counts > 0, out.argmax(0), torch.tensor(-1))
    # t = (1 - x) * (steps - 1), rounded: 1.0 -> 0, 0.5 -> 5, 0.9 -> 1, 0.3 -> 7, 0.7 -> 3, 0.2 -> 8
    assert first.tolist() == [[0, 5, -1, 1, -1], [7, 7, 3, 8, 0]]
    assert torch.equal(first, latency_steps(x, steps, threshold=0.1))


def test_latency_stronger_inputs_spike_earlier_random():
    g = torch.Generator().manual_seed(3)
    x = torch.rand(4, 200, generator=g, dtype=torch.float64)
    for mode, kwargs in (("linear", {}), ("log", {"tau": 20.0, "threshold": 0.05})):
        k = latency_steps(x, 100, mode=mode, **kwargs)
        spikes = latency_encode(x, 100, mode=mode, **kwargs)
        assert torch.all(spikes.sum(0) <= 1)
        assert torch.equal(spikes.sum(0) > 0, k >= 0)
        for b in range(4):
            order = torch.argsort(x[b], descending=True)
            ks = k[b, order]
            fired = ks[ks >= 0]
            # monotone: a stronger input never spikes later; silent inputs are the weakest
            assert torch.all(fired[1:] >= fired[:-1])
            if (ks < 0).any():
                assert torch.all(ks[int((ks >= 0).sum()):] < 0)


def test_latency_log_mapping_rc_circuit():
    tau, theta, steps = 10.0, 0.2, 20
    x = torch.tensor([[1.0, 0.4, 0.25, 0.2001, 0.2, 0.0]])
    k = latency_steps(x, steps, mode="log", tau=tau, threshold=theta)
    # t = tau ln(x / (x - theta)), k = ceil(t): 2.23 -> 3, 6.93 -> 7, 16.09 -> 17,
    # 76.0 -> outside the 20-step window (dropped); x <= theta silent
    assert [math.ceil(tau * math.log(v / (v - theta))) for v in (1.0, 0.4, 0.25)] == [3, 7, 17]
    assert k.tolist() == [[3, 7, 17, -1, -1, -1]]
    out = latency_encode(x, steps, mode="log", tau=tau, threshold=theta)
    assert out.sum().item() == 3 and out[3, 0, 0] == 1 and out[7, 0, 1] == 1 and out[17, 0, 2] == 1


@pytest.mark.parametrize("x, kwargs, message", [
    (torch.ones(4), {}, r"expected shape \(batch, n\).*got shape \(4,\)"),
    (torch.tensor([[0.5, 1.5]]), {}, r"\[0, 1\]"),
    (torch.tensor([[-0.1, 0.5]]), {}, r"\[0, 1\]"),
    (torch.tensor([[float("nan")]]), {}, r"finite"),
    (torch.ones(1, 2), {"mode": "exp"}, r"mode"),
    (torch.ones(1, 2), {"threshold": 1.0}, r"threshold"),
    (torch.ones(1, 2), {"mode": "log", "threshold": 0.0}, r"threshold > 0"),
    (torch.ones(1, 2), {"mode": "log", "threshold": 0.1, "tau": 0.0}, r"tau"),
])
def test_latency_bad_inputs(x, kwargs, message):
    with pytest.raises(ValueError, match=message):
        latency_encode(x, 10, **kwargs)
    with pytest.raises(ValueError, match="steps"):
        latency_encode(torch.ones(1, 2) * 0.5, 0)


# -- delta ---------------------------------------------------------------------------------
def test_delta_ramp_hand_count():
    # 0.125 t (exact binary fractions), threshold 0.25: the change reaches 0.25 every
    # second step after the last event -> ON spikes at t = 2, 4, ..., 16 (8 spikes)
    t = torch.arange(17, dtype=torch.float64)
    signal = (0.125 * t).reshape(17, 1, 1)
    on = delta_encode(signal, 0.25)
    assert on.shape == (17, 1, 1)
    assert torch.nonzero(on[:, 0, 0]).ravel().tolist() == [2, 4, 6, 8, 10, 12, 14, 16]
    # falling ramp: only OFF events, all in the second half of the channels
    both = delta_encode(-signal, 0.25, off_spikes=True)
    assert both.shape == (17, 1, 2)
    assert both[:, 0, 0].sum() == 0
    assert torch.nonzero(both[:, 0, 1]).ravel().tolist() == [2, 4, 6, 8, 10, 12, 14, 16]


def _delta_reference(x: np.ndarray, threshold: float):
    """Plain loop over one channel: the send-on-delta rule of the module documentation."""
    on, off, ref = [], [], x[0]
    for t in range(1, len(x)):
        if x[t] - ref >= threshold:
            on.append(t)
            ref = x[t]
        elif x[t] - ref <= -threshold:
            off.append(t)
            ref = x[t]
    return on, off


def test_delta_sine_hand_count():
    # sin over 2.25 periods (1000 samples per period, ends at a crest), threshold 0.3:
    # events at levels ~ multiples of 0.3. Rise 0 -> 1: ON at .3 .6 .9 (3);
    # fall 1 -> -1: OFF at .6 .3 0 -.3 -.6 -.9 (6); rise: ON at -.6 ... .9 (6);
    # fall: OFF (6); final rise to the crest: ON (6). ON = 15, OFF = 12.
    # (Overshoot per event <= 2 pi / 1000; it never accumulates past the 0.1 margin
    # between the top level 0.9 and the crest 1.)
    n = 2251
    phase = 2 * np.pi * np.arange(n) / 1000
    x = np.stack([np.sin(phase), 2.0 * np.sin(phase)], axis=1)  # second: doubled amplitude
    signal = torch.tensor(x).reshape(n, 1, 2)
    both = delta_encode(signal, 0.3, off_spikes=True)
    assert both.shape == (n, 1, 4)
    on, off = both[:, 0, :2], both[:, 0, 2:]
    assert on[:, 0].sum().item() == 15 and off[:, 0].sum().item() == 12
    # amplitude 2: levels up to 1.8 -> rise 6, swings of 12 (4 swings) -> 6+12+12=30 ON, 24 OFF
    assert on[:, 1].sum().item() == 30 and off[:, 1].sum().item() == 24
    for ch in range(2):
        ref_on, ref_off = _delta_reference(x[:, ch], 0.3)
        assert torch.nonzero(on[:, ch]).ravel().tolist() == ref_on
        assert torch.nonzero(off[:, ch]).ravel().tolist() == ref_off
    # ON-only output equals the ON half (OFF events still move the reference)
    assert torch.equal(delta_encode(signal, 0.3), on.reshape(n, 1, 2))


def test_delta_big_jump_gives_one_event_and_no_spike_at_start():
    signal = torch.tensor([5.0, 5.0, 9.0, 9.0, 8.5, 7.9]).reshape(6, 1, 1)
    both = delta_encode(signal, 1.0, off_spikes=True)
    assert both[:, 0, 0].tolist() == [0, 0, 1, 0, 0, 0]  # +4 in one step: one ON event
    assert both[:, 0, 1].tolist() == [0, 0, 0, 0, 0, 1]  # 9 -> 7.9 only in the last step


@pytest.mark.parametrize("signal, threshold, message", [
    (torch.ones(5, 3), 0.1, r"expected shape \(steps, batch, n\).*got shape \(5, 3\)"),
    (torch.ones(2, 2, 2, 2), 0.1, r"expected shape \(steps, batch, n\).*got shape \(2, 2, 2, 2\)"),
    (torch.ones(3, 1, 1), 0.0, r"threshold must be a positive number"),
    (torch.ones(3, 1, 1), -1.0, r"threshold must be a positive number"),
    (torch.tensor([[[1.0]], [[float("nan")]]]), 0.1, r"finite"),
])
def test_delta_bad_inputs(signal, threshold, message):
    with pytest.raises(ValueError, match=message):
        delta_encode(signal, threshold)


# -- events ----------------------------------------------------------------------------------
def test_spikes_to_events_order_and_errors():
    spikes = torch.zeros(4, 2, 3)
    spikes[1, 1, 2] = spikes[1, 0, 1] = spikes[3, 0, 0] = spikes[0, 1, 0] = 1
    times, ids, batch = spikes_to_events(spikes, 0.5)
    assert times.tolist() == [0.0, 0.5, 0.5, 1.5]
    assert ids.tolist() == [0, 1, 2, 0] and batch.tolist() == [1, 0, 1, 0]
    assert times.dtype == np.float64 and ids.dtype == np.int64
    with pytest.raises(ValueError, match=r"expected shape \(steps, batch, n\).*got shape \(4, 2\)"):
        spikes_to_events(torch.zeros(4, 2), 0.5)
    with pytest.raises(ValueError, match="dt_ms"):
        spikes_to_events(spikes, 0.0)


def test_encoded_events_replay_in_a_network():
    """latency code -> events -> spike generator: the network emits them in the same steps."""
    from synaptica.engine.network import Network

    dt, steps = 0.1, 40
    x = torch.linspace(0.0, 1.0, 16).reshape(1, 16)
    spikes = latency_encode(x, steps, threshold=0.05)
    times, ids, batch = spikes_to_events(spikes, dt)
    net = Network(dt=dt, dtype=torch.float64)
    gen = net.add_spike_generator(16, times, ids)
    mon = net.monitor_spikes(gen)
    net.run(steps * dt)
    replay = np.zeros((steps, 1, 16))
    replay[mon.steps[: mon.count], mon.batch_ids, mon.neuron_ids] = 1.0
    assert np.array_equal(replay, spikes.numpy())
