"""The command line run inside the test process, measured: what hostile-input tests bound.

Work is measured as the number of function calls (Python and builtin, counted by cProfile), not
seconds: a runaway shows as a count far over budget on any machine, however loaded."""

import contextlib
import cProfile
import io
import pstats
import tracemalloc

from pytti_nb.cli import main


@contextlib.contextmanager
def measured():
    """Measure the block: yields a dict that holds, once the block ends (even by raising),
    'peak_mb' (most Python memory allocated, by tracemalloc) and 'calls' (function calls made)."""
    cost = {}
    profile = cProfile.Profile()
    tracemalloc.start()
    try:
        profile.enable()
        try:
            yield cost
        finally:
            profile.disable()
    finally:
        cost["peak_mb"] = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
        cost["calls"] = pstats.Stats(profile).total_calls


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
