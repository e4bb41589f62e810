"""The command line run inside the test process, measured: what hostile-input tests bound."""

import contextlib
import io
import time
import tracemalloc

from pytti_nb.cli import main


def run_cli(*argv) -> tuple[int, str, str, float, float]:
    """Run the command line here: (exit code, stdout, stderr, peak MB allocated, seconds)."""
    out, err = io.StringIO(), io.StringIO()
    tracemalloc.start()
    start = time.perf_counter()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main([str(a) for a in argv])
    finally:
        peak = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
    return code, out.getvalue(), err.getvalue(), peak, time.perf_counter() - start
