"""One widget per setting, chosen from its schema kind; values go in and out as coerce() input."""

import math

import ipywidgets as widgets
import yaml

from ..config.schema import SettingInfo
from .compat import tip

# Ranges this narrow read better as sliders than as number boxes.
FLOAT_SLIDER_SPAN = 180.0
INT_SLIDER_SPAN = 64
DESCRIPTION_WIDTH = "170px"
CONTROL_WIDTH = "390px"


def make_control(info: SettingInfo) -> widgets.Widget:
    """The widget for one setting, showing its default, with the help text as tooltip."""
    return tip(_widget(info), info.help)


def _widget(info: SettingInfo) -> widgets.Widget:
    """The widget kind that suits one setting, showing its default."""
    common = dict(
        description=info.name,
        style={"description_width": DESCRIPTION_WIDTH},
        layout=widgets.Layout(width=CONTROL_WIDTH),
    )
    value = to_widget_value(info, info.default)
    if info.kind == "bool":
        return widgets.Checkbox(value=value, indent=True, **common)
    if info.kind == "choice":
        return widgets.Dropdown(options=list(info.choices), value=value, **common)
    if info.kind in ("int", "float") and not info.optional:
        return _number(info, value, common)
    if info.rows:
        return widgets.Textarea(
            value=value, rows=info.rows, placeholder=_placeholder(info), **common
        )
    return widgets.Text(value=value, placeholder=_placeholder(info), **common)


def _number(info, value, common):
    """A slider for narrow ranges, else a bounded number box."""
    span = info.max - info.min
    if info.kind == "float":
        if span <= FLOAT_SLIDER_SPAN:
            step = 10.0 ** math.floor(math.log10(span / 1000))
            return widgets.FloatSlider(
                value=value,
                min=info.min,
                max=info.max,
                step=step,
                readout_format=".4g",
                continuous_update=False,
                **common,
            )
        return widgets.BoundedFloatText(value=value, min=info.min, max=info.max, **common)
    if span <= INT_SLIDER_SPAN:
        return widgets.IntSlider(
            value=value, min=info.min, max=info.max, continuous_update=False, **common
        )
    return widgets.BoundedIntText(value=value, min=info.min, max=info.max, **common)


def _placeholder(info):
    """Grey hint text for empty boxes."""
    return "empty: automatic" if info.optional else info.placeholder


def to_widget_value(info: SettingInfo, value):
    """A setting value as its widget shows it (lists comma-joined, empty optionals as '')."""
    if info.optional:
        return "" if value is None else str(value)
    if info.kind == "list":
        return ", ".join(value)
    if info.kind == "audio_filters":  # one YAML flow mapping per line
        return "".join(
            "- " + yaml.safe_dump(band, default_flow_style=True, sort_keys=False) for band in value
        )
    if info.kind not in ("int", "float", "bool", "choice"):
        return str(value)
    return value


def from_widget_value(info: SettingInfo, value):
    """A widget value as raw input for settings.coerce."""
    if isinstance(value, str):
        return value.strip() if info.optional or info.kind in ("int", "float") else value
    return value
