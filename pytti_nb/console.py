"""What every command shares: exit codes, how notes and errors are printed, the Ctrl-C rule."""

import signal
import sys

EXIT_OK = 0
EXIT_INTERNAL = 1  # a bug: please report it with the traceback
EXIT_BAD_INPUT = 2  # invalid settings, prompt, expression, path or command line
EXIT_MODEL = 3  # a model could not be loaded (weights not downloaded, no network)
EXIT_OUTPUT = 4  # the output folder or a file in it cannot be written or read
EXIT_HALTED = 5  # out of device memory at one cutout per batch, or steps that keep giving NaN
EXIT_STOPPED = 130  # stopped with Ctrl-C after saving a checkpoint; resume with --resume

EXIT_CODES = {
    EXIT_OK: "success",
    EXIT_INTERNAL: "internal error (a bug; please report it)",
    EXIT_BAD_INPUT: "invalid settings, prompt, expression, path or arguments",
    EXIT_MODEL: "a model could not be loaded (not downloaded, no network)",
    EXIT_OUTPUT: "the output folder or a file in it cannot be written or read",
    EXIT_HALTED: "the render could not go on (out of device memory, non-finite values); "
    "its checkpoint is saved",
    EXIT_STOPPED: "stopped by Ctrl-C after saving; continue with --resume",
}


class StopOnSigint:
    """First Ctrl-C asks the loop to stop after the current step; a second one aborts."""

    def __init__(self):
        self.requested = False
        self._previous = None

    def __call__(self) -> bool:
        return self.requested

    def __enter__(self):
        self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc):
        signal.signal(signal.SIGINT, self._previous)

    def _handle(self, signum, frame):
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        print("\nstopping after this step (Ctrl-C again to abort)...", file=sys.stderr)


def print_notes(notes) -> None:
    """Print notes the artist should know about."""
    for note in notes:
        print(f"note: {note}")


def report_conversion(path, notes) -> None:
    """Say that a PyTTI file was converted, and every note of the conversion."""
    if notes is None:
        return
    print(f"{path}: PyTTI settings, converted" + (":" if notes else " with no changes"))
    for note in notes:
        print(f"  - {note}")


def report_needs(lines) -> None:
    """Say what a render of the settings will need: each model and media file, and what to do
    about each one this machine lacks."""
    if lines:
        print("a render of these settings needs:")
        for line in lines:
            print(f"  - {line}")


def error(message: str) -> None:
    """Print a user-facing error."""
    print(f"error: {message}", file=sys.stderr)
