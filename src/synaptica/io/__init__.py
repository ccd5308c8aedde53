"""Reading and writing data: file formats."""
from synaptica.io.idx import read_idx
from synaptica.io.spikes import SpikeFileError, load_record, save_record

__all__ = ["SpikeFileError", "load_record", "read_idx", "save_record"]
