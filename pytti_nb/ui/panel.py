"""The settings panel: controls generated from the schema, grouped, validated as you type."""

import html
from contextlib import contextmanager

import ipywidgets as widgets

from ..config.schema import GROUPS, Settings, schema
from ..config.settings import to_dict
from ..config.values import coerce
from ..errors import PyttiError, SettingsError
from .compat import set_titles, tip, titles_of
from .controls import from_widget_value, make_control, to_widget_value

ERROR_CLASS = "pytti-field-error"
ERROR_WIDTH = "260px"
PANEL_WIDTH = "680px"
CSS_CLASS = {info.name: info.css for info in schema() if info.css}


class SettingsPanel:
    """Every setting as a widget; `settings()` reads them, `set_settings()` writes them."""

    def __init__(self, settings: Settings | None = None):
        self.infos = {info.name: info for info in schema()}
        self.controls, self.errors, self.rows = {}, {}, {}
        for name, info in self.infos.items():
            self.controls[name] = make_control(info)
            self.errors[name] = widgets.HTML(
                "", layout=widgets.Layout(margin="0 0 0 8px", width=ERROR_WIDTH)
            )
            self.errors[name].add_class(ERROR_CLASS)
            self.rows[name] = widgets.HBox([self.controls[name], self.errors[name]])
            if name in CSS_CLASS:
                self.controls[name].add_class(CSS_CLASS[name])
            self.controls[name].observe(self._changed(name), names="value")
        self._listeners, self._held, self.problems = [], 0, {}
        self.advanced = tip(
            widgets.ToggleButton(value=False, description="Show all settings", icon="sliders"),
            "Switch between the dozen settings most people touch and every setting",
        )
        self.advanced.add_class("pytti-advanced")
        self.advanced.observe(lambda change: self._layout(), names="value")
        self.tabs = widgets.Tab()
        self.widget = widgets.VBox(
            [self.advanced, self.tabs], layout=widgets.Layout(width=PANEL_WIDTH)
        )
        self.widget.add_class("pytti-panel")
        if settings is not None:
            self.set_settings(settings)
        self._validate_all()
        self._layout()

    # -- reading and writing ---------------------------------------------------------

    def raw_values(self) -> dict:
        """Every control's value as raw settings input (not yet checked)."""
        return {
            name: from_widget_value(info, self.controls[name].value)
            for name, info in self.infos.items()
        }

    def settings(self) -> Settings:
        """The settings the controls show; raises SettingsError listing every invalid field."""
        if self.problems:
            raise SettingsError([f"{k}: {v}" for k, v in self.problems.items()])
        return Settings(
            **{name: coerce(self.infos[name], raw) for name, raw in self.raw_values().items()}
        )

    def set_settings(self, settings: Settings) -> None:
        """Show these settings in the controls (one change notification at the end)."""
        with self.hold():
            for name, value in to_dict(settings).items():
                self.controls[name].value = to_widget_value(self.infos[name], value)

    def set_value(self, name: str, value) -> None:
        """Show one setting value in its control."""
        self.controls[name].value = to_widget_value(self.infos[name], value)

    @property
    def valid(self) -> bool:
        """True when every field passes its check."""
        return not self.problems

    # -- change notification ---------------------------------------------------------

    def on_change(self, callback) -> None:
        """Call callback(panel) after any control changes (once per batch under hold())."""
        self._listeners.append(callback)

    @contextmanager
    def hold(self):
        """Batch many control changes into one validation pass and one notification."""
        self._held += 1
        try:
            yield
        finally:
            self._held -= 1
            if not self._held:
                self._validate_all()
                self._layout()
                self._notify()

    def _changed(self, name):
        """The observer for one control: re-check it (and its dependants), then notify."""

        def handler(change):
            if self._held:
                return
            self._validate(name)
            for other, info in self.infos.items():
                if info.kind == "scenes" and other != name:
                    self._validate(other)  # scenes are parsed with the prefix and suffix
            if any(name in info.visible_when for info in self.infos.values()):
                self._layout()  # e.g. the animation mode shows or hides the motion settings
            self._notify()

        return handler

    def _notify(self):
        """Tell every listener that the panel changed."""
        for callback in self._listeners:
            callback(self)

    # -- validation ------------------------------------------------------------------

    def _validate_all(self):
        """Check every field."""
        for name in self.infos:
            self._validate(name)

    def _validate(self, name):
        """Check one field and show its problem beside it (or clear it)."""
        problem = self.field_problem(name)
        if problem:
            self.problems[name] = problem
        else:
            self.problems.pop(name, None)
        # monospace and pre-wrap keep the caret line under the bad part of a prompt
        self.errors[name].value = (
            f"<div style='color:#b00020;white-space:pre-wrap;"
            f"font-family:monospace;font-size:11px;line-height:1.3'>"
            f"{html.escape(problem)}</div>"
            if problem
            else ""
        )

    def field_problem(self, name: str) -> str | None:
        """What is wrong with one field's current text, or None."""
        info = self.infos[name]
        try:
            value = coerce(info, from_widget_value(info, self.controls[name].value))
            if info.kind == "scenes":
                from ..lang.prompts import parse_scenes

                parse_scenes(value, self._text("scene_prefix"), self._text("scene_suffix"))
            elif info.kind == "direct_prompts":
                from ..lang.prompts import parse_direct_image_prompts

                parse_direct_image_prompts(value)
        except (ValueError, PyttiError) as e:
            return str(e)
        return None

    def _text(self, name):
        """The raw text of a text control."""
        return str(self.controls[name].value)

    # -- simple / advanced view ------------------------------------------------------

    def _layout(self):
        """Fill the tabs: simple settings only, or every setting when advanced is on; a setting
        whose visible_when does not hold (motion while animation is off) is hidden."""
        everything = self.advanced.value
        values = {name: control.value for name, control in self.controls.items()}
        selected = self._selected_title()
        pages, titles = [], []
        for group in _groups(self.infos.values()):
            names = [
                n
                for n, info in self.infos.items()
                if info.group == group and (everything or info.simple) and info.visible(values)
            ]
            if names:
                pages.append(widgets.VBox([self.rows[n] for n in names]))
                titles.append(group.split(" and ")[0])  # "Prompts and scenes" -> "Prompts"
        self.tabs.children = pages
        set_titles(self.tabs, titles)
        # stay on the tab the artist was using when its neighbours appear or vanish
        self.tabs.selected_index = titles.index(selected) if selected in titles else 0

    def _selected_title(self):
        """Title of the selected tab, or None."""
        index = self.tabs.selected_index
        titles = titles_of(self.tabs)
        return titles[index] if index is not None and index < len(titles) else None

    def visible_names(self) -> list[str]:
        """Names of the settings the current view shows."""
        return [row.children[0].description for page in self.tabs.children for row in page.children]


def _groups(infos):
    """Groups in the schema's order, plus any group a setting names that GROUPS lacks."""
    used = [info.group for info in infos]
    return [g for g in GROUPS if g in used] + sorted(set(used) - set(GROUPS))
