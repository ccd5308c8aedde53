"""Spike encoders: turn analogue inputs into spike trains ``(steps, batch, n)``.

* :func:`poisson_encode` — rate code, Bernoulli-per-step Poisson trains;
* :func:`latency_encode` — time-to-first-spike code, one spike at most per input;
* :func:`delta_encode` — send-on-delta code of a sampled signal, optional ON/OFF channels;
* :func:`spikes_to_events` — a spike tensor as ``(times_ms, ids, batch_ids)`` for
  :meth:`synaptica.engine.network.Network.add_spike_generator`.
"""
from synaptica.encoding.delta import delta_encode
from synaptica.encoding.events import spikes_to_events
from synaptica.encoding.latency import latency_encode, latency_steps
from synaptica.encoding.poisson import poisson_encode

__all__ = ["delta_encode", "latency_encode", "latency_steps", "poisson_encode", "spikes_to_events"]
