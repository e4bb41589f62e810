"""Command line: `python -m pytti_nb render|validate|import-pytti|share|sweep|settings-table`."""

import argparse
import contextlib
import sys
from pathlib import Path

from .config.pytti_import import ALLOW_ENV_HELP
from .console import (
    EXIT_BAD_INPUT,
    EXIT_CODES,
    EXIT_HALTED,
    EXIT_MODEL,
    EXIT_OK,
    EXIT_OUTPUT,
    EXIT_STOPPED,
    StopOnSigint,
    error,
    print_notes,
    report_conversion,
    report_needs,
)
from .errors import (
    MissingModels,
    ModelUnavailable,
    OutputError,
    PerceptorError,
    PyttiError,
    RenderHalted,
    SettingsError,
)

FORCE_HELP = "replace DEST when it exists (the input file itself is never replaced)"


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for every subcommand."""
    parser = argparse.ArgumentParser(
        prog="python -m pytti_nb",
        description="CLIP-guided image synthesis.",
        epilog="exit codes: " + "; ".join(f"{k} {v}" for k, v in EXIT_CODES.items()),
    )
    sub = parser.add_subparsers(dest="command", required=True)
    r = sub.add_parser("render", help="render a settings file")
    r.add_argument(
        "settings",
        nargs="*",
        help="settings files, rendered one after another: YAML, JSON or a PNG of ours, or "
        "PyTTI's (converted, with a report)",
    )
    r.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override one setting (repeatable), e.g. --set width=256",
    )
    r.add_argument("--out", help="output root folder (the output_root setting)")
    r.add_argument(
        "--resume", metavar="DIR", help="continue the run saved in DIR (a run folder, ROOT/NAME)"
    )
    r.add_argument("--quiet", action="store_true", help="no progress bar")
    r.add_argument("--allow-env", action="store_true", help=ALLOW_ENV_HELP)
    v = sub.add_parser("validate", help="check a settings file (ours or PyTTI's) without rendering")
    v.add_argument("settings")
    v.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    v.add_argument("--allow-env", action="store_true", help=ALLOW_ENV_HELP)
    i = sub.add_parser("import-pytti", help="convert a PyTTI settings file to pytti_nb's")
    i.add_argument(
        "source",
        help="PyTTI settings: a Hydra .yaml (keys left out take PyTTI's defaults), a "
        "<name>_settings.txt, or JSON or the notebook's printed dict in a .json or .txt file",
    )
    i.add_argument(
        "dest", help="pytti_nb settings file to write (.yaml or .json; never the source file)"
    )
    i.add_argument("--force", action="store_true", help=FORCE_HELP)
    i.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override one setting after the conversion (PyTTI's own keys, such as ViTB16, "
        "before it), e.g. --set perceptors=[demo]",
    )
    i.add_argument("--allow-env", action="store_true", help=ALLOW_ENV_HELP)
    s = sub.add_parser(
        "share", help="write a copy of the notebook that opens with these settings, to share"
    )
    s.add_argument("settings", help="the settings: YAML, JSON, a PNG of ours, or PyTTI's")
    s.add_argument("dest", help="the notebook to write (.ipynb; an existing file is kept)")
    s.add_argument("--force", action="store_true", help=FORCE_HELP)
    s.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    s.add_argument("--allow-env", action="store_true", help=ALLOW_ENV_HELP)
    sub.add_parser("settings-table", help="print the settings table in Markdown")

    from .sweep.command import add_arguments as add_sweep_arguments

    add_sweep_arguments(
        sub.add_parser(
            "sweep",
            help="render a sweep file's variations (grids, seeds, ...) on Ray, each resumable, "
            "with a manifest and a contact sheet",
        )
    )
    return parser


def main(argv=None) -> int:
    """Entry point; returns the exit code."""
    for stream in (sys.stdout, sys.stderr):  # a file name or value no encoding can show
        with contextlib.suppress(AttributeError, ValueError):
            stream.reconfigure(errors="backslashreplace")
    args = build_parser().parse_args(argv)
    try:
        if args.command == "validate":
            return validate_command(args)
        if args.command == "import-pytti":
            return import_command(args)
        if args.command == "share":
            return share_command(args)
        if args.command == "sweep":
            from .sweep.command import sweep_command

            return sweep_command(args)
        if args.command == "settings-table":
            from .docs import settings_table

            print(settings_table())
            return EXIT_OK
        return render_command(args)
    except MissingModels as e:
        error("a model could not be loaded:\n" + _listed(e.problems))
        return EXIT_MODEL
    except SettingsError as e:
        error("invalid settings:\n" + _listed(e.problems))
        return EXIT_BAD_INPUT
    except (PerceptorError, ModelUnavailable) as e:
        error(str(e))
        return EXIT_MODEL
    except OutputError as e:
        error(str(e))
        return EXIT_OUTPUT
    except RenderHalted as e:
        error(str(e))
        return EXIT_HALTED
    except PyttiError as e:
        error(str(e))
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        # Ctrl-C before rendering began (while models load) or a second Ctrl-C: what was
        # saved stays saved; nothing is half-written because every file is atomic
        error("interrupted")
        return EXIT_STOPPED


def _listed(problems) -> str:
    """Problems as an indented list, one per line."""
    return "\n".join("  - " + p.replace("\n", "\n    ") for p in problems)


def validate_command(args) -> int:
    """Load and fully check a settings file; print a summary."""
    from .config.files import read_render_settings
    from .config.plan import plan_dict
    from .config.settings import from_dict

    data, notes, dropped = read_render_settings(args.settings, args.set, allow_env=args.allow_env)
    report_conversion(args.settings, notes)
    print_notes(dropped)
    try:
        p = plan_dict(data, source=args.settings)
    except MissingModels as e:  # sound settings: name every model this machine lacks
        raise MissingModels([*e.problems, *_perceptor_problems(from_dict(data))]) from None
    if missing := _perceptor_problems(p.settings):
        raise MissingModels(missing)
    facts = [f"{len(p.scenes)} scene(s)", f"{p.total_steps} steps"]
    width, height = p.output_size
    facts.append(f"{width}x{height} pixels")
    if p.clock.animated:
        facts.append(f"{p.clock.frames} animation frame(s)")
    if p.video is not None:
        facts.append(f"the video gives {p.video.frames} frame(s) at {p.video.fps:g} fps")
    if p.audio is not None:
        facts.append(f"{p.audio.seconds:.1f} s of audio in {len(p.audio.filters)} band(s)")
    print(f"{args.settings}: valid ({', '.join(facts)})")
    return EXIT_OK


def _perceptor_problems(settings) -> list[str]:
    """Render's own check of each perceptor's weights (cached, else the host reachable): a
    line for each that cannot be had now."""
    from .io.model_folder import cache_dir_of
    from .perception.specs import check_perceptor_weights

    problems = []
    for spec in settings.perceptors:
        try:
            check_perceptor_weights(spec, cache_dir_of(settings))
        except PerceptorError as e:
            problems.append(f"perceptors: {e}")
    return problems


def import_command(args) -> int:
    """Convert a PyTTI settings file, check the result as far as it can be without its models
    and media (converting needs neither), write it, and say what a render of it needs."""
    from .config.files import read_settings_dict, settings_text
    from .config.plan import plan_dict
    from .config.pytti_import import import_pytti
    from .config.run_needs import render_needs
    from .io.user_files import user_file_check, write_user_file

    dest = dict(what="the converted settings", inputs=[args.source], replace=args.force)
    user_file_check(
        Path(args.dest).expanduser(), **dest
    )  # before the work: a name that cannot be used
    ours, notes = import_pytti(read_settings_dict(args.source), args.set, allow_env=args.allow_env)
    report_conversion(args.source, notes)
    run_plan = plan_dict(ours, source=args.source, check_models=False, check_files=False)
    settings = run_plan.settings
    write_user_file(args.dest, settings_text(settings, args.dest).encode("utf-8"), **dest)
    print(f"wrote {args.dest}")
    report_needs(render_needs(run_plan))
    return EXIT_OK


def share_command(args) -> int:
    """Check settings as a render would and write a notebook that opens with them."""
    from .config.files import read_render_settings
    from .config.plan import plan_dict
    from .config.share import write_shared_notebook

    data, notes, _ = read_render_settings(args.settings, args.set, allow_env=args.allow_env)
    report_conversion(args.settings, notes)
    settings = plan_dict(data, source=args.settings).settings
    written = write_shared_notebook(settings, args.dest, inputs=[args.settings], replace=args.force)
    print(f"wrote {written}")
    print("note: output_root and allow_overwrite are not shared: whoever renders it chooses")
    return EXIT_OK


def render_command(args) -> int:
    """Render (or resume) runs, writing frames, checkpoints, settings and a video for each.

    Several settings files are all checked before the first one renders, and share the models.
    """
    from .config.files import read_render_settings
    from .config.overrides import apply_overrides
    from .config.plan import plan_dict
    from .models import ModelCache
    from .run import prepare_run

    overrides = list(args.set) + ([f"output_root={args.out}"] if args.out else [])
    if args.resume and (args.settings or overrides):
        raise SettingsError(
            [
                "--resume continues a run with its saved settings; do not also "
                "give a settings file, --set or --out"
            ]
        )
    models = ModelCache()
    if args.resume:
        return _render(prepare_run(resume_dir=args.resume, models=models), models, args)
    files = args.settings or [None]
    problems, plans, only_models = [], [], True
    for path in files:
        try:
            if path is None:
                data = apply_overrides({}, overrides)
            else:
                data, notes, dropped = read_render_settings(
                    path, overrides, allow_env=args.allow_env
                )
                report_conversion(path, notes)
                print_notes(dropped)
            plans.append(plan_dict(data, source=str(path or "settings")))
        except SettingsError as e:
            prefix = f"{path}: " if len(files) > 1 else ""
            problems += [prefix + p for p in e.problems]
            only_models = only_models and isinstance(e, MissingModels)
    if problems:
        raise (MissingModels if only_models else SettingsError)(problems)
    for checked in plans:
        job = prepare_run(settings=checked.settings, previous=checked, models=models)
        code = _render(job, models, args)
        if code != EXIT_OK:
            return code
    return EXIT_OK


def _render(job, models, args) -> int:
    """Run one prepared job to the end (or Ctrl-C) and say what it wrote."""
    from .run import run_to_completion

    print_notes(job.notes)
    stop = StopOnSigint()
    with stop:
        result = run_to_completion(job, models=models, should_stop=stop, progress=not args.quiet)
    print_notes(result.notes)
    print(
        f"wrote {result.saves} image(s) to {job.run_dir}"
        + (f" and {result.video}" if result.video else "")
    )
    return EXIT_STOPPED if stop.requested else EXIT_OK
