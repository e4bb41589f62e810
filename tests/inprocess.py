"""The command line run inside the test process, measured (tests/work.py): what hostile-input
tests bound."""

import contextlib
import io

from work import measured

from pytti_nb.cli import main


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
