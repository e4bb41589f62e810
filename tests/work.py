"""Work and memory a block of test code takes: what tests bound instead of seconds.

Work is the number of function calls (Python and builtin, counted by cProfile): a runaway shows
as a count far over budget on any machine, however loaded; timings belong in the benchmark."""

import contextlib
import cProfile
import pstats
import tracemalloc


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
