"""Ray for a sweep: a cluster at an address, found reachable within seconds or refused with a
clear error; or a local instance in its own process group, which ends with the sweep even when
the sweep's process is killed (head.py watches it)."""

import atexit
import contextlib
import json
import logging
import os
import selectors
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

from ..errors import PyttiError, clipped, shown

PROBE_S = 5.0  # a cluster's address must accept a connection within this
CONNECT_S = 60.0  # then Ray must connect within this (its own retries are bounded below)
START_S = 300.0  # a local instance must be up within this (Ray gives up sooner by itself)
STOP_S = 30.0  # a local instance must be gone this long after the sweep lets it go
POLL_S = 0.2  # how often a wait looks at should_stop and signals
GCS_WAIT_S = "1"  # Ray's GCS connection attempts (about 30 s each), instead of its default 20
AUTH_MODE = "RAY_AUTH_MODE"
QUIET = {"logging_level": logging.ERROR, "log_to_driver": False}
ADDRESS_HELP = (
    "give the head node's HOST:PORT (the GCS port, 6379 unless `ray start --head --port` set "
    "another), 'auto' for the cluster this machine belongs to, or {leave} for a local Ray "
    "instance"
)


class ClusterError(PyttiError):
    """A Ray cluster cannot be reached, or a local Ray instance cannot be started."""


class StartStopped(PyttiError):
    """The sweep was stopped while Ray started: nothing was rendered or written."""


def import_ray():
    """The ray module, or an error saying how to install it (sweeps alone need it)."""
    try:
        import ray
    except ImportError:
        raise PyttiError(
            "sweeps run on Ray, which is not installed here: pip install 'ray>=2.60' "
            "(every machine of a cluster needs pytti_nb and Ray)"
        ) from None
    return ray


def _help(named: str) -> str:
    """What to give instead of a bad address, where it came from."""
    return ADDRESS_HELP.format(leave=_leave(named))


def _leave(named: str) -> str:
    """How to ask for a local instance instead of the address `named` gave."""
    return "unset RAY_ADDRESS" if named == "RAY_ADDRESS" else f"leave {named} out"


def chosen_address(address=None) -> tuple[str | None, str]:
    """The cluster to render on and what named it: `address` (the --address option), else
    RAY_ADDRESS (Ray's own convention, as ray.init reads it), else None for a local instance."""
    if address:
        return address, "--address"
    return os.environ.get("RAY_ADDRESS", "").strip() or None, "RAY_ADDRESS"


def connect(address: str, should_stop=lambda: False, named: str = "--address") -> None:
    """Connect this process to the Ray cluster at `address` ('auto': the one this machine
    belongs to), or raise ClusterError within about PROBE_S when nothing answers there; errors
    name where the address came from (`named`: the option, or RAY_ADDRESS)."""
    ray = import_ray()
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    target = _resolved(str(address).strip(), named)
    host, port = split_address(target.split("://", 1)[-1], address, named)
    _probe(host, port, address, should_stop, named)
    with _bounded_retries():
        error = _in_thread(
            lambda: ray.init(address=target, **QUIET), CONNECT_S, should_stop, "connecting to Ray"
        )
    if error is not None:
        raise ClusterError(
            f"{named} {shown(address)}: Ray did not connect to {target} "
            f"({_first_line(error)}); is it a Ray cluster's GCS port? {_help(named)}"
        )


def check_address(address, named: str = "--address") -> None:
    """Raise ClusterError for an address that is neither HOST:PORT, ray://HOST:PORT nor auto."""
    text = str(address).strip()
    if text != "auto":
        split_address(text.split("://", 1)[-1], address, named)


def split_address(text: str, given, named: str = "--address") -> tuple[str, int]:
    """HOST and PORT of 'HOST:PORT' ('[v6]:PORT' too), or ClusterError naming what is wrong."""
    host, sep, port = text.rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ClusterError(f"{named} {shown(given)}: not HOST:PORT; {_help(named)}")
    return host, int(port)


def _resolved(address: str, named: str) -> str:
    """The address Ray will connect to: 'auto' looked up, a loopback host made this machine's
    reachable IP (as ray.init does, so that the probe tries what Ray tries)."""
    check_address(address, named)  # before Ray, which logs a traceback for a bad one
    if "://" in address:  # Ray Client (ray://HOST:PORT): connected to as given
        return address
    from ray._private import services

    try:
        return services.canonicalize_bootstrap_address(address)
    except ConnectionError:
        raise ClusterError(
            f"{named} {shown(address)}: no Ray cluster runs on this machine; start one "
            f"(`ray start --head`) or {_leave(named)} for a local Ray instance"
        ) from None
    except (ValueError, OSError) as e:
        raise ClusterError(f"{named} {shown(address)}: {_first_line(e)}; {_help(named)}") from None


def _probe(host: str, port: int, given, should_stop, named: str) -> None:
    """Raise ClusterError unless HOST:PORT accepts a TCP connection within PROBE_S."""

    def attempt():
        with socket.create_connection((host, port), timeout=PROBE_S):
            pass

    error = _in_thread(attempt, PROBE_S + 1, should_stop, "reaching the cluster")
    if error is None:
        return
    if isinstance(error, socket.gaierror):
        why = f"the host {shown(host)} is unknown ({error.strerror})"
    elif isinstance(error, ConnectionRefusedError):
        why = f"nothing listens at {host}:{port}"
    elif isinstance(error, (TimeoutError, socket.timeout)):
        why = f"{host}:{port} did not answer within {PROBE_S:g} s"
    else:
        why = f"{host}:{port} cannot be reached ({_first_line(error)})"
    raise ClusterError(f"{named} {shown(given)}: no Ray cluster there: {why}; {_help(named)}")


def _in_thread(call, timeout: float, should_stop, doing: str):
    """Run `call` on a thread, waiting here (where signals and should_stop are seen) at most
    `timeout` seconds; the exception it raised, or None."""
    box = {}

    def run():
        try:
            call()
        except BaseException as e:  # handed to the waiting thread
            box["error"] = e

    worker = threading.Thread(target=run, name="pytti-ray-connect", daemon=True)
    worker.start()
    deadline = time.monotonic() + timeout
    while worker.is_alive():
        if should_stop():
            _abandon()
            raise StartStopped(f"stopped while {doing}; nothing was rendered")
        if time.monotonic() > deadline:
            _abandon()
            return TimeoutError(f"no answer within {timeout:g} s")
        worker.join(POLL_S)
    return box.get("error")


def _abandon() -> None:
    """Forget a connection attempt left running: Ray's exit hook would wait for it."""
    ray = sys.modules.get("ray")
    if ray is not None:
        atexit.unregister(ray._private.worker.shutdown)


@contextlib.contextmanager
def _bounded_retries():
    """Ray's own connection retries bounded (GCS_WAIT_S attempts) unless the user set them."""
    key = "RAY_gcs_server_port_wait_time_s"
    before = os.environ.get(key)
    os.environ.setdefault(key, GCS_WAIT_S)
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(key, None)


class LocalRay:
    """A local Ray instance for one sweep, started by head.py in its own process group; it ends
    when closed, or when this process ends in any way (head.py sees its stdin close)."""

    def __init__(self, object_store_bytes: int, should_stop=lambda: False, cpus: int | None = None):
        """Start the instance and wait until it is up (ClusterError when it cannot start); it
        schedules on `cpus` logical cores (default: this machine's)."""
        self._auth = _auth_mode("token")  # as ray.init for a local instance, unless set
        self._log = tempfile.TemporaryFile()
        env = {
            **os.environ,
            "RAY_USAGE_STATS_ENABLED": os.environ.get("RAY_USAGE_STATS_ENABLED", "0"),
        }
        env.pop("RAY_ADDRESS", None)  # a local instance, whatever the environment names
        self.process = subprocess.Popen(
            [sys.executable, "-m", "pytti_nb.sweep.head", str(object_store_bytes)]
            + ([str(cpus)] if cpus else []),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            start_new_session=True,  # its own process group, killed as one; no terminal Ctrl-C
            env=env,
        )
        try:
            self.info = self._started(should_stop)
        except BaseException:
            self.process.terminate()  # head.py may still be starting Ray, not reading stdin
            self.close()
            raise
        self.address = self.info["address"]

    def _started(self, should_stop) -> dict:
        """What head.py prints once the instance is up."""
        deadline = time.monotonic() + START_S
        with selectors.DefaultSelector() as sel:
            sel.register(self.process.stdout, selectors.EVENT_READ)
            while True:
                if should_stop():
                    raise StartStopped("stopped while Ray started; nothing was rendered")
                if time.monotonic() > deadline:
                    raise ClusterError(f"a local Ray instance did not start within {START_S:g} s")
                if sel.select(POLL_S):
                    line = self.process.stdout.readline()
                    if not line:
                        raise ClusterError(f"a local Ray instance could not start: {self._why()}")
                    with contextlib.suppress(ValueError):
                        info = json.loads(line)
                        if isinstance(info, dict) and isinstance(info.get("address"), str):
                            return info

    def _why(self) -> str:
        """The last lines head.py wrote to stderr: what Ray said when it failed."""
        with contextlib.suppress(ValueError, subprocess.TimeoutExpired):
            self.process.wait(timeout=STOP_S)
        self._log.seek(0)
        lines = self._log.read().decode("utf-8", "replace").strip().splitlines()
        return clipped(" / ".join(lines[-3:]) or f"exit status {self.process.returncode}", 600)

    def close(self) -> None:
        """End the instance: head.py shuts Ray down and kills what is left of its group."""
        with contextlib.suppress(OSError, ValueError):
            self.process.stdin.close()
        try:
            self.process.wait(timeout=STOP_S)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(OSError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        self.process.stdout.close()
        self._log.close()
        if self._auth:
            _auth_mode(None)


def _auth_mode(mode: str | None) -> bool:
    """Set Ray's authentication mode for this process and the processes it starts (None: as
    it was), unless the user set it; whether it was set. A local instance started by ray.init
    asks for tokens, which this process then sends too (Ray sends them only to instances it
    started, or found by 'auto')."""
    from ray._raylet import Config

    if mode is not None and AUTH_MODE in os.environ:
        return False
    if mode is None:
        os.environ.pop(AUTH_MODE, None)
    else:
        os.environ[AUTH_MODE] = mode
    Config.initialize("")  # Ray reads the mode from the environment only here
    return True


def _first_line(error: BaseException) -> str:
    """An error's first line, bounded."""
    text = str(error).strip().splitlines()
    return clipped(text[0] if text else type(error).__name__, 300)
