"""The studio as a Voila app in headless Chromium: no code shown, a prompt rendered to the end;
the prompt changed mid-run, settings reloaded from a PNG, a stopped render resumed; a small
sweep on Ray shown as a contact sheet.

The tests share one Voila server and one page (`app_page`): each GET of the page starts a fresh
kernel that imports torch and runs the notebook, which costs more than a test's renders. Each
test starts with the studio idle and looks only at the run folders it made.
"""

import re

import pytest
from browser_harness import TINY_STEPS, new_page, save_screenshot, tiny_settings
from studio_driver import (
    PROMPT,
    STUDIO,
    STUDIO_TIMEOUT_MS,
    apply_settings_text,
    is_shared_noise,
    make_idle,
    reload_settings_from_png,
    render_to_end,
    rendered_scenes,
    run_dir_in_status,
    run_folders,
    saved_pngs,
    steer_prompt_mid_run,
    stop_then_resume,
    sweep_seeds,
)

pytestmark = pytest.mark.browser


# Voila's lab template links Font Awesome from a CDN (templates/lab/index.html.j2): offline, fails.
VOILA_FONT_CSS = re.compile(
    r"^https://cdn\.jsdelivr\.net/npm/@fortawesome/fontawesome-free@[^/]+/css/"
    r"(all|v4-shims)\.min\.css$"
)


def voila_noise(text: str, url: str) -> bool:
    """Console errors Voila itself makes offline; none are ours."""
    return is_shared_noise(text, url) or bool(VOILA_FONT_CSS.match(url))


@pytest.fixture(scope="module")
def app_page(voila_server, chromium):
    """The app open in one page (one kernel), the studio showing."""
    page = new_page(chromium)
    page.goto(voila_server.url + "/")
    page.locator(STUDIO).first.wait_for(timeout=STUDIO_TIMEOUT_MS)
    yield page
    page.context.close()


@pytest.fixture
def app(app_page, check_page):
    """The shared app page, idle; afterwards its console is checked (and shot if it failed)."""
    check_page(app_page, voila_noise)
    make_idle(app_page)
    return app_page


def test_studio_renders_in_voila(voila_server, app, tmp_path):
    """An artist who never sees code opens the app, types a prompt and renders it to the end."""
    body = app.locator("body").inner_text()
    assert "settings_file = 'tiny.yaml'" not in body, "Voila shows the parameters cell's code"
    # Markdown cells keep an input area in Voila; code cells must show their outputs only.
    code = app.locator(".jp-CodeCell .jp-InputArea, .jp-InputArea-editor, .cm-editor")
    assert not any(code.nth(i).is_visible() for i in range(code.count())), "a code cell shows"

    out = voila_server.workdir / "out"
    earlier = run_folders(out)
    changes = render_to_end(app, TINY_STEPS)
    assert changes >= 2, f"the preview changed {changes} time(s) during a {TINY_STEPS}-step render"
    assert rendered_scenes(out, besides=earlier) == [PROMPT], "the typed prompt did not reach it"
    assert saved_pngs(run_dir_in_status(app, "done")) >= 1, "the finished render saved no PNG"
    save_screenshot(app, "voila.png", tmp_path, full_page=True)


def test_studio_steers_reloads_and_resumes_in_voila(app):
    """In the app: change the prompt mid-run, reload a frame's settings, stop and resume."""
    run_dir = steer_prompt_mid_run(
        app, "a red circle on a black background", "a green triangle on a white background"
    )
    first_frame = min((run_dir / "frames").glob("*.png"))  # saved before the edit
    reload_settings_from_png(app, first_frame, decoy="something else entirely")
    assert run_dir_in_status(app, "stopped") == run_dir
    stop_then_resume(app, "a white star on a black sky")


# Each render of a sweep starts in a Ray worker that loads its models: a few steps show that.
SWEPT_STEPS = 4


def test_a_small_sweep_shows_its_contact_sheet_in_voila(voila_server, app, tmp_path):
    """Two seeds swept on Ray from the app: the log says done and the sheet appears."""
    apply_settings_text(app, tiny_settings(steps_per_scene=SWEPT_STEPS, save_every=SWEPT_STEPS))
    out = voila_server.workdir / "out"
    earlier = set(out.glob("*-sweep/contact_sheet.png"))
    sweep_seeds(app, 2)
    sheets = list(set(out.glob("*-sweep/contact_sheet.png")) - earlier)
    assert len(sheets) == 1, "the sweep wrote no contact sheet"
    folders = sorted(p.name for p in sheets[0].parent.iterdir() if p.is_dir())
    assert len(folders) == 2 and all(name.startswith("seed-") for name in folders), folders
    save_screenshot(app, "voila-sweep.png", tmp_path, full_page=True)
