"""The studio in the classic Notebook 6.5 with ipywidgets 7.7 in headless Chromium: the front end
nearest to Colab's that runs here (Colab's page draws ipywidgets 7). Run in the Colab-like
environment only (tools/colab_env.sh): Run All, the default perceptor cannot load offline so
the studio offers the demo one, a typed prompt renders and the preview changes, Stop, and a PNG
dropped on the upload puts its settings back; no console errors from our code.
"""

import re

import pytest
from browser_harness import TINY_STEPS, TOKEN, new_page
from studio_driver import (
    PROMPT,
    RENDER,
    STATUS,
    STUDIO,
    STUDIO_TIMEOUT_MS,
    assert_clean_console,
    is_shared_noise,
    reload_settings_from_png,
    render_then_stop,
    render_to_end,
    run_dir_in_status,
    saved_pngs,
    start_render,
    text_of,
    wait_text,
)

pytestmark = [pytest.mark.browser, pytest.mark.colab_env]

DEMO_BUTTON = "button.pytti-use-demo, .pytti-use-demo button"


# The classic Notebook 6.5 always asks for a widgets extension at its pre-ipywidgets-7 address.
LEGACY_WIDGETS = "/nbextensions/widgets/notebook/js/extension.js"


def classic_noise(text: str, url: str) -> bool:
    """What the classic Notebook shows offline whatever the notebook: the badge, the favicon,
    and its own request for the legacy widgets extension (and the refusal to run the 404)."""
    return is_shared_noise(text, url) or LEGACY_WIDGETS in url or LEGACY_WIDGETS in text


@pytest.fixture(scope="module")
def classic_page(classic_server, chromium):
    """The notebook open in the classic Notebook, Run All done, the studio showing."""
    import ipywidgets

    assert ipywidgets.__version__.startswith("7."), "the classic test runs on Colab's ipywidgets 7"
    page = new_page(chromium)
    page.goto(f"{classic_server.url}/notebooks/pyttitools.ipynb?token={TOKEN}")
    page.locator("#kernel_indicator_icon.kernel_idle_icon").wait_for(timeout=120_000)
    page.locator("#celllink").click()  # the Cell menu, as a person opens it
    page.locator("#run_all_cells").click()
    page.locator(STUDIO).first.wait_for(timeout=STUDIO_TIMEOUT_MS)
    yield page
    page.context.close()


def test_the_studio_renders_with_the_demo_perceptor_and_stops_in_the_classic_notebook(
    classic_server, classic_page, tmp_path
):
    page = classic_page
    out = classic_server.workdir / "out"
    # Offline the default perceptor cannot load: Render says so and offers the demo perceptor.
    start_render(page, PROMPT)
    page.locator(DEMO_BUTTON).first.wait_for(state="visible", timeout=120_000)
    assert "ViT-B-32@openai" in text_of(page, STATUS) and "error" in text_of(page, STATUS)
    page.locator(DEMO_BUTTON).first.click()
    wait_text(page, STATUS, r"switched to the offline demo perceptor", 30_000)
    changes = render_to_end(page, TINY_STEPS)
    assert changes >= 2, f"the preview changed {changes} time(s) during a {TINY_STEPS}-step render"
    run_dir = run_dir_in_status(page, "done")
    assert saved_pngs(out) >= 1
    page.locator(STUDIO).first.screenshot(path=str(tmp_path / "classic-studio.png"))

    render_then_stop(page)
    assert re.search(r"\bstopped\b", text_of(page, STATUS))
    # the buttons follow the status line in their own widget messages: wait for them
    from playwright.sync_api import expect

    expect(page.locator(RENDER).first).to_be_enabled(timeout=10_000)  # not disabled after Stop

    png = max((run_dir / "frames").glob("*.png"))
    reload_settings_from_png(page, png, decoy="something else entirely")
    assert_clean_console(page.pytti_log, classic_noise)
