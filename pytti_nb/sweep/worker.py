"""One render of a sweep, started, resumed or completed in its run folder; and the worker that
runs renders one after another with one model cache (a Ray actor: see pool.py)."""

import os
import socket
import threading
import time
from pathlib import Path

from ..errors import (
    MissingModels,
    ModelUnavailable,
    OutputError,
    PerceptorError,
    PyttiError,
    SettingsError,
)
from ..io.run_folder import CHECKPOINT_NAME
from ..io.run_writer import RunWriter


class RenderWorker:
    """Renders one at a time, keeping the models loaded between them; `stop` (from another
    thread) ends the current render after its step, with a checkpoint."""

    def __init__(self, cwd: str | None = None, threads: int | None = None):
        """Read relative paths from `cwd` (the sweep's, when this machine has it); use `threads`
        CPU threads, so that renders sharing a machine do not fight over its cores."""
        import torch

        from ..models import ModelCache

        if threads:
            torch.set_num_threads(threads)
        if cwd and Path(cwd).is_dir():
            os.chdir(cwd)
        self.models = ModelCache()
        self._stop = threading.Event()

    def where(self) -> str:
        """The machine and process that render here."""
        return f"{socket.gethostname()} pid {os.getpid()}"

    def render(self, settings: dict, run_dir: str) -> dict:
        """Render (or resume, or complete) one render; what it did, as a manifest entry's fields."""
        return render_one(
            settings, Path(run_dir), models=self.models, should_stop=self._stop.is_set
        )

    def stop(self) -> None:
        """End the current render after its step and start no other."""
        self._stop.set()

    def ready(self) -> None:
        """Render again after a stop (a new sweep)."""
        self._stop.clear()


def render_one(settings: dict, run_dir: Path, *, models=None, should_stop=lambda: False) -> dict:
    """Render into run_dir: resume it from its checkpoint, or start it afresh when it has none.

    A render whose checkpoint is at its last step only gets its video made when that is
    missing (the process was killed while making it); its files are otherwise left untouched.
    """
    from ..config.settings import from_dict
    from ..run import make_session, prepare_run, run_snapshots  # torch: in the worker only

    started = time.perf_counter()
    resumed = None
    try:
        if (run_dir / CHECKPOINT_NAME).is_file():
            job = prepare_run(resume_dir=run_dir, models=models)
            resumed = int(job.resume_state["step"])
        else:
            clear_unstarted(run_dir)
            job = prepare_run(settings=from_dict(settings, source=run_dir.name), models=models)
            if job.run_dir != run_dir.resolve():
                job.writer.release()
                job.writer.discard()  # the folder it got instead holds only its settings.yaml
                raise OutputError(f"'{run_dir}' was taken while the render started; run it again")
        if resumed is not None and resumed >= job.run_plan.total_steps:
            status, notes = "done", []
        else:
            session = make_session(job, models)
            for _ in run_snapshots(job, session=session, should_stop=should_stop):
                pass
            finished = session.step >= job.run_plan.total_steps
            status, notes = ("done" if finished else "stopped"), list(session.notes)
        frames = job.writer.save_paths()
        video = job.writer.video_path
        if status == "done" and len(frames) > 1 and not _videos_made(job.writer):
            video = job.writer.finish()
    except PyttiError as e:
        return {
            "status": "failed",
            "error": _message(e),
            "error_kind": _kind(e),
            "wall_s": round(time.perf_counter() - started, 3),
            "resumed_from_step": resumed,
        }
    return {
        "status": status,
        "error": None,
        "frames": len(frames),
        "last_frame": str(frames[-1]) if frames else None,
        "video": str(video) if len(frames) > 1 and video.is_file() else None,
        "wall_s": round(time.perf_counter() - started, 3),
        "resumed_from_step": resumed,
        "notes": notes,
    }


def clear_unstarted(run_dir: Path) -> None:
    """Remove what a render killed before its first checkpoint left in its folder (only files a
    render writes: its checks passed), so the render starts there afresh."""
    if not run_dir.is_dir():
        return
    writer = RunWriter(run_dir, fps=1, overwrite=True)  # deletes only our own files
    writer.discard()  # and the record it began, with the folders left empty
    writer.release()  # the render claims the folder next


def _videos_made(writer: RunWriter) -> bool:
    """Whether the run's video (and GIF, when it makes one) are on disk."""
    paths = [writer.video_path] + ([writer.gif_path] if writer.gif_path else [])
    return all(p.is_file() for p in paths)


def _message(error: PyttiError) -> str:
    """An error's text (a SettingsError's problems joined)."""
    if isinstance(error, MissingModels):
        return "a model could not be loaded: " + "; ".join(error.problems)
    if isinstance(error, SettingsError):
        return "invalid settings: " + "; ".join(error.problems)
    return str(error)


def _kind(error: PyttiError) -> str:
    """What kind of failure an error is (the command line's exit code depends on it)."""
    if isinstance(error, (PerceptorError, ModelUnavailable, MissingModels)):
        return "model"
    if isinstance(error, OutputError):
        return "output"
    return "input"
