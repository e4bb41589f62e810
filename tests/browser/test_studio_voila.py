"""The studio as a Voila app in headless Chromium: no code shown, a prompt rendered to the end;
the prompt changed mid-run, settings reloaded from a PNG, a stopped render resumed; a small
sweep on Ray shown as a contact sheet."""

import re

import pytest
from browser_harness import TINY_STEPS, save_screenshot
from studio_driver import (
    PROMPT,
    STUDIO,
    STUDIO_TIMEOUT_MS,
    assert_clean_console,
    is_shared_noise,
    reload_settings_from_png,
    render_to_end,
    rendered_scenes,
    run_dir_in_status,
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


def test_studio_renders_in_voila(voila_server, page, tmp_path):
    """An artist who never sees code opens the app, types a prompt and renders it to the end."""
    page.goto(voila_server.url + "/")
    page.locator(STUDIO).first.wait_for(timeout=STUDIO_TIMEOUT_MS)
    body = page.locator("body").inner_text()
    assert "settings_file = 'tiny.yaml'" not in body, "Voila shows the parameters cell's code"
    # Markdown cells keep an input area in Voila; code cells must show their outputs only.
    code = page.locator(".jp-CodeCell .jp-InputArea, .jp-InputArea-editor, .cm-editor")
    assert not any(code.nth(i).is_visible() for i in range(code.count())), "a code cell shows"

    changes = render_to_end(page, TINY_STEPS)
    assert changes >= 2, f"the preview changed {changes} time(s) during a {TINY_STEPS}-step render"
    out = voila_server.workdir / "out"
    assert rendered_scenes(out) == [PROMPT], "the typed prompt did not reach the render"
    assert saved_pngs(out) >= 1, "the finished render saved no PNG"
    save_screenshot(page, "voila.png", tmp_path, full_page=True)
    assert_clean_console(page.pytti_log, voila_noise)


def test_studio_steers_reloads_and_resumes_in_voila(voila_server, page):
    """In the app: change the prompt mid-run, reload a frame's settings, stop and resume."""
    page.goto(voila_server.url + "/")
    page.locator(STUDIO).first.wait_for(timeout=STUDIO_TIMEOUT_MS)
    run_dir = steer_prompt_mid_run(
        page, "a red circle on a black background", "a green triangle on a white background"
    )
    first_frame = min((run_dir / "frames").glob("*.png"))  # saved before the edit
    reload_settings_from_png(page, first_frame, decoy="something else entirely")
    assert run_dir_in_status(page, "done") == run_dir
    stop_then_resume(page, "a white star on a black sky")
    assert_clean_console(page.pytti_log, voila_noise)


def test_a_small_sweep_shows_its_contact_sheet_in_voila(voila_server, page, tmp_path):
    """Two seeds swept on Ray from the app: the log says done and the sheet appears."""
    page.goto(voila_server.url + "/")
    page.locator(STUDIO).first.wait_for(timeout=STUDIO_TIMEOUT_MS)
    sweep_seeds(page, 2)
    sheets = list((voila_server.workdir / "out").glob("*-sweep/contact_sheet.png"))
    assert len(sheets) == 1, "the sweep wrote no contact sheet"
    folders = sorted(p.name for p in sheets[0].parent.iterdir() if p.is_dir())
    assert len(folders) == 2 and all(name.startswith("seed-") for name in folders), folders
    save_screenshot(page, "voila-sweep.png", tmp_path, full_page=True)
    assert_clean_console(page.pytti_log, voila_noise)
