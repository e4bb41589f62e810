"""The command line: outputs, exit codes, resume after a kill, settings from a PNG.

Renders run the command line in the test process (tests/inprocess.py), as `python -m pytti_nb`
would, without an interpreter start and a torch and open_clip import per run; what needs a
process of its own (SIGKILL, Ctrl-C) runs in one forked from a warm process (tests/forked.py),
and what an import loads in a fresh interpreter."""

import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from forked import Forked, run_forked
from inprocess import run_main
from PIL import Image
from waiting import wait_for

from pytti_nb.io.checkpoint import load_checkpoint
from pytti_nb.io.png_meta import read_png_metadata

pytestmark = pytest.mark.colab_stack

ROOT = Path(__file__).resolve().parent.parent


def cli(*args) -> subprocess.CompletedProcess:
    """Run the command line in this process, as `python -m pytti_nb ARGS` would."""
    code, stdout, stderr = run_main(*args)
    return subprocess.CompletedProcess(args, code, stdout, stderr)


def cli_process(tmp_path, *args) -> subprocess.CompletedProcess:
    """Run the command line to its end in a process of its own (forked: tests/forked.py)."""
    log = tmp_path / f"process-{len(list(tmp_path.glob('process-*.log')))}.log"
    return run_forked(args, output=log, cwd=ROOT)


def write_settings(tmp_path, settings, name="s.yaml"):
    """A settings file; its output_root is not used by render (renders pass --out)."""
    path = tmp_path / name
    path.write_text(yaml.safe_dump(settings))
    return path


def out(tmp_path):
    """The --out arguments that send renders to tmp_path/out."""
    return ["--out", str(tmp_path / "out")]


def pixels(path):
    return np.asarray(Image.open(path).convert("RGB"))


def test_render_writes_frames_video_settings_and_metadata(tmp_path, tiny):
    run = cli("render", str(write_settings(tmp_path, tiny)), "--quiet", *out(tmp_path))
    assert run.returncode == 0, run.stderr
    folder = tmp_path / "out" / "run"
    frames = sorted((folder / "frames").glob("*.png"))
    assert [f.name for f in frames] == ["000001.png", "000002.png", "000003.png"]
    assert (folder / "run.mp4").stat().st_size > 0
    saved = yaml.safe_load((folder / "settings.yaml").read_text())
    meta = read_png_metadata(frames[-1])
    assert meta["settings"] == saved and meta["seed"] == 1 and meta["step"] == 12
    assert {"torch", "open_clip", "pytti_nb"} <= set(meta["versions"])


def test_settings_loaded_from_a_png_reproduce_it(tmp_path, tiny):
    assert (
        cli("render", str(write_settings(tmp_path, tiny)), "--quiet", *out(tmp_path)).returncode
        == 0
    )
    first = tmp_path / "out" / "run" / "frames" / "000003.png"
    again = cli("render", str(first), "--set", "file_namespace=again", "--quiet", *out(tmp_path))
    assert again.returncode == 0, again.stderr
    assert np.array_equal(pixels(first), pixels(tmp_path / "out/again/frames/000003.png"))


def test_existing_run_folder_gets_a_suffix(tmp_path, tiny):
    path = write_settings(tmp_path, {**tiny, "steps_per_scene": 2, "save_every": 2})
    assert cli("render", str(path), "--quiet", *out(tmp_path)).returncode == 0
    assert cli("render", str(path), "--quiet", *out(tmp_path)).returncode == 0
    assert (tmp_path / "out" / "run(1)" / "frames" / "000001.png").exists()


ANIMATIONS = {
    "2D": {
        "animation_mode": "2D",
        "translate_x": "2*sin(t)",
        "rotate_2d": 3,
        "direct_stabilization_weight": 1,
        "semantic_stabilization_weight": 0.5,
    },
    "3D": {
        "animation_mode": "3D",
        "depth_model": "none",
        "translate_z_3d": 4,
        "rotate_3d": "[1, 0, 0, 0.02]",
        "edge_stabilization_weight": 1,
        "reset_lr_each_frame": True,
    },
}


@pytest.mark.parametrize("mode", ["2D", "3D"])
def test_resume_after_kill_mid_animation_matches_uninterrupted_run(tmp_path, tiny, mode):
    settings = {
        **tiny,
        **ANIMATIONS[mode],
        "steps_per_scene": 40,
        "steps_per_frame": 5,
        "pre_animation_steps": 3,
        "save_every": 6,  # not the frame length: saves land mid-frame (30 of frame 28 to 33)
        "display_every": 6,
    }
    # all three runs are processes of their own, as alike as the bits they must agree on
    whole = cli_process(
        tmp_path,
        "render",
        str(write_settings(tmp_path, {**settings, "file_namespace": "whole"})),
        "--quiet",
        *out(tmp_path),
    )
    assert whole.returncode == 0, whole.stderr
    killed_dir = tmp_path / "out" / "killed"
    proc = Forked(
        [
            "render",
            "--quiet",
            *out(tmp_path),
            write_settings(tmp_path, {**settings, "file_namespace": "killed"}, "k.yaml"),
        ],
        output=tmp_path / "killed.log",
        cwd=ROOT,
    )

    seen = set()  # the checkpoints already read: each save replaces the file (a new inode)

    def frozen_past_step_25():
        """Whether the render has checkpointed step 25 or later; if so it is left frozen
        (SIGSTOP while its atomically written checkpoint is read, so it cannot run on to
        the end meanwhile; killed frozen, it dies as a killed render does)."""
        try:
            saved = (killed_dir / "checkpoint.pt").stat()
        except FileNotFoundError:
            return False
        if (saved.st_ino, saved.st_mtime_ns) in seen:
            return False  # the render runs on unfrozen until its next save
        seen.add((saved.st_ino, saved.st_mtime_ns))
        os.kill(proc.pid, signal.SIGSTOP)
        if load_checkpoint(killed_dir)["step"] >= 25:
            return True
        os.kill(proc.pid, signal.SIGCONT)
        return False

    try:
        wait_for(frozen_past_step_25, "a checkpoint at step 25 or later", process=proc)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    step = load_checkpoint(killed_dir)["step"]
    assert 25 <= step < 40, "the run must be killed mid-way for this test to mean anything"
    assert not (killed_dir / "killed.mp4").exists()
    resumed = cli_process(tmp_path, "render", "--resume", str(killed_dir), "--quiet")
    assert resumed.returncode == 0, resumed.stderr
    a = load_checkpoint(tmp_path / "out" / "whole")
    b = load_checkpoint(killed_dir)
    assert a["step"] == b["step"] == 40
    for key in a["image"]:
        assert torch.equal(a["image"][key], b["image"][key])
    frames = sorted(p.name for p in (tmp_path / "out/whole/frames").glob("*.png"))
    assert len(frames) > 5 and frames == sorted(
        p.name for p in (killed_dir / "frames").glob("*.png")
    )
    for name in frames:
        assert np.array_equal(
            pixels(tmp_path / "out/whole/frames" / name), pixels(killed_dir / "frames" / name)
        )
    assert (killed_dir / "killed.mp4").exists()


def test_validate_exit_codes(tmp_path, tiny):
    ok = cli("validate", str(write_settings(tmp_path, tiny)))
    assert ok.returncode == 0 and "valid" in ok.stdout
    bad = cli(
        "validate",
        str(write_settings(tmp_path, {**tiny, "scenes": "cat:2:0.5:9", "widht": 3}, "bad.yaml")),
    )
    assert bad.returncode == 2
    assert "widht: unknown setting; did you mean 'width'?" in bad.stderr
    assert "cat:2:0.5:9" in bad.stderr and "Traceback" not in bad.stderr


def test_unwritable_output_exits_4_and_keeps_files(tmp_path, tiny):
    blocker = tmp_path / "file"
    blocker.write_text("keep me")
    run = cli("render", str(write_settings(tmp_path, tiny)), "--out", str(blocker))
    assert run.returncode == 4 and "Traceback" not in run.stderr
    assert blocker.read_text() == "keep me"


def test_missing_weights_exit_3_and_point_to_demo(tmp_path, tiny):
    settings = {**tiny, "perceptors": ["ViT-B-32@openai"], "models_cache_dir": str(tmp_path)}
    run = cli("render", str(write_settings(tmp_path, settings)), "--quiet", *out(tmp_path))
    assert run.returncode == 3, run.stderr
    assert "demo" in run.stderr and "Traceback" not in run.stderr
    assert not (tmp_path / "out" / "run").exists()  # models load before the run folder is made


def test_resume_refuses_extra_settings(tmp_path):
    run = cli("render", "x.yaml", "--resume", str(tmp_path))
    assert run.returncode == 2 and "--resume continues a run" in run.stderr


def test_ctrl_c_stops_after_the_step_and_saves(tmp_path, tiny):
    settings = {**tiny, "steps_per_scene": 2000, "save_every": 500, "display_every": 10}
    run_dir = tmp_path / "out" / "run"
    proc = Forked(
        ["render", *out(tmp_path), write_settings(tmp_path, settings)],
        output=tmp_path / "render.log",
        cwd=ROOT,
    )
    # The progress bar (on stderr) shows a loss once the first steps are done: interrupt then.
    wait_for(lambda: "loss=" in proc.text(), "a step's loss on the progress bar", process=proc)
    assert proc.poll() is None, "the render ended before it was interrupted: " + proc.text()
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=120) == 130, proc.text()
    step = load_checkpoint(run_dir)["step"]
    assert 0 < step < 2000
    # the stop saved a frame at the step it stopped on, so nothing rendered is lost
    frames = sorted((run_dir / "frames").glob("*.png"))
    assert read_png_metadata(frames[-1])["step"] == step


def test_a_2d_render_writes_frames_with_motion_a_video_and_a_gif(tmp_path, tiny):
    settings = {
        **tiny,
        **ANIMATIONS["2D"],
        "steps_per_scene": 12,
        "steps_per_frame": 3,
        "save_every": 3,
        "save_gif": True,
        "frames_per_second": 8,
    }
    run = cli("render", str(write_settings(tmp_path, settings)), "--quiet", *out(tmp_path))
    assert run.returncode == 0, run.stderr
    folder = tmp_path / "out" / "run"
    frames = sorted((folder / "frames").glob("*.png"))
    assert len(frames) == 4  # one per animation frame, the last one included
    meta = [read_png_metadata(f) for f in frames]
    assert [m["frame"] for m in meta] == [0, 1, 2, 3]
    # each frame records the motion that made it: translate_x = 2 sin(t), t = frame / 8
    for m in meta:
        assert m["motion"]["translate_x"] == pytest.approx(2 * np.sin(m["frame"] / 8))
        assert m["motion"]["rotate_2d"] == 3
    with Image.open(folder / "run.gif") as gif:
        assert gif.n_frames == 4 and gif.info["loop"] == 0
        assert abs(gif.info["duration"] - 125) <= 10  # GIF times are in hundredths of a second
    assert (folder / "run.mp4").stat().st_size > 0


def test_several_files_are_checked_first_then_rendered_in_turn(tmp_path, tiny):
    a = write_settings(tmp_path, {**tiny, "file_namespace": "a", "steps_per_scene": 4}, "a.yaml")
    b = write_settings(tmp_path, {**tiny, "file_namespace": "b", "steps_per_scene": 4}, "b.yaml")
    bad = write_settings(tmp_path, {**tiny, "file_namespace": "c", "widht": 3}, "bad.yaml")
    refused = cli("render", str(a), str(bad), "--quiet", *out(tmp_path))
    assert refused.returncode == 2 and "bad.yaml: widht: unknown setting" in refused.stderr
    assert not (tmp_path / "out").exists()  # nothing rendered before every file was checked
    both = cli("render", str(a), str(b), "--quiet", *out(tmp_path))
    assert both.returncode == 0, both.stderr
    for name in ("a", "b"):
        assert len(list((tmp_path / "out" / name / "frames").glob("*.png"))) == 1


def test_resume_of_an_output_root_names_the_run_folder_to_resume(tmp_path, capsys):
    from pytti_nb.cli import main

    (tmp_path / "default").mkdir()
    (tmp_path / "default" / "checkpoint.pt").write_bytes(b"")
    assert main(["render", "--resume", str(tmp_path)]) == 4
    err = capsys.readouterr().err
    assert f"--resume '{tmp_path / 'default'}'" in err and "ROOT/<file_namespace>" in err
    (tmp_path / "nested" / "run(1)").mkdir(parents=True)  # file_namespace 'nested/run'
    (tmp_path / "nested" / "run(1)" / "checkpoint.pt").write_bytes(b"")
    assert main(["render", "--resume", str(tmp_path)]) == 4
    err = capsys.readouterr().err
    assert "holds 2 of them" in err and f"'{tmp_path / 'nested' / 'run(1)'}'" in err
    assert main(["render", "--resume", str(tmp_path / "empty")]) == 4  # as before: no checkpoint
    assert "no checkpoint in" in capsys.readouterr().err


def test_validate_imports_no_open_clip_when_no_perceptor_needs_its_registry(tmp_path):
    check = (
        "import sys; from pytti_nb.cli import main; code = main(['validate', 'examples/demo.yaml']);"
        " assert code == 0 and 'open_clip' not in sys.modules, sorted(sys.modules)"
    )
    run = subprocess.run(
        [sys.executable, "-c", check], capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    assert run.returncode == 0, run.stderr
    assert "examples/demo.yaml: valid" in run.stdout
