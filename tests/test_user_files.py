"""Files pytti_nb did not write are never replaced or deleted: a run folder's record says what
its render wrote, a resume takes only its own folder's checkpoint and settings, and commands
and the studio write a file the user names only as a new file (or with their consent)."""

import json
import os
from pathlib import Path

import numpy as np
import pytest
import yaml
from inprocess import run_main as cli
from tiny import tiny_settings

from pytti_nb.errors import OutputError
from pytti_nb.io.checkpoint import load_checkpoint, save_checkpoint
from pytti_nb.io.png_meta import png_bytes
from pytti_nb.io.run_folder import claim_run_dir, is_run_folder
from pytti_nb.io.run_record import RECORD_NAME, RunRecord
from pytti_nb.io.run_writer import RunWriter

pytestmark = pytest.mark.usefixtures("offline", "perceptor_check_imported")
TINY = tiny_settings(smaller=True, steps_per_scene=4, save_every=2)


def image(value=0):
    """A small solid image."""
    return np.full((6, 6, 3), value, np.uint8)


def files_under(folder: Path) -> dict:
    """Every file under folder (relative name: bytes)."""
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()
    }


def written_run(run_dir: Path) -> RunWriter:
    """A run folder as a render leaves it: settings, two frames, a checkpoint, the video."""
    writer = RunWriter(run_dir, fps=10, overwrite=False)
    writer.write_settings("seed: 1\n")
    for index in range(2):
        writer.write_save(index, image(index * 90), {"frame": index})
    (run_dir / "checkpoint.pt").write_bytes(b"state")
    writer.recorded(run_dir / "checkpoint.pt")
    writer.finish()
    return writer


def reused(root: Path) -> tuple[str, list]:
    """The folder name an allow_overwrite render of 'run' claims, and its notes."""
    run_dir, lock, notes = claim_run_dir(root, "run", True)
    lock.release()
    return run_dir.name, notes


# --- the record of a run folder ------------------------------------------------------------


def test_a_folder_of_the_renders_own_files_is_reused_and_emptied(tmp_path):
    old = written_run(tmp_path / "run")
    os.utime(tmp_path / "run" / "settings.yaml", ns=(1, 1))  # the time alone changed: a copy
    assert is_run_folder(tmp_path / "run")
    name, notes = reused(tmp_path)
    assert (name, notes) == ("run", [])
    new = RunWriter(tmp_path / "run", fps=10, overwrite=True)
    new.release()
    assert files_under(tmp_path / "run") == {}  # a new record begins with the first write
    (tmp_path / "run" / "frames").rmdir()  # as a sweep clears a render killed early
    assert claim_run_dir(tmp_path, "run", False)[0].name == "run"  # free again
    assert new.run_id != old.run_id


@pytest.mark.parametrize(
    "change",
    [
        "hand-written frames/000002.png",
        "edited frame",
        "notes.txt",
        "a user's checkpoint.pt",
        "edited settings.yaml",
        "a folder of the user's",
        "a deleted record",
    ],
)
def test_a_file_the_render_did_not_write_keeps_the_folder_from_reuse(tmp_path, change):
    run = tmp_path / "run"
    written_run(run)
    if change == "hand-written frames/000002.png":
        (run / "frames" / "000002.png").write_bytes(png_bytes(image(5), {}))
    elif change == "edited frame":
        (run / "frames" / "000001.png").write_bytes(png_bytes(image(7), {"frame": 1}))
    elif change == "notes.txt":
        (run / "notes.txt").write_text("mine")
    elif change == "a user's checkpoint.pt":
        (run / "checkpoint.pt").write_bytes(b"other")  # the same size as the render's
    elif change == "edited settings.yaml":
        (run / "settings.yaml").write_text("seed: 2\n")
    elif change == "a folder of the user's":
        (run / "frames" / "best").mkdir()
    else:
        (run / RECORD_NAME).unlink()
    before = files_under(run)
    name, notes = reused(tmp_path)
    assert name == "run(1)" and "does not reuse it (nothing there is deleted)" in notes[0]
    with pytest.raises(OutputError, match="nothing was deleted"):
        RunWriter(run, fps=10, overwrite=True)
    assert files_under(run) == before


@pytest.mark.parametrize("theirs", ["settings.yaml", "frames/000001.png", "checkpoint.pt"])
def test_a_folder_from_before_records_or_by_hand_is_not_reused(tmp_path, theirs):
    (tmp_path / "run" / "frames").mkdir(parents=True)
    (tmp_path / "run" / theirs).write_bytes(b"mine")
    name, notes = reused(tmp_path)
    assert name == "run(1)" and "no record of the files pytti_nb wrote" in notes[0]
    assert (tmp_path / "run" / theirs).read_bytes() == b"mine"


def test_the_record_grows_by_one_line_per_file_and_survives_a_cut_line(tmp_path):
    writer = RunWriter(tmp_path / "run", fps=10, overwrite=False)
    for index in range(50):
        writer.write_save(index, image(index), {})
    lines = (tmp_path / "run" / RECORD_NAME).read_bytes().split(b"\n")
    assert len(lines) == 51 and json.loads(lines[1])["file"] == "frames/000000.png"
    with open(tmp_path / "run" / RECORD_NAME, "ab") as f:
        f.write(b'\n{"file": "frames/000050.png", "si')  # a write killed mid-line
    writer.write_save(51, image(51), {})
    record = RunRecord.read(tmp_path / "run")
    assert "frames/000051.png" in record.files and "frames/000050.png" not in record.files
    writer.release()
    assert is_run_folder(tmp_path / "run")


def test_a_render_with_allow_overwrite_leaves_an_edited_frame_alone(tmp_path):
    settings = tmp_path / "s.yaml"
    settings.write_text(yaml.safe_dump({**TINY, "steps_per_scene": 2}))
    overwrite = ["--out", tmp_path / "o", "--set", "allow_overwrite=true", "--quiet"]
    assert cli("render", settings, *overwrite)[0] == 0
    assert cli("render", settings, *overwrite)[0] == 0  # its own files: reused
    frame = tmp_path / "o" / "run" / "frames" / "000001.png"
    frame.write_bytes(frame.read_bytes() + b"edited")
    code, out, err, *_ = cli("render", settings, *overwrite[:-1])
    assert code == 0, err
    assert "'frames/000001.png', which pytti_nb did not write there or which changed" in out
    assert frame.read_bytes().endswith(b"edited")
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == ["run", "run(1)"]


# --- a failed start leaves no run folder -------------------------------------------------


def test_a_vqgan_that_cannot_load_leaves_no_run_folder(tmp_path, tiny_vqgan):
    broken = tmp_path / "vq"
    broken.mkdir()
    (broken / "tiny.yaml").write_bytes(tiny_vqgan.with_suffix(".yaml").read_bytes())
    (broken / "tiny.ckpt").write_bytes(b"not a checkpoint")
    settings = tmp_path / "s.yaml"
    vqgan = {"image_model": "VQGAN", "vqgan_model": str(broken / "tiny.ckpt")}
    settings.write_text(yaml.safe_dump({**TINY, **vqgan}))
    code, _, err, *_ = cli("render", settings, "--out", tmp_path / "o", "--quiet")
    assert code != 0 and "Traceback" not in err
    assert not (tmp_path / "o" / "run").exists()


def test_a_stop_while_models_load_leaves_no_run_folder(tmp_path, monkeypatch, tiny):
    from pytti_nb.config.settings import from_dict
    from pytti_nb.engine import session
    from pytti_nb.run import prepare_run, run_to_completion

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(session.Session, "__init__", interrupted)
    job = prepare_run(settings=from_dict(tiny))
    assert (job.run_dir / "settings.yaml").is_file()
    with pytest.raises(KeyboardInterrupt):
        run_to_completion(job, progress=False)
    assert not job.run_dir.exists()


# --- a resume takes only its own folder's checkpoint and settings --------------------------


def two_runs(tmp_path) -> tuple[Path, Path]:
    """Two finished tiny renders of other seeds: out/run and out/run(1)."""
    for seed in (1, 2):
        settings = tmp_path / f"s{seed}.yaml"
        settings.write_text(yaml.safe_dump({**TINY, "seed": seed}))
        assert cli("render", settings, "--out", tmp_path / "out", "--quiet")[0] == 0
    return tmp_path / "out" / "run", tmp_path / "out" / "run(1)"


def test_a_resume_refuses_another_runs_checkpoint(tmp_path):
    mine, theirs = two_runs(tmp_path)
    (mine / "checkpoint.pt").write_bytes((theirs / "checkpoint.pt").read_bytes())
    before = files_under(mine)
    code, _, err, *_ = cli("render", "--resume", mine, "--quiet")
    assert code == 4 and "belongs to another run folder" in err and "Traceback" not in err
    assert files_under(mine) == before
    # a checkpoint of a pytti_nb before records, put in a folder whose run saved its own
    state = load_checkpoint(theirs)
    del state["run_id"]
    save_checkpoint(mine, state)
    code, _, err, *_ = cli("render", "--resume", mine, "--quiet")
    assert code == 4 and "belongs to another run folder" in err


def test_a_resume_of_a_folder_from_before_records_goes_on(tmp_path):
    mine, _ = two_runs(tmp_path)
    state = load_checkpoint(mine)
    del state["run_id"]
    state["step"] = 2  # stopped halfway
    save_checkpoint(mine, state)
    (mine / RECORD_NAME).unlink()
    code, out, err, *_ = cli("render", "--resume", mine, "--quiet")
    assert code == 0, err
    assert load_checkpoint(mine)["run_id"] == RunRecord.read(mine).run_id


def test_a_resume_refuses_an_edited_settings_file_naming_what_differs(tmp_path):
    mine, _ = two_runs(tmp_path)
    path = mine / "settings.yaml"
    saved = path.read_text()
    path.write_text(saved.replace("width: 8", "width: 16").replace("seed: 1", "seed: 5"))
    code, _, err, *_ = cli("render", "--resume", mine, "--quiet")
    assert code == 4 and "was edited since the run saved its checkpoint" in err
    assert "width: 16 in the file, 8 saved" in err and "seed: 5 in the file, 1 saved" in err
    assert path.read_text() != saved  # the edit is the user's: left in place
    path.write_text("# my notes\n" + saved)  # the same settings: resumes, the file kept
    assert cli("render", "--resume", mine, "--quiet")[0] == 0
    assert path.read_text() == "# my notes\n" + saved
    path.unlink()  # deleted: written again
    assert cli("render", "--resume", mine, "--quiet")[0] == 0
    assert path.read_text() == saved


def test_a_resume_path_with_a_name_too_long_is_one_clear_error(tmp_path):
    for name in ("a" * 256, "é" * 128, f"{'b' * 300}/run"):
        code, _, err, *_ = cli("render", "--resume", tmp_path / name)
        assert code == 2 and "at most 255" in err and "Traceback" not in err


# --- files the user names -------------------------------------------------------------------


def pytti_file(tmp_path: Path) -> Path:
    """A PyTTI settings file (Hydra YAML)."""
    path = tmp_path / "pytti.yaml"
    path.write_text("# @package _global_\nscenes: a red circle\nViTB32: false\n")
    return path


def test_import_pytti_never_writes_over_its_input(tmp_path):
    source = pytti_file(tmp_path)
    original = source.read_bytes()
    (tmp_path / "link.yaml").symlink_to(source)
    os.link(source, tmp_path / "hard.yaml")
    for dest in (
        source,
        tmp_path / "link.yaml",
        tmp_path / "hard.yaml",
        tmp_path / "." / "pytti.yaml",
    ):
        for force in ([], ["--force"]):
            code, _, err, *_ = cli(
                "import-pytti", source, dest, "--set", "perceptors=[demo]", *force
            )
            assert code == 2 and "never writes over what it reads" in err, err
    assert source.read_bytes() == original


def test_import_pytti_replaces_an_existing_file_only_with_force(tmp_path):
    source, dest = pytti_file(tmp_path), tmp_path / "ours.yaml"
    dest.write_text("mine")
    code, _, err, *_ = cli("import-pytti", source, dest, "--set", "perceptors=[demo]")
    assert code == 2 and "exists; give a new name, or give --force" in err
    assert dest.read_text() == "mine"
    (tmp_path / "dangling.yaml").symlink_to(tmp_path / "nowhere.yaml")
    code, *_ = cli("import-pytti", source, tmp_path / "dangling.yaml", "--set", "perceptors=[demo]")
    assert code == 2 and not (tmp_path / "nowhere.yaml").exists()
    assert cli("import-pytti", source, dest, "--set", "perceptors=[demo]", "--force")[0] == 0
    assert yaml.safe_load(dest.read_text())["scenes"] == "a red circle"
    assert cli("import-pytti", source, tmp_path / "new.json", "--set", "perceptors=[demo]")[0] == 0


def test_share_never_writes_over_an_existing_file_or_its_input(tmp_path):
    settings = tmp_path / "mine.yaml"
    settings.write_text(yaml.safe_dump(TINY))
    dest = tmp_path / "s.ipynb"
    dest.write_text("my notebook")
    code, _, err, *_ = cli("share", settings, dest)
    assert code == 2 and "exists" in err and dest.read_text() == "my notebook"
    assert cli("share", settings, dest, "--force")[0] == 0
    assert json.loads(dest.read_text())["metadata"]["pytti_nb"] == {"shared": True}
    (tmp_path / "input.ipynb").symlink_to(settings)
    code, _, err, *_ = cli("share", settings, tmp_path / "input.ipynb", "--force")
    assert code == 2 and "never writes over what it reads" in err
    assert yaml.safe_load(settings.read_text())["scenes"] == TINY["scenes"]


def test_the_studio_saves_over_only_a_file_it_saved(tmp_path, tiny):
    from pytti_nb.config.settings import from_dict
    from pytti_nb.ui.files import SettingsFiles

    current = from_dict(tiny)
    files = SettingsFiles(get_settings=lambda: current, apply_settings=None, resume=None)
    path = tmp_path / "mine.yaml"
    files.path.value = str(path)
    files.save()
    current = from_dict({**tiny, "seed": 9})
    files.save()  # its own file, unchanged since: replaced
    assert yaml.safe_load(path.read_text())["seed"] == 9
    path.write_text(path.read_text() + "# edited\n")  # changed since: kept
    files.save()
    assert "exists" in files.message.value and path.read_text().endswith("# edited\n")
    original = pytti_file(tmp_path)  # a loaded PyTTI original is never saved over
    files.path.value = str(original)
    files.save()
    assert "exists" in files.message.value and "ViTB32" in original.read_text()


def test_an_upload_never_replaces_a_file_nor_goes_through_a_link(tmp_path):
    from pytti_nb.ui.media import save_upload

    first = save_upload(tmp_path, "start.png", b"one")
    assert first == tmp_path / "uploads" / "start.png"
    assert save_upload(tmp_path, "start.png", b"one") == first  # the same bytes: reused
    second = save_upload(tmp_path, "start.png", b"two")
    assert second.name == "start(1).png" and first.read_bytes() == b"one"
    (tmp_path / "uploads" / "song.wav").symlink_to(tmp_path / "target.wav")
    assert save_upload(tmp_path, "song.wav", b"x").name == "song(1).wav"
    assert not (tmp_path / "target.wav").exists()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmp_path / "o").mkdir()
    (tmp_path / "o" / "uploads").symlink_to(elsewhere)
    with pytest.raises(OSError, match="is a link; uploads are saved only in a real folder"):
        save_upload(tmp_path / "o", "start.png", b"one")
    assert list(elsewhere.iterdir()) == []
