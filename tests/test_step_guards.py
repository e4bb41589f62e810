"""Faults inside a step: out of memory is retried with finer micro-batches, and steps with
non-finite values are not applied; both end in the image a healthy run makes."""

import numpy as np
import pytest
import torch

from pytti_nb.config.plan import plan_run
from pytti_nb.config.settings import from_dict
from pytti_nb.engine.guard import NON_FINITE_LIMIT, finer_split, is_out_of_memory
from pytti_nb.engine.render import snapshots
from pytti_nb.engine.session import Session
from pytti_nb.errors import RenderHalted
from pytti_nb.models import ModelCache
from pytti_nb.run import steer

pytestmark = pytest.mark.numerics


@pytest.fixture(scope="module")
def models():
    return ModelCache()


def settings(tiny, **changes):
    """Tiny settings whose 8 cutouts can be split in 2, 4 and 8 micro-batches, four steps long."""
    return from_dict({**tiny, "cutouts": 8, "steps_per_scene": 4, **changes})


def nan_settings(tiny, **changes):
    """Tiny settings for the non-finite steps: 2 cutouts (the guard is the same for any)."""
    return settings(tiny, cutouts=2, **changes)


class MemoryLimit:
    """Makes the perceptor run out of memory on batches larger than `most` cutouts."""

    def __init__(self, perceptor, most):
        self.perceptor, self.most, self.calls = perceptor, most, []
        self.encode = perceptor.encode_image

    def __enter__(self):
        def encode(images):
            self.calls.append(len(images))
            if len(images) > self.most:
                raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
            return self.encode(images)

        self.perceptor.encode_image = encode
        return self

    def __exit__(self, *exc):
        del self.perceptor.encode_image


def test_the_next_split_at_least_doubles_and_divides_the_cutouts():
    assert [finer_split(8, k) for k in (1, 2, 4, 8)] == [2, 4, 8, None]
    assert finer_split(12, 4) == 12 and finer_split(6, 2) == 6 and finer_split(9, 1) == 3
    assert is_out_of_memory(RuntimeError("MPS backend out of memory (MPS allocated: 1 GB)"))
    assert not is_out_of_memory(RuntimeError("shape mismatch"))


def test_out_of_memory_splits_the_cutouts_and_ends_as_a_run_started_split(tiny, models):
    healthy = list(
        snapshots(Session(plan_run(settings(tiny, gradient_accumulation_steps=4)), models))
    )
    r = Session(plan_run(settings(tiny)), models)
    with MemoryLimit(r.perceptors[0], most=2) as limit:
        snaps = list(snapshots(r))
    assert limit.calls[:3] == [8, 4, 2]  # 8 failed, then 4 failed, then batches of 2 fit
    assert r.settings.gradient_accumulation_steps == 4
    assert any("gradient_accumulation_steps raised from 1 to 2" in n for n in r.notes)
    assert np.array_equal(snaps[-1].image, healthy[-1].image)  # nothing lost, to the bit


def test_a_live_edit_after_an_out_of_memory_split_keeps_the_split(tiny, models):
    r = Session(plan_run(settings(tiny)), models)
    with MemoryLimit(r.perceptors[0], most=4) as limit:
        snaps = snapshots(r)
        next(snaps)
        assert r.settings.gradient_accumulation_steps == 2
        # the studio's panel still shows 1: its next edit (a new prompt) must not undo the split
        steer(r, settings(tiny, scenes="a blue square"))
        list(snaps)
    assert r.settings.scenes == "a blue square" and r.settings.gradient_accumulation_steps == 2
    assert limit.calls.count(8) == 1  # ran out of memory once, never again after the edit
    assert sum("out of device memory" in n for n in r.notes) == 1


def test_out_of_memory_at_one_cutout_per_batch_halts_with_the_state_intact(tiny, models):
    r = Session(plan_run(settings(tiny)), models)
    list(snapshots(r, should_stop=lambda: r.step >= 3))
    before = r.state_dict()
    with MemoryLimit(r.perceptors[0], most=0), pytest.raises(RenderHalted) as e:
        list(snapshots(r))
    assert "one cutout per perceptor batch" in str(e.value) and "lower width/height" in str(e.value)
    assert r.step == 3 and torch.equal(r.state_dict()["image"]["pixels"], before["image"]["pixels"])


class PoisonedStep:
    """Makes the smoothing loss NaN at the given steps (0-based)."""

    def __init__(self, session, steps):
        self.term = session.term("smoothing")
        self.session, self.steps = session, set(steps)
        self.loss = self.term.loss

    def __enter__(self):
        def loss(image, ctx):
            value = self.loss(image, ctx)
            return value * float("nan") if self.session.step in self.steps else value

        self.term.loss = loss
        return self

    def __exit__(self, *exc):
        del self.term.loss


def test_a_step_with_a_nan_leaves_the_image_unchanged_and_the_run_goes_on(tiny, models):
    r = Session(
        plan_run(nan_settings(tiny, display_every=1, save_every=0, steps_per_scene=6)), models
    )
    with PoisonedStep(r, steps={3}):
        snaps = list(snapshots(r))
    assert np.array_equal(snaps[3].image, snaps[2].image)  # step 4 was not applied
    assert not np.array_equal(snaps[4].image, snaps[3].image)  # and the run went on
    assert np.isnan(snaps[3].losses["total"]) and snaps[-1].step == 6
    assert any("1 step(s) gave non-finite values" in n for n in r.notes)


def test_steps_that_keep_failing_halt_the_run_naming_the_loss(tiny, models):
    r = Session(plan_run(nan_settings(tiny, steps_per_scene=12)), models)
    with PoisonedStep(r, steps=range(2, 12)), pytest.raises(RenderHalted) as e:
        list(snapshots(r))
    assert f"{NON_FINITE_LIMIT} steps in a row" in str(e.value) and "'smoothing'" in str(e.value)
    assert r.step == 2 + NON_FINITE_LIMIT
    image = r.image.decode()
    assert torch.isfinite(image).all()


def test_a_halted_run_keeps_its_checkpoint_and_a_finished_one_records_its_cost(
    tiny, models, tmp_path
):
    import json

    from pytti_nb.io.checkpoint import load_checkpoint
    from pytti_nb.run import make_session, prepare_run, run_snapshots, run_to_completion

    job = prepare_run(
        settings=nan_settings(tiny, steps_per_scene=12, output_root=str(tmp_path / "a"))
    )
    r = make_session(job, models)
    with PoisonedStep(r, steps=range(5, 12)), pytest.raises(RenderHalted):
        list(run_snapshots(job, session=r))
    saved = load_checkpoint(job.run_dir)
    assert saved["step"] == 5 + NON_FINITE_LIMIT and saved["guard"]["run"] == NON_FINITE_LIMIT
    done = prepare_run(settings=nan_settings(tiny, output_root=str(tmp_path / "b")))
    result = run_to_completion(done, models=models, progress=False)
    cost = json.loads((done.run_dir / "cost.json").read_text())
    assert cost["seconds"] > 0 and cost["estimate"]["steps"] == 4
    assert any(n.startswith("took ") and "estimate: about" in n for n in result.notes)


def test_a_probe_that_cannot_fit_leaves_no_run_folder_and_no_lock(tiny, models, tmp_path):
    from pytti_nb.run import make_session, prepare_run, probe_cost

    job = prepare_run(settings=settings(tiny, output_root=str(tmp_path)), models=models)
    r = make_session(job, models)
    with MemoryLimit(r.perceptors[0], most=0), pytest.raises(RenderHalted, match="lower width"):
        probe_cost(job, r)
    assert not job.run_dir.exists()  # nothing to resume from: taken back whole
    again = prepare_run(settings=settings(tiny, output_root=str(tmp_path)), models=models)
    assert again.run_dir == job.run_dir  # the folder was free again, not run(1)
    again.writer.release()


def _state(r) -> dict:
    """Everything a step may change: parameters, buffers and the optimiser's moments."""
    out = {f"image.{k}": v.clone() for k, v in r.image.state_dict().items()}
    for i, state in enumerate(r.optimizer.state.values()):
        out |= {f"opt{i}.{k}": v.clone() for k, v in state.items() if torch.is_tensor(v)}
    return out


@pytest.mark.parametrize("sync_free", [False, True], ids=["read-the-flag", "undo-on-device"])
@pytest.mark.parametrize(
    "model", ["Unlimited Palette", "Limited Palette", "VQGAN", "FFT", "Pyramid"]
)
def test_a_skipped_step_changes_nothing_it_would_have(tiny, models, tiny_vqgan, sync_free, model):
    changes = {"image_model": model, "display_every": 1, "save_every": 0}
    if model == "VQGAN":
        changes["vqgan_model"] = str(tiny_vqgan)
    r = Session(plan_run(nan_settings(tiny, **changes, steps_per_scene=5)), models)
    r.guard.sync_free = sync_free  # CUDA's path (every step undone where the flag says), on the CPU
    states = []
    with PoisonedStep(r, steps={3}):
        for _ in snapshots(r):
            states.append(_state(r))
    before, skipped, after = states[2], states[3], states[4]
    assert skipped.keys() == before.keys()
    for key in before:  # the poisoned step left every tensor exactly as it was
        assert torch.equal(skipped[key], before[key]), key
    assert any(not torch.equal(after[k], skipped[k]) for k in before)  # the next step applied
