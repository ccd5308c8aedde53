"""Reading and writing data: file formats."""
from synaptica.io.idx import read_idx

__all__ = ["read_idx"]
