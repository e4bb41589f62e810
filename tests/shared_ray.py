"""One local Ray instance for a whole test run, shared by the test files that render sweeps.

It is started by the run's first process (xdist's controller) before the test processes exist,
on a still quiet machine: Ray gives its raylet a fixed 30 s to register, which a start on two
cores busy with browser tests could miss. The test processes, and the servers they start,
inherit its address (ENV) and Ray's token setting; the instance ends with the run.
"""

import importlib.util
import os
from pathlib import Path

import pytest

ENV = "PYTTI_TEST_RAY_ADDRESS"
FAILED = "PYTTI_TEST_RAY_ERROR"
# the files that render on it: each Ray start costs seconds of CPU in several processes
USERS = ("test_sweep.py", "browser/test_studio_voila.py")
# logical cores: test_sweep's kept pool (2 workers) and the Voila studio's 2-seed sweep may run
# at the same time; with the machine's 2, the second would wait for the first to end
CPUS = 4
KEY = pytest.StashKey()


def start(config) -> None:
    """Start the instance in the run's first process when the run includes a USERS file."""
    if hasattr(config, "workerinput") or ENV in os.environ or not _runs_users(config):
        return
    if importlib.util.find_spec("ray") is None:  # test_sweep says so itself (fails under CI)
        return
    from pytti_nb.sweep.cluster import ClusterError
    from pytti_nb.sweep.runner import start_local

    try:
        local = start_local(cpus=CPUS)  # as the sweep command starts one
    except ClusterError as e:
        os.environ[FAILED] = str(e)
        return
    config.stash[KEY] = local
    os.environ[ENV] = local.address


def stop(config) -> None:
    """End the instance this process started, if any."""
    local = config.stash.get(KEY, None)
    if local is not None:
        local.close()
        os.environ.pop(ENV, None)


def address() -> str:
    """The shared instance's address (the test fails, saying why, when there is none)."""
    if ENV not in os.environ:
        pytest.fail(
            "no shared Ray instance: "
            + os.environ.get(FAILED, f"this run's first process did not start one ({USERS})")
        )
    return os.environ[ENV]


def _runs_users(config) -> bool:
    """Whether the run's paths include a USERS file (a folder above one, or one itself)."""
    tests = Path(__file__).resolve().parent
    users = [tests / name for name in USERS]
    for arg in config.args:
        path = Path(config.invocation_params.dir, arg.split("::")[0]).resolve()
        if any(user == path or path in user.parents for user in users):
            return True
    return False
