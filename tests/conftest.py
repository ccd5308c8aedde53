"""Shared test fixtures.

Thread settings belong to the application; for the test session they are made once,
here: one torch intra-op thread (which the fused training kernels follow too). The
tests issue many tiny tensor ops, and with 2 threads on a busy 2-core machine each op may
wait for the OpenMP pool (measured 15-35x slower: 16-35 s instead of ~1 s for one
450-step run). Test modules do not set threads themselves.
"""
import pytest
import torch


@pytest.fixture(scope="session", autouse=True)
def torch_threads_for_the_session():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture()
def torch_one_thread():
    """One torch intra-op thread for a test (the session default; kept for tests that
    change threads around it and for modules that name the fixture)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
