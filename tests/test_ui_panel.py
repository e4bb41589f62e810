"""The settings panel: schema -> widgets -> settings, validation as you type, simple/advanced."""

import html

import ipywidgets as widgets
import pytest

from pytti_nb.config.schema import Settings, schema, schema_by_name
from pytti_nb.config.settings import from_dict, to_dict
from pytti_nb.ui import compat
from pytti_nb.ui.panel import SettingsPanel
from pytti_nb.ui.studio import Studio

pytestmark = pytest.mark.colab_stack

# Text settings whose free-text stand-in would not parse.
TEXT_VALUES = {
    "scenes": "a red circle:2 | blue sky:0.5 || a forest",
    "scene_suffix": " | text:-1:-.9",
    "direct_image_prompts": "a.png:0.5",
    "file_namespace": "my_run",
}


def changed_value(info):
    """A valid value different from the default, for any setting the schema declares."""
    default = info.default
    if info.kind == "bool":
        return not default
    if info.kind == "choice":
        return next((c for c in info.choices if c != default), default)
    if info.kind == "int":
        value = (info.min if default is None else default) + 1
        return value if value <= info.max else info.max - 1
    if info.kind == "float":
        middle = (info.min + info.max) / 2
        return middle if default != middle else info.min
    if info.kind in ("schedule", "motion"):
        return "0:(0.5), 10:(0.1)"
    if info.kind == "quaternion":
        return "[1, 0, 0.1, 0]"
    if info.kind == "pixel_weight":
        return "0.5:-0.2"
    if info.kind == "clip_weight":
        return "1_r"
    if info.kind == "audio_filters":
        return [{"variable_name": "fLo", "f_center": 80.0, "f_width": 40.0, "order": 5}]
    if info.kind == "list":
        return ["demo", "ViT-B-32@openai"]
    return TEXT_VALUES.get(info.name, f"/tmp/{info.name}_value")


CHANGED = {info.name: changed_value(info) for info in schema()}


def test_changed_values_differ_from_every_default():
    defaults = to_dict(Settings())
    # only a setting with a single allowed value may stay at its default
    assert {k for k in CHANGED if CHANGED[k] == defaults[k]} <= {
        i.name for i in schema() if i.kind == "choice" and len(i.choices) == 1
    }


def test_every_setting_has_a_control_named_after_it_with_its_help_as_tooltip():
    panel = SettingsPanel()
    for info in schema():
        control = panel.controls[info.name]
        assert control.description == info.name
        assert compat.tooltip_of(control) == info.help
        assert panel.errors[info.name].value == "" or info.name == "scenes"


@pytest.mark.parametrize(
    "name, kind",
    [
        ("scenes", widgets.Textarea),
        ("file_namespace", widgets.Text),
        ("allow_overwrite", widgets.Checkbox),
        ("border_mode", widgets.Dropdown),
        ("smoothing_weight", widgets.Text),
        ("seed", widgets.Text),
        ("learning_rate", widgets.Text),
        ("steps_per_scene", widgets.BoundedIntText),
        ("cutout_flip", widgets.FloatSlider),
        ("pixel_size", widgets.IntSlider),
        ("perceptors", widgets.Text),
        ("frames_per_second", widgets.BoundedFloatText),
    ],
)
def test_widget_type_follows_the_schema_kind(name, kind):
    assert type(SettingsPanel().controls[name]) is kind


def test_dropdowns_offer_exactly_the_schema_choices():
    panel = SettingsPanel()
    for info in schema():
        if info.kind == "choice":
            assert tuple(panel.controls[info.name].options) == info.choices


def test_settings_round_trip_through_the_controls():
    settings = from_dict(CHANGED)
    panel = SettingsPanel(settings)
    assert panel.valid, panel.problems
    assert panel.settings() == settings
    assert panel.controls["perceptors"].value == "demo, ViT-B-32@openai"
    assert panel.controls["seed"].value == str(CHANGED["seed"])


def test_loading_settings_updates_every_control():
    panel = SettingsPanel()
    panel.set_settings(from_dict(CHANGED))
    for name, value in CHANGED.items():
        shown = panel.controls[name].value
        if name == "input_audio_filters":  # one YAML mapping per line
            assert shown == "- {variable_name: fLo, f_center: 80.0, f_width: 40.0, order: 5}\n"
        elif isinstance(value, list):
            assert shown == ", ".join(value)
        elif schema_by_name()[name].optional:  # a text box: empty means automatic
            assert shown == str(value)
        else:
            assert shown == value, name


def test_changing_controls_changes_the_settings():
    panel = SettingsPanel(from_dict({"scenes": "a cat"}))
    panel.controls["scenes"].value = "a dog | a cat:-1"
    panel.controls["width"].value = 77
    panel.controls["seed"].value = ""
    panel.controls["learning_rate"].value = " 0.5 "
    panel.controls["perceptors"].value = "demo,  ViT-B-16@openai"
    panel.controls["border_mode"].value = "wrap"
    panel.controls["allow_overwrite"].value = True
    panel.controls["smoothing_weight"].value = "sin(t)"
    s = panel.settings()
    assert (s.scenes, s.width, s.seed, s.learning_rate) == ("a dog | a cat:-1", 77, None, 0.5)
    assert s.perceptors == ["demo", "ViT-B-16@openai"]
    assert (s.border_mode, s.allow_overwrite, s.smoothing_weight) == ("wrap", True, "sin(t)")


@pytest.mark.parametrize(
    "name, bad, quoted, good",
    [
        ("scenes", "a cat:two", "'two'", "a cat:2"),
        ("scenes", "a cat:(2", "unbalanced '('", "a cat:(2)"),
        ("smoothing_weight", "sin(", "sin(", "sin(t)"),
        ("seed", "abc", "'abc'", "7"),
        ("learning_rate", "-3", "out of range", "0.3"),
        ("perceptors", " , ", "at least one entry", "demo"),
    ],
)
def test_invalid_text_shows_the_error_beside_its_box_and_disables_render(name, bad, quoted, good):
    studio = Studio(from_dict({"scenes": "a cat"}))
    assert not studio.render_button.disabled
    studio.panel.controls[name].value = bad
    error = html.unescape(studio.panel.errors[name].value)
    assert quoted in error
    assert "pytti-field-error" in studio.panel.errors[name]._dom_classes
    assert studio.render_button.disabled
    assert not studio.panel.valid
    studio.panel.controls[name].value = good
    assert studio.panel.errors[name].value == ""
    assert not studio.render_button.disabled


def test_prefix_error_shows_beside_the_scenes_and_clears_with_the_prefix():
    panel = SettingsPanel(from_dict({"scenes": "a cat"}))
    panel.controls["scene_prefix"].value = "style:(2 | "
    assert "unbalanced" in panel.errors["scenes"].value
    assert not panel.valid
    panel.controls["scene_prefix"].value = "painting of "
    assert panel.valid and panel.errors["scenes"].value == ""


def test_empty_scenes_are_an_error_with_an_example():
    panel = SettingsPanel()
    assert "give at least one prompt" in panel.errors["scenes"].value
    with pytest.raises(Exception) as e:
        panel.settings()
    assert "scenes" in str(e.value)


def test_simple_view_shows_simple_settings_and_advanced_shows_all():
    panel = SettingsPanel()
    defaults = to_dict(Settings())
    shown = [i for i in schema() if i.visible(defaults)]  # animation off, Unlimited Palette
    simple = [i.name for i in shown if i.simple]
    assert sorted(panel.visible_names()) == sorted(simple)
    assert "border_mode" not in panel.visible_names()
    panel.advanced.value = True
    assert sorted(panel.visible_names()) == sorted(i.name for i in shown)
    assert set(compat.titles_of(panel.tabs)) == {i.group.split(" and ")[0] for i in schema()}
    panel.advanced.value = False
    assert sorted(panel.visible_names()) == sorted(simple)


def test_motion_settings_appear_with_their_animation_mode_on_the_same_tab():
    panel = SettingsPanel()
    panel.tabs.selected_index = compat.titles_of(panel.tabs).index("Animation")
    assert "translate_x" not in panel.visible_names()
    panel.controls["animation_mode"].value = "2D"
    names = panel.visible_names()
    assert {"translate_x", "translate_y", "rotate_2d", "zoom_x_2d"} <= set(names)
    assert "translate_z_3d" not in names and "rotate_3d" not in names
    assert compat.titles_of(panel.tabs)[panel.tabs.selected_index] == "Animation"
    panel.controls["animation_mode"].value = "3D"
    names = panel.visible_names()
    assert {"translate_x", "translate_z_3d", "rotate_3d"} <= set(names)
    assert "rotate_2d" not in names
    panel.advanced.value = True
    assert {"field_of_view", "depth_model", "direct_stabilization_weight"} <= set(
        panel.visible_names()
    )


def test_tabs_follow_the_group_order_and_hold_their_settings():
    panel = SettingsPanel()
    panel.advanced.value = True
    titles = list(compat.titles_of(panel.tabs))
    assert titles[:3] == ["Prompts", "Image", "Perceptors"]
    page = panel.tabs.children[titles.index("Cutouts")]
    defaults = Settings()  # a row shows when the defaults meet its visible_when
    assert {row.children[0].description for row in page.children} == {
        i.name
        for i in schema()
        if i.group == "Cutouts"
        and all(getattr(defaults, k) in v for k, v in (i.visible_when or {}).items())
    }


def test_loading_settings_notifies_listeners_once():
    panel = SettingsPanel()
    calls = []
    panel.on_change(lambda p: calls.append(p.valid))
    panel.set_settings(from_dict(CHANGED))
    assert calls == [True]
    panel.controls["width"].value = 99
    assert calls == [True, True]


def test_each_image_models_settings_appear_only_when_it_is_chosen():
    panel = SettingsPanel()
    panel.advanced.value = True
    own = {
        "Limited Palette": {"palette_size", "palettes", "gamma", "lock_palette", "target_palette"},
        "VQGAN": {"vqgan_model"},
        "FFT": {"fft_decay"},
    }
    everyone = set().union(*own.values())
    for model in schema_by_name()["image_model"].choices:
        panel.controls["image_model"].value = model
        shown = set(panel.visible_names())
        assert own.get(model, set()) <= shown, model
        assert not (everyone - own.get(model, set())) & shown, model
        assert {"optimizer", "learning_rate"} <= shown
