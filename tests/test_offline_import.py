"""Converting needs no network: import-pytti converts PyTTI's files offline and says what a
render will need; validate and render refuse before any work, a model this machine cannot have
being exit 3 ('a model could not be loaded'), not invalid settings."""

from pathlib import Path

import pytest
import yaml
from inprocess import run_main

from pytti_nb.config.settings import from_dict
from pytti_nb.console import EXIT_BAD_INPUT, EXIT_MODEL, EXIT_OK

FILES = Path(__file__).parent / "pytti_files"
REAL = sorted(p.name for p in FILES.iterdir() if p.suffix in (".yaml", ".txt"))
# PyTTI refused these too: `scenes: ???` (required), and animation_mode '1D' (its own schema)
REFUSED = {
    "book_crashcourse_perceptors_RN50.yaml": "scenes: PyTTI requires it",
    "book_usage_motion_zoom_in_slow.yaml": "scenes: PyTTI requires it",
    "core_default.yaml": "scenes: PyTTI requires it",
    "core_empty.yaml": "scenes: PyTTI requires it",
    "core_invalid_animation.yaml": "animation_mode: '1D' is not allowed",
}
# what each file's render needs beyond its perceptor, and cannot have here
NEEDS = {
    "book_permutations_vqgan_perceptors.yaml": ["vqgan_model 'coco'", "init_image: '/home/"],
    "book_rotoscoping_spring2winter.yaml": [
        "vqgan_model 'imagenet'", "flow_model 'raft_large'", "video_path: '/home/"
    ],
    "book_settings_audio_example.yaml": ["input_audio: '/path/to/audio/source.mp3'"],
    "book_studymatrix.yaml": ["vqgan_model 'sflckr'"],
    "core_demo.yaml": ["depth_model 'depth-anything/Depth-Anything-V2-Metric-Indoor-Small-hf'"],
    "notebook_ezmode_this_run.yaml": ["vqgan_model 'coco'"],
}  # fmt: skip


@pytest.fixture
def no_proxy(monkeypatch):
    """No proxy: the offline probe answers (behind one it defers to the download)."""
    for proxy in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"):
        monkeypatch.delenv(proxy, raising=False)


@pytest.mark.parametrize("name", REAL)
def test_every_real_file_converts_offline_naming_what_its_render_needs(
    name, tmp_path, offline, no_proxy
):
    dest = tmp_path / "ours.yaml"
    code, out, err = run_main(
        "import-pytti", FILES / name, dest, "--set", f"models_cache_dir={tmp_path / 'models'}"
    )
    if name in REFUSED:
        assert code == EXIT_BAD_INPUT and REFUSED[name] in err and not dest.exists()
        return
    assert code == EXIT_OK, err
    assert from_dict(yaml.safe_load(dest.read_text())).models_cache_dir  # valid settings
    needs = out.split("a render of these settings needs:\n", 1)[1]
    assert "could not download weights" in needs and "perceptors: ['demo']" in needs
    for need in NEEDS.get(name, []):
        line = next(line for line in needs.splitlines() if need in line)
        assert "not downloaded yet" in line or "not on this machine" in line, line
    if name == "book_rotoscoping_spring2winter.yaml":  # each model's line says what to do
        assert "use flow_model: dis" in needs and "local taming checkpoint" in needs
        assert "copy the file here" in needs


def test_media_on_this_machine_and_local_models_are_named_as_here(tmp_path, offline, no_proxy):
    image = tmp_path / "init.png"
    from PIL import Image

    Image.new("RGB", (32, 24), "red").save(image)
    src = tmp_path / "pytti.yaml"
    src.write_text(f"# @package _global_\nscenes: a\ninit_image: {image}\n")
    code, out, err = run_main(
        "import-pytti", src, tmp_path / "ours.yaml", "--set", "perceptors=[demo]"
    )
    assert code == EXIT_OK, err
    assert "  - perceptor 'demo': on this machine" in out
    assert f"  - init_image '{image}': on this machine" in out


def settings_file(tmp_path, tiny, **changes) -> Path:
    """A settings file of ours: the tiny render with changes, models cached under tmp_path."""
    path = tmp_path / "s.yaml"
    data = {**tiny, "models_cache_dir": str(tmp_path / "models"), **changes}
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.parametrize(
    "changes, named",
    [
        ({"image_model": "VQGAN", "vqgan_model": "imagenet"}, "vqgan_model 'imagenet'"),
        (
            {"animation_mode": "3D", "depth_model": "depth-anything/Depth-Anything-V2-Small-hf"},
            "depth_model 'depth-anything/Depth-Anything-V2-Small-hf' is not downloaded yet",
        ),
        (
            {"animation_mode": "3D", "depth_model": "none", "flow_model": "raft_small",
             "flow_stabilization_weight": 1},
            "flow_model 'raft_small': its weights are not downloaded yet",
        ),
    ],
)  # fmt: skip
def test_a_render_whose_only_problem_is_a_missing_model_exits_3(
    tmp_path, tiny, offline, no_proxy, changes, named
):
    path = settings_file(tmp_path, tiny, **changes)
    for command in ("render", "validate"):
        code, out, err = run_main(command, path)
        assert code == EXIT_MODEL, err
        assert err.startswith("error: a model could not be loaded:\n") and named in err
        assert "invalid settings" not in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()  # refused before any work


def test_validate_names_every_missing_model_at_once(tmp_path, tiny, offline, no_proxy):
    changes = {"image_model": "VQGAN", "vqgan_model": "coco", "perceptors": ["RN50"]}
    code, _, err = run_main("validate", settings_file(tmp_path, tiny, **changes))
    assert code == EXIT_MODEL
    assert "vqgan_model 'coco' is not downloaded yet" in err
    assert "could not download weights for 'RN50@openai'" in err


def test_a_missing_model_beside_invalid_settings_is_invalid_settings(
    tmp_path, tiny, offline, no_proxy
):
    changes = {"image_model": "VQGAN", "vqgan_model": "imagenet", "scenes": "a:2:3:4"}
    code, _, err = run_main("render", settings_file(tmp_path, tiny, **changes))
    assert code == EXIT_BAD_INPUT and err.startswith("error: invalid settings:")
    assert "vqgan_model 'imagenet' is not downloaded yet" in err and "'a:2:3:4'" in err


def test_a_missing_media_file_stays_invalid_settings_for_render(tmp_path, tiny, offline):
    code, _, err = run_main("render", settings_file(tmp_path, tiny, init_image="gone.png"))
    assert code == EXIT_BAD_INPUT and "'gone.png' does not exist" in err


# --- the studio -------------------------------------------------------------------------------


def plain(widget) -> str:
    """An HTML widget's text."""
    import html
    import re

    return html.unescape(re.sub("<[^>]+>", "", widget.value))


def test_studio_load_converts_offline_and_names_what_the_render_needs(tmp_path, offline, no_proxy):
    from pytti_nb.config.schema import Settings
    from pytti_nb.ui.files import SettingsFiles

    applied = []
    section = SettingsFiles(
        get_settings=lambda: Settings(models_cache_dir=str(tmp_path)),
        apply_settings=applied.append,
        resume=lambda folder: None,
    )
    section.path.value = str(FILES / "book_rotoscoping_spring2winter.yaml")
    section.load_button.click()
    shown = plain(section.message)
    assert len(applied) == 1 and not shown.startswith("error")
    needs = shown.split("a render of these settings needs:\n", 1)[1]
    assert "vqgan_model 'imagenet' is not downloaded yet" in needs
    assert "use flow_model: dis" in needs and "lfb_trimmed2.mp4' is not on this machine" in needs
    assert "invalid settings" not in shown


def test_studio_render_says_a_model_could_not_be_loaded(tmp_path, tiny, offline, no_proxy):
    from pytti_nb.ui import build_studio

    changes = {"image_model": "VQGAN", "vqgan_model": "imagenet"}
    studio = build_studio(str(settings_file(tmp_path, tiny, **changes)))
    assert studio.render() is None
    status = plain(studio.status)
    assert "error: a model could not be loaded" in status and "vqgan_model" in status
    assert "the settings have problems" not in status


def test_many_media_files_are_named_up_to_a_bound(tmp_path, offline):
    scenes = " | ".join(f"[gone{i}.png]:1" for i in range(20))
    src = tmp_path / "pytti.yaml"
    src.write_text(f"# @package _global_\nscenes: '{scenes}'\n")
    code, out, err = run_main(
        "import-pytti", src, tmp_path / "ours.yaml", "--set", "perceptors=[demo]"
    )
    assert code == EXIT_OK, err
    assert out.count("is not on this machine") == 12
    assert "  - ... and 8 more files (0 of them on this machine)" in out
