"""The studio in JupyterLab in headless Chromium: Run All, then render a prompt to the end, Stop,
change the prompt mid-run, reload the settings from a PNG, and resume a stopped run.

The tests share one JupyterLab, one notebook page and its kernel (the module-scoped `lab_page`):
opening the notebook and running it costs more than all the renders together. Each test starts
with the studio idle and looks only at the run folders it made.
"""

import os
import re

import pytest
import yaml
from browser_harness import (
    REPO,
    TINY_STEPS,
    TOKEN,
    new_page,
    save_screenshot,
    tiny_settings,
)
from studio_driver import (
    LONG_PROMPT,
    PROMPT,
    RENDER,
    STATUS,
    STUDIO,
    STUDIO_TIMEOUT_MS,
    apply_settings_text,
    close_files_section,
    is_shared_noise,
    make_idle,
    reload_settings_from_png,
    render_animation,
    render_then_stop,
    render_to_end,
    rendered_scenes,
    run_dir_in_status,
    run_folders,
    saved_pngs,
    steer_prompt_mid_run,
    stop_then_resume,
    text_of,
    wait_end,
    wait_step,
    watch_run,
)

pytestmark = pytest.mark.browser


# The status bar's kernel item: "Python 3 (ipykernel) | Idle" ("No Kernel | ..." before one).
KERNEL_IDLE = re.compile(r"^\s*(?!No Kernel)\S.* \| Idle\s*$")


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


@pytest.fixture(scope="module")
def lab_page(lab_server, chromium):
    """The notebook open in JupyterLab, every cell run, the studio showing."""
    page = new_page(chromium)
    page.goto(f"{lab_server.url}/lab/tree/pyttitools.ipynb?token={TOKEN}")
    # Run All before the kernel is up starts a second kernel and loses cells; wait, as people do,
    # until the status bar says the notebook's kernel is idle. (The toolbar's execution indicator
    # says idle from the start, with no kernel yet: Run All then does nothing.)
    page.locator(".jp-StatusBar-TextItem", has_text=KERNEL_IDLE).wait_for(timeout=120_000)
    run_all_cells(page)
    page.locator(STUDIO).first.wait_for(timeout=STUDIO_TIMEOUT_MS)
    yield page
    page.context.close()


@pytest.fixture
def studio(lab_page, check_page):
    """The shared studio page, idle; afterwards its console is checked (and shot if it failed)."""
    check_page(lab_page, is_shared_noise)  # JupyterLab adds no noise
    make_idle(lab_page)
    return lab_page


def test_studio_renders_and_stops_in_jupyterlab(lab_server, studio, tmp_path):
    """An artist opens the notebook, runs it, renders a prompt to the end and stops a second run.

    First in the module: it renders the settings the notebook loaded (tiny.yaml).
    """
    out = lab_server.workdir / "out"
    earlier = run_folders(out)
    changes = render_to_end(studio, TINY_STEPS)
    assert changes >= 2, f"the preview changed {changes} time(s) during a {TINY_STEPS}-step render"
    assert rendered_scenes(out, besides=earlier) == [PROMPT], "the typed prompt did not reach it"
    assert saved_pngs(out) >= 1, "the finished render saved no PNG"
    studio.locator(STUDIO).first.screenshot(path=str(tmp_path / "studio-tiny.png"))

    pngs = saved_pngs(out)
    render_then_stop(studio)
    assert "done" not in text_of(studio, STATUS).lower()
    assert sorted(rendered_scenes(out, besides=earlier)) == sorted([PROMPT, LONG_PROMPT])
    assert saved_pngs(out) > pngs, "Stop lost the frames rendered so far"
    studio.screenshot(path=str(tmp_path / "jupyterlab-stopped.png"), full_page=True)


def test_prompt_changed_mid_run_steers_the_render_in_jupyterlab(studio):
    """Replacing the prompt while a render runs changes what the rest of the run renders."""
    steer_prompt_mid_run(
        studio, "a red circle on a black background", "a green triangle on a white background"
    )


def test_settings_reload_from_a_png_in_jupyterlab(studio):
    """A frame PNG dropped on the studio puts that render's settings back in every control."""
    apply_settings_text(studio, tiny_settings())
    render_to_end(studio, TINY_STEPS, prompt="a purple moon over a grey sea")
    png = max((run_dir_in_status(studio, "done") / "frames").glob("*.png"))
    reload_settings_from_png(studio, png, decoy="something else entirely")


def test_stopped_render_resumes_to_the_end_in_jupyterlab(studio):
    """Stop a render, then Resume its run folder: it finishes there, at the last step."""
    stop_then_resume(studio, "a white star on a black sky")


def test_a_2d_animation_renders_counts_frames_and_plays_in_jupyterlab(studio):
    """An artist picks 2D, renders: the progress counts frames and the finished video plays."""
    render_animation(studio, "a blue circle on a yellow background")


# Not a test but a README chore: defined only when asked for, so a normal run neither runs
# nor skips it (a skip must never pass for a test).
if os.environ.get("PYTTI_SAVE_SCREENSHOTS") == "1":

    def test_readme_screenshot_of_the_studio(studio, tmp_path):
        """docs/studio.png: the studio late in the demo's render, its preview recognisable."""
        steps = 300
        settings = yaml.safe_load((REPO / "examples" / "demo.yaml").read_text())
        settings.update(scenes=PROMPT, steps_per_scene=steps)
        apply_settings_text(studio, yaml.safe_dump(settings, sort_keys=False))
        close_files_section(studio)
        watch_run(studio)  # for wait_step and wait_end
        studio.locator(RENDER).first.click()
        wait_step(studio, steps - 20)
        panel = studio.locator(STUDIO).first
        panel.evaluate("(e) => e.scrollIntoView({block: 'start'})")
        save_screenshot(panel, "studio.png", tmp_path)
        wait_end(studio, steps)
