"""Shared test fixtures."""
import pytest
import torch


@pytest.fixture()
def torch_one_thread():
    """Run the torch path with one intra-op thread: it issues many tiny tensor ops per
    step, and with 2 threads on a busy 2-core machine each op may wait for the OpenMP
    pool (measured 15-35x slower: 16-35 s instead of ~1 s for one 450-step run)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
