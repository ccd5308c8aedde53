"""Reading and writing data: file formats (NumPy only; h5py and pynwb load when used)."""
from synaptica.io.idx import read_idx
from synaptica.io.spikes import SpikeFileError, load_record, save_record, save_spikes

__all__ = ["SpikeFileError", "load_record", "read_idx", "save_record", "save_spikes"]
