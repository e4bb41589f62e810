"""Waiting in tests for something another process or the event loop does.

A render in a subprocess, a Ray worker or the studio's loop tells the test nothing directly,
so the test looks at what it produces (a checkpoint file, a process gone, the studio's state)
until it is there. The interval between looks is not a timing of anything; the deadline is a
hang guard, generous enough for a machine under any load.
"""

import asyncio
import time

import pytest

POLL_S = 0.05  # how often a condition is looked at; no outcome depends on it
HANG_GUARD_S = 300


def wait_for(condition, what: str, timeout: float = HANG_GUARD_S, process=None) -> None:
    """Return once condition() holds; fail naming `what` at the hang guard, or as soon as
    `process` (a Popen) has ended without it."""
    deadline = time.monotonic() + timeout
    while not condition():
        if process is not None and process.poll() is not None:
            pytest.fail(f"the process ended before {what}")
        if time.monotonic() > deadline:
            pytest.fail(f"{what} did not happen within {timeout} s")
        time.sleep(POLL_S)


async def until(condition, what: str, timeout: float = HANG_GUARD_S) -> None:
    """Hand the event loop back until condition() holds; fail naming `what` at the hang guard."""

    async def poll():
        while not condition():
            await asyncio.sleep(POLL_S / 5)

    try:
        await asyncio.wait_for(poll(), timeout)
    except TimeoutError:
        pytest.fail(f"{what} did not happen within {timeout} s")
