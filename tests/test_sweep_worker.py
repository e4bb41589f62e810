"""One render of a sweep without Ray: started, stopped, resumed exactly, and left alone when
finished."""

import numpy as np
from PIL import Image
from tiny import tiny_settings

from pytti_nb.io.run_writer import RunWriter
from pytti_nb.sweep.worker import clear_unstarted, render_one

BASE = tiny_settings(
    smaller=True, drop=("learning_rate", "file_namespace"), display_every=0, seed=5
)


def pixels(path) -> np.ndarray:
    """A PNG's pixels."""
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def test_a_stopped_render_resumes_bit_identically_and_a_finished_one_is_left_alone(tmp_path):
    settings = {**BASE, "output_root": str(tmp_path)}
    whole = render_one({**settings, "file_namespace": "whole"}, tmp_path / "whole")
    assert whole["status"] == "done" and whole["frames"] == 3 and whole["video"]
    calls = iter(range(100))
    parts = tmp_path / "parts"
    first = render_one(
        {**settings, "file_namespace": "parts"}, parts, should_stop=lambda: next(calls) >= 5
    )
    assert first["status"] == "stopped" and first["video"] is None
    second = render_one({}, parts)  # the settings come from its checkpoint
    assert second["status"] == "done" and second["resumed_from_step"] == 6
    assert np.array_equal(pixels(second["last_frame"]), pixels(whole["last_frame"]))
    files = {p: p.stat().st_mtime_ns for p in parts.rglob("*") if p.is_file()}
    again = render_one({}, parts)
    assert again["status"] == "done" and again["resumed_from_step"] == 12
    assert {p: p.stat().st_mtime_ns for p in parts.rglob("*") if p.is_file()} == files


def test_a_render_killed_before_its_first_checkpoint_starts_afresh_in_its_folder(tmp_path):
    run = tmp_path / "run"
    writer = RunWriter(run, fps=1, overwrite=False)  # a render's files, with its record
    writer.write_settings("seed: 5\n")
    writer.write_save(1, np.zeros((8, 8, 3), np.uint8), {"step": 1})
    writer.release()  # killed here, before its first checkpoint
    clear_unstarted(run)
    assert not run.exists()  # nothing of its render: its files, record and folders
    settings = {**BASE, "output_root": str(tmp_path), "file_namespace": "run"}
    result = render_one(settings, run)
    assert result["status"] == "done" and result["last_frame"] == str(run / "frames/000003.png")


def test_a_failure_is_reported_not_raised(tmp_path):
    settings = {**BASE, "output_root": str(tmp_path), "file_namespace": "x", "perceptors": ["nope"]}
    result = render_one(settings, tmp_path / "x")
    assert result["status"] == "failed" and result["error_kind"] == "input"
    assert "nope" in result["error"]
