"""The command line in a process of its own, forked from a warm one.

Tests that signal or kill a render need a real process. Starting `python -m pytti_nb` costs an
interpreter start and the torch and open_clip imports, about 8 s of CPU each on 2 cores, so
these processes are forked instead by multiprocessing's forkserver, which imported them once
per test worker. Each is a real process (its own pid, signals, exit status, files); pytti_nb
keeps no module-level state, so a fork is a fresh run. What an import itself loads is tested
with `python -c` processes, never these.
"""

import importlib
import multiprocessing
import os
import signal
import subprocess
import sys
from pathlib import Path

# imported once in the forkserver; Ray is not (its gRPC threads must not cross a fork)
PRELOAD = ["torch", "torchvision", "open_clip", "pytti_nb.cli", "pytti_nb.perception.perceptors"]


def _context():
    """The forkserver context, its preload set before the server's first start."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(PRELOAD)
    return context


def _run(entry: str, argv: list, cwd: str, output: str) -> None:
    """The child: stdout and stderr to `output`, then `module:function`(argv) as its exit."""
    fd = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    os.chdir(cwd)
    module, _, name = entry.partition(":")
    sys.exit(getattr(importlib.import_module(module), name)(argv))


class Forked:
    """A running command-line process, with Popen's pid, poll, wait, send_signal and kill."""

    def __init__(self, argv, *, output: Path, cwd: Path, entry: str = "pytti_nb.cli:main"):
        """Start `entry`(argv) (the command line's main by default), its output to `output`."""
        self.output = Path(output)
        self.output.touch()
        args = (entry, [str(a) for a in argv], str(cwd), str(self.output))
        self._process = _context().Process(target=_run, args=args)
        self._process.start()
        self.pid = self._process.pid

    @property
    def returncode(self):
        """Its exit code, negative for the signal that ended it; None while it runs."""
        return self._process.exitcode

    def poll(self):
        """Its exit code, or None while it runs."""
        return self._process.exitcode

    def wait(self, timeout=None) -> int:
        """Wait for its end (TimeoutExpired at `timeout`); its exit code."""
        self._process.join(timeout)
        if self._process.exitcode is None:
            raise subprocess.TimeoutExpired(str(self.output), timeout)
        return self._process.exitcode

    def send_signal(self, sig) -> None:
        """Send it a signal (once it has ended, none)."""
        if self._process.exitcode is None:
            os.kill(self.pid, sig)

    def kill(self) -> None:
        """SIGKILL it."""
        self.send_signal(signal.SIGKILL)

    def text(self) -> str:
        """What it has written to stdout and stderr so far."""
        return self.output.read_text(errors="replace")


def run_forked(argv, *, output: Path, cwd: Path, timeout=300) -> subprocess.CompletedProcess:
    """Run the command line to its end in a forked process: (args, exit code, output, output)."""
    proc = Forked(argv, output=output, cwd=cwd)
    code = proc.wait(timeout)
    return subprocess.CompletedProcess(argv, code, proc.text(), proc.text())
