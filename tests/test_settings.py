"""Settings: schema coercion, file round-trips, overrides and error messages."""

import json

import pytest
import yaml

from pytti_nb.config.files import load_settings, save_settings
from pytti_nb.config.overrides import apply_overrides
from pytti_nb.config.schema import Settings, schema
from pytti_nb.config.settings import from_dict, to_dict
from pytti_nb.errors import SettingsError


def test_every_setting_has_help_group_and_valid_default():
    for s in schema():
        assert s.help and s.group and s.kind
        # the default itself must pass the setting's own checks
        from pytti_nb.config.values import coerce

        if s.default is not None and s.default != "":
            assert coerce(s, s.default) == s.default


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_file_round_trip(tmp_path, suffix):
    s = from_dict(
        {
            "scenes": "a | b:2 || c",
            "width": 64,
            "perceptors": ["demo"],
            "smoothing_weight": "0:(1), 30:(0.1)",
            "seed": 7,
        }
    )
    path = tmp_path / f"s{suffix}"
    save_settings(s, path)
    assert load_settings(path) == s
    raw = json.loads(path.read_text()) if suffix == ".json" else yaml.safe_load(path.read_text())
    assert raw["scenes"] == "a | b:2 || c" and raw["seed"] == 7


def test_unknown_key_gets_did_you_mean():
    with pytest.raises(SettingsError) as e:
        from_dict({"widht": 10})
    assert e.value.problems == ["widht: unknown setting; did you mean 'width'?"]


def test_every_problem_reported_at_once_naming_the_setting():
    with pytest.raises(SettingsError) as e:
        from_dict({"width": 100000, "cut_pow": "big", "border_mode": "round", "cutouts": 2.5})
    text = "\n".join(e.value.problems)
    assert len(e.value.problems) == 4
    assert "width: 100000 is out of range; expected an integer from -1 to 4096" in text
    assert "cut_pow: 'big' is not a number" in text
    assert "border_mode: 'round' is not allowed; expected one of 'clamp', 'mirror'" in text
    assert "cutouts: 2.5 is not an integer" in text


def test_bad_schedule_is_rejected_with_setting_name():
    with pytest.raises(SettingsError) as e:
        from_dict({"smoothing_weight": "__import__('os')"})
    assert e.value.problems[0].startswith("smoothing_weight:")
    assert "__import__" in e.value.problems[0]


def test_overrides_are_typed_like_yaml():
    data = apply_overrides(
        {},
        [
            "width=64",
            "allow_overwrite=true",
            "perceptors=demo,RN50@openai",
            "scenes=a red circle | blue:-1",
            "learning_rate=",
        ],
    )
    s = from_dict(data)
    assert s.width == 64 and s.allow_overwrite is True
    assert s.perceptors == ["demo", "RN50@openai"]
    assert s.scenes == "a red circle | blue:-1" and s.learning_rate is None


def test_override_without_equals_is_an_error():
    with pytest.raises(SettingsError, match="expected KEY=VALUE"):
        apply_overrides({}, ["width"])


def test_choices_are_case_insensitive_and_canonical():
    assert from_dict({"border_mode": "MIRROR"}).border_mode == "mirror"


def test_unreadable_and_malformed_files(tmp_path):
    with pytest.raises(SettingsError, match="cannot read"):
        load_settings(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("scenes: [unclosed")
    with pytest.raises(SettingsError, match="not valid YAML"):
        load_settings(bad)
    with pytest.raises(SettingsError, match="unknown type"):
        load_settings(tmp_path / "x.toml")
    listed = tmp_path / "list.yaml"
    listed.write_text("- a\n- b\n")
    with pytest.raises(SettingsError, match="expected 'name: value' settings"):
        load_settings(listed)


def test_defaults_match_dataclass():
    assert to_dict(from_dict({})) == to_dict(Settings())


def test_large_integers_stay_exact_from_text():
    seed = 3922585993845962303  # 62 bits: a float would round it
    assert from_dict({"seed": str(seed)}).seed == seed
    assert from_dict({"seed": seed}).seed == seed


@pytest.mark.parametrize(
    "seed,ours",
    [
        (0, 0),
        (2**63 - 1, 2**63 - 1),
        (2**63, 0),
        (-1, 2**63 - 1),
        (-4854551145582748953, 4368820891272026855),  # pytti-core's demo.yaml
        (2**64 - 1, 2**63 - 1),
        ("-4854551145582748953", 4368820891272026855),
    ],
)
def test_any_integer_seed_maps_into_range_modulo_2_to_the_63(seed, ours):
    assert from_dict({"seed": seed}).seed == ours
    assert from_dict({"seed": ours}).seed == ours  # in range: unchanged, so the mapping is stable


@pytest.mark.parametrize("seed", [1.5, True, "abc"])
def test_seeds_must_be_integers(seed):
    with pytest.raises(SettingsError, match="seed"):
        from_dict({"seed": seed})


def test_display_every_0_means_never():
    assert from_dict({"display_every": 0}).display_every == 0
    with pytest.raises(SettingsError, match="display_every"):
        from_dict({"display_every": -1})


def test_files_and_text_of_pytti_are_converted_and_ours_are_not(tmp_path):
    from pytti_nb.config.files import read_settings_file, settings_from_text

    ours = tmp_path / "ours.yaml"
    ours.write_text("scenes: a\nwidth: 64\n")
    assert read_settings_file(ours, ["width=32"]) == ({"scenes": "a", "width": 32}, None)
    pytti = tmp_path / "pytti.yaml"
    pytti.write_text("# @package _global_\nscenes: a\nsave_every: ${steps_per_frame}\n")
    data, notes = read_settings_file(pytti, ["width=32"])
    assert data["save_every"] == 50 and data["width"] == 32 and data["pixel_size"] == 1
    assert isinstance(notes, list)
    assert load_settings(pytti, ["width=32"]) == from_dict(data)
    txt = tmp_path / "run_settings.txt"  # a .txt is always PyTTI's: we never write one
    txt.write_text('{"scenes": "a", "seed": -1}\n\nb\'0.00: a\'\n')
    assert load_settings(txt).seed == 2**63 - 1
    data, notes = settings_from_text("{'scenes': 'b', 'learning_rate': None}")
    assert data["scenes"] == "b" and data["learning_rate"] is None and notes is not None
    assert settings_from_text("scenes: c") == ({"scenes": "c"}, None)
    with pytest.raises(SettingsError, match="pasted settings: not valid YAML"):
        settings_from_text("scenes: [unclosed")
