"""PyTTI's own settings files (tests/pytti_files, see its README) import and render; the CLI and
the studio take them directly."""

from pathlib import Path

import pytest
import yaml
from PIL import Image

from pytti_nb import cli
from pytti_nb.config.files import read_settings_dict, read_settings_file
from pytti_nb.config.plan import plan_dict
from pytti_nb.config.pytti_import import import_pytti
from pytti_nb.config.schema import Settings, schema_by_name
from pytti_nb.config.settings import from_dict, to_dict
from pytti_nb.config.values import coerce
from pytti_nb.errors import SettingsError
from pytti_nb.models import ModelCache
from pytti_nb.run import prepare_run, run_to_completion
from pytti_nb.ui import compat

ROOT = Path(__file__).resolve().parent.parent
FILES = Path(__file__).parent / "pytti_files"
MEDIA = ROOT / "examples" / "media"
# A second's render on a CPU, offline: tiny sizes and steps (a few frames when animated), the
# demo perceptor, a flat depth plane and DIS flow; media paths that exist here are set per file.
TINY = [
    "perceptors=[demo]",
    "width=16",
    "height=16",
    "pixel_size=1",
    "cutouts=2",
    "steps_per_scene=3",
    "steps_per_frame=1",
    "pre_animation_steps=1",
    "save_every=1",
    "interpolation_steps=0",
    "depth_model=none",
    "flow_model=dis",
    "device=cpu",
]
# What each file needs besides TINY: the media its own paths name, a local VQGAN (ours is
# tiny), scenes for the files that are only overlays; None: the file is not detected as
# PyTTI's by itself (no PyTTI-only key), so it goes through import-pytti.
NEEDS = {
    "book_crashcourse_perceptors_RN50.yaml": ["scenes=a red circle"],
    "book_permutations_vqgan_perceptors.yaml": ["init_image={image}", "vqgan_model={vqgan}"],
    "book_rotoscoping_spring2winter.yaml": [
        f"video_path={MEDIA / 'circle.mp4'}",
        "vqgan_model={vqgan}",
    ],
    "book_rotoscoping_spring2winter_reencode_flow_long.yaml": [
        f"video_path={MEDIA / 'circle.mp4'}",
        "vqgan_model={vqgan}",
    ],
    # its weights divide by fLo + fHi, which is 0 before the first frame (in PyTTI the bands
    # did not exist then): the run starts at the first frame
    "book_settings_audio_example.yaml": [
        f"input_audio={MEDIA / 'beat.wav'}",
        "pre_animation_steps=0",
    ],
    "book_studymatrix.yaml": ["vqgan_model={vqgan}"],
    "book_usage_motion_zoom_in_slow.yaml": ["scenes=a red circle"],
    "core_default.yaml": ["scenes=a red circle"],
    "core_empty.yaml": ["scenes=a red circle"],
    "notebook_colab_printed_settings.txt": ["vqgan_model={vqgan}"],
    "notebook_ezmode_this_run.yaml": ["vqgan_model={vqgan}"],
}
NOT_DETECTED = {"book_settings_audio_example.yaml", "core_empty.yaml"}
REFUSED = {"core_invalid_animation.yaml": "animation_mode: '1D' is not allowed"}
ALL = sorted(p.name for p in FILES.iterdir() if p.suffix in (".yaml", ".txt"))


@pytest.fixture(scope="module")
def models():
    """One model cache for every render here (the demo perceptor loads once)."""
    return ModelCache()


@pytest.fixture(scope="module")
def image(tmp_path_factory):
    """A small init image, standing in for the paths of the pytti-book's own machine."""
    path = tmp_path_factory.mktemp("media") / "init.png"
    Image.new("RGB", (24, 16), (200, 90, 40)).save(path)
    return path


def overrides(name, tmp_path, image, vqgan):
    """TINY plus what the file needs, writing under tmp_path."""
    extra = [o.format(image=image, vqgan=vqgan) for o in NEEDS.get(name, [])]
    return [*TINY, *extra, f"output_root={tmp_path}"]


def convert(name, sets):
    """Our settings mapping of a file and its conversion notes, as render reads it."""
    if name in NOT_DETECTED:
        assert read_settings_file(FILES / name)[1] is None  # ours, as far as render can tell
        return import_pytti(read_settings_dict(FILES / name), sets)
    data, notes = read_settings_file(FILES / name, sets)
    assert notes is not None, f"{name} was not recognised as PyTTI's"
    return data, notes


def test_every_file_is_tested():
    assert set(ALL) == {*NEEDS, *REFUSED} | {
        "book_crashcourse_my_first_pytti_art.yaml",
        "book_crashcourse_my_first_pytti_art2.yaml",
        "book_crashcourse_my_first_pytti_art3.yaml",
        "book_permutations_limited_palette_2D.yaml",
        "book_usage_experiment1.yaml",
        "book_usage_experiment1_with_motion.yaml",
        "core_demo.yaml",
        "core_demo_settings.txt",
        "core_test_limited_palette.yaml",
        "core_valid_animation.yaml",
    }


@pytest.mark.parametrize("name", [n for n in ALL if n not in REFUSED])
def test_pytti_file_imports_keeping_its_values_and_renders(
    name, tmp_path, models, image, tiny_vqgan
):
    sets = overrides(name, tmp_path, image, tiny_vqgan)
    data, notes = convert(name, sets)
    checked = plan_dict(data, source=name)
    job = prepare_run(settings=checked.settings, previous=checked, models=models)
    result = run_to_completion(job, models=models, progress=False)
    assert result.saves >= 3 and result.last_save.is_file()
    run = yaml.safe_load((job.run_dir / "settings.yaml").read_text())
    # every setting of ours the file gives reaches the run as it was, unless overridden or noted
    overridden = {s.split("=", 1)[0] for s in sets}
    noted = {n.split(":", 1)[0] for n in notes}
    raw = read_settings_dict(FILES / name)
    infos = schema_by_name()
    kept = 0
    for key, value in raw.items():
        if key in infos and key not in overridden | noted and "${" not in str(value):
            assert run[key] == coerce(infos[key], value), key
            kept += 1
    assert kept or not set(raw) & set(infos) - overridden


def test_pyttis_demo_keeps_its_animation_time_base_and_maps_its_seed(tmp_path):
    data, notes = read_settings_file(FILES / "core_demo.yaml", ["depth_model=none"])
    s = plan_dict(data).settings
    assert (s.animation_mode, s.image_model, s.steps_per_frame) == ("3D", "Limited Palette", 3)
    assert (s.save_every, s.display_every, s.pre_animation_steps) == (3, 3, 2)  # ${steps_per_frame}
    assert s.seed == -4854551145582748953 % 2**63
    assert s.perceptors == ["ViT-B-32@openai"] and s.reset_lr_each_frame is True
    assert (s.width, s.height, s.pixel_size, s.palette_size, s.palettes) == (512, 512, 1, 5, 20)
    # its _settings.txt (the run's resolved settings) gives the same run
    same, _ = read_settings_file(FILES / "core_demo_settings.txt", ["depth_model=none"])
    assert plan_dict({**same, "models_cache_dir": ""}).settings == s


def test_the_notebooks_printed_settings_import():
    data, notes = read_settings_file(FILES / "notebook_colab_printed_settings.txt")
    s = from_dict(data)
    assert (s.image_model, s.vqgan_model, s.width, s.height, s.pixel_size) == (
        "VQGAN",
        "imagenet",
        180,
        112,
        4,
    )
    assert s.seed == 15023950418233312513 % 2**63 and s.models_cache_dir == "."
    assert s.rotate_3d == "[1,0,0,0]" and s.reencode_each_frame is False
    named = {n.split(":")[0] for n in notes}
    assert {"seed", "backups", "resume", "base_name"} <= named


def test_an_invalid_pytti_file_is_refused_naming_the_setting():
    data, _ = read_settings_file(FILES / "core_invalid_animation.yaml", ["perceptors=[demo]"])
    with pytest.raises(SettingsError) as e:
        plan_dict(data)
    assert any(REFUSED["core_invalid_animation.yaml"] in p for p in e.value.problems)


def test_an_empty_overlay_needs_scenes_as_in_pytti():
    with pytest.raises(SettingsError, match="scenes: PyTTI requires it"):
        import_pytti(read_settings_dict(FILES / "core_empty.yaml"))


# --- the command line ---------------------------------------------------------------------


@pytest.fixture
def shared_models(monkeypatch, models):
    """The command line's ModelCache is this module's, so the demo perceptor loads once."""
    monkeypatch.setattr("pytti_nb.models.ModelCache", lambda: models)


def test_render_and_validate_take_a_pytti_file_and_report_the_conversion(
    tmp_path, capsys, shared_models
):
    demo = str(FILES / "core_demo.yaml")
    sets = [a for s in [*TINY, f"output_root={tmp_path}"] for a in ("--set", s)]
    assert cli.main(["validate", demo, *sets]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"{demo}: PyTTI settings, converted:\n  - ViTB32: ignored: the ")
    assert "\n  - seed: -4854551145582748953 is outside" in out
    assert f"{demo}: valid (1 scene(s), 3 steps, 16x16 pixels, 2 animation frame(s))" in out
    assert "width: not in the file" not in out  # overridden: nothing to say
    assert cli.main(["render", demo, *sets, "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "PyTTI settings, converted" in out and "wrote 3 image(s)" in out
    run = yaml.safe_load((tmp_path / "default" / "settings.yaml").read_text())
    assert run["seed"] == 4368820891272026855 and run["translate_z_3d"].startswith("(50+10*t)")


def test_render_refuses_a_pytti_file_without_a_clip_model_before_rendering(tmp_path, capsys):
    path = tmp_path / "none.yaml"
    path.write_text("# @package _global_\nscenes: a\nViTB32: false\n")
    assert cli.main(["render", str(path), "--out", str(tmp_path / "out")]) == 2
    assert "ViTB32, ViTB16" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


# --- the studio's Load, drop and paste ------------------------------------------------------


@pytest.fixture
def files():
    """The studio's settings section, with the panel stood in for by a list."""
    from pytti_nb.ui.files import SettingsFiles

    section = SettingsFiles(
        get_settings=lambda: Settings(cutout_noise=0.3),
        apply_settings=lambda data: section.applied.append(data),
        resume=lambda folder: None,
    )
    section.applied = []
    return section


def message(section):
    """The message line's text."""
    import html
    import re

    return html.unescape(re.sub("<[^>]+>", "", section.message.value))


def test_studio_load_converts_a_pytti_file_and_shows_the_report(files):
    files.path.value = str(FILES / "core_demo.yaml")
    files.load_button.click()
    (data,) = files.applied
    assert data["seed"] == 4368820891272026855 and data["animation_mode"] == "3D"
    shown = message(files)
    assert shown.startswith(f"loaded {FILES / 'core_demo.yaml'} (PyTTI settings, converted:")
    assert "  - seed: -4854551145582748953 is outside" in shown


def test_studio_drop_takes_a_settings_txt(files):
    content = (FILES / "core_demo_settings.txt").read_bytes()
    compat.receive(files.upload, "default_settings.txt", content)
    (data,) = files.applied
    assert data["translate_x"] == "-1700*sin(radians(1.5))" and data["save_every"] == 3
    assert "loaded default_settings.txt (PyTTI settings, converted" in message(files)


def test_studio_paste_takes_the_notebooks_printed_settings(files):
    files.yaml.value = (FILES / "notebook_colab_printed_settings.txt").read_text()
    files.apply_button.click()
    (data,) = files.applied
    assert data["vqgan_model"] == "imagenet" and data["pixel_size"] == 4
    assert data["cutout_noise"] == 0.3  # settings PyTTI does not have keep the panel's values
    assert "applied the pasted settings (PyTTI settings, converted" in message(files)
    files.yaml.value = "# @package _global_\nscenes: a\nViTB32: false\n"
    files.apply_button.click()
    assert message(files).startswith("error: ViTB32, ViTB16") and len(files.applied) == 1


# --- display_every 0 ----------------------------------------------------------------------


def test_display_every_0_shows_nothing_but_the_saves_and_the_end(models, tiny):
    from pytti_nb.config.plan import plan_run
    from pytti_nb.engine.render import snapshots
    from pytti_nb.engine.session import Session

    settings = from_dict({**tiny, "display_every": 0, "save_every": 5, "steps_per_scene": 12})
    steps = [s.step for s in snapshots(Session(plan_run(settings), models))]
    assert steps == [5, 10, 12]
    assert to_dict(settings)["display_every"] == 0
