"""The studio: the settings panel, Render/Pause/Stop, the live preview and the run's outputs,
wired to a Runner. `build_studio()` is what the notebook calls."""

import asyncio
import html
from pathlib import Path

import ipywidgets as widgets

from ..config.files import read_render_settings, render_settings_from_text
from ..config.plan import plan_run
from ..config.schema import Settings
from ..config.settings import from_dict, replace
from ..errors import MissingModels, PerceptorError, PyttiError, RescuedRun, SettingsError
from ..resume import saved_run
from . import events, plots, preview
from .compat import accordion, tip
from .files import SettingsFiles, conversion_report, write_snapshot
from .media import MediaUpload
from .panel import SettingsPanel
from .runner import DONE, ERROR, PAUSED, STOPPED, Runner
from .setup import default_output_root
from .sweeps import SweepPanel

EDIT_SETTLE_S = 0.4  # a live edit reaches the render once the text has rested this long

MAX_INLINE_VIDEO_BYTES = 64 * 2**20  # larger videos are linked by path, not sent to the page
PREVIEW_WIDTH = "512px"


def build_studio(
    settings_file: str = "",
    output_root: str = "",
    *,
    settings_text: str = "",
    settings=None,
    models=None,
) -> "Studio":
    """A studio showing settings from a file, from settings text (a shared notebook's
    settings_yaml) or `settings`, writing under output_root; the file's or text's own
    output_root and allow_overwrite are not used (a note says so)."""
    if settings is None and (settings_file or settings_text):
        settings = _read_notebook_settings(str(settings_file), settings_text)
    settings = settings if settings is not None else Settings()
    if output_root:
        settings = replace(settings, output_root=str(output_root))
    return Studio(settings, models=models)


def _read_notebook_settings(settings_file: str, settings_text: str) -> Settings:
    """The settings the notebook's parameters name, checked as any settings file is; the
    conversion report of a PyTTI file and the output choices not used are printed."""
    which = "settings_file" if settings_file else "settings_yaml"
    hint = f"fix or empty {which} in the parameters cell, then run the cells again"
    if settings_file and settings_text:
        raise SettingsError(["give settings_file or settings_yaml, not both", hint])
    source = settings_file or "the notebook's settings_yaml"
    try:
        if settings_file:
            data, notes, dropped = read_render_settings(settings_file)
        else:
            data, notes, dropped = render_settings_from_text(settings_text, source)
        settings = from_dict(data, source=source)
    except SettingsError as e:
        raise SettingsError([*e.problems, hint]) from None
    if notes is not None or dropped:  # a PyTTI file's conversion, output choices not used
        print("\n".join([conversion_report(source, notes), *dropped]))
    return settings


class Studio:
    """The whole app; display it in a notebook (or serve it with Voila)."""

    def __init__(self, settings: Settings | None = None, *, models=None):
        self.panel = SettingsPanel(settings)
        self._planned = None  # the last plan the schedule preview drew: its media analyses
        self.runner = Runner(models, on_state=self._on_state, on_snapshot=self._on_snapshot)
        # Google Drive can vanish mid-render: the save point then goes to the notebook's folder
        self.runner.rescue_root = default_output_root(colab=False)
        self.models = self.runner.models
        self.loss_history = []
        self._build_widgets()
        self.panel.on_change(lambda panel: self._on_settings_changed())
        self._on_settings_changed()

    # -- layout ------------------------------------------------------------------------

    def _build_widgets(self):
        """Create every display and button and lay them out."""
        button = dict(layout=widgets.Layout(width="110px"))
        self.render_button = widgets.Button(
            description="Render", button_style="success", icon="paint-brush", **button
        )
        self.pause_button = widgets.Button(
            description="Pause", icon="pause", disabled=True, **button
        )
        self.stop_button = widgets.Button(
            description="Stop", button_style="", icon="stop", disabled=True, **button
        )
        self.snapshot_button = tip(
            widgets.Button(description="Snapshot", icon="camera", **button),
            "Save the preview as a PNG in the run folder (key: s)",
        )
        self.demo_button = widgets.Button(
            description="Use the offline demo perceptor",
            icon="plug",
            layout=widgets.Layout(width="260px", display="none"),
        )
        for widget, css in (
            (self.render_button, "pytti-render"),
            (self.stop_button, "pytti-stop"),
            (self.pause_button, "pytti-pause"),
            (self.demo_button, "pytti-use-demo"),
        ):
            widget.add_class(css)
        self.render_button.on_click(lambda _: self.render())
        self.pause_button.on_click(lambda _: self.toggle_pause())
        self.stop_button.on_click(lambda _: self.runner.stop())
        self.snapshot_button.on_click(lambda _: self._report(self.snapshot, "snapshot saved"))
        self.demo_button.on_click(lambda _: self.use_demo())
        self.status = _with_class(widgets.HTML("ready"), "pytti-status")
        self.progress = _with_class(
            widgets.IntProgress(value=0, min=0, max=1, layout=widgets.Layout(width="512px")),
            "pytti-progress",
        )
        self.progress_text = _with_class(widgets.HTML("step 0/0"), "pytti-progress-text")
        self.losses = widgets.HTML("")
        self.loss_plot = widgets.HTML("")
        self.preview = _with_class(
            widgets.Image(format="jpeg", layout=widgets.Layout(max_width=PREVIEW_WIDTH)),
            "pytti-preview",
        )
        self.palette = _with_class(
            widgets.Image(format="png", layout=widgets.Layout(display="none")), "pytti-palette"
        )
        self.full_size = tip(
            widgets.ToggleButton(description="Full size", icon="expand", **button),
            "Show the preview at its real size (or click the preview)",
        )
        self.full_size.observe(lambda change: self._zoom(change["new"]), names="value")
        self.video = widgets.VBox([])
        self.header = widgets.HTML("")
        self.files = SettingsFiles(
            get_settings=self.settings,
            apply_settings=self.apply_settings,
            resume=self.resume,
            default_folder=self._output_root(),
        )
        self.media = MediaUpload(folder=self._output_root, set_value=self.panel.set_value)
        self.schedules = widgets.HTML("")
        self.sweeps = SweepPanel(
            self._sweep_settings, blocked_by=self._sweep_blocked, on_change=self._sync_buttons
        )
        self.preview_events = events.attach_preview_events(self.preview, self._on_preview_event)
        extras = accordion(
            [self.files.widget, self.schedules, self.sweeps.widget],
            (
                "Settings files, copy & resume",
                "Schedule preview",
                "Sweep: a few seeds, or one setting's values",
            ),
        )
        extras.add_class("pytti-extras")
        controls = widgets.HBox(
            [
                self.render_button,
                self.pause_button,
                self.stop_button,
                self.snapshot_button,
                self.full_size,
            ]
        )
        output = widgets.VBox(
            [
                controls,
                self.demo_button,
                self.status,
                self.progress,
                self.progress_text,
                self.losses,
                self.preview,
                self.palette,
                self.loss_plot,
                self.video,
            ],
            # flex-start: children keep their own width (the preview its size)
            layout=widgets.Layout(min_width="520px", align_items="flex-start"),
        )
        body = widgets.HBox(
            [widgets.VBox([self.panel.widget, self.media.widget]), output],
            layout=widgets.Layout(flex_flow="row wrap", grid_gap="16px"),
        )
        self.widget = _with_class(widgets.VBox([self.header, body, extras]), "pytti-studio")

    def _ipython_display_(self, **kwargs):
        """Display as the studio's widget (the way both ipywidgets 7 and 8 take)."""
        from IPython.display import display

        display(self.widget)

    # -- actions -----------------------------------------------------------------------

    def settings(self) -> Settings:
        """The settings the panel shows; raises SettingsError when any field is invalid."""
        return self.panel.settings()

    def render(self):
        """Check the settings and start a render (a task when an event loop runs, else blocking)."""
        settings = self._checked_settings()
        if settings is None:
            return None
        return self._launch(settings=settings)

    def render_now(self):
        """Render in the foreground (headless runs); returns the Outcome, raises its error."""
        settings = self._checked_settings(raise_errors=True)
        self._before_run()
        outcome = self.runner.render_blocking(settings=settings)
        if outcome.error is not None:
            # headless runs (papermill, nbclient) must fail loudly; the status shows it too
            raise outcome.error
        return outcome

    def resume(self, run_dir) -> None:
        """Continue a stopped run from its folder (its checkpoint and saved settings)."""
        if self.runner.busy:
            raise PyttiError("a render is running; stop it before resuming another")
        folder = Path(run_dir).expanduser()
        _, saved = saved_run(folder)  # what is wrong with the folder or checkpoint, said plainly
        # show the run's own settings, so live edits steer from them and not from the panel's
        with self.panel.hold():
            self.panel.set_settings(saved)
        self._launch(resume_dir=str(folder))

    def toggle_pause(self) -> None:
        """Pause a running render, or resume a paused one."""
        if self.runner.pause_requested:
            self.runner.resume()
        else:
            self.runner.pause()
        self._sync_buttons()

    def use_demo(self) -> None:
        """Switch to the bundled offline demo model and the image settings it paints well with."""
        from ..demo import FRIENDLY_SETTINGS

        with self.panel.hold():
            self.panel.set_value("perceptors", ["demo"])
            for name, value in FRIENDLY_SETTINGS.items():
                self.panel.set_value(name, value)
        self.demo_button.layout.display = "none"
        changed = ", ".join(f"{k} {v}" for k, v in FRIENDLY_SETTINGS.items())
        self._set_status(
            f"switched to the offline demo perceptor, with settings it paints "
            f"well with ({changed}); press Render"
        )

    def _sweep_settings(self) -> Settings:
        """The panel's settings after the full plan_run() check, for a sweep (raises SettingsError)."""
        settings = self.settings()
        plan_run(settings, previous=self._planned)
        return settings

    def _sweep_blocked(self) -> str | None:
        """Why a sweep cannot start now, or None."""
        return "a render is running; stop it before sweeping" if self.runner.busy else None

    def apply_settings(self, data: dict) -> None:
        """Show a raw settings mapping in the panel; the output folder stays this session's."""
        settings = from_dict({**data, "output_root": self._output_root()})
        self.panel.set_settings(settings)

    def snapshot(self) -> Path:
        """Save the current preview as a PNG (with its settings) in the run folder."""
        snap, job = self.runner.last_snapshot, self.runner.job
        if snap is None or job is None:
            raise PyttiError("nothing to save yet: start a render first")
        return write_snapshot(job.run_dir, snap, snap.settings)

    # -- steps of a render -------------------------------------------------------------

    def _checked_settings(self, *, raise_errors=False):
        """The panel's settings after the full plan_run() check, or None with the problems shown."""
        try:
            settings = self.settings()
            plan_run(settings, previous=self._planned)  # media analysed by the preview are reused
        except SettingsError as e:
            missing = isinstance(e, MissingModels)
            self._show_error(
                "a model could not be loaded" if missing else "the settings have problems",
                e.problems,
                offer_demo=any(p.startswith("perceptors") for p in e.problems),
            )
            if raise_errors:
                raise
            return None
        return settings

    def _launch(self, **what):
        """Start the runner as a task on the running loop, or in the foreground without one."""
        if self.sweeps.running:
            self._show_error("a sweep is running; stop it before rendering", [])
            return None
        self._before_run()
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return self.runner.render_blocking(**what)
        return self.runner.start(**what)

    def _before_run(self):
        """Clear the previous run's displays."""
        self.loss_history.clear()
        self.loss_plot.value = ""
        self.losses.value = ""
        self.video.children = ()
        self.demo_button.layout.display = "none"
        self.progress.value = 0

    # -- listeners ---------------------------------------------------------------------

    def _on_state(self, state, message):
        """The runner changed state: update the status line and the buttons."""
        outcome = self.runner.outcome
        if state == ERROR:
            self._show_error(message, [], offer_demo=isinstance(outcome.error, PerceptorError))
            if isinstance(outcome.error, RescuedRun):  # one click on Resume goes on
                self.files.resume_path.value = str(outcome.error.run_dir)
        else:
            self._set_status(message)
        if state in (DONE, STOPPED):
            self._show_video(outcome.video)
            if outcome.run_dir:
                self.files.resume_path.value = str(outcome.run_dir)
        self._sync_buttons()

    def _on_snapshot(self, snap):
        """A display point: preview, progress, losses and the loss plot."""
        self.preview.value = preview.preview_jpeg(snap.image)
        if snap.palette is not None:  # show_palette: the Limited Palette swatch
            self.palette.value = preview.png(snap.palette)
        self.palette.layout.display = None if snap.palette is not None else "none"
        self.progress.max, self.progress.value = snap.total_steps, snap.step
        self.progress_text.value = preview.progress_text(snap)
        self.losses.value = html.escape(preview.losses_text(snap.losses))
        if "total" in snap.losses:
            self.loss_history.append((snap.step, snap.losses["total"]))
            steps, values = zip(*self.loss_history, strict=True)
            self.loss_plot.value = plots.line_chart_svg(
                {"total loss": (steps, values)}, title="loss"
            )

    def _on_settings_changed(self):
        """A control changed: revalidate, steer a running render, refresh YAML and schedules."""
        self.header.value = (
            f"<b>pytti-nb studio</b> · output folder: "
            f"<code>{html.escape(self._output_root())}</code>"
        )
        self._sync_buttons()
        if not self.panel.valid:
            return
        settings = self.panel.settings()
        if self.runner.busy:
            # typed edits settle first, so the render never steers toward half a word
            self.runner.steer(settings, settle=EDIT_SETTLE_S)
        self.files.refresh(settings)
        chart, drawn = preview.schedule_chart(settings, previous=self._planned)
        self.schedules.value = chart
        self._planned = self.runner.planned = drawn or self._planned

    def _on_preview_event(self, event):
        """Keyboard and mouse on the preview (ipyevents)."""
        action = events.action_for(event)
        if action == "pause":
            self.toggle_pause()
        elif action == "snapshot":
            self._report(self.snapshot, "snapshot saved")
        elif action == "zoom":
            self.full_size.value = not self.full_size.value

    # -- display helpers ---------------------------------------------------------------

    def _show_video(self, path):
        """Play the finished video inline (or name it when it is too big to send)."""
        if path is None:
            return
        if path.stat().st_size > MAX_INLINE_VIDEO_BYTES:
            self.video.children = (widgets.HTML(f"video: <code>{html.escape(str(path))}</code>"),)
            return
        self.video.children = (
            widgets.Video.from_file(str(path), autoplay=False, loop=True, width=512),
        )

    def _sync_buttons(self):
        """Enable the buttons that make sense now."""
        busy = self.runner.busy
        sweeping = self.sweeps.running  # one job on the device at a time
        self.render_button.disabled = busy or sweeping or not self.panel.valid
        self.sweeps.sweep_button.disabled = busy or sweeping
        self.pause_button.disabled = self.stop_button.disabled = not busy
        # a disabled red button still reads as "press me": colour Stop only while it works
        self.stop_button.button_style = "danger" if busy else ""
        paused = self.runner.pause_requested or self.runner.state == PAUSED
        self.pause_button.description = "Resume" if paused and busy else "Pause"
        self.pause_button.icon = "play" if paused and busy else "pause"
        self.files.resume_button.disabled = busy or sweeping

    def _set_status(self, text):
        """Show a plain status line."""
        self.status.value = html.escape(text)

    def _show_error(self, message, problems, *, offer_demo=False):
        """Show an error plainly, with its problems listed, and the demo button if it helps."""
        items = "".join(f"<li>{html.escape(p)}</li>" for p in problems)
        listed = f"<ul>{items}</ul>" if items else ""
        self.status.value = (
            f"<span style='color:#b00020;white-space:pre-wrap'>error: "
            f"{html.escape(message)}</span>{listed}"
        )
        self.demo_button.layout.display = "" if offer_demo else "none"

    def _report(self, action, success):
        """Run a small action and say how it went in the status line."""
        try:
            result = action()
        except PyttiError as e:
            self._show_error(str(e), [])
        else:
            self._set_status(f"{success}: {result}" if result else success)

    def _zoom(self, full):
        """Show the preview at its real size, or fitted."""
        self.preview.layout.max_width = "none" if full else PREVIEW_WIDTH

    def _output_root(self):
        """The output folder the panel names."""
        return str(self.panel.controls["output_root"].value)


def _with_class(widget, css):
    """The widget with a CSS class added (the browser tests find widgets by these)."""
    widget.add_class(css)
    return widget
