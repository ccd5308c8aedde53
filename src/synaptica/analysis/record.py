"""Alias of :mod:`synaptica.record`, where :class:`SpikeRecord` lives (kept for old imports).

The spike record is core data, not an analysis: :mod:`synaptica.io` reads and writes it
without importing the analyses. Import it as ``from synaptica.record import SpikeRecord``
(or ``from synaptica.analysis import SpikeRecord``).
"""
from synaptica.record import SpikeRecord, SpikeRecordError

__all__ = ["SpikeRecord", "SpikeRecordError"]
