"""Data-parallel training (Trainer(distributed=True)) against one process on the combined batch.

Two CPU processes (torchrun, gloo, one thread each) train a float64 SpikingMLP; their
weights must equal those of one process trained on the same batches, and so must a run
resumed from a checkpoint written by rank 0 (read back by both ranks, and by one process).
"""
import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from synaptica.training import SpikingMLP, Trainer
from synaptica.training.distributed import shard

SIZES, N_STEPS, BATCH, LR, SEED = [12, 16, 4], 6, 10, 2e-2, 3

WORKER = textwrap.dedent("""
    import json
    import sys
    import numpy as np
    import torch
    torch.set_num_threads(1)
    from synaptica.training import SpikingMLP, Trainer
    from synaptica.training.ddp import init_distributed
    sys.path.insert(0, {tests!r})
    from test_distributed import data, SIZES, N_STEPS, BATCH, LR, SEED

    out = sys.argv[1]
    rank, world = init_distributed("gloo")
    x, y = data()

    def trainer(model_seed, mode):
        torch.manual_seed(model_seed + rank)  # ranks build different weights: rank 0's are broadcast
        model = SpikingMLP(SIZES).double()
        return Trainer(model, lr=LR, n_steps=N_STEPS, batch_size=BATCH, seed=SEED, mode=mode,
                       distributed=True)

    def weights(t):
        return {{k: v.numpy() for k, v in t.model.state_dict().items()}}

    mode = sys.argv[2]
    first = trainer(0, mode).fit(x, y, epochs=2)
    np.savez(f"{{out}}/rank{{rank}}.npz", **weights(first), history=np.array(json.dumps(first.history)))
    # checkpointed: stop after one epoch, then a fresh trainer (other weights) resumes to two
    trainer(0, mode).fit(x, y, epochs=1, checkpoint=f"{{out}}/ckpt.npz")
    resumed = trainer(100, mode).fit(x, y, epochs=2, checkpoint=f"{{out}}/ckpt.npz")
    np.savez(f"{{out}}/resumed{{rank}}.npz", **weights(resumed))
""")


def data():
    """25 samples: batches of 10, 10 and 5 (shards of 5+5 and 2+3)."""
    rng = np.random.default_rng(0)
    return rng.random((25, SIZES[0])), rng.integers(0, SIZES[-1], 25)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _single(epochs: int, mode: str = "bptt", checkpoint=None) -> Trainer:
    torch.manual_seed(0)
    model = SpikingMLP(SIZES).double()
    x, y = data()
    return Trainer(model, lr=LR, n_steps=N_STEPS, batch_size=BATCH, seed=SEED, mode=mode).fit(
        x, y, epochs=epochs, checkpoint=checkpoint)


def _launch(tmp_path, mode: str) -> None:
    script = tmp_path / "worker.py"
    script.write_text(WORKER.format(tests=str(Path(__file__).parent)))
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
               "--master_addr", "127.0.0.1", "--master_port", str(_free_port()), str(script), str(tmp_path), mode]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(command, capture_output=True, text=True, timeout=240, env=env)
    assert result.returncode == 0, result.stderr[-3000:]


@pytest.mark.parametrize("mode", ["bptt", "online"])
def test_two_processes_take_the_steps_of_one_on_the_combined_batch(tmp_path, mode):
    _launch(tmp_path, mode)
    single = _single(2, mode)
    expected = {k: v.numpy() for k, v in single.model.state_dict().items()}
    start = {k: v.numpy() for k, v in _single(0, mode).model.state_dict().items()}
    ranks = [np.load(tmp_path / f"rank{r}.npz") for r in (0, 1)]
    for key, value in expected.items():
        assert np.abs(value - start[key]).max() > 1e-3 or "fixed" in key  # training moved the weights
        for rank in ranks:
            np.testing.assert_allclose(rank[key], value, rtol=0, atol=1e-9, err_msg=key)
        assert np.array_equal(ranks[0][key], ranks[1][key]), key  # ranks stay identical
    # the history is the whole batch's: mean loss and accuracy as in one process
    history = json.loads(str(ranks[0]["history"]))
    for entry, own in zip(history, single.history):
        assert entry["loss"] == pytest.approx(own["loss"], rel=1e-9)
        assert entry["train_accuracy"] == own["train_accuracy"]
    # resumed from rank 0's checkpoint (after epoch 1), on both ranks: the same weights
    for r in (0, 1):
        resumed = np.load(tmp_path / f"resumed{r}.npz")
        for key, value in expected.items():
            np.testing.assert_allclose(resumed[key], value, rtol=0, atol=1e-9, err_msg=key)
    # the two-process checkpoint also resumes in one process
    assert (tmp_path / "ckpt.npz").exists() and not list(tmp_path.glob("*.tmp.npz"))
    if mode == "bptt":
        resumed_alone = _single(2, mode, checkpoint=tmp_path / "ckpt.npz")
        for key, value in expected.items():
            np.testing.assert_allclose(resumed_alone.model.state_dict()[key].numpy(), value, rtol=0, atol=1e-9)


def test_shards_cover_the_batch_once():
    for n in (0, 1, 5, 10, 11):
        for world in (1, 2, 3):
            parts = [range(n)[shard(n, r, world)] for r in range(world)]
            assert [i for p in parts for i in p] == list(range(n))
            assert max(map(len, parts)) - min(map(len, parts)) <= 1


def test_distributed_without_a_process_group_or_with_rate_bounds_is_refused():
    with pytest.raises(RuntimeError, match="init_distributed"):
        Trainer(SpikingMLP(SIZES), distributed=True)
    with pytest.raises(ValueError, match="rate_bounds"):
        Trainer(SpikingMLP(SIZES), rate_bounds=(0.0, 0.5, 1.0), distributed=True)
