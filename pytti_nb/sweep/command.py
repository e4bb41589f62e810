"""The `sweep` subcommand: its arguments and what it does."""

import argparse

from .. import console
from ..config.pytti_import import ALLOW_ENV_HELP


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The sweep subcommand's arguments."""
    parser.add_argument(
        "sweep",
        help="sweep file (YAML): a base settings file and the settings to vary (grid, zip, "
        "seeds, follow)",
    )
    parser.add_argument(
        "--address",
        metavar="ADDR",
        help="the Ray cluster to render on (its head node's HOST:PORT, or 'auto' for the one "
        "this machine belongs to); one that does not answer within seconds is an error (exit "
        "2); default: the cluster RAY_ADDRESS names when it is set (as for Ray itself), else a "
        "local Ray instance for this sweep, ended with it (even when killed)",
    )
    parser.add_argument(
        "--out",
        metavar="DIR",
        help="the sweep's output folder (default: out/<sweep file name>, in the current folder); "
        "a sweep file never chooses it; one sweep at a time writes there (another is refused: "
        "exit 4)",
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="change one base setting (repeatable), e.g. --set steps_per_scene=100",
    )
    parser.add_argument(
        "--cpus-per-render",
        type=int,
        default=1,
        metavar="N",
        help="CPU cores (and torch threads) each render holds (default 1); with GPUs each "
        "render holds one GPU",
    )
    parser.add_argument(
        "--workers",
        type=int,
        metavar="N",
        help="render at most N at once (default: as many as the GPUs, or the cores, allow)",
    )
    parser.add_argument("--quiet", action="store_true", help="print only errors")
    parser.add_argument("--allow-env", action="store_true", help=ALLOW_ENV_HELP)


def sweep_command(args) -> int:
    """Check the sweep, render what is not finished, write the manifest and contact sheet.

    The first Ctrl-C ends every render after its step with a checkpoint; a second aborts (the
    renders then resume from their last checkpoint when the sweep is started again).
    """
    from .cluster import StartStopped
    from .runner import run_sweep
    from .spec import load_sweep

    spec = load_sweep(args.sweep, out=args.out, overrides=args.set, allow_env=args.allow_env)
    report = None if args.quiet else print
    console.print_notes(spec.dropped)
    if report:
        console.report_conversion(f"{args.sweep} (its base)", spec.notes)
    stop = console.StopOnSigint()  # one Ctrl-C rule for render and sweep
    with stop:
        try:
            result = run_sweep(
                spec,
                address=args.address,
                cpus_per_render=args.cpus_per_render,
                workers=args.workers,
                should_stop=stop,
                report=report,
            )
        except StartStopped as e:
            console.error(str(e))
            return console.EXIT_STOPPED
    if result.counts.get("failed"):
        exits = {
            "input": console.EXIT_BAD_INPUT,
            "model": console.EXIT_MODEL,
            "output": console.EXIT_OUTPUT,
        }
        return exits.get(result.failure, console.EXIT_INTERNAL)
    if stop.requested or result.counts.get("stopped"):
        return console.EXIT_STOPPED
    return console.EXIT_OK


def main(argv=None) -> int:
    """The command on its own (errors raised, not printed): for tests and scripts."""
    parser = argparse.ArgumentParser(prog="pytti_nb.sweep.command")
    add_arguments(parser)
    return sweep_command(parser.parse_args(argv))
