"""Command-line interface: ``synaptica list`` and ``synaptica run`` (see :mod:`.main`)."""
