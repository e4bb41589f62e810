"""Importing PyTTI settings files."""

import pytest
import yaml

from pytti_nb.errors import SettingsError
from pytti_nb.pytti_import import from_pytti
from pytti_nb.settings import from_dict

# The keys of pytti-core's assets/default.yaml (values from the reference), animation off.
PYTTI_DEFAULT = yaml.safe_load("""
# @package _global_
scenes: "a castle | stormy sky:2"
scene_prefix: ""
scene_suffix: " | text:-1:-.9"
direct_image_prompts: ""
init_image: ""
direct_init_weight: ""
semantic_init_weight: ""
image_model: Unlimited Palette
vqgan_model: sflckr
width: 180
height: 112
pixel_size: 4
smoothing_weight: 0.02
random_initial_palette: false
palette_size: 6
palettes: 9
gamma: 1
hdr_weight: 0.01
palette_normalization_weight: 0.2
show_palette: false
target_palette: ""
lock_palette: false
animation_mode: off
sampling_mode: bicubic
infill_mode: wrap
pre_animation_steps: 100
steps_per_frame: 50
frames_per_second: 12
direct_stabilization_weight: ""
semantic_stabilization_weight: ""
depth_stabilization_weight: ""
edge_stabilization_weight: ""
flow_stabilization_weight: ""
video_path: ""
frame_stride: 1
reencode_each_frame: true
flow_long_term_samples: 1
translate_x: "0"
translate_y: "0"
translate_z_3d: "0"
rotate_3d: "[1, 0, 0, 0]"
rotate_2d: "0"
zoom_x_2d: "0"
zoom_y_2d: "0"
lock_camera: true
field_of_view: 60
near_plane: 1
far_plane: 10000
file_namespace: default
allow_overwrite: false
display_every: 50
clear_every: 0
display_scale: 1
save_every: 50
backups: 3
show_graphs: false
approximate_vram_usage: false
ViTB32: true
ViTB16: true
ViTL14: false
RN50: false
learning_rate: null
reset_lr_each_frame: true
seed: ${now:%f}
cutouts: 40
cut_pow: 2
cutout_border: 0.25
border_mode: clamp
models_parent_dir: ${user_cache:}
gradient_accumulation_steps: 1
steps_per_scene: 100
interpolation_steps: 0
use_mmc: false
""")


def test_pytti_default_imports_to_valid_settings():
    ours, notes = from_pytti(PYTTI_DEFAULT)
    s = from_dict({**ours, "models_cache_dir": ""})
    assert s.perceptors == ["ViT-B-32@openai", "ViT-B-16@openai"]
    assert s.scene_suffix == " | text:-1:-.9" and s.cutouts == 40 and s.seed is None
    assert s.direct_init_weight == "0" and s.learning_rate is None
    assert ours["models_cache_dir"] == "${user_cache:}"  # renamed, kept for the user to fix
    assert s.animation_mode == "off" and s.vqgan_model == "sflckr"
    assert (s.palette_size, s.palettes, s.gamma, s.hdr_weight) == (6, 9, 1, 0.01)
    assert any(n.startswith("clear_every: ignored") for n in notes)


@pytest.mark.parametrize(
    "change",
    [{"use_mmc": True}, {"mmc_models": [{"architecture": "clip", "id": "RN50"}]}],
)
def test_features_not_yet_supported_are_refused_by_name(change):
    with pytest.raises(SettingsError) as e:
        from_pytti({**PYTTI_DEFAULT, **change})
    key = next(iter(change))
    assert any(p.startswith(f"{key}:") for p in e.value.problems)


@pytest.mark.parametrize("spelling", ["Limited Palette", "Limimted Palette"])
def test_limited_palette_files_import_with_every_palette_option(spelling, tmp_path):
    pytti = {
        **PYTTI_DEFAULT,
        "image_model": spelling,  # PyTTI's own validator spelled it 'Limimted'
        "palette_size": 3,
        "palettes": 12,
        "gamma": 2.2,
        "hdr_weight": 0.5,
        "palette_normalization_weight": 0.1,
        "random_initial_palette": True,
        "lock_palette": True,
        "show_palette": True,
    }
    ours, notes = from_pytti(pytti)
    s = from_dict({**ours, "models_cache_dir": ""})
    assert s.image_model == "Limited Palette"
    assert (s.palette_size, s.palettes, s.gamma, s.hdr_weight) == (3, 12, 2.2, 0.5)
    assert s.palette_normalization_weight == 0.1 and s.random_initial_palette
    assert s.lock_palette and s.show_palette
    del pytti["palette_size"], pytti["palettes"]
    ours, notes = from_pytti(pytti)  # left out: PyTTI's own defaults, not ours
    assert (ours["palette_size"], ours["palettes"]) == (5, 20)
    assert any(n.startswith("palettes: not given; PyTTI's default 20") for n in notes)


@pytest.mark.parametrize("name", ["imagenet", "wikiart", "sflckr", "coco", "openimages"])
def test_vqgan_files_import_with_their_model(name):
    ours, _ = from_pytti({**PYTTI_DEFAULT, "image_model": "VQGAN", "vqgan_model": name})
    s = from_dict({**ours, "models_cache_dir": ""})
    assert s.image_model == "VQGAN" and s.vqgan_model == name
    pytti = {**PYTTI_DEFAULT, "image_model": "VQGAN"}
    del pytti["vqgan_model"]
    assert from_pytti(pytti)[0]["vqgan_model"] == "sflckr"  # PyTTI's default


@pytest.mark.parametrize("mode", ["2D", "3D", False])
def test_2d_and_3d_settings_files_import_with_their_motion_and_stabilisation(mode):
    pytti = {
        **PYTTI_DEFAULT,
        "animation_mode": mode,  # False: YAML's unquoted off
        "translate_x": "-1700*sin(radians(1.5))",
        "translate_z_3d": "(50+10*t)*sin(t/10*pi)**2",
        "rotate_3d": "[cos(radians(1.5)), 0, -sin(radians(1.5))/sqrt(2), sin(radians(1.5))/sqrt(2)]",
        "rotate_2d": "5*sin(t)",
        "direct_stabilization_weight": "1:-0.5",
        "edge_stabilization_weight": "0.5",
        "semantic_stabilization_weight": "",
    }
    del pytti["reset_lr_each_frame"], pytti["pre_animation_steps"]
    ours, notes = from_pytti(pytti)
    s = from_dict({**ours, "models_cache_dir": "", "depth_model": "none"})
    assert s.animation_mode == (mode or "off")
    assert s.translate_z_3d == "(50+10*t)*sin(t/10*pi)**2" and s.rotate_2d == "5*sin(t)"
    assert s.direct_stabilization_weight == "1:-0.5" and s.semantic_stabilization_weight == "0"
    if mode:  # PyTTI's own defaults for what the file leaves out, so t and Adam mean the same
        assert s.pre_animation_steps == 50 and s.reset_lr_each_frame is True
        assert any(n.startswith("reset_lr_each_frame: not given") for n in notes)


def test_video_source_and_audio_files_import(tmp_path):
    pytti = {
        **PYTTI_DEFAULT,
        "animation_mode": "Video Source",
        "video_path": "clip.mp4",
        "frame_stride": 2,
        "reencode_each_frame": False,
        "flow_long_term_samples": 2,
        "flow_stabilization_weight": "2_[-mask.mp4]",
        "input_audio": "song.mp3",
        "input_audio_offset": 3.5,
        "input_audio_filters": [
            {"variable_name": "fLo", "f_center": 80, "f_width": 20, "order": 6},
            {"variable_name": "fHi", "f_center": 3000, "f_width": 600, "order": 4},
        ],
        "translate_x": "10*fLo",
    }
    ours, _ = from_pytti(pytti)
    s = from_dict({**ours, "models_cache_dir": ""})
    assert (s.animation_mode, s.video_path, s.frame_stride) == ("Video Source", "clip.mp4", 2)
    assert s.reencode_each_frame is False and s.flow_long_term_samples == 2
    assert s.flow_stabilization_weight == "2_[-mask.mp4]" and s.input_audio_offset == 3.5
    assert [f["variable_name"] for f in s.input_audio_filters] == ["fLo", "fHi"]
    assert s.input_audio_filters[0]["order"] == 6


def test_cli_import(tmp_path):
    import subprocess
    import sys

    src = tmp_path / "pytti.yaml"
    src.write_text(yaml.safe_dump({**PYTTI_DEFAULT, "models_parent_dir": str(tmp_path)}))
    run = subprocess.run(
        [sys.executable, "-m", "pytti_nb", "import-pytti", str(src), str(tmp_path / "ours.yaml")],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr
    ours = yaml.safe_load((tmp_path / "ours.yaml").read_text())
    assert ours["perceptors"] == ["ViT-B-32@openai", "ViT-B-16@openai"]
