"""Whether a run folder can be resumed: its checkpoint is this folder's, whole, of the settings
its settings.yaml shows, and fits the run it resumes."""

import math
from pathlib import Path

from .config.files import read_settings_file
from .config.schema import Settings
from .config.settings import from_dict, to_dict, to_yaml
from .errors import OutputError, PyttiError, SettingsError, shown, shown_path
from .io.checkpoint import checkpoint_path, load_checkpoint
from .io.run_folder import CHECKPOINT_NAME
from .io.run_writer import RunWriter


def saved_run(run_dir) -> tuple[dict, Settings]:
    """A stopped run's checkpoint state and its settings, checked: OutputError or
    SettingsError saying what is wrong with the folder or its checkpoint."""
    run_dir = Path(run_dir)
    check_resume_dir(run_dir)
    state = load_checkpoint(run_dir)
    where = f"checkpoint {shown_path(checkpoint_path(run_dir))}"
    if not isinstance(state.get("settings"), dict):
        raise OutputError(f"{where} holds no settings; it cannot be resumed")
    return state, from_dict(state["settings"], source=where)


def check_own_checkpoint(state: dict, writer: RunWriter, where: str) -> None:
    """Raise OutputError unless a checkpoint was saved by the run of this folder: its run id is
    the folder record's. One from before records (no run id) resumes only a folder whose
    record holds no checkpoint of its own (none, or one begun by an earlier try to resume it)."""
    saved, ours = state.get("run_id"), writer.earlier_run_id
    listed = writer.record is not None and CHECKPOINT_NAME in writer.record.files
    if saved == ours or (saved is None and not listed):
        return
    if ours is None:
        whose = "this folder has no record of the run that saved it"
    else:
        whose = f"it was saved by run {shown(saved)}, this folder holds run {shown(ours)}"
    raise OutputError(
        f"{where} belongs to another run folder ({whose}); a checkpoint resumes only the run "
        "folder it was saved in: resume that folder, or delete this checkpoint"
    )


def check_saved_settings(writer: RunWriter, settings: Settings) -> None:
    """Keep a resume to the settings its folder shows: a settings.yaml the render wrote is
    brought up to date (or written when missing); one edited since must hold the checkpoint's
    settings, else OutputError naming the settings that differ."""
    path = writer.settings_path
    text = to_yaml(settings)
    if not (path.exists() or path.is_symlink()) or writer.owns(path):
        if not path.is_file() or path.read_text(encoding="utf-8", errors="replace") != text:
            writer.write_settings(text)
        return
    differ = _settings_differences(path, settings)
    if differ:
        shown_list = "; ".join(differ[:6]) + ("; ..." if len(differ) > 6 else "")
        raise OutputError(
            f"{shown_path(path)} was edited since the run saved its checkpoint ({shown_list}); "
            "a resume goes on with the saved settings: undo the edit (or delete the file, "
            "and the resume writes the saved settings again), or render the edited settings "
            f"as a new run: python -m pytti_nb render '{path}'"
        )


def _settings_differences(path: Path, settings: Settings) -> list[str]:
    """How an edited settings.yaml differs from a run's settings ('name: file → saved')."""
    try:
        data, _ = read_settings_file(path)
        edited = to_dict(from_dict(data, source=str(path)))
    except PyttiError as e:
        problem = e.problems[0] if isinstance(e, SettingsError) and e.problems else str(e)
        return [f"it no longer reads as settings: {shown(problem, 120)}"]
    saved = to_dict(settings)
    keys = [k for k in saved if edited.get(k) != saved[k]]
    return [
        f"{k}: {shown(edited.get(k), 40)} in the file, {shown(saved[k], 40)} saved" for k in keys
    ]


def check_resume_state(state: dict, total_steps: int, where: str) -> None:
    """Raise OutputError unless a checkpoint's state has the parts a resume reads, of the
    right kinds (the tensors' shapes are checked against the run once it is built)."""
    import torch

    step = state.get("step")
    if isinstance(step, bool) or not isinstance(step, int) or not 0 <= step <= total_steps:
        raise OutputError(
            f"{where}: its step {step!r:.40} is not a step of this run (0 to {total_steps}); "
            "the file is damaged: delete it to start afresh"
        )
    kinds = {"image": dict, "optimizer": dict, "rng": torch.Tensor}
    for name, kind in {**kinds, "terms": dict, "animator": dict}.items():
        if (name in kinds or name in state) and not isinstance(state.get(name), kind):
            raise OutputError(
                f"{where}: its {name} state is missing or of the wrong kind; the file is "
                "damaged: delete it to start afresh"
            )


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


def _layout_problem(saved, fresh, where: str) -> str | None:
    """How a saved state differs in layout from a fresh one (keys, tensor shapes and dtypes,
    kinds of value, finiteness), or None."""
    import torch

    if isinstance(fresh, torch.Tensor):
        if not isinstance(saved, torch.Tensor):
            return f"{where} is not a tensor"
        if saved.shape != fresh.shape or saved.dtype != fresh.dtype:
            return (
                f"{where} is {saved.dtype} {list(saved.shape)}, the run needs {fresh.dtype} "
                f"{list(fresh.shape)}"
            )
        if saved.is_floating_point() and not bool(torch.isfinite(saved).all()):
            return f"{where} holds values that are not finite"
        return None
    if isinstance(fresh, dict):
        if not isinstance(saved, dict) or set(saved) != set(fresh):
            return f"{where} has other parts than the run's"
        found = (_layout_problem(saved[k], fresh[k], f"{where}.{k}") for k in fresh)
        return next((f for f in found if f), None)
    if isinstance(fresh, (list, tuple)):
        if not isinstance(saved, (list, tuple)) or len(saved) != len(fresh):
            return f"{where} has another length than the run's"
        found = (
            _layout_problem(a, b, f"{where}[{i}]")
            for i, (a, b) in enumerate(zip(saved, fresh, strict=True))
        )
        return next((f for f in found if f), None)
    if _number(fresh) and _number(saved):
        return (
            None if math.isfinite(saved) or not math.isfinite(fresh) else f"{where} is not finite"
        )
    same = type(saved) is type(fresh) or (fresh is None or saved is None)
    return None if same else f"{where} is a {type(saved).__name__}, not a {type(fresh).__name__}"


def _number(value) -> bool:
    """A plain int or float (not a bool)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _optimizer_problem(saved, optimizer) -> str | None:
    """How a saved optimizer state does not fit the run's optimizer (groups, per-parameter
    tensors of the parameter's shape or scalars), or None."""
    import torch

    fresh = optimizer.state_dict()
    if not isinstance(saved, dict) or set(saved) != set(fresh):
        return "optimizer has other parts than the run's"
    groups = saved["param_groups"]
    if not isinstance(groups, list) or len(groups) != len(fresh["param_groups"]):
        return "optimizer has other parameter groups than the run's"
    for mine, theirs in zip(fresh["param_groups"], groups, strict=True):
        if not isinstance(theirs, dict) or set(theirs) != set(mine):
            return "optimizer has other parameter groups than the run's"
        if theirs["params"] != mine["params"]:
            return "optimizer has other parameters than the run's"
    shapes = [p.shape for group in optimizer.param_groups for p in group["params"]]
    if not isinstance(saved["state"], dict):
        return "optimizer state is not a mapping"
    for index, entry in saved["state"].items():
        if not (isinstance(index, int) and 0 <= index < len(shapes) and isinstance(entry, dict)):
            return "optimizer state names a parameter the run does not have"
        for name, value in entry.items():
            if not isinstance(value, torch.Tensor):
                if _number(value):
                    continue
                return f"optimizer state {name} is a {type(value).__name__}"
            if value.dim() and value.shape != shapes[index]:
                return f"optimizer state {name} is {list(value.shape)}, not {list(shapes[index])}"
            if value.is_floating_point() and not bool(torch.isfinite(value).all()):
                return f"optimizer state {name} holds values that are not finite"
    return None


def state_problem(state: dict, session) -> str | None:
    """How a checkpoint's image, optimizer and RNG state does not fit a freshly built session
    (layout, shapes, kinds, finiteness), or None."""
    return (
        _layout_problem(state["image"], session.image.state_dict(), "image")
        or _optimizer_problem(state["optimizer"], session.optimizer)
        or _layout_problem(state["rng"], session.rng.get_state(), "rng")
    )
