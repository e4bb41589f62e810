"""The browser tests' machinery: a studio copy, private Jupyter servers, and a page's error log."""

import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlparse

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
NOTEBOOK = REPO / "pyttitools.ipynb"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
TOKEN = "pytti-browser-test"
LOCAL_HOSTS = ("127.0.0.1", "localhost")
SERVER_START_S = 120
TINY_STEPS = 12  # six previews (display_every 2), two saves
TINY_SETTINGS = (
    "scenes: a red circle on a black background\n"
    "perceptors: [demo]\n"
    "width: 16\n"
    "height: 16\n"
    "pixel_size: 4\n"
    "cutouts: 2\n"  # half the cost of a step; any number shows the same studio
    f"steps_per_scene: {TINY_STEPS}\n"
    "display_every: 2\n"
    "save_every: 10\n"
)


# The classic Notebook test starts from the default perceptor, which cannot load offline, and
# takes the studio's offer of the demo perceptor, as a newcomer on a machine without network does.
CLASSIC_SETTINGS = "\n".join(
    line for line in TINY_SETTINGS.splitlines() if not line.startswith("perceptors:")
)


def tiny_settings(**changes) -> str:
    """TINY_SETTINGS as YAML with some settings changed (what a user pastes into the studio)."""
    return yaml.safe_dump({**yaml.safe_load(TINY_SETTINGS), **changes}, sort_keys=False)


# The two JupyterLab plugins that reach the internet on their own (news feed, PyPI listing).
DISABLED_LAB_PLUGINS = (
    "@jupyterlab/apputils-extension:announcements",
    "@jupyterlab/extensionmanager-extension",
)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def set_parameters(nb: dict, values: dict) -> None:
    """Assign `values` in the notebook's `parameters`-tagged cell, as papermill injects them."""
    cells = [c for c in nb["cells"] if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(cells) == 1, f"expected one cell tagged 'parameters', found {len(cells)}"
    lines = "".join(cells[0]["source"]).splitlines()
    for name, value in values.items():
        line = f"{name} = {value!r}"
        hits = [i for i, s in enumerate(lines) if "=" in s and s.split("=")[0].strip() == name]
        if hits:
            lines[hits[0]] = line
        else:
            lines.append(line)
    cells[0]["source"] = "\n".join(lines) + "\n"


def make_studio_copy(workdir: Path, settings: str = TINY_SETTINGS) -> Path:
    """Copy pyttitools.ipynb into `workdir`, parameters set to tiny.yaml (`settings`) and an
    output folder."""
    assert NOTEBOOK.exists(), f"{NOTEBOOK} is missing (issue 4 delivers it)"
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "tiny.yaml").write_text(settings)
    nb = json.loads(NOTEBOOK.read_text())
    set_parameters(nb, {"settings_file": "tiny.yaml", "output_root": str(workdir / "out")})
    # Without a kernelspec JupyterLab asks which kernel to start; a plain Python 3 kernel it is.
    nb["metadata"].setdefault(
        "kernelspec", {"name": "python3", "display_name": "Python 3", "language": "python"}
    )
    path = workdir / NOTEBOOK.name
    path.write_text(json.dumps(nb, indent=1))
    return path


def jupyter_env(home: Path) -> dict:
    """Environment for a server and its kernels: private Jupyter dirs, repo importable."""
    for d in ("config", "data", "runtime", "ipython", "mpl"):
        (home / d).mkdir(parents=True, exist_ok=True)
    labconfig = home / "config" / "labconfig"
    labconfig.mkdir(exist_ok=True)
    # Exactly what `jupyter labextension disable --level=user NAME` writes, without a subprocess.
    disabled = {name: True for name in DISABLED_LAB_PLUGINS}
    (labconfig / "page_config.json").write_text(json.dumps({"disabledExtensions": disabled}))
    # Start the notebook's own kernel without the "Select Kernel" dialog, which otherwise races
    # the kernelspec fetch on a slow machine (the dialog's "Always start the preferred kernel").
    tracker = home / "config" / "lab" / "user-settings" / "@jupyterlab" / "notebook-extension"
    tracker.mkdir(parents=True, exist_ok=True)
    (tracker / "tracker.jupyterlab-settings").write_text('{"autoStartDefaultKernel": true}')
    path = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)
    return dict(
        os.environ,
        JUPYTER_CONFIG_DIR=str(home / "config"),
        JUPYTER_DATA_DIR=str(home / "data"),
        JUPYTER_RUNTIME_DIR=str(home / "runtime"),
        IPYTHONDIR=str(home / "ipython"),
        MPLCONFIGDIR=str(home / "mpl"),
        PYTHONPATH=path,
        JUPYTER_PLATFORM_DIRS="1",
        # Two shared cores: the kernel's torch gets one, Chromium and the server the other.
        OMP_NUM_THREADS="1",
        MKL_NUM_THREADS="1",
        PYTHONUNBUFFERED="1",
    )


class Server:
    """A server process we started, its base URL, working folder and log file."""

    def __init__(self, cmd, *, workdir, env, url, ready_path, log):
        """Start `cmd` in its own process group and wait until `ready_path` answers HTTP."""
        self.url, self.workdir, self.log = url, workdir, log
        with open(log, "wb") as out:
            self.proc = subprocess.Popen(
                cmd,
                cwd=workdir,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._wait_ready(url + ready_path)

    def _wait_ready(self, url):
        """Poll `url` until it answers; fail with the log if the process dies or time runs out."""
        deadline = time.monotonic() + SERVER_START_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"server exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                urllib.request.urlopen(url, timeout=5).close()
                return
            except urllib.error.HTTPError:
                return  # any HTTP answer means the server listens, and it listens last
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.3)
        self.stop()
        pytest.fail(f"server not ready after {SERVER_START_S}s at {url}:\n{self.log_tail()}")

    def log_tail(self, n=4000) -> str:
        """The end of the server's log."""
        return Path(self.log).read_text(errors="replace")[-n:]

    def stop(self, *, wait: bool = True):
        """SIGTERM the server (it shuts its kernels down); with `wait`, wait until it exits.

        A kernel that imported torch takes seconds to exit (jupyter_client sends it SIGTERM
        only after half its shutdown_wait_time), so the fixtures do not wait here: they tell
        the server to stop and wait_stopped() at the end of the session.
        """
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        if wait:
            self.wait_stopped()

    def wait_stopped(self):
        """Wait for a server told to stop to exit; SIGKILL its group if it hangs."""
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=15)


class PageLog:
    """Console errors, uncaught page errors and blocked off-machine requests seen by one page."""

    def __init__(self):
        """Start with nothing recorded."""
        self.forget()

    def forget(self):
        """Forget what was recorded (a page shared by several tests: each checks its own)."""
        self.console_errors = []  # (text, url of the script or resource)
        self.page_errors = []
        self.blocked = []

    def attach(self, page):
        """Record the page's errors and abort every request that would leave 127.0.0.1."""
        page.on("console", self._on_console)
        page.on("pageerror", lambda err: self.page_errors.append(str(err)))
        page.route("**/*", self._route)

    def _on_console(self, msg):
        """Keep console messages of type error, with where they came from."""
        if msg.type == "error":
            self.console_errors.append((msg.text, msg.location.get("url", "")))

    def _route(self, route):
        """Let local requests through; abort the rest (there is no network in CI anyway)."""
        url = route.request.url
        if url.startswith(("data:", "blob:")) or urlparse(url).hostname in LOCAL_HOSTS:
            route.continue_()
            return
        self.blocked.append(url)
        route.abort()

    def unexpected(self, allowed) -> list[str]:
        """Errors and off-machine requests that `allowed(text, url)` does not excuse."""
        seen = self.console_errors + [("request left 127.0.0.1", url) for url in self.blocked]
        bad = [f"{text} ({url})" for text, url in seen if not allowed(text, url)]
        return bad + [f"uncaught: {e}" for e in self.page_errors]


def new_page(browser):
    """A page in a fresh browser context, its PageLog attached as `page.pytti_log`."""
    # Tall enough that the whole studio fits on screen (and in its screenshot).
    context = browser.new_context(viewport={"width": 1400, "height": 1800})
    context.set_default_timeout(30_000)
    page = context.new_page()
    page.pytti_log = PageLog()
    page.pytti_log.attach(page)
    return page


def save_screenshot(target, name: str, tmp_path: Path, **options) -> None:
    """Screenshot into tmp_path; also into docs/ for the README when PYTTI_SAVE_SCREENSHOTS=1."""
    shot = tmp_path / name
    target.screenshot(path=str(shot), **options)
    if os.environ.get("PYTTI_SAVE_SCREENSHOTS") == "1":
        (REPO / "docs").mkdir(exist_ok=True)
        shutil.copyfile(shot, REPO / "docs" / name)
