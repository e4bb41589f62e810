"""A run on disk: prepare its folder, consume the engine's frames, save PNGs, checkpoints, video."""

import contextlib
import functools
import time
from dataclasses import dataclass, field
from pathlib import Path

from .animation.base import plain_values
from .config.files import read_render_settings
from .config.overrides import apply_overrides
from .config.plan import RunPlan, plan_dict, plan_run
from .config.schema import Settings
from .config.settings import to_dict, to_yaml
from .errors import (
    OutputError,
    PyttiError,
    RenderHalted,
    RescuedRun,
    SettingsError,
    shown_path,
)
from .io.bounded import path_problem
from .io.checkpoint import checkpoint_path, has_checkpoint, save_checkpoint
from .io.model_folder import cache_dir_of
from .io.run_folder import FRAMES_DIR, check_writable, claim_run_dir
from .io.run_writer import RunWriter
from .io.versions import environment_versions
from .resume import (
    check_own_checkpoint,
    check_resume_state,
    check_saved_settings,
    saved_run,
    state_problem,
)


@dataclass
class Job:
    """Everything checked and decided before any model loads."""

    run_plan: RunPlan
    run_dir: Path
    writer: RunWriter
    resume_state: dict | None = None
    notes: list = field(default_factory=list)  # what the artist should know before it runs


@dataclass
class RunResult:
    """What a finished (or stopped) run wrote."""

    saves: int  # images saved
    video: Path | None
    last_save: Path | None
    notes: list = field(default_factory=list)  # how the run had to be carried out


def prepare_run(
    *, settings=None, settings_path=None, overrides=(), resume_dir=None, models=None, previous=None
) -> Job:
    """Validate settings and paths and set up the run folder.

    Given a ModelCache, the perceptors are loaded into it after validation and before the
    run folder is made, so a model that cannot be had leaves no folder behind. A `previous`
    plan (the studio's preview) lends its analyses of unchanged media files.
    """
    from .engine.render import with_seed

    if resume_dir is not None:
        return _resume_job(_real_folder(resume_dir), models)
    first, notes = previous, []
    if settings is None:
        # a lenient first pass, so one run reports every problem of the file at once
        if settings_path:
            data, _, notes = read_render_settings(settings_path, overrides)
        else:
            data = apply_overrides({}, overrides)
        first = plan_dict(data, source=str(settings_path or "settings"))
        settings = first.settings
    elif overrides:
        raise SettingsError(["give overrides either through settings or overrides, not both"])
    checked = plan_run(with_seed(settings), previous=first)  # media probed once
    s = checked.settings
    root = Path(s.output_root).expanduser()
    check_writable(root)
    if models is not None:
        models.perceptors(s)
    run_dir, lock, passed_over = claim_run_dir(root, s.file_namespace, s.allow_overwrite)
    created, writer = not any(run_dir.iterdir()), None
    try:
        writer = _writer(checked, run_dir, overwrite=s.allow_overwrite, lock=lock, models=models)
        writer.write_settings(to_yaml(s))
    except BaseException:
        lock.release()
        if writer is not None:
            writer.discard()  # what it wrote, its record, the folders left empty
        elif created:
            _remove_empty(run_dir)
        raise
    return Job(checked, run_dir, writer, notes=notes + passed_over)


def _real_folder(path) -> Path:
    """The folder a path names (links resolved), or OutputError for a path no folder has
    (SettingsError for one no file system holds: a name longer than 255 bytes)."""
    problem = path_problem(str(path))
    if problem:
        raise SettingsError([f"--resume {shown_path(path)} {problem}"])
    try:
        return Path(path).resolve()
    except (OSError, ValueError) as e:  # ValueError: a NUL in the path
        raise OutputError(f"no run folder at {shown_path(path)} ({e})") from e


def _resume_job(run_dir: Path, models) -> Job:
    """The job that continues the run saved in run_dir, its checkpoint checked: of this
    folder's run, of the settings its settings.yaml holds."""
    state, settings = saved_run(run_dir)
    checked = plan_run(settings)
    where = f"checkpoint {shown_path(checkpoint_path(run_dir))}"
    check_resume_state(state, checked.total_steps, where)
    check_writable(run_dir)
    # the lock: no render is writing there
    writer = _writer(checked, run_dir, overwrite=False, models=models)
    try:
        check_own_checkpoint(state, writer, where)
        check_saved_settings(writer, checked.settings)
        if models is not None:
            models.perceptors(checked.settings)
    except BaseException:
        writer.release()
        raise
    return Job(checked, run_dir, writer, state)


def _remove_empty(run_dir: Path) -> None:
    """Remove a run folder this preparation created, when nothing is in it but empty frames/."""
    with contextlib.suppress(OSError):
        (run_dir / FRAMES_DIR).rmdir()
        run_dir.rmdir()


def _writer(run_plan, run_dir, *, overwrite, lock=None, models=None) -> RunWriter:
    """The run folder's writer: frames, settings, the video (with the run's sound, its frames
    interpolated under interpolate_output), the GIF."""
    s = run_plan.settings
    audio = (s.input_audio, s.input_audio_offset) if run_plan.audio is not None else None
    return RunWriter(
        run_dir,
        fps=s.frames_per_second,
        overwrite=overwrite,
        gif=s.save_gif,
        audio=audio,
        lock=lock,
        interpolate=s.interpolate_output,
        between=lambda: _interpolation(s, models),
    )


def _interpolation(s, models):
    """interpolate_output's maker of frames between two saves, `between(a, b, N)`: its flow
    loaded when the video is made, after the render (RAFT through the model cache, on the
    run's device; DIS on the CPU)."""
    from .animation.interpolate import inbetweens
    from .device import pick_device
    from .models import ModelCache

    device = pick_device(s.device) if s.interpolate_flow != "dis" else "cpu"
    flow = (models or ModelCache()).flow(
        s.interpolate_flow, device=device, cache_dir=cache_dir_of(s)
    )
    return functools.partial(inbetweens, flow, device=device)


def make_session(job: Job, models=None):
    """Load the models (the slow part) and build the engine's session for a prepared job, with
    the reader of its frames' videos; a resumed job's checkpoint must fit the run exactly
    (shapes, kinds), else OutputError."""
    from .engine.frames import FrameReader
    from .engine.session import Session
    from .models import ModelCache

    try:
        session = Session(job.run_plan, models or ModelCache(), media=FrameReader.of(job.run_plan))
        if job.resume_state is not None:
            _load_checkpoint_state(session, job)
    except BaseException:  # a model that cannot load (VQGAN, depth), Ctrl-C while loading
        _give_up(job)
        raise
    return session


def steer(session, settings: Settings) -> None:
    """Steer a running session to new settings from its next step: checked, and the images
    they add read, here in the caller's turn (SettingsError, before any change, when they
    cannot be steered to)."""
    from .engine.assets import load_assets

    settings = session.steerable(settings)
    new = plan_run(settings, previous=session.run_plan)  # raises SettingsError before any change
    session.steer(new, load_assets(new, new.output_size, reuse=session.assets))


def _load_checkpoint_state(session, job: Job) -> None:
    """Restore a checkpoint into a freshly built session, checking it fits the run first."""
    where = f"checkpoint {shown_path(checkpoint_path(job.run_dir))}"
    state = job.resume_state
    problem = state_problem(state, session)
    if problem is None:
        try:
            session.load_state_dict(state)
        except PyttiError:
            raise
        except Exception as e:  # a damaged state fails inside torch in many ways
            problem = f"{type(e).__name__}: {str(e)[:160]}"
    if problem is not None:
        raise OutputError(
            f"{where} does not fit this run ({problem}); the file is damaged or from another "
            "version: delete it to start afresh"
        )


def run_snapshots(
    job: Job,
    *,
    models=None,
    session=None,
    should_stop=lambda: False,
    between_steps=None,
    rescue_root=None,
):
    """Drive the engine, saving every save point; yields each Snapshot after its files are
    written.

    between_steps is the loop's hook after every other step (see render.snapshots).
    With a rescue_root, a save point the run folder can no longer take (Google Drive unmounted
    mid-render) is saved in a new run folder there instead, and RescuedRun names it.
    """
    session = session or make_session(job, models)
    versions = environment_versions()
    saves = _saved_snapshots(job, session, versions, should_stop, between_steps, rescue_root)
    try:
        yield from saves
    except RenderHalted:  # the state before the failing step is intact: keep it to resume
        try:
            _save_checkpoint(job.writer, session, versions)
        finally:
            job.writer.release()
        raise
    except Exception:  # not Ctrl-C: the studio then takes one more step with this job
        _give_up(job)
        raise
    finally:
        session.close()  # the frames' video readers (a later step opens them again)


def probe_cost(job: Job, session):
    """The run's cost estimate (a few probe steps, undone); when a probe step fails, the
    folder is given up as a failed render's is."""
    from .engine.estimate import estimate_run

    try:
        return estimate_run(session)
    except Exception:
        _give_up(job)
        raise


def _give_up(job: Job) -> None:
    """Free a failed render's folder for a resume, or take it back when it holds nothing to
    resume from (no half-made run folder is left)."""
    job.writer.release()
    if job.resume_state is None and not has_checkpoint(job.run_dir):
        job.writer.discard()


def _saved_snapshots(job, session, versions, should_stop, between_steps, rescue_root):
    """run_snapshots' loop: each save point's frame, palette and checkpoint written."""
    from .engine.render import snapshots

    written = session.settings
    for snap in _resumed_steps(job, snapshots(session, should_stop, between_steps)):
        if snap.save_number is not None:
            # settings may have been steered mid-run: record the ones in force now
            steered, written = snap.settings != written, snap.settings
            try:
                _save_point(job.writer, session, snap, versions, steered)
            except OutputError as e:
                if rescue_root is None:
                    raise
                raise _rescue(e, job, session, snap, versions, rescue_root) from e
        yield snap


def _save_point(writer, session, snap, versions, steered) -> None:
    """Write one save point: the settings when steered, the frame, its palette, a checkpoint."""
    if steered:
        writer.write_settings(to_yaml(snap.settings))
    metadata = {
        "settings": to_dict(snap.settings),
        "seed": snap.settings.seed,
        "step": snap.step,
        "save_number": snap.save_number,
        "frame": snap.frame,
        "t": snap.t,
        "key_frame": snap.key_frame,
        "versions": versions,
    }
    if snap.motion:
        metadata["motion"] = plain_values(snap.motion)  # rotate_3d, a tuple: a list in JSON
    if snap.audio:
        metadata["audio"] = snap.audio
    writer.write_save(snap.save_number, snap.image, metadata)
    if snap.palette is not None:
        writer.write_palette(snap.save_number, snap.palette)
    # the generator is paused at this snapshot: the state is exactly this moment's
    _save_checkpoint(writer, session, versions)


def _save_checkpoint(writer: RunWriter, session, versions) -> None:
    """Save the run's checkpoint, with the run id of its folder, and record it there."""
    state = {**session.state_dict(), "versions": versions, "run_id": writer.run_id}
    writer.recorded(save_checkpoint(writer.run_dir, state))


def _rescue(error, job, session, snap, versions, root) -> OutputError:
    """Save a save point the run folder could not take in a new run folder under root (its
    settings, frame and checkpoint): a RescuedRun naming it, or the first error when that fails
    too (a full disk)."""
    s = snap.settings
    try:
        check_writable(Path(root).expanduser())
        run_dir, lock, _ = claim_run_dir(Path(root).expanduser(), s.file_namespace, False)
        writer = _writer(job.run_plan, run_dir, overwrite=False, lock=lock)
        try:
            _save_point(writer, session, snap, versions, steered=True)
        finally:
            writer.release()
    except (OSError, PyttiError):
        return error
    return RescuedRun(
        f"{error}; the render so far (step {snap.step}) is saved in {shown_path(run_dir)}: "
        "resume that folder to go on (frames saved before stay where they were)",
        run_dir,
    )


def _resumed_steps(job, snapshots):
    """The engine's snapshots; a resumed run's first step failing in the engine is reported as
    a checkpoint that does not fit (its parts are loaded, but only a step uses them all)."""
    if job.resume_state is None:
        yield from snapshots
        return
    try:
        first = next(snapshots)
    except StopIteration:
        return
    except (PyttiError, KeyboardInterrupt):
        raise
    except Exception as e:
        where = shown_path(checkpoint_path(job.run_dir))
        raise OutputError(
            f"checkpoint {where} does not fit this run: its first step failed "
            f"({type(e).__name__}: {str(e)[:160]}); delete it to start afresh"
        ) from e
    yield first
    yield from snapshots


def run_to_completion(
    job: Job, *, models=None, should_stop=lambda: False, progress=True
) -> RunResult:
    """Run all steps (or until should_stop), then assemble the video; shows a progress bar."""
    from tqdm.auto import tqdm

    from .engine.estimate import duration

    done = job.resume_state["step"] if job.resume_state else 0
    # models load (and may download) before the bar starts: one that cannot be had is an
    # error on its own line, not one under an empty progress bar
    session = make_session(job, models)
    estimate = probe_cost(job, session)
    bar = tqdm(
        total=job.run_plan.total_steps,
        initial=done,
        disable=not progress,
        unit="step",
        dynamic_ncols=True,
    )
    saved = 0
    with bar:
        if progress:
            bar.write(estimate.describe())
        started = time.monotonic()
        loss = "-"
        for snap in run_snapshots(job, session=session, should_stop=should_stop):
            # a cadence's in-between frames come out after their key frame's steps, with no
            # losses of their own: the bar neither steps back nor shows a loss of 0 for them
            bar.update(max(snap.step - bar.n, 0))
            shown = {"scene": f"{snap.scene + 1}/{len(job.run_plan.scenes)}"}
            if job.run_plan.clock.animated:
                shown["frame"] = f"{snap.frame + 1}/{job.run_plan.clock.frames}"
            if snap.key_frame:
                loss = f"{snap.losses.get('total', 0.0):.3f}"
            bar.set_postfix(**shown, loss=loss)
            saved += snap.save_number is not None
    seconds = time.monotonic() - started
    job.writer.write_cost({"estimate": estimate.as_dict(), "seconds": seconds})
    video = job.writer.finish()
    took = f"took {duration(seconds).removeprefix('about ')} ({estimate.describe()})"
    return RunResult(saved, video, job.writer.last_save, [*session.notes, took])
