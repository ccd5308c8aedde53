"""Trainer follows the model's dtype (and device): float32 and float64 models train, checkpoints
keep the dtype and resume exactly, mixed models and other-dtype checkpoints are refused."""
import numpy as np
import pytest
import torch

from synaptica.engine.errors import CheckpointError
from synaptica.training import SpikingMLP, Trainer
from synaptica.training.trainer import model_dtype_device


def _data():
    rng = np.random.default_rng(1)
    return rng.random((40, 16)), rng.integers(0, 4, 40)


def _trainer(dtype, **kw):
    torch.manual_seed(0)
    return Trainer(SpikingMLP([16, 12, 4]).to(dtype), lr=1e-2, n_steps=6, batch_size=16, seed=2,
                   checkpoint_every=1, **kw)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_model_of_either_dtype_trains_in_its_dtype(dtype):
    trainer = _trainer(dtype)
    before = [p.detach().clone() for p in trainer.model.parameters()]
    trainer.fit(*_data(), epochs=1)
    assert all(p.dtype == dtype for p in trainer.model.parameters())
    assert any((p.detach() - b).abs().max() > 0 for p, b in zip(trainer.model.parameters(), before))
    assert all(np.isfinite(h["loss"]) for h in trainer.history)
    assert trainer.predict_counts(_data()[0]).dtype == dtype
    # train_step converts a float32 batch to the model's dtype
    loss, counts = trainer.train_step(torch.zeros(6, 4, 16), torch.zeros(4, dtype=torch.long))
    assert counts.dtype == dtype and np.isfinite(loss)


def test_model_converted_after_the_trainer_was_made_is_followed():
    trainer = _trainer(torch.float32)
    trainer.model.double()
    trainer.fit(*_data(), epochs=1)
    assert all(s["exp_avg"].dtype == torch.float64 for s in trainer.optimizer.state.values())


def test_float64_checkpoint_resumes_exactly_and_keeps_its_dtype(tmp_path):
    x, y = _data()
    whole = _trainer(torch.float64).fit(x, y, epochs=2)
    path = tmp_path / "run.npz"
    _trainer(torch.float64).fit(x, y, epochs=1, checkpoint=path)
    saved = np.load(path)
    assert saved["model/layers.0.linear.weight"].dtype == np.float64
    assert saved["optimizer/0/exp_avg"].dtype == np.float64
    resumed = _trainer(torch.float64).fit(x, y, epochs=2, checkpoint=path)
    for a, b in zip(whole.model.state_dict().values(), resumed.model.state_dict().values()):
        assert torch.equal(a, b)
    assert [h["loss"] for h in whole.history] == [h["loss"] for h in resumed.history]
    with pytest.raises(CheckpointError, match="float64, float32 is needed"):
        _trainer(torch.float32).fit(x, y, epochs=2, checkpoint=path)


def test_mixed_dtype_model_is_refused_naming_the_tensors():
    model = SpikingMLP([16, 12, 4])
    model.layers[1].double()
    with pytest.raises(ValueError, match=r"mixes dtypes .*torch.float32: layers.0.*torch.float64: layers.1"):
        Trainer(model)
    assert model_dtype_device(SpikingMLP([4, 2]).double()) == (torch.float64, torch.device("cpu"))
    trainer = Trainer(SpikingMLP([16, 12, 4]))
    trainer.model.layers[0].linear.double()
    with pytest.raises(ValueError, match="mixes dtypes"):
        trainer.fit(*_data())
