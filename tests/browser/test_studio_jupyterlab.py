"""The studio in JupyterLab in headless Chromium: Run All, render a prompt to the end, Stop."""

import re

import pytest
from browser_harness import TINY_STEPS, TOKEN, save_screenshot
from studio_driver import (
    LONG_PROMPT,
    PROMPT,
    STATUS,
    STUDIO,
    STUDIO_TIMEOUT_MS,
    assert_clean_console,
    is_shared_noise,
    render_then_stop,
    render_to_end,
    rendered_scenes,
    saved_pngs,
    text_of,
)

pytestmark = pytest.mark.browser


def run_all_cells(page) -> None:
    """Run > Run All Cells from the menu bar, once the notebook has taken the click."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    # On a cold start the menu item can still be disabled (the notebook is not yet the current
    # widget) and the click does nothing; nothing has run then, so clicking again is safe.
    started = page.locator(".jp-CodeCell .jp-InputPrompt", has_text=re.compile(r"\[(\*|\d+)\]"))
    for _ in range(3):
        page.locator(".jp-NotebookPanel .jp-Cell").first.click()
        page.locator(".lm-MenuBar-item", has_text=re.compile(r"^Run$")).click()
        page.locator(".lm-Menu-item", has_text=re.compile(r"^Run All Cells")).click()
        try:
            started.first.wait_for(timeout=15_000)
            return
        except PlaywrightTimeout:
            page.keyboard.press("Escape")
    raise AssertionError("Run > Run All Cells did not start any cell")


def test_studio_renders_and_stops_in_jupyterlab(lab_server, page, tmp_path):
    """An artist opens the notebook, runs it, renders a prompt to the end and stops a second run."""
    page.goto(f"{lab_server.url}/lab/tree/pyttitools.ipynb?token={TOKEN}")
    # Run All before the kernel is up starts a second kernel and loses cells; wait, as people do.
    page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']").wait_for(timeout=120_000)
    run_all_cells(page)
    page.locator(STUDIO).first.wait_for(timeout=STUDIO_TIMEOUT_MS)

    changes = render_to_end(page, TINY_STEPS)
    assert changes >= 2, f"the preview changed {changes} time(s) during a {TINY_STEPS}-step render"
    out = lab_server.workdir / "out"
    assert rendered_scenes(out) == [PROMPT], "the typed prompt did not reach the render"
    assert saved_pngs(out) >= 1, "the finished render saved no PNG"
    studio = page.locator(STUDIO).first
    studio.evaluate("(e) => e.scrollIntoView({block: 'start'})")
    save_screenshot(studio, "studio.png", tmp_path)

    pngs = saved_pngs(out)
    render_then_stop(page)
    assert "done" not in text_of(page, STATUS).lower()
    assert sorted(rendered_scenes(out)) == sorted([PROMPT, LONG_PROMPT])
    assert saved_pngs(out) > pngs, "Stop lost the frames rendered so far"
    page.screenshot(path=str(tmp_path / "jupyterlab-stopped.png"), full_page=True)
    assert_clean_console(page.pytti_log, is_shared_noise)  # JupyterLab adds no noise
