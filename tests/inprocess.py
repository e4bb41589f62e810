"""The command line run inside the test process: no interpreter start and no torch or open_clip
import per call (seconds each); measured (tests/work.py) where hostile-input tests bound it."""

import contextlib
import io

from work import measured

from pytti_nb.cli import main


def run_main(*argv) -> tuple[int, str, str]:
    """Run the command line here, as `python -m pytti_nb ARGV` would: (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main([str(a) for a in argv])
        except SystemExit as e:  # argparse refuses the arguments themselves this way
            code = e.code
    return code, out.getvalue(), err.getvalue()


def run_cli(*argv) -> tuple[int, str, str, float, int]:
    """Run the command line here: (exit code, stdout, stderr, peak MB allocated, calls made)."""
    out, err = io.StringIO(), io.StringIO()
    with (
        measured() as cost,
        contextlib.redirect_stdout(out),
        contextlib.redirect_stderr(err),
    ):
        code = main([str(a) for a in argv])
    return code, out.getvalue(), err.getvalue(), cost["peak_mb"], cost["calls"]
