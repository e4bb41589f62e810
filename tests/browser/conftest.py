"""Fixtures for the browser tests: JupyterLab and Voila servers on 127.0.0.1, headless Chromium.

Chromium is Debian's `/usr/bin/chromium` (installed by tools/install_browser_deps.sh), driven by
the Python `playwright` package; `playwright install` is never used. With `CI` set, a missing
browser fails these tests instead of skipping them, so a skip can never pass for a pass in CI.
"""

import os
import sys

import pytest
import shared_ray
from browser_harness import (
    CHROMIUM,
    CHROMIUM_ARGS,
    CLASSIC_SETTINGS,
    TINY_SETTINGS,
    TOKEN,
    Server,
    free_port,
    jupyter_env,
    make_studio_copy,
)
from studio_driver import assert_clean_console


def pytest_configure(config):
    """Register the `browser` marker so `-m "not browser"` can leave these tests out locally."""
    config.addinivalue_line("markers", "browser: drives the notebook studio in headless Chromium")


def _missing_browser(reason: str):
    """Fail in CI (where a skip would hide a broken install), skip with the reason elsewhere."""
    if os.environ.get("CI", "").lower() not in ("", "0", "false"):
        pytest.fail(f"{reason}; CI must run the browser tests (bash tools/install_browser_deps.sh)")
    pytest.skip(f"{reason}; run `bash tools/install_browser_deps.sh` to enable the browser tests")


# Module scope, not session: Playwright's sync API keeps an asyncio loop running in the main
# thread while it is open, which would break asyncio.run() in every test collected after these.
@pytest.fixture(scope="module")
def chromium():
    """A headless Chromium (Debian's build) launched through Playwright, for one test module."""
    if not CHROMIUM.exists():
        _missing_browser(f"no Chromium at {CHROMIUM}")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing_browser("the Python package 'playwright' is not installed (requirements-dev.txt)")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=list(CHROMIUM_ARGS))
        yield browser
        browser.close()


FAILED = pytest.StashKey[bool]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """Mark a test whose setup or call failed, for check_page's screenshot."""
    report = yield
    if report.failed:
        item.stash[FAILED] = True
    return report


@pytest.fixture(scope="session")
def stopping_servers():
    """Servers told to stop, whose exit the session waits for at its end (not each module)."""
    servers = []
    yield servers
    for server in servers:
        server.wait_stopped()


def stop_later(server: Server, stopping: list) -> None:
    """Tell `server` to stop now; the session waits for it at its end."""
    server.stop(wait=False)
    stopping.append(server)


@pytest.fixture
def check_page(request, tmp_path):
    """Register a shared page for checks after the test (its setup included), as a function of
    the page and what its console may show: then the page's screenshot goes to
    tmp_path/last.png if the test failed, and its console is checked and forgotten (each test
    answers for the errors made while it ran)."""
    pages = []
    yield lambda page, allowed: pages.append((page, allowed))
    for page, allowed in pages:
        if request.node.stash.get(FAILED, False):
            page.screenshot(path=str(tmp_path / "last.png"), full_page=True)
        try:
            assert_clean_console(page.pytti_log, allowed)
        finally:
            page.pytti_log.forget()


def jupyter_server(tmp_path, app: str, settings: str = TINY_SETTINGS) -> Server:
    """A Jupyter server (`python -m jupyterlab` or `notebook`) on 127.0.0.1 with its token,
    serving a fresh studio copy whose tiny.yaml holds `settings`."""
    workdir = tmp_path / "work"
    make_studio_copy(workdir, settings=settings)
    port = free_port()
    server_app = "ServerApp" if app == "jupyterlab" else "NotebookApp"
    options = {
        "ip": "127.0.0.1",
        "port": port,
        "port_retries": 0,
        "allow_root": True,
        "terminals_enabled": False,
        # JupyterLab's server (jupyter_server 2) and the classic one name these two differently
        **({"root_dir": workdir} if app == "jupyterlab" else {"notebook_dir": workdir}),
        **({} if app == "jupyterlab" else {"token": TOKEN}),
    }
    cmd = [sys.executable, "-m", app, "--no-browser"]
    cmd += [f"--{server_app}.{name}={value}" for name, value in options.items()]
    if app == "jupyterlab":
        cmd += [
            f"--IdentityProvider.token={TOKEN}",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        ]
    return Server(
        cmd,
        workdir=workdir,
        env=jupyter_env(tmp_path / "jupyter"),
        url=f"http://127.0.0.1:{port}",
        ready_path=f"/api/status?token={TOKEN}",
        log=tmp_path / f"{app}.log",
    )


# Module scope: starting JupyterLab, its kernel and the notebook costs far more than a test, so
# the JupyterLab tests share one server (and one open notebook, see test_studio_jupyterlab.py).
@pytest.fixture(scope="module")
def lab_server(tmp_path_factory, stopping_servers):
    """JupyterLab on 127.0.0.1 serving a fresh studio copy; yields the Server."""
    server = jupyter_server(tmp_path_factory.mktemp("lab"), "jupyterlab")
    yield server
    stop_later(server, stopping_servers)


@pytest.fixture(scope="module")
def classic_server(tmp_path_factory, stopping_servers):
    """The classic Notebook (6.5, Colab's generation of front end) on 127.0.0.1 serving a fresh
    studio copy whose settings leave the perceptor at its default; yields the Server."""
    server = jupyter_server(tmp_path_factory.mktemp("classic"), "notebook", CLASSIC_SETTINGS)
    yield server
    stop_later(server, stopping_servers)


# Module scope: Voila starts a fresh kernel for every GET of its page, so the tests stay apart
# by page (or share one, see test_studio_voila.py) while the server starts once.
@pytest.fixture(scope="module")
def voila_server(tmp_path_factory, stopping_servers):
    """Voila on 127.0.0.1 serving a fresh studio copy as an app; yields the Server."""
    tmp_path = tmp_path_factory.mktemp("voila")
    workdir = tmp_path / "work"
    notebook = make_studio_copy(workdir)
    port = free_port()
    cmd = [
        sys.executable,
        "-m",
        "voila",
        notebook.name,
        "--no-browser",
        f"--port={port}",
        "--Voila.ip=127.0.0.1",
        "--Voila.port_retries=0",
        '--VoilaConfiguration.extension_denylist=["jupyterlab-jupytext"]',
    ]
    env = jupyter_env(tmp_path / "jupyter")
    if shared_ray.ENV in os.environ:  # the studio's sweeps go where RAY_ADDRESS says
        env["RAY_ADDRESS"] = os.environ[shared_ray.ENV]
    # Voila runs the notebook on every GET of "/", so readiness is probed on another path.
    server = Server(
        cmd,
        workdir=workdir,
        env=env,
        url=f"http://127.0.0.1:{port}",
        ready_path="/favicon.ico",
        log=tmp_path / "voila.log",
    )
    yield server
    stop_later(server, stopping_servers)
