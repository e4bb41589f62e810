"""Importing PyTTI settings: defaults, interpolations, file forms, perceptors, seeds, notes."""

from pathlib import Path

import pytest
import yaml

from pytti_nb.config.pytti_forms import parse_pytti_text, python_literal
from pytti_nb.config.pytti_import import from_pytti, import_pytti, is_pytti, pytti_defaults
from pytti_nb.config.settings import from_dict
from pytti_nb.errors import SettingsError

FILES = Path(__file__).parent / "pytti_files"

# A complete PyTTI settings mapping, as the notebook's settings look (animation off).
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


def converted(data, *overrides):
    """Our Settings for a PyTTI mapping (with our overrides), and the notes."""
    ours, notes = import_pytti(data, overrides)
    return from_dict(ours), notes


def test_pytti_default_imports_to_valid_settings():
    s, notes = converted(PYTTI_DEFAULT)
    assert s.perceptors == ["ViT-B-32@openai", "ViT-B-16@openai"]
    assert s.scene_suffix == " | text:-1:-.9" and s.cutouts == 40 and s.seed is None
    assert s.direct_init_weight == "0" and s.learning_rate is None
    assert s.models_cache_dir == ""  # ${user_cache:}: PyTTI's cache folder is our default cache
    assert s.animation_mode == "off" and s.vqgan_model == "sflckr"
    assert (s.palette_size, s.palettes, s.gamma, s.hdr_weight) == (6, 9, 1, 0.01)
    assert s.pre_animation_steps == 100  # kept for a still image too: it shifts t
    assert any(n.startswith("clear_every, display_scale") for n in notes)


def test_the_vendored_defaults_are_pytti_cores_default_yaml():
    core = yaml.safe_load((FILES / "core_default.yaml").read_text())
    del core["defaults"]  # Hydra's defaults list, not a setting
    assert pytti_defaults() == core


def test_keys_left_out_take_pyttis_own_defaults_with_notes_where_ours_differ():
    s, notes = converted({"scenes": "a castle"})
    assert (s.width, s.height, s.pixel_size) == (512, 512, 1)
    assert (s.pre_animation_steps, s.display_every, s.steps_per_scene) == (50, 50, 100)
    assert s.perceptors == ["ViT-B-32@openai"] and s.seed is None and s.models_cache_dir == ""
    assert (s.palette_size, s.palettes, s.vqgan_model) == (5, 20, "sflckr")
    named = {n.split(":")[0] for n in notes}
    assert {"width", "height", "pixel_size", "pre_animation_steps", "display_every"} <= named
    # same as ours, or not in force for this image model and mode: nothing to say
    assert not named & {"cutouts", "palette_size", "vqgan_model", "reset_lr_each_frame", "seed"}
    assert any("PyTTI's default 512 is used (pytti_nb's own default is 180)" in n for n in notes)
    s, notes = converted({"scenes": "a", "image_model": "VQGAN", "animation_mode": "2D"})
    named = {n.split(":")[0] for n in notes}
    assert {"vqgan_model", "reset_lr_each_frame"} <= named and s.reset_lr_each_frame is True


def test_overrides_of_ours_silence_the_default_notes_and_pytti_keys_apply_before():
    s, notes = converted({"scenes": "a"}, "width=64", "ViTB16=true")
    assert s.width == 64 and not any(n.startswith("width:") for n in notes)
    assert s.perceptors == ["ViT-B-32@openai", "ViT-B-16@openai"]


@pytest.mark.parametrize(
    "change",
    [
        {"use_mmc": True, "mmc_models": [{"architecture": "cloob", "id": "x"}]},
        {"use_mmc": True, "mmc_models": [{"architecture": "clip", "publisher": "sbert"}]},
        {"use_mmc": True},
    ],
)
def test_mmc_models_pytti_nb_cannot_load_are_refused_by_name(change):
    with pytest.raises(SettingsError) as e:
        from_pytti({**PYTTI_DEFAULT, **change})
    assert any(p.startswith(("mmc_models:", "use_mmc:")) for p in e.value.problems)
    s, _ = converted({**PYTTI_DEFAULT, **change}, "perceptors=[demo]")  # an override suffices
    assert s.perceptors == ["demo"]


def test_mmc_clip_models_map_to_open_clip_and_the_flags_are_ignored_as_in_pytti():
    models = [
        {"architecture": "clip", "publisher": "openai", "id": "ViT-L/14@336px"},
        {"architecture": "clip", "publisher": "mlfoundations", "id": "RN50-quickgelu--yfcc15m"},
        {"id": "RN50"},
    ]
    s, notes = converted({**PYTTI_DEFAULT, "use_mmc": True, "mmc_models": models})
    assert s.perceptors == ["ViT-L-14-336@openai", "RN50-quickgelu@yfcc15m", "RN50@openai"]
    assert any(n.startswith("ViTB32, ViTB16: ignored while use_mmc is on") for n in notes)
    # the pytti-book passed them as Hydra overrides: +use_mmc and a list in Hydra's syntax
    hydra = {"scenes": "a", "+use_mmc": True, "+mmc_models": "[{architecture:'clip',id:'RN50'}]"}
    assert converted(hydra)[0].perceptors == ["RN50@openai"]
    _, notes = converted({**PYTTI_DEFAULT, "mmc_models": models})
    assert "mmc_models: ignored: use_mmc is off (as in PyTTI)" in notes


def test_no_clip_flag_on_is_an_error_naming_the_flags_unless_perceptors_are_given():
    no_clip = {**PYTTI_DEFAULT, "ViTB32": False, "ViTB16": False}
    with pytest.raises(SettingsError) as e:
        from_pytti(no_clip)
    (problem,) = e.value.problems
    assert problem.startswith("ViTB32, ViTB16, ViTL14,") and "perceptors" in problem
    assert converted(no_clip, "perceptors=[demo]")[0].perceptors == ["demo"]


def test_scenes_are_required_as_in_pytti():
    with pytest.raises(SettingsError, match=r"scenes: PyTTI requires it"):
        from_pytti({"width": 64})
    assert converted({"width": 64}, "scenes=a cat")[0].scenes == "a cat"


@pytest.mark.parametrize("spelling", ["Limited Palette", "Limimted Palette"])
def test_limited_palette_files_import_with_every_palette_option(spelling):
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
    s, _ = converted(pytti)
    assert s.image_model == "Limited Palette"
    assert (s.palette_size, s.palettes, s.gamma, s.hdr_weight) == (3, 12, 2.2, 0.5)
    assert s.palette_normalization_weight == 0.1 and s.random_initial_palette
    assert s.lock_palette and s.show_palette
    del pytti["palette_size"], pytti["palettes"]
    s, notes = converted(pytti)  # left out: PyTTI's own defaults, not ours
    assert (s.palette_size, s.palettes) == (5, 20)
    assert any(n.startswith("palettes: not in the file; PyTTI's default 20") for n in notes)


@pytest.mark.parametrize("name", ["imagenet", "wikiart", "sflckr", "coco", "openimages"])
def test_vqgan_files_import_with_their_model(name):
    s, _ = converted({**PYTTI_DEFAULT, "image_model": "VQGAN", "vqgan_model": name})
    assert s.image_model == "VQGAN" and s.vqgan_model == name
    pytti = {**PYTTI_DEFAULT, "image_model": "VQGAN"}
    del pytti["vqgan_model"]
    assert converted(pytti)[0].vqgan_model == "sflckr"  # PyTTI's default
    s, notes = converted({**pytti, "vqgan_model": "sflickr"})  # the ezmode notebook's spelling
    assert s.vqgan_model == "sflckr" and any(n.startswith("vqgan_model: 'sflickr'") for n in notes)


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
    s, notes = converted(pytti, "depth_model=none")
    assert s.animation_mode == (mode or "off")
    assert s.translate_z_3d == "(50+10*t)*sin(t/10*pi)**2" and s.rotate_2d == "5*sin(t)"
    assert s.direct_stabilization_weight == "1:-0.5" and s.semantic_stabilization_weight == "0"
    # PyTTI's own defaults for what the file leaves out, so t and Adam mean the same
    assert s.pre_animation_steps == 50 and s.reset_lr_each_frame is True
    assert any(n.startswith("reset_lr_each_frame: not in the file") for n in notes) == bool(mode)


def test_video_source_and_audio_files_import():
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
    s, _ = converted(pytti)
    assert (s.animation_mode, s.video_path, s.frame_stride) == ("Video Source", "clip.mp4", 2)
    assert s.reencode_each_frame is False and s.flow_long_term_samples == 2
    assert s.flow_stabilization_weight == "2_[-mask.mp4]" and s.input_audio_offset == 3.5
    assert [f["variable_name"] for f in s.input_audio_filters] == ["fLo", "fHi"]
    assert s.input_audio_filters[0]["order"] == 6


# --- interpolations -------------------------------------------------------------------------


def test_interpolations_resolve_to_other_settings_keeping_their_type():
    s, _ = converted(
        {
            "scenes": "a",
            "steps_per_frame": 3,
            "save_every": "${steps_per_frame}",
            "display_every": "${save_every}",  # a chain
            "file_namespace": "run_${steps_per_frame}_${image_model}",  # inside text
            "pre_animation_steps": "${steps_per_scene}",  # PyTTI's default, not in the file
        }
    )
    assert (s.save_every, s.display_every, s.pre_animation_steps) == (3, 3, 100)
    assert s.file_namespace == "run_3_Unlimited Palette"


def test_pyttis_resolvers():
    s, _ = converted(
        {
            "scenes": "a",
            "seed": "${now:%f}",  # PyTTI's default seed: the clock's microseconds, i.e. draw one
            "models_parent_dir": "${user_cache:}",
            "file_namespace": "day_${now:%Y}",
            "init_image": "${oc.env:PYTTI_NB_SURELY_UNSET,start.png}",
        }
    )
    assert s.seed is None and s.models_cache_dir == ""
    assert s.file_namespace.startswith("day_20") and s.init_image == "start.png"
    s, _ = converted({"scenes": "a", "models_parent_dir": "${path_join:${user_cache:},pytti}"})
    assert s.models_cache_dir == "~/.cache/pytti"  # the same folder; no machine's home in it


@pytest.mark.parametrize(
    "value,problem",
    [
        ("${steps_per_frme}", "names no setting of the file or of PyTTI; did you mean"),
        ("${hydra:run.dir}", "uses the resolver 'hydra', which pytti_nb does not know"),
        ("${save_every}", "refers back to itself"),
    ],
)
def test_interpolations_that_cannot_resolve_are_errors_naming_them(value, problem):
    with pytest.raises(SettingsError) as e:
        from_pytti({"scenes": "a", "save_every": value})
    assert any(p.startswith("save_every: ") and problem in p for p in e.value.problems)


# --- what changes, and says so ----------------------------------------------------------------


@pytest.mark.parametrize(
    "seed,ours",
    [
        (-4854551145582748953, 4368820891272026855),  # pytti-core's demo.yaml
        (2**64 - 1, 2**63 - 1),  # the top of the notebook's random.randint range
        (-1, 2**63 - 1),
        ("-5", 2**63 - 5),
        (-7.0, 2**63 - 7),  # torch.manual_seed took whole floats
    ],
)
def test_seeds_outside_our_range_map_modulo_2_to_the_63_with_a_note(seed, ours):
    s, notes = converted({"scenes": "a", "seed": seed})
    assert s.seed == ours == int(seed) % 2**63
    assert any(n.startswith(f"seed: {int(seed)} is outside") for n in notes)
    assert converted({"scenes": "a", "seed": seed})[0].seed == ours  # the same seed, the same image


def test_seeds_in_range_stay_and_non_numbers_are_errors():
    s, notes = converted({"scenes": "a", "seed": 12345})
    assert s.seed == 12345 and not any(n.startswith("seed") for n in notes)
    with pytest.raises(SettingsError, match="seed: 'abc' is not an integer"):
        from_pytti({"scenes": "a", "seed": "abc"})


def test_pyttis_values_for_never_and_other_spellings_are_translated_with_notes():
    s, notes = converted(
        {
            "scenes": "a",
            "display_every": 1000000000000000,  # the pytti-book's "never"
            "save_every": 10**13,
            "file_namespace": "",
            "image_model": "Limited Palette",
            "gamma": 0,  # permutations.ipynb: a flat brightness target, allowed as in PyTTI
        }
    )
    assert (s.display_every, s.save_every, s.file_namespace, s.gamma) == (0, 0, "out", 0.0)
    named = {n.split(":")[0] for n in notes}
    assert {"display_every", "save_every", "file_namespace"} <= named


def test_every_dropped_key_is_named_with_its_reason():
    _, notes = converted(
        {
            **PYTTI_DEFAULT,
            "backups": 5,
            "use_tensorboard": True,
            "device": 1,
            "resume": True,
            "translate_z_3D": 10,  # pytti-book Usage.md: PyTTI never read it
            "motion": "zoom_in_slow",  # a Hydra config group
            "defaults": ["_self_", {"conf": "_empty"}],  # default.yaml's own: nothing to say
            "conf": "demo",
            "~seed": None,
        }
    )
    named = {n.split(":")[0] for n in notes}
    assert {"backups", "use_tensorboard", "device", "resume", "translate_z_3D"} <= named
    assert {"motion", "conf", "~seed"} <= named and "defaults" not in named
    assert "did you mean 'translate_z_3d'?" in next(n for n in notes if n.startswith("translate_z"))
    at_defaults = next(n for n in notes if n.startswith("clear_every, display_scale"))
    assert "show_graphs" in at_defaults and "backups" not in at_defaults


def test_a_device_name_is_kept():
    assert converted({"scenes": "a", "device": "cpu"})[0].device == "cpu"


# --- the forms PyTTI settings come in -------------------------------------------------------


def test_the_notebooks_printed_dict_is_read_without_eval():
    text = (
        "SETTINGS:\n{'scenes': 'a | b', 'learning_rate': None, 'ViTB32': True, 'backups': inf,"
        " 'seed': -3, 'width': 180, 'input_audio_filters': [], 'near_plane': 1.5, 'x': (1, 2)}"
    )
    data = parse_pytti_text(text)
    assert data["learning_rate"] is None and data["ViTB32"] is True and data["seed"] == -3
    assert data["backups"] == float("inf") and data["x"] == [1, 2]
    assert parse_pytti_text("{'a': true, 'b': null}") == {"a": True, "b": None}  # pasted JSON


@pytest.mark.parametrize(
    "text",
    [
        "{'a': __import__('os').system('echo hacked')}",
        "{'a': open('x')}",
        "{'a': 1 + 1}",
        "{'a': [x for x in range(3)]}",
        "{'a': b'bytes'}",
        "{**other}",
        "{'a': " + "-" * 100_000 + "1}",
        "{'a': " + "[" * 300 + "]" * 300 + "}",
    ],
)
def test_the_literal_reader_runs_nothing(text):
    with pytest.raises(ValueError):
        python_literal(text)
    assert parse_pytti_text(text) is None  # left to YAML, which reads no code either


def test_a_settings_txt_is_its_json_without_the_scene_index():
    text = '{"scenes": "a || b", "seed": 5}\n\nb\'0.00: a\'\nb\'2.00: b\'\n'
    assert parse_pytti_text(text) == {"scenes": "a || b", "seed": 5}
    assert parse_pytti_text('{"scenes": "a"}') is None  # plain JSON: ours or PyTTI's, by keys


def test_batch_settings_with_one_run_import_and_with_several_are_refused():
    one = 'batch_index: 0\n{"scenes": "a"}\n\nb\'0.00: a\'\n\n\n'
    assert parse_pytti_text(one) == {"scenes": "a"}
    with pytest.raises(SettingsError, match="holds the settings of 2 runs"):
        parse_pytti_text(one + one.replace("0", "1", 1))


@pytest.mark.parametrize(
    "data,text,expected",
    [
        ({"scenes": "a"}, "# @package _global_\nscenes: a\n", True),
        ({"scenes": "a", "ViTB32": True}, "", True),
        ({"scenes": "a", "models_parent_dir": "x"}, "", True),
        ({"scenes": "a", "save_every": "${steps_per_frame}"}, "", True),
        ({"scenes": "a", "+use_mmc": True}, "", True),
        ({"image_model": "Limimted Palette"}, "", True),
        ({"scenes": "a", "width": 64, "device": "cpu"}, "scenes: a\n", False),
        ({"perceptors": ["demo"]}, "", False),
    ],
)
def test_pytti_files_are_told_from_ours(data, text, expected):
    assert is_pytti(data, text) is expected


def test_cli_import(tmp_path, capsys):
    from pytti_nb.cli import main

    src = tmp_path / "pytti.yaml"
    src.write_text(
        "# @package _global_\n"
        + yaml.safe_dump({**PYTTI_DEFAULT, "models_parent_dir": str(tmp_path), "seed": -1})
    )
    dest = tmp_path / "ours.yaml"
    assert main(["import-pytti", str(src), str(dest)]) == 0
    out = capsys.readouterr().out
    assert f"{src}: PyTTI settings, converted:" in out and "  - seed: -1 is" in out
    ours = yaml.safe_load(dest.read_text())
    assert ours["perceptors"] == ["ViT-B-32@openai", "ViT-B-16@openai"]
    assert ours["seed"] == 2**63 - 1 and ours["models_cache_dir"] == str(tmp_path)
    # perceptors given on the command line satisfy a file without a CLIP model
    src.write_text("# @package _global_\nscenes: a\nViTB32: false\n")
    args = ["import-pytti", str(src), str(dest), "--force"]
    assert main([*args, "--set", "perceptors=[demo]"]) == 0
    assert yaml.safe_load(dest.read_text())["perceptors"] == ["demo"]
    assert main(args) == 2
    assert "ViTB32, ViTB16" in capsys.readouterr().err


def test_perceptor_flags_beside_given_perceptors_and_a_zero_save_every_are_noted():
    s, notes = converted({"scenes": "a", "ViTB16": True, "save_every": 0}, "perceptors=[demo]")
    assert s.perceptors == ["demo"] and s.save_every == 0
    assert "ViTB16: ignored: the perceptors given choose the models" in notes
    assert any(n.startswith("save_every: 0 saved nothing in PyTTI") for n in notes)


def test_an_imported_file_keeps_pyttis_augmentations():
    ours, _ = from_pytti({**PYTTI_DEFAULT})
    assert ours["augmentations"] == "pytti"
    assert from_dict({**ours, "models_cache_dir": ""}).augmentations == "pytti"
