"""Drive the notebook studio in a browser through its CSS contract, as an artist would."""

import re
from pathlib import Path

import yaml

# The studio's DOM contract (pytti_nb/ui adds these classes to its widgets).
STUDIO = ".pytti-studio"
SCENES = ".pytti-scenes textarea"
RENDER = "button.pytti-render, .pytti-render button"
STOP = "button.pytti-stop, .pytti-stop button"
PREVIEW = "img.pytti-preview, .pytti-preview img"
PROGRESS = ".pytti-progress-text"
STATUS = ".pytti-status"

STUDIO_TIMEOUT_MS = 240_000  # kernel start + torch import + Run All on two busy cores
RENDER_TIMEOUT_MS = 240_000
PROMPT = "a yellow square on a blue background"
# Many scenes make a run long enough (scenes x steps_per_scene) to press Stop in the middle.
LONG_PROMPT = " || ".join(f"a {c} square" for c in ("red", "green", "blue", "white") * 8)

# Records every src the preview <img> takes, so no change is missed however fast the run is.
WATCH_PREVIEW_JS = """(sel) => {
  window.__pyttiSrcs = [];
  const seen = (img) => { if (img.src) window.__pyttiSrcs.push(img.src); };
  window.__pyttiObserver?.disconnect();
  window.__pyttiObserver = new MutationObserver((records) => {
    for (const r of records) if (r.target.matches?.(sel)) seen(r.target);
  });
  window.__pyttiObserver.observe(document.body,
    {subtree: true, attributes: true, attributeFilter: ['src']});
}"""


def preview_changes(page, before: str | None) -> int:
    """How many distinct preview sources, other than `before`, appeared since start_render."""
    srcs = page.evaluate("() => window.__pyttiSrcs")
    return len(set(srcs) - {before})


def current_preview(page) -> str | None:
    """The preview image's src right now (None before the first preview)."""
    return page.locator(PREVIEW).first.get_attribute("src")


def start_render(page, prompt: str) -> str | None:
    """Type `prompt` into the scenes box, start watching the preview, press Render."""
    studio = page.locator(STUDIO).first
    studio.scroll_into_view_if_needed()
    scenes = page.locator(SCENES).first
    scenes.fill(prompt)
    scenes.press("Tab")  # blur, so a continuous_update=False textarea sends its value too
    before = current_preview(page)
    page.evaluate(WATCH_PREVIEW_JS, PREVIEW)
    page.locator(RENDER).first.click()
    return before


def wait_text(page, selector: str, pattern: str, timeout_ms: int) -> None:
    """Wait until some element matching `selector` has text matching the regex `pattern`."""
    page.wait_for_function(
        """([sel, pat]) => [...document.querySelectorAll(sel)]
             .some((e) => new RegExp(pat, 'i').test(e.innerText))""",
        arg=[selector, pattern], timeout=timeout_ms, polling=200)


def render_to_end(page, total_steps: int) -> int:
    """Render PROMPT to the end; returns how many preview changes were seen."""
    before = start_render(page, PROMPT)
    wait_text(page, PROGRESS, rf"\b{total_steps}\s*/\s*{total_steps}\b", RENDER_TIMEOUT_MS)
    wait_text(page, STATUS, r"\bdone\b", RENDER_TIMEOUT_MS)
    return preview_changes(page, before)


def render_then_stop(page) -> None:
    """Start a long render, press Stop once the preview has moved, and wait for 'stopped'."""
    before = start_render(page, LONG_PROMPT)
    page.wait_for_function("(b) => new Set(window.__pyttiSrcs.filter((s) => s !== b)).size >= 1",
                           arg=before, timeout=RENDER_TIMEOUT_MS, polling=100)
    page.locator(STOP).first.click()
    wait_text(page, STATUS, r"\bstopped\b", RENDER_TIMEOUT_MS)


def text_of(page, selector: str) -> str:
    """The visible text of every element matching `selector`, joined."""
    return " | ".join(page.locator(selector).all_inner_texts())


def saved_pngs(root: Path) -> int:
    """How many PNG frames the runs under `root` have written."""
    return len(list(root.rglob("*.png")))


def rendered_scenes(root: Path) -> list[str]:
    """The `scenes` setting of every run folder under `root`, as the kernel received it."""
    return [yaml.safe_load(p.read_text())["scenes"] for p in root.glob("*/settings.yaml")]


def assert_clean_console(log, allowed) -> None:
    """Fail with the list of console errors and page errors that `allowed` does not excuse."""
    bad = log.unexpected(allowed)
    assert not bad, "browser console errors:\n" + "\n".join(bad)


# The notebook's introduction shows the "Open in Colab" badge, an image Colab hosts; offline,
# or behind the tests' request filter, it cannot load.
COLAB_BADGE = "https://colab.research.google.com/assets/colab-badge.svg"


def is_shared_noise(text: str, url: str) -> bool:
    """Errors any front end shows for this notebook offline: a missing favicon, the Colab badge."""
    return url == COLAB_BADGE or bool(re.search(r"/favicon\.ico(\?|$)", url))
