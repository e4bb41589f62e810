"""Every render of a sweep checked before any starts: its settings, its whole run, its folder."""

from pathlib import Path

import yaml

from ..config.plan import plan_run
from ..config.schema import names_where
from ..config.settings import from_dict_lenient, to_dict
from ..errors import MissingModels, SettingsError, shown
from ..io.bounded import load_yaml, read_text_bounded
from ..io.run_folder import SETTINGS_NAME, is_run_folder

# Settings that decide which models a render loads: renders that agree on them share one check
# of the models (a file lookup, or a network probe for a model not downloaded yet).
MODEL_SETTINGS = names_where(models=True)
UNCOMPARED = names_where(compared=False)


def check_renders(renders, *, check_models=True) -> None:
    """Plan every render and look at its folder; raise one SettingsError naming the renders each
    problem is found in (MissingModels when every problem is a model this machine lacks)."""
    found: dict[str, list[str]] = {}
    models_checked, previous, only_models = set(), None, True
    for render in renders:
        settings, problems = from_dict_lenient(render.settings, source=render.name)
        key = tuple(repr(getattr(settings, n)) for n in MODEL_SETTINGS)
        try:
            previous = plan_run(settings, check_models=key not in models_checked, previous=previous)
            models_checked.add(key)
        except SettingsError as e:
            only_models = only_models and isinstance(e, MissingModels) and not problems
            # skip what the lenient defaults caused: those settings are already reported
            bad = {p.split(":", 1)[0] for p in problems}
            problems += [p for p in e.problems if p.split(":", 1)[0] not in bad]
        if not problems:
            problem = folder_problem(Path(settings.output_root) / render.name, to_dict(settings))
            problems += [problem] if problem else []
            only_models = only_models and not problem
        for problem in problems:
            found.setdefault(problem, []).append(render.name)
    if found:
        error = MissingModels if only_models else SettingsError
        raise error([_named(p, names, len(renders)) for p, names in found.items()])


def folder_problem(run_dir: Path, wanted: dict) -> str | None:
    """Why a render cannot use its folder: another render's, or files that are not a render's."""
    if not run_dir.exists():
        return None
    if not run_dir.is_dir():
        return f"'{run_dir}' is a file, not a run folder; move it or give the sweep another --out"
    saved = saved_settings(run_dir)
    if saved is not None:
        differ = [
            f"{k}: {shown(saved[k])} there, {shown(wanted[k])} here"
            for k in wanted
            if k in saved and k not in UNCOMPARED and saved[k] != wanted[k]
        ]
        if differ:
            listed = "; ".join(differ[:3]) + ("; ..." if len(differ) > 3 else "")
            return (
                f"'{run_dir}' holds a render of other settings ({listed}); delete that folder to "
                "render it again, or give the sweep another --out"
            )
    if not is_run_folder(run_dir):  # the very test a render's overwrite applies
        listed = ", ".join(sorted(p.name for p in run_dir.iterdir())[:5])
        return (
            f"'{run_dir}' holds files that are not a render's ({listed}); move them "
            "or give the sweep another --out"
        )
    return None


def saved_settings(run_dir: Path) -> dict | None:
    """The settings a run folder was rendered with (its settings.yaml), or None."""
    path = run_dir / SETTINGS_NAME
    try:  # within the settings files' bounds: a folder may come from anyone
        data = load_yaml(read_text_bounded(path, str(path)))
    except (SettingsError, yaml.YAMLError):
        return None
    return data if isinstance(data, dict) else None


def _named(problem: str, names: list[str], total: int) -> str:
    """A problem with the renders it is found in."""
    if total > 1 and len(names) == total:
        return f"{problem} (in every render)"
    shown = ", ".join(names[:4]) + (f" and {len(names) - 4} more" if len(names) > 4 else "")
    return f"render {shown}: {problem}"
