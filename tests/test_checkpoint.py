"""Tests for checkpoint save/load: exact resume, atomicity and clear errors on bad files."""

import os
import pickle

import numpy as np
import pytest
import torch

from pytti_nb.errors import OutputError
from pytti_nb.io import atomic
from pytti_nb.io.atomic import atomic_torch_save
from pytti_nb.io.checkpoint import CHECKPOINT_NAME, has_checkpoint, load_checkpoint, save_checkpoint


def tiny_run(seed=0):
    """A tiny model, Adam optimiser and generator, one step in."""
    gen = torch.Generator().manual_seed(seed)
    model = torch.nn.Linear(4, 3)
    opt = torch.optim.Adam(model.parameters(), lr=0.1)
    step(model, opt, gen)
    return model, opt, gen


def step(model, opt, gen):
    """One optimisation step on random data drawn from `gen`."""
    opt.zero_grad()
    model(torch.randn(5, 4, generator=gen)).pow(2).sum().backward()
    opt.step()


def resume_state(model, opt, gen):
    """The kind of state the engine checkpoints."""
    return {
        "settings": {"scenes": "a cat | é", "zoom": [1.0, 2.5], "stop": float("-inf")},
        "seed": 7,
        "step": 1,
        "frame": 0,
        "scene": 0,
        "rng": gen.get_state(),
        "optimizer": opt.state_dict(),
        "image_model": model.state_dict(),
        "versions": {"torch": str(torch.__version__)},
    }


def test_round_trip_resumes_exactly(tmp_path):
    model, opt, gen = tiny_run()
    assert not has_checkpoint(tmp_path)
    assert save_checkpoint(tmp_path, resume_state(model, opt, gen)) == tmp_path / CHECKPOINT_NAME
    assert has_checkpoint(tmp_path)
    step(model, opt, gen)  # the uninterrupted run continues

    state = load_checkpoint(tmp_path)
    assert state["settings"] == {"scenes": "a cat | é", "zoom": [1.0, 2.5], "stop": float("-inf")}
    assert (state["seed"], state["step"], state["frame"], state["scene"]) == (7, 1, 0, 0)
    model2 = torch.nn.Linear(4, 3)
    model2.load_state_dict(state["image_model"])
    opt2 = torch.optim.Adam(model2.parameters(), lr=0.1)
    opt2.load_state_dict(state["optimizer"])
    gen2 = torch.Generator()
    gen2.set_state(state["rng"])
    step(model2, opt2, gen2)  # the resumed run makes the same step
    for a, b in zip(model.parameters(), model2.parameters(), strict=True):
        assert torch.equal(a, b)
    assert torch.equal(gen.get_state(), gen2.get_state())


def test_missing_checkpoint_message(tmp_path):
    with pytest.raises(OutputError, match="no checkpoint in .*save_every > 0"):
        load_checkpoint(tmp_path)


@pytest.mark.parametrize("cut", [0, 11, 200, -10])
def test_corrupt_checkpoint_is_output_error(tmp_path, cut):
    path = save_checkpoint(tmp_path, {"w": torch.arange(100.0)})
    data = path.read_bytes()
    path.write_bytes(data[:cut] if cut else b"not a checkpoint at all")
    with pytest.raises(OutputError, match="is corrupt or not a pytti_nb checkpoint"):
        load_checkpoint(tmp_path)


def test_foreign_and_newer_files_rejected(tmp_path):
    torch.save({"w": torch.zeros(2)}, tmp_path / CHECKPOINT_NAME)
    with pytest.raises(OutputError, match="not a pytti_nb checkpoint"):
        load_checkpoint(tmp_path)
    torch.save({"pytti_nb_checkpoint": 99, "state": {}}, tmp_path / CHECKPOINT_NAME)
    with pytest.raises(OutputError, match="format 99, newer"):
        load_checkpoint(tmp_path)


class Payload:
    """A pickle that runs os.mkdir when unpickled without weights_only."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (os.mkdir, (self.path,))


def test_tampered_checkpoint_runs_no_code(tmp_path):
    marker = tmp_path / "pwned"
    tampered = {"pytti_nb_checkpoint": 1, "state": {"x": Payload(marker)}}
    torch.save(tampered, tmp_path / CHECKPOINT_NAME)
    with pytest.raises(OutputError, match="corrupt or not a pytti_nb checkpoint"):
        load_checkpoint(tmp_path)
    assert not marker.exists()


UNSAFE = [np.zeros(2), np.float64(1.0), torch.__version__, {1.5: 1}, {"a": [1, object()]}, [1]]


@pytest.mark.parametrize("bad", UNSAFE)
def test_unsafe_state_rejected_before_writing(tmp_path, bad):
    state = bad if isinstance(bad, list) else {"ok": torch.zeros(1), "bad": bad}
    with pytest.raises(TypeError, match="weights_only"):
        save_checkpoint(tmp_path, state)
    assert list(tmp_path.iterdir()) == []


def test_failed_save_keeps_previous_checkpoint(tmp_path, monkeypatch):
    save_checkpoint(tmp_path, {"step": 1})
    # Pickling fails half way through (after the tensor bytes were written to the temp file).
    with pytest.raises((AttributeError, pickle.PicklingError)):
        atomic_torch_save({"w": torch.zeros(10_000), "f": lambda: 0}, tmp_path / CHECKPOINT_NAME)

    def crash(*args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(atomic.os, "replace", crash)
    with pytest.raises(OutputError, match="cannot write checkpoint .*No space left"):
        save_checkpoint(tmp_path, {"step": 2})
    assert load_checkpoint(tmp_path) == {"step": 1}
    assert [p.name for p in tmp_path.iterdir()] == [CHECKPOINT_NAME]
