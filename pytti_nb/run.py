"""A run on disk: prepare its folder, consume the engine's frames, save PNGs, checkpoints, video."""

from dataclasses import dataclass, field
from pathlib import Path

from .checkpoint import load_checkpoint, save_checkpoint
from .errors import OutputError, SettingsError
from .output import CHECKPOINT_NAME, RunWriter, check_writable, resolve_run_dir
from .plan import RunPlan, plan, plan_dict
from .settings import from_dict, load_settings_dict, to_dict, to_yaml
from .versions import environment_versions


@dataclass
class Job:
    """Everything checked and decided before any model loads."""

    plan: RunPlan
    run_dir: Path
    writer: RunWriter
    resume_state: dict | None = None


@dataclass
class RunResult:
    """What a finished (or stopped) run wrote."""

    frames: int
    video: Path | None
    last_frame: Path | None
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
        run_dir = Path(resume_dir)
        check_resume_dir(run_dir)
        state = load_checkpoint(run_dir)
        checked = plan(from_dict(state["settings"], source=f"checkpoint in {run_dir}"))
        check_writable(run_dir)
        if models is not None:
            models.perceptors(checked.settings)
        writer = _writer(checked, run_dir, overwrite=False)
        return Job(checked, run_dir, writer, state)
    first = previous
    if settings is None:
        # a lenient first pass, so one run reports every problem of the file at once
        first = plan_dict(
            load_settings_dict(settings_path, overrides), source=str(settings_path or "settings")
        )
        settings = first.settings
    elif overrides:
        raise SettingsError(["give overrides either through settings or overrides, not both"])
    checked = plan(with_seed(settings), previous=first)  # media probed once
    s = checked.settings
    root = Path(s.output_root).expanduser()
    check_writable(root)
    if models is not None:
        models.perceptors(s)
    run_dir = resolve_run_dir(root, s.file_namespace, s.allow_overwrite)
    writer = _writer(checked, run_dir, overwrite=s.allow_overwrite)
    writer.write_settings(to_yaml(s))
    return Job(checked, run_dir, writer)


def check_resume_dir(run_dir) -> None:
    """Raise OutputError naming the run folders inside run_dir when it is an output root (the
    folder of `render --out`) rather than a run folder."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir() or (run_dir / CHECKPOINT_NAME).is_file():
        return  # a run folder, or nothing: load_checkpoint says what is wrong
    runs = sorted(
        path.parent
        for depth in range(1, 4)  # file_namespace may nest folders: 'tests/run_1'
        for path in run_dir.glob("*/" * depth + CHECKPOINT_NAME)
    )
    if len(runs) == 1:
        raise OutputError(
            f"'{run_dir}' is not a run folder but holds one: resume it with --resume "
            f"'{runs[0]}' (render --out ROOT writes each run to ROOT/<file_namespace>)"
        )
    if runs:
        shown = ", ".join(f"'{r}'" for r in runs[:10]) + (", ..." if len(runs) > 10 else "")
        raise OutputError(
            f"'{run_dir}' is not a run folder but holds {len(runs)} of them: {shown}; "
            "give one of them to --resume"
        )


def _writer(run_plan, run_dir, *, overwrite) -> RunWriter:
    """The run folder's writer: frames, settings, the video (with the run's sound), the GIF."""
    s = run_plan.settings
    audio = (s.input_audio, s.input_audio_offset) if run_plan.audio is not None else None
    return RunWriter(
        run_dir, fps=s.frames_per_second, overwrite=overwrite, gif=s.save_gif, audio=audio
    )


def make_renderer(job: Job, models=None):
    """Load the models (the slow part) and build the engine for a prepared job."""
    from .engine.render import Renderer
    from .models import ModelCache

    return Renderer(job.plan, models or ModelCache(), resume=job.resume_state)


def run_snapshots(
    job: Job, *, models=None, renderer=None, should_stop=lambda: False, every_step=False
):
    """Drive the engine, saving every save point; yields each Snapshot after its files are
    written.

    With every_step, None comes between snapshots after each step (see Renderer.snapshots).
    """
    renderer = renderer or make_renderer(job, models)
    versions = environment_versions()
    written = renderer.settings
    for snap in renderer.snapshots(should_stop, every_step=every_step):
        if snap is not None and snap.save_number is not None:
            # settings may have been steered mid-run: record the ones in force now
            if renderer.settings != written:
                written = renderer.settings
                job.writer.write_settings(to_yaml(written))
            metadata = {
                "settings": to_dict(renderer.settings),
                "seed": renderer.settings.seed,
                "step": snap.step,
                "save_number": snap.save_number,
                "frame": snap.frame,
                "t": snap.t,
                "versions": versions,
            }
            if snap.motion:
                # rotate_3d is a tuple; JSON stores it as a list
                metadata["motion"] = {
                    k: list(v) if isinstance(v, tuple) else v for k, v in snap.motion.items()
                }
            if snap.audio:
                metadata["audio"] = snap.audio
            job.writer.write_frame(snap.save_number, snap.image, metadata)
            if snap.palette is not None:
                job.writer.write_palette(snap.save_number, snap.palette)
            # the generator is paused at this snapshot: the state is exactly this moment's
            save_checkpoint(job.run_dir, {**renderer.state_dict(), "versions": versions})
        yield snap


def run_to_completion(
    job: Job, *, models=None, should_stop=lambda: False, progress=True
) -> RunResult:
    """Run all steps (or until should_stop), then assemble the video; shows a progress bar."""
    from tqdm.auto import tqdm

    done = job.resume_state["step"] if job.resume_state else 0
    bar = tqdm(
        total=job.plan.total_steps,
        initial=done,
        disable=not progress,
        unit="step",
        dynamic_ncols=True,
    )
    saved = 0
    with bar:
        renderer = make_renderer(job, models)
        for snap in run_snapshots(job, renderer=renderer, should_stop=should_stop):
            bar.update(snap.step - bar.n)
            shown = {"scene": f"{snap.scene + 1}/{len(job.plan.scenes)}"}
            if job.plan.clock.animated:
                shown["frame"] = f"{snap.frame + 1}/{job.plan.clock.frames}"
            bar.set_postfix(**shown, loss=f"{snap.losses.get('total', 0.0):.3f}")
            saved += snap.save_number is not None
    video = job.writer.finish()
    return RunResult(saved, video, job.writer.last_written, renderer.notes)
