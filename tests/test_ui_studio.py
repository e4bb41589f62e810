"""The assembled studio: buttons, preview, progress, settings in and out, resume, demo offer."""

import asyncio
import html
import io
import json
import re
import shutil
from pathlib import Path

import pytest
import yaml
from PIL import Image
from waiting import until

from pytti_nb.config.files import load_settings, save_settings
from pytti_nb.config.settings import from_dict
from pytti_nb.errors import SettingsError
from pytti_nb.io.checkpoint import load_checkpoint
from pytti_nb.io.png_meta import read_png_metadata
from pytti_nb.models import ModelCache, network
from pytti_nb.perception import specs as perceptors_module
from pytti_nb.ui import build_studio, compat
from pytti_nb.ui import runner as runner_module
from pytti_nb.ui.files import settings_from_upload

pytestmark = pytest.mark.colab_stack


@pytest.fixture(scope="module")
def cache():
    """One perceptor cache for the module, as a notebook session keeps one."""
    return ModelCache()


@pytest.fixture
def studio(cache, tiny):
    """A studio showing the tiny demo settings."""
    return build_studio(settings=from_dict(tiny), models=cache)


def click_and_wait(studio, button, during=None):
    """Click a button inside a running event loop (as in a kernel) and wait for the render."""

    async def main():
        button.click()
        if during is not None:
            await during()
        return await studio.runner.wait()

    return asyncio.run(main())


def text(widget):
    """The visible text of an HTML widget (tags dropped)."""
    return html.unescape(re.sub(r"<[^>]+>", " ", widget.value)).strip()


def test_render_button_renders_with_preview_progress_losses_and_video(studio, tiny):
    previews = []
    studio.runner.on_snapshot = lambda frame, show=studio._on_snapshot: (
        show(frame),
        previews.append(bytes(studio.preview.value)),
    )
    outcome = click_and_wait(studio, studio.render_button)
    assert outcome.state == "done" and text(studio.status).endswith("done")
    assert len(previews) == 6 and len(set(previews)) > 1  # the preview changed
    assert Image.open(io.BytesIO(previews[-1])).format == "JPEG"
    assert (studio.progress.value, studio.progress.max) == (12, 12)
    assert "step 12/12" in text(studio.progress_text) and "scene 1/1" in text(studio.progress_text)
    assert text(studio.losses).startswith("total ")
    assert studio.loss_plot.value.count("<polyline") == 1
    assert studio.video.children[0].value[4:8] == b"ftyp"  # the MP4 plays inline
    assert studio.files.resume_path.value == str(outcome.run_dir)
    assert not studio.render_button.disabled and studio.stop_button.disabled
    cost = json.loads((outcome.run_dir / "cost.json").read_text())  # recorded with the run
    assert cost["seconds"] > 0 and cost["estimate"]["steps"] == 12


def test_buttons_follow_the_render(studio):
    seen = []
    studio.runner.on_snapshot = lambda frame: seen.append(
        (studio.render_button.disabled, studio.stop_button.disabled, studio.pause_button.disabled)
    )
    click_and_wait(studio, studio.render_button)
    assert set(seen) == {(True, False, False)}


def test_stop_button_stops_and_resume_button_finishes_the_run(studio):
    def on_snapshot(frame):
        if frame.step == 2:
            studio.stop_button.click()

    studio.runner.on_snapshot = on_snapshot
    outcome = click_and_wait(studio, studio.render_button)
    assert outcome.state == "stopped" and text(studio.status).endswith("stopped")
    assert load_checkpoint(outcome.run_dir)["step"] == 3
    studio.runner.on_snapshot = studio._on_snapshot
    resumed = click_and_wait(studio, studio.files.resume_button)
    assert resumed.state == "done" and resumed.run_dir == outcome.run_dir
    assert load_checkpoint(outcome.run_dir)["step"] == 12
    assert "step 12/12" in text(studio.progress_text)


def test_pause_button_pauses_and_resumes(studio, monkeypatch):
    monkeypatch.setattr(runner_module, "PAUSE_POLL_S", 0)  # a paused render polls every turn
    studio.runner.on_snapshot = lambda f: studio.pause_button.click() if f.step == 2 else None

    async def during():
        await until(lambda: studio.runner.state == "paused", "the pause")
        assert studio.pause_button.description == "Resume"
        assert "paused at step 2" in text(studio.status)
        for _ in range(20):  # twenty turns of the loop, each a pause poll: no step may run
            await asyncio.sleep(0)
        assert studio.runner.session.step == 2
        studio.pause_button.click()

    assert click_and_wait(studio, studio.render_button, during).state == "done"
    assert studio.runner.session.step == 12 and studio.pause_button.description == "Pause"


def test_editing_the_scenes_box_mid_render_steers_the_next_step(studio, monkeypatch):
    import pytti_nb.ui.studio as studio_module

    monkeypatch.setattr(studio_module, "EDIT_SETTLE_S", 0.0)  # this render lasts < 0.4 s

    def on_snapshot(frame):
        if frame.step == 2:
            studio.panel.controls["scenes"].value = "a yellow square on a blue background"

    studio.runner.on_snapshot = on_snapshot
    click_and_wait(studio, studio.render_button)
    assert studio.runner.session.term("prompts").scenes[0][0].source == (
        "a yellow square on a blue background"
    )


def test_missing_weights_show_a_plain_error_and_a_demo_button(cache, tiny, monkeypatch):
    monkeypatch.setattr(network, "reachable", lambda *a, **k: False)
    monkeypatch.setattr(perceptors_module, "cached_tag_weights", lambda *a: None)
    for proxy in ("HTTPS_PROXY", "https_proxy"):
        monkeypatch.delenv(proxy, raising=False)
    studio = build_studio(
        settings=from_dict({**tiny, "perceptors": ["ViT-B-32@openai"]}), models=cache
    )
    assert studio.demo_button.layout.display == "none"
    click_and_wait(studio, studio.render_button)
    status = text(studio.status)
    assert "error" in status and "could not download weights" in status
    assert "Traceback" not in status
    assert studio.demo_button.layout.display != "none"
    assert "demo" in studio.demo_button.description
    assert "pytti-use-demo" in studio.demo_button._dom_classes
    studio.demo_button.click()
    assert studio.settings().perceptors == ["demo"]
    assert studio.settings().learning_rate == 0.1 and studio.settings().pixel_size == 5
    assert studio.demo_button.layout.display == "none"
    assert click_and_wait(studio, studio.render_button).state == "done"


def test_foreground_render_returns_the_outcome_and_raises_errors(studio, tmp_path):
    assert studio.render_now().state == "done"
    assert text(studio.status).endswith("done") and studio.progress.value == 12
    studio.panel.controls["init_image"].value = str(tmp_path / "missing.png")
    with pytest.raises(SettingsError, match="init_image"):
        studio.render_now()


def test_invalid_plan_lists_every_problem_without_rendering(studio, tmp_path):
    studio.panel.controls["init_image"].value = str(tmp_path / "missing.png")
    assert studio.render() is None
    status = text(studio.status)
    assert status.startswith("error: the settings have problems") and "init_image" in status
    assert studio.runner.state == "idle"


def test_settings_load_from_a_png_the_studio_rendered(studio, cache, tiny):
    outcome = click_and_wait(studio, studio.render_button)
    png = outcome.run_dir / "frames" / "000001.png"
    fresh = build_studio(output_root="/tmp/elsewhere", models=cache)
    assert fresh.panel.controls["scenes"].value == ""
    compat.receive(fresh.files.upload, "frame.png", png.read_bytes())
    loaded = fresh.settings()
    assert loaded.scenes == tiny["scenes"] and loaded.seed == 1 and loaded.width == 12
    assert loaded.output_root == "/tmp/elsewhere"  # the session keeps its output folder
    assert "loaded frame.png" in text(fresh.files.message)
    assert compat.uploaded(fresh.files.upload) == []


def test_upload_of_an_unrelated_file_says_what_is_allowed(studio):
    compat.receive(studio.files.upload, "notes.txt", b"hi")
    message = text(studio.files.message)
    assert message.startswith("error:") and "'notes.txt'" in message and ".yaml" in message


def test_save_and_load_a_settings_file(studio, tmp_path, tiny):
    path = tmp_path / "mine.yaml"
    studio.files.path.value = str(path)
    studio.files.save_button.click()
    assert load_settings(path) == studio.settings()
    save_settings(from_dict({**tiny, "scenes": "a blue star", "cutouts": 8}), path)
    studio.files.load_button.click()
    assert (studio.settings().scenes, studio.settings().cutouts) == ("a blue star", 8)


def test_copy_box_shows_yaml_and_applies_pasted_settings(studio):
    assert "scenes: a red circle on a black background" in studio.files.yaml.value
    studio.files.yaml.value = "scenes: a green triangle\ncutouts: 2\nwidth: 20\n"
    studio.files.apply_button.click()
    s = studio.settings()
    assert (s.scenes, s.cutouts, s.width) == ("a green triangle", 2, 20)
    assert "scenes: a green triangle" in studio.files.yaml.value
    studio.files.yaml.value = "widht: 3"
    studio.files.apply_button.click()
    assert "did you mean 'width'" in text(studio.files.message)


def test_keys_on_the_preview_pause_and_save_a_snapshot_click_zooms(studio):
    def on_snapshot(frame):
        studio._on_snapshot(frame)
        if frame.step == 4:
            studio._on_preview_event({"type": "keydown", "key": "s"})
            studio._on_preview_event({"type": "keydown", "key": " "})
            assert studio.runner.pause_requested
            studio._on_preview_event({"type": "keydown", "key": " "})
            assert not studio.runner.pause_requested

    studio.runner.on_snapshot = on_snapshot
    outcome = click_and_wait(studio, studio.render_button)
    snapshot = outcome.run_dir / "snapshots" / "step_000004.png"
    assert read_png_metadata(snapshot)["step"] == 4
    restored = settings_from_upload("s.png", snapshot.read_bytes())
    assert restored["scenes"] == studio.settings().scenes
    studio._on_preview_event({"type": "click"})
    assert studio.preview.layout.max_width == "none" and studio.full_size.value
    studio._on_preview_event({"type": "click"})
    assert studio.preview.layout.max_width == "512px"


def test_snapshot_before_any_render_says_so(studio):
    studio.snapshot_button.click()
    assert "nothing to save yet" in text(studio.status)


def test_schedule_preview_plots_time_varying_values(studio):
    assert "constant" in text(studio.schedules)
    studio.panel.controls["scenes"].value = "a red circle:{0:(1), 1:(3)} | blue:sin(t)"
    studio.panel.controls["smoothing_weight"].value = "0:(0.1), 1:(0.5)"
    chart = html.unescape(studio.schedules.value)
    assert chart.count("<polyline") == 3
    assert "smoothing_weight" in chart and "blue:sin(t) (weight)" in chart


def test_header_names_the_output_folder(cache, tmp_path):
    studio = build_studio(output_root=str(tmp_path / "renders"), models=cache)
    assert str(tmp_path / "renders") in text(studio.header)
    assert studio.settings is not None and "pytti-studio" in studio.widget._dom_classes


def test_build_studio_reads_a_settings_file_and_overrides_its_output_folder(cache, tmp_path, tiny):
    path = tmp_path / "s.yaml"
    save_settings(from_dict(tiny), path)
    studio = build_studio(settings_file=str(path), output_root=str(tmp_path / "o"), models=cache)
    assert studio.settings().scenes == tiny["scenes"]
    assert studio.settings().output_root == str(tmp_path / "o")


def test_a_notebook_settings_file_does_not_choose_overwriting(cache, tmp_path, tiny, capsys):
    path = tmp_path / "shared.yaml"
    path.write_text(yaml.safe_dump({**tiny, "allow_overwrite": True, "output_root": "/etc"}))
    studio = build_studio(settings_file=str(path), models=cache)
    assert studio.settings().allow_overwrite is False
    assert studio.settings().output_root == "out"  # the default, not the file's
    notes = capsys.readouterr().out
    assert "allow_overwrite True is not used" in notes and "output_root '/etc' is not used" in notes


def test_a_studio_sweep_that_cannot_run_says_why_and_starts_nothing(studio, tmp_path):
    panel = studio.sweeps
    panel.mode.value = "setting"
    panel.values.value = "0.1"
    panel.start()
    assert "give two or more values of learning_rate" in text(panel.log)
    panel.values.value = "\n".join(["0.1", "0.2", "0.3", "0.4", "0.5"])
    panel.seeds.value = 4
    panel.start()
    assert "5 values x 4 seeds make 20 renders; the studio sweeps at most 16" in text(panel.log)
    panel.seeds.value = 1
    panel.values.value = "0.1\nfast"
    panel.start()
    assert "learning_rate" in text(panel.log) and "'fast'" in text(panel.log)
    assert not panel.running and panel.result is None
    assert not (tmp_path / "out" / "run-sweep").exists()  # no sweep folder was left behind
    studio.runner.state = "running"  # a render in progress
    panel.values.value = "0.1\n0.2"
    panel.start()
    assert "a render is running; stop it before sweeping" in text(panel.log)


def upload(studio, name, content):
    """Drop a file on the studio's media upload button."""
    compat.receive(studio.media.upload, name, content)


def test_uploaded_video_sound_and_image_are_saved_and_set(studio, tmp_path):
    from media import square_video, tone_bursts

    video = square_video(tmp_path / "clip.mp4", frames=3)
    sound = tone_bursts(tmp_path / "song.wav", seconds=1.0, bursts=[0.2])
    upload(studio, "my clip.mp4", video.read_bytes())
    saved = Path(studio.panel.controls["video_path"].value)
    assert saved.name == "my clip.mp4" and saved.read_bytes() == video.read_bytes()
    assert saved.parent == Path(studio._output_root()) / "uploads"
    assert "choose Video Source" in text(studio.media.message)
    upload(studio, "../../song.wav", sound.read_bytes())  # names cannot climb out
    assert Path(studio.panel.controls["input_audio"].value) == saved.parent / "song.wav"
    upload(studio, "notes.txt", b"hi")
    assert "not a video, sound or image" in text(studio.media.message)


def test_schedule_preview_plots_the_audio_bands_and_motion(studio, tmp_path):
    from media import tone_bursts

    sound = tone_bursts(tmp_path / "beat.wav", seconds=2.0, bursts=[0.5, 1.5])
    with studio.panel.hold():
        studio.panel.set_value("animation_mode", "2D")
        studio.panel.set_value("input_audio", str(sound))
        studio.panel.set_value(
            "input_audio_filters", [{"variable_name": "kick", "f_center": 80, "f_width": 40}]
        )
        studio.panel.set_value("translate_x", "4*kick")
        studio.panel.set_value("steps_per_frame", 1)
        studio.panel.set_value("steps_per_scene", 24)
    chart = html.unescape(studio.schedules.value)
    assert "audio bands per frame" in chart and "kick" in chart
    assert "camera motion per frame" in chart and "translate_x" in chart
    analysed = studio._planned.audio
    studio.panel.set_value("scenes", "another prompt")  # an edit does not analyse it again
    assert studio._planned.audio is analysed


def test_the_palette_swatch_shows_under_the_preview_with_show_palette(cache, tiny):
    settings = {**tiny, "image_model": "Limited Palette", "show_palette": True}
    studio = build_studio(settings=from_dict(settings), models=cache)
    assert studio.palette.layout.display == "none"  # nothing to show before a render
    outcome = click_and_wait(studio, studio.render_button)
    assert outcome.state == "done" and studio.palette.layout.display is None
    swatch = Image.open(io.BytesIO(studio.palette.value))
    assert swatch.format == "PNG" and swatch.size == (9 * 16, 6 * 32)


def test_resuming_a_folder_that_cannot_be_resumed_says_why(studio, tmp_path):
    from pytti_nb.errors import PyttiError
    from pytti_nb.io.checkpoint import save_checkpoint

    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(PyttiError):
        studio.resume(empty)  # no checkpoint: our error, not a KeyError
    broken = tmp_path / "broken"
    broken.mkdir()
    save_checkpoint(broken, {"step": 3})  # ours, but without the run's settings
    with pytest.raises(PyttiError, match="holds no settings"):
        studio.resume(broken)
    studio.files.resume_path.value = str(broken)
    studio.files.resume_button.click()  # the button shows the same message
    assert "holds no settings" in text(studio.files.message) and not studio.runner.busy


def test_drive_unmounted_mid_render_keeps_the_render_and_one_click_resumes_it(
    cache, tiny, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)  # the notebook's folder, where a vanished Drive's render goes
    drive = tmp_path / "drive" / "MyDrive" / "pytti_nb"
    studio = build_studio(settings=from_dict({**tiny, "output_root": str(drive)}), models=cache)
    show = studio._on_snapshot

    def unmount_after_the_first_save(snap):
        show(snap)
        if snap.save_number == 1:  # its files are written: Drive vanishes before the next save
            shutil.rmtree(tmp_path / "drive")

    studio.runner.on_snapshot = unmount_after_the_first_save
    outcome = click_and_wait(studio, studio.render_button)
    assert outcome.state == "error"
    rescued = tmp_path / "out" / "run"
    status = text(studio.status)
    assert status.startswith("error: cannot write") and f"is saved in '{rescued}'" in status
    assert "resume that folder" in status and "Traceback" not in status
    assert studio.files.resume_path.value == str(rescued)
    assert load_checkpoint(rescued)["step"] == 8  # the save point Drive could not take
    assert [p.name for p in (rescued / "frames").iterdir()] == ["000002.png"]
    outcome = click_and_wait(studio, studio.files.resume_button)
    assert outcome.state == "done" and outcome.run_dir == rescued
    assert load_checkpoint(rescued)["step"] == 12
    assert sorted(p.name for p in (rescued / "frames").iterdir()) == ["000002.png", "000003.png"]
