"""The studio's small sweeps: a few seeds, or a few values of one setting, rendered on Ray
(sweep.studio.quick_sweep) and shown as one contact sheet.

The sweep runs on a worker thread (its driver only waits on Ray); every widget update happens
on the kernel's thread, from an asyncio task that relays the sweep's log lines (see runner.py
for why widgets are only touched there).
"""

import asyncio
import html
import queue
import threading

import ipywidgets as widgets

from ..config.overrides import apply_overrides
from ..config.schema import schema_by_name
from ..errors import PyttiError, SettingsError
from ..sweep.spec import RESERVED
from .compat import tip

MAX_RENDERS = 16  # a quick look from the studio; larger grids belong in a sweep file
LOG_LINES = 6
SHEET_WIDTH = "720px"  # the contact sheet as shown (full size in the sweep folder)
POLL_S = 0.2  # how often the studio relays the sweep's log lines while it waits
NOT_SWEPT = ("seed", *RESERVED)  # seeds have their own field; the sweep sets the rest


class SweepPanel:
    """Seeds or one setting's values, Sweep and Stop buttons, the sweep's log and contact sheet."""

    def __init__(self, get_settings, *, blocked_by=lambda: None, on_change=lambda: None):
        """`get_settings` gives the studio's checked settings (or raises SettingsError);
        `blocked_by` names what stops a sweep starting now (a render), or None; `on_change` is
        called when a sweep starts or ends."""
        self.get_settings = get_settings
        self.blocked_by = blocked_by
        self.on_change = on_change
        self.options = {}  # more keyword arguments for quick_sweep (a pool, an address)
        self.running = False
        self.task = self.result = self.error = None
        self._stop = threading.Event()
        self._lines = []
        self._build()

    def _build(self):
        """Create the controls and lay them out."""
        self.mode = widgets.ToggleButtons(
            options=[("Seeds", "seeds"), ("One setting", "setting")], value="seeds"
        )
        self.seeds = tip(
            widgets.BoundedIntText(value=4, min=1, max=MAX_RENDERS, description="seeds"),
            "how many seeds",
        )
        names = [name for name in schema_by_name() if name not in NOT_SWEPT]
        self.setting = widgets.Dropdown(options=names, value="learning_rate", description="setting")
        self.values = widgets.Textarea(
            placeholder="one value per line, as after --set name=",
            description="values",
            layout=widgets.Layout(width="360px", height="90px"),
        )
        self.sweep_button = widgets.Button(description="Sweep", icon="th", button_style="info")
        self.stop_button = widgets.Button(description="Stop sweep", icon="stop", disabled=True)
        self.log = widgets.HTML("")
        self.sheet = widgets.Image(
            format="png", layout=widgets.Layout(display="none", max_width=SHEET_WIDTH)
        )
        for widget, css in (
            (self.sweep_button, "pytti-sweep"),
            (self.stop_button, "pytti-sweep-stop"),
            (self.log, "pytti-sweep-log"),
            (self.sheet, "pytti-sweep-sheet"),
            (self.seeds, "pytti-sweep-seeds"),
        ):
            widget.add_class(css)
        self.sweep_button.on_click(lambda _: self.start())
        self.stop_button.on_click(lambda _: self.stop())
        self.mode.observe(lambda _: self._mode_changed(), names="value")
        self.setting_box = widgets.VBox([self.setting, self.values])
        self._show_fields()
        help_text = widgets.HTML(
            "Renders variations of the current settings on Ray (<code>pip install ray</code>), "
            f"at most {MAX_RENDERS}, into a new folder beside your renders, and shows the "
            "last frame of each. With one setting, seeds above 1 render every value with each."
        )
        buttons = widgets.HBox([self.sweep_button, self.stop_button])
        self.widget = widgets.VBox(
            [help_text, self.mode, self.seeds, self.setting_box, buttons, self.log, self.sheet]
        )

    # -- actions -----------------------------------------------------------------------

    def request(self) -> dict:
        """quick_sweep's seeds= and vary= for what the panel asks; raises SettingsError."""
        count = self.seeds.value
        if self.mode.value == "seeds":
            if count < 2:
                raise SettingsError(["seeds: give 2 or more to compare seeds"])
            return {"seeds": count}
        name = self.setting.value
        lines = [line for line in self.values.value.splitlines() if line.strip()]
        if len(lines) < 2:
            raise SettingsError([f"values: give two or more values of {name}, one per line"])
        values = [apply_overrides({}, [f"{name}={line}"])[name] for line in lines]
        total = len(values) * count
        if total > MAX_RENDERS:
            raise SettingsError(
                [f"{len(values)} values x {count} seeds make {total} renders; the studio "
                 f"sweeps at most {MAX_RENDERS} (a sweep file has no such limit)"]
            )  # fmt: skip
        return {"vary": (name, values), "seeds": count if count > 1 else None}

    def start(self):
        """Check the request and start the sweep: a task on the running event loop (a kernel),
        else in the foreground; the task, or None when it ran or could not start."""
        if self.running:
            return None
        blocked = self.blocked_by()
        try:
            if blocked:
                raise PyttiError(blocked)
            settings = self.get_settings()
            asked = self.request()
        except SettingsError as e:
            self._show_error("; ".join(e.problems))
            return None
        except PyttiError as e:
            self._show_error(str(e))
            return None
        self._begin()
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self._end(*self._sweep(settings, asked, self._say))
            return None
        self.task = loop.create_task(self._relay(settings, asked))
        return self.task

    def stop(self) -> None:
        """End every render of the running sweep after its step (each keeps a checkpoint)."""
        if self.running:
            self._stop.set()
            self._say("stopping…")

    async def wait(self):
        """Wait for a sweep started as a task; the contact sheet's PNG bytes, or None."""
        if self.task is not None:
            await self.task
        return self.result

    # -- the sweep ---------------------------------------------------------------------

    def _sweep(self, settings, asked, report):
        """Run the sweep to its end; (contact sheet PNG or None, error or None)."""
        from ..sweep.studio import quick_sweep

        try:
            options = {"should_stop": self._stop.is_set, "report": report, **self.options}
            return quick_sweep(settings, **asked, **options), None
        except PyttiError as e:
            return None, e
        except Exception as e:  # a bug: say so in the panel rather than lose the task
            return None, PyttiError(f"internal error ({type(e).__name__}: {e}); please report it")

    async def _relay(self, settings, asked):
        """Run the sweep on a thread while relaying its log lines to the panel."""
        lines = queue.Queue()
        job = asyncio.get_running_loop().run_in_executor(
            None, self._sweep, settings, asked, lines.put
        )
        while not job.done():
            await asyncio.wait([job], timeout=POLL_S)
            while not lines.empty():
                self._say(lines.get())
        self._end(*job.result())

    def _begin(self):
        """Mark the sweep running and clear the last one's displays."""
        self.running, self.result, self.error = True, None, None
        self._stop.clear()
        self._lines.clear()
        self.sheet.layout.display = "none"
        self._say("checking every render, then starting Ray…")
        self._sync()

    def _end(self, png, error):
        """Show the contact sheet (or the error) and free the buttons."""
        self.running, self.result, self.error = False, png, error
        if png:
            self.sheet.value = png
            self.sheet.layout.display = None
        if error is not None:
            self._show_error(str(error))
        self._sync()

    def _sync(self):
        """Enable the buttons that make sense now, and tell the studio."""
        self.sweep_button.disabled = self.running
        self.stop_button.disabled = not self.running
        self.stop_button.button_style = "danger" if self.running else ""
        self.on_change()

    def _mode_changed(self):
        """Switch between seeds (several) and one setting (with one seed unless asked)."""
        self.seeds.value = 1 if self.mode.value == "setting" else max(self.seeds.value, 4)
        self._show_fields()

    def _show_fields(self):
        """Show the setting and its values only when one setting varies."""
        one = self.mode.value == "setting"
        self.setting_box.layout.display = None if one else "none"
        self.seeds.description = "× seeds" if one else "seeds"

    def _say(self, line):
        """Add a line to the log (the last few are shown)."""
        self._lines.append(html.escape(str(line)))
        self.log.value = "<br>".join(self._lines[-LOG_LINES:])

    def _show_error(self, message):
        """Show a problem in the log."""
        self._lines.append(
            f"<span style='color:#b00020;white-space:pre-wrap'>error: {html.escape(message)}</span>"
        )
        self.log.value = "<br>".join(self._lines[-LOG_LINES:])
