"""Drives one render at a time for the studio: as an asyncio task on the kernel's own thread, or
in the foreground. No widget code here; the studio listens through two callbacks.

Why a task on the main thread: the kernel's event loop handles widget messages (button clicks,
live edits) whenever the task awaits, which it does after every pull; and every widget
update comes from the main thread, so Colab (background-thread updates never reach the page,
googlecolab/colabtools#3373) and ipykernel 7 (thread output needs its parent set,
jupyter-widgets/ipywidgets#4020) need nothing special. Each pull runs the engine up to its next
snapshot; between display points the engine's between_steps hook asks for one whenever TURN_S
has passed, so clicks, pauses and live edits are seen within about TURN_S of rendering (or
at the next step, when steps are slower) and take effect at the next step.
"""

import asyncio
import time
from dataclasses import dataclass
from pathlib import Path

from ..config.settings import replace, split_changes
from ..engine.estimate import duration
from ..errors import PyttiError, SettingsError
from ..run import Job, make_session, prepare_run, probe_cost, run_snapshots, steer

IDLE, LOADING, RUNNING, PAUSED, FINISHING = "idle", "loading", "running", "paused", "finishing"
DONE, STOPPED, ERROR = "done", "stopped", "error"
ACTIVE = (LOADING, RUNNING, PAUSED, FINISHING)
PAUSE_POLL_S = 0.1  # how often a paused render looks at its buttons
TURN_S = 0.05  # the longest the kernel's event loop waits for a turn while the engine renders
_STEP, _WAIT = "step", "wait"
_END = object()  # end of the snapshot generator


@dataclass
class Outcome:
    """How a render ended and what it left on disk."""

    state: str  # DONE, STOPPED or ERROR
    message: str
    run_dir: Path | None = None
    video: Path | None = None
    last_saved: Path | None = None
    error: BaseException | None = None


class Runner:
    """One render at a time, with stop, pause, resume and live steering."""

    def __init__(self, models=None, *, on_state=None, on_snapshot=None):
        from ..models import ModelCache

        self.models = models if models is not None else ModelCache()
        self.on_state = on_state or (lambda state, message: None)
        self.on_snapshot = on_snapshot or (lambda snapshot: None)
        self.state, self.message = IDLE, ""
        self.job = self.session = self.task = self.outcome = self.last_snapshot = None
        self.estimate, self.started = None, None  # estimate.Estimate, monotonic start time
        self.planned = None  # a plan of these settings already made (the studio's preview)
        self.rescue_root = None  # where a save point goes when the run folder vanished
        self._stop = self._pause = False
        self._steer_to, self._steer_at = None, 0.0
        self._turn_at = 0.0  # when the engine next hands the event loop a turn

    # -- controls (any of them may be called between steps) ------------------------------

    @property
    def busy(self) -> bool:
        """True while a render is loading, running, paused or finishing."""
        return self.state in ACTIVE

    @property
    def pause_requested(self) -> bool:
        """True from pause() until resume(), even before the render reaches its next pause point."""
        return self._pause

    def stop(self) -> None:
        """End the render after the current step; it saves a frame and a checkpoint."""
        if self.busy:
            self._stop = True

    def pause(self) -> None:
        """Stop pulling steps until resume()."""
        if self.busy:
            self._pause = True

    def resume(self) -> None:
        """Continue a paused render."""
        self._pause = False

    def steer(self, settings, settle: float = 0.0) -> None:
        """Apply these settings' steerable values at the first step after `settle` seconds
        without another call (latest call wins); typing passes a settle time."""
        self._steer_to = settings
        self._steer_at = time.monotonic() + settle

    # -- drivers -----------------------------------------------------------------------

    def start(self, *, settings=None, resume_dir=None) -> asyncio.Task:
        """Start rendering as a task on the running event loop (the kernel's) and return it."""
        self._begin()
        self.task = asyncio.ensure_future(self._drive(self._session(settings, resume_dir)))
        return self.task

    async def wait(self) -> Outcome:
        """Wait for the running task; the outcome of the last render."""
        if self.task is not None:
            await self.task
        return self.outcome

    def render_blocking(self, *, settings=None, resume_dir=None) -> Outcome:
        """Render in the foreground; Ctrl-C or the kernel's interrupt stops and saves."""
        self._begin()
        for tick in self._session(settings, resume_dir):
            if tick == _WAIT:
                try:
                    time.sleep(PAUSE_POLL_S)
                except KeyboardInterrupt:
                    self.stop()
        return self.outcome

    async def _drive(self, session):
        """Run the session, handing the loop back between pulls."""
        for tick in session:
            await asyncio.sleep(PAUSE_POLL_S if tick == _WAIT else 0)
        return self.outcome

    def _begin(self):
        """Forget the previous render and mark this one busy at once (so Stop works already)."""
        if self.busy:
            raise RuntimeError("a render is already running; stop it first")
        self._stop = self._pause = False
        self._steer_to = self.outcome = self.last_snapshot = self.session = self.job = None
        self._set(LOADING, "checking settings and loading models…")

    # -- the render, as a generator of ticks -------------------------------------------

    def _session(self, settings, resume_dir):
        """Load, render and finish one run, yielding to the driver between pulls."""
        try:
            yield _STEP  # lets the status reach the page before the slow load
            self.job = self._prepare(settings, resume_dir)
            self.session = make_session(self.job, self.models)
            self.estimate = probe_cost(self.job, self.session)  # a few probe steps, undone
            self.started = time.monotonic()
            self._set(RUNNING, "rendering · " + self.estimate.describe())
            yield from self._snapshots(self.job)
            seconds = time.monotonic() - self.started
            self.job.writer.write_cost({"estimate": self.estimate.as_dict(), "seconds": seconds})
            self._set(FINISHING, "making the video…")
            yield _STEP
            video = self.job.writer.finish()
            self._finish(STOPPED if self._stop else DONE, video)
        except KeyboardInterrupt:
            self._finish(STOPPED, None)
        except PyttiError as e:
            self.outcome = Outcome(ERROR, str(e), self.job and self.job.run_dir, error=e)
        except Exception as e:  # a bug: report it in the studio instead of killing the task
            self.outcome = Outcome(
                ERROR,
                f"internal error ({type(e).__name__}: {e}); please report it with the settings",
                error=e,
            )
        self._set(self.outcome.state, self.outcome.message)

    def _prepare(self, settings, resume_dir) -> Job:
        """Validate, load the perceptors, then create the run folder (none is left on failure)."""
        if resume_dir:
            return prepare_run(resume_dir=resume_dir, models=self.models)
        return prepare_run(settings=settings, models=self.models, previous=self.planned)

    def _snapshots(self, job):
        """Pull one snapshot at a time, honouring pause, stop, steering and Ctrl-C."""
        snapshots = run_snapshots(
            job,
            session=self.session,
            should_stop=lambda: self._stop,
            between_steps=self._turn_due,
            rescue_root=self.rescue_root,
        )
        while True:
            if self._pause and not self._stop:
                self._set(PAUSED, f"paused at step {self.session.step}")
                while self._pause and not self._stop:
                    yield _WAIT
                self._set(RUNNING, "rendering")
            self._apply_steering()
            try:
                snap = next(snapshots, _END)
            except KeyboardInterrupt:
                # Colab's stop button and the kernel's interrupt land here: end like Stop,
                # with one more step through the engine so it saves a frame and a checkpoint.
                self._stop = True
                snapshots = run_snapshots(
                    job,
                    session=self.session,
                    should_stop=lambda: True,
                    rescue_root=self.rescue_root,
                )
                continue
            if snap is _END:
                return
            if not snap.between:  # a display or save point, not only the loop's turn
                self.last_snapshot = snap
                self.on_snapshot(snap)
            self._turn_at = time.monotonic() + TURN_S
            yield _STEP

    def _turn_due(self, session) -> bool:
        """The engine's between_steps hook: a snapshot, so the event loop has a turn, once
        TURN_S has passed since its last one."""
        return time.monotonic() >= self._turn_at

    def _apply_steering(self):
        """Hand the latest live edit to the engine, which applies it at its next step."""
        if self._steer_to is None or time.monotonic() < self._steer_at:
            return  # still typing: do not steer toward every partial prompt
        new, self._steer_to = self._steer_to, None
        changes, fixed = split_changes(self.session.settings, new)
        # an empty seed in the panel means "draw one": not a change of the running seed
        later = [k for k in fixed if not (k == "seed" and new.seed is None)]
        note = f"; {', '.join(later)} apply to the next render" if later else ""
        if not changes:
            if later:
                self._set(self.state, "rendering" + note)
            return
        try:
            steer(self.session, replace(self.session.settings, **changes))
        except SettingsError as e:
            self._set(self.state, "live edit not applied: " + "; ".join(e.problems))
            return
        self._set(
            self.state, f"rendering; live edit applied at step {self.session.step + 1}" + note
        )

    def _finish(self, state, video):
        """Record the outcome of a run that ended normally or by Stop."""
        saved = self.job.writer.save_paths() if self.job else []
        where = f" in {self.job.run_dir}" if self.job else ""
        word = "done" if state == DONE else "stopped"
        notes = self.session.notes if self.session is not None else []
        if notes:
            word += " · " + " · ".join(notes)
        took = ""
        if self.estimate is not None and self.started is not None:
            spent = duration(time.monotonic() - self.started).removeprefix("about ")
            took = f"took {spent} ({self.estimate.describe()}) · "
        self.outcome = Outcome(
            state,
            f"{took}{len(saved)} image(s) saved{where} · {word}",
            self.job and self.job.run_dir,
            video,
            saved[-1] if saved else None,
        )

    def _set(self, state, message):
        """Change state and tell the listener."""
        self.state, self.message = state, message
        self.on_state(state, message)
