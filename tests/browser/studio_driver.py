"""Drive the notebook studio in a browser through its CSS contract, as an artist would."""

import re
from pathlib import Path

import yaml
from browser_harness import tiny_settings

# The studio's DOM contract (pytti_nb/ui adds these classes to its widgets).
STUDIO = ".pytti-studio"
SCENES = ".pytti-scenes textarea"
RENDER = "button.pytti-render, .pytti-render button"
STOP = "button.pytti-stop, .pytti-stop button"
PREVIEW = "img.pytti-preview, .pytti-preview img"
PROGRESS = ".pytti-progress-text"
STATUS = ".pytti-status"
# The "Settings files, copy & resume" section of the accordion (pytti_nb/ui/files.py).
EXTRAS = ".pytti-extras"
FILES_TITLE = "Settings files, copy & resume"
UPLOAD = "button.pytti-upload, .pytti-upload button"
SETTINGS_YAML = ".pytti-settings-yaml textarea"
APPLY_YAML = "button.pytti-apply-yaml, .pytti-apply-yaml button"
RESUME_PATH = ".pytti-resume-path input"
RESUME = "button.pytti-resume, .pytti-resume button"
FILES_MESSAGE = ".pytti-files-message"
SWEEP_TITLE = "Sweep: a few seeds, or one setting's values"
SWEEP = "button.pytti-sweep, .pytti-sweep button"
SWEEP_SEEDS = ".pytti-sweep-seeds input"
SWEEP_LOG = ".pytti-sweep-log"
SWEEP_SHEET = "img.pytti-sweep-sheet, .pytti-sweep-sheet img"
SWEEP_TIMEOUT_MS = 300_000  # Ray's start, then two tiny renders in its workers

STUDIO_TIMEOUT_MS = 240_000  # kernel start + torch import + Run All on two busy cores
RENDER_TIMEOUT_MS = 240_000
# A render steered mid-run is stopped once a save point shows the edit: it never gets this far.
STEER_STEPS = 1000
# Stopped as the preview first changes (step 2; Stop lands about 6 steps later on two busy
# cores), then resumed to its end.
RESUME_STEPS = 60
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


# Records every text a part of the studio shows (the status line, the files message), so a
# message that lasts one step ("live edit applied at step N") is not missed between two polls.
WATCH_TEXT_JS = """([key, sel]) => {
  const root = document.querySelector('.pytti-studio');
  const texts = (window.__pyttiTexts ??= {})[key] = [];
  const read = () => {
    const text = [...root.querySelectorAll(sel)].map((e) => e.textContent).join(' | ');
    if (texts[texts.length - 1] !== text) texts.push(text);
  };
  read();
  const watchers = (window.__pyttiWatchers ??= {});
  watchers[key]?.disconnect();
  watchers[key] = new MutationObserver(read);
  watchers[key].observe(root, {subtree: true, childList: true, characterData: true});
}"""


def watch_text(page, key: str, selector: str) -> None:
    """Start recording, under `key`, each text the elements matching `selector` show."""
    page.evaluate(WATCH_TEXT_JS, [key, selector])


def seen_texts(page, key: str) -> list[str]:
    """The texts recorded under `key`, the one shown when watching began first."""
    return page.evaluate("(k) => window.__pyttiTexts[k]", key)


def wait_seen(page, key: str, pattern: str, timeout_ms: int) -> str:
    """Wait until a text recorded under `key` after watching began matches `pattern`; return it."""
    page.wait_for_function(
        "([k, pat]) => window.__pyttiTexts[k].slice(1).some((t) => new RegExp(pat, 'i').test(t))",
        arg=[key, pattern],
        timeout=timeout_ms,
        polling=100,
    )
    return next(t for t in seen_texts(page, key)[1:] if re.search(pattern, t, re.IGNORECASE))


def watch_run(page) -> None:
    """Start recording the status and progress lines of the render about to start, so that
    wait_step and wait_outcome never read what the last render left there."""
    watch_text(page, "run", STATUS)
    watch_text(page, "run-progress", PROGRESS)


def wait_step(page, at_least: int, timeout_ms: int = RENDER_TIMEOUT_MS) -> None:
    """Wait until the progress line of the render being watched shows step `at_least` or later."""
    page.wait_for_function(
        r"""([k, n]) => window.__pyttiTexts[k].slice(1).some((t) => {
          const m = /step (\d+)\s*\/\s*\d+/.exec(t);
          return m !== null && Number(m[1]) >= n;
        })""",
        arg=["run-progress", at_least],
        timeout=timeout_ms,
        polling=50,
    )


def preview_changes(page, before: str | None) -> int:
    """How many distinct preview sources, other than `before`, appeared since start_render."""
    srcs = page.evaluate("() => window.__pyttiSrcs")
    return len(set(srcs) - {before})


def current_preview(page) -> str | None:
    """The preview image's src right now (None before the first preview)."""
    return page.locator(PREVIEW).first.get_attribute("src")


def start_render(page, prompt: str) -> str | None:
    """Type `prompt` into the scenes box, start watching the preview and the render (watch_run),
    press Render."""
    studio = page.locator(STUDIO).first
    studio.scroll_into_view_if_needed()
    scenes = page.locator(SCENES).first
    scenes.fill(prompt)
    scenes.press("Tab")  # blur, so a continuous_update=False textarea sends its value too
    before = current_preview(page)
    page.evaluate(WATCH_PREVIEW_JS, PREVIEW)
    watch_run(page)
    page.locator(RENDER).first.click()
    return before


# How a render ends on the status line: "... saved in FOLDER · done" (or "· stopped"), or an
# error; a render that fails is reported at once, not after RENDER_TIMEOUT_MS.
ENDED = r"· (done|stopped)\b|^\s*error:"


def wait_outcome(page, word: str) -> str:
    """Wait until the render being watched (watch_run) ends; assert it ended with `word`
    (done, stopped) and return the status line."""
    text = wait_seen(page, "run", ENDED, RENDER_TIMEOUT_MS)
    assert re.search(rf"· {word}\b", text), f"the render did not end {word!r}: {text!r}"
    return text


def wait_text(page, selector: str, pattern: str, timeout_ms: int) -> None:
    """Wait until some element matching `selector` has text matching the regex `pattern`."""
    page.wait_for_function(
        """([sel, pat]) => [...document.querySelectorAll(sel)]
             .some((e) => new RegExp(pat, 'i').test(e.innerText))""",
        arg=[selector, pattern],
        timeout=timeout_ms,
        polling=200,
    )


def render_to_end(page, total_steps: int, prompt: str = PROMPT) -> int:
    """Render `prompt` to the end; returns how many preview changes were seen."""
    before = start_render(page, prompt)
    wait_end(page, total_steps)
    return preview_changes(page, before)


def wait_end(page, total_steps: int) -> None:
    """Wait until the render being watched is done; the progress shows its last step."""
    wait_outcome(page, "done")
    wait_text(page, PROGRESS, rf"\b{total_steps}\s*/\s*{total_steps}\b", 10_000)


def render_then_stop(page) -> None:
    """Start a long render, press Stop once the preview has moved, and wait for 'stopped'."""
    before = start_render(page, LONG_PROMPT)
    page.wait_for_function(
        "(b) => new Set(window.__pyttiSrcs.filter((s) => s !== b)).size >= 1",
        arg=before,
        timeout=RENDER_TIMEOUT_MS,
        polling=100,
    )
    page.locator(STOP).first.click()
    wait_outcome(page, "stopped")


def text_of(page, selector: str) -> str:
    """The visible text of every element matching `selector`, joined."""
    return " | ".join(page.locator(selector).all_inner_texts())


def saved_pngs(root: Path) -> int:
    """How many PNG frames the runs under `root` have written."""
    return len(list(root.rglob("*.png")))


def run_folders(root: Path) -> set[Path]:
    """The run folders under `root` (each holds the settings.yaml its render started with)."""
    return {p.parent for p in root.glob("*/settings.yaml")}


def rendered_scenes(root: Path, *, besides=frozenset()) -> list[str]:
    """The `scenes` setting of every run folder under `root` not in `besides`, as started."""
    return [
        yaml.safe_load((folder / "settings.yaml").read_text())["scenes"]
        for folder in run_folders(root) - set(besides)
    ]


def run_dir_in_status(page, word: str) -> Path:
    """The run folder the status line names after a render ended with `word` (done, stopped)."""
    text = text_of(page, STATUS)
    found = re.search(rf"saved in (.+) · {word}\b", text)
    assert found, f"the status line does not say the run folder and {word!r}: {text!r}"
    return Path(found.group(1))


def frame_metadata(run_dir: Path) -> list[dict]:
    """The metadata of every frame PNG of a run, in frame order."""
    from pytti_nb.io.png_meta import read_png_metadata
    from pytti_nb.io.run_folder import FRAMES_DIR

    return [read_png_metadata(p) for p in sorted((run_dir / FRAMES_DIR).glob("*.png"))]


def checkpoint_step(run_dir: Path) -> int:
    """The step of the checkpoint a run folder holds."""
    from pytti_nb.io.checkpoint import load_checkpoint

    return load_checkpoint(run_dir)["step"]


def make_idle(page) -> None:
    """Stop a render an earlier (failed) test may have left running, so each test starts idle."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import expect

    stop = page.locator(STOP).first
    if stop.is_enabled():
        # The status line says "done" in one widget message and Stop is disabled in the next,
        # so a render that just ended can show Stop enabled here and disabled a moment later.
        try:
            stop.click(timeout=5_000)
        except PlaywrightTimeout:
            pass
    expect(stop).to_be_disabled(timeout=RENDER_TIMEOUT_MS)


# -- the "Settings files, copy & resume" section --------------------------------------------


def open_files_section(page) -> None:
    """Unfold "Settings files, copy & resume" (the accordion below the studio) if it is folded."""
    box = page.locator(SETTINGS_YAML).first
    if not box.is_visible():
        page.locator(EXTRAS).first.get_by_text(FILES_TITLE, exact=True).click()
    box.wait_for(state="visible")


def close_files_section(page) -> None:
    """Fold "Settings files, copy & resume" again."""
    box = page.locator(SETTINGS_YAML).first
    if box.is_visible():
        page.locator(EXTRAS).first.get_by_text(FILES_TITLE, exact=True).click()
    box.wait_for(state="hidden")


def apply_settings_text(page, text: str) -> None:
    """Paste settings YAML into the "copy settings" box and press "Apply pasted"."""
    open_files_section(page)
    page.locator(SETTINGS_YAML).first.fill(text)
    watch_text(page, "files", FILES_MESSAGE)
    page.locator(APPLY_YAML).first.click()
    # Applied, the studio shows every setting in the box, then says so underneath (the message
    # comes in its own widget message, after the box's); failing, it says why.
    page.wait_for_function(
        """([box, message, pasted]) => (document.querySelector(box).value !== pasted
             && /applied the pasted settings/i.test(document.querySelector(message).textContent))
             || window.__pyttiTexts.files.slice(1).some((t) => /error/i.test(t))""",
        arg=[SETTINGS_YAML, FILES_MESSAGE, text],
        timeout=30_000,
        polling=100,
    )
    message = text_of(page, FILES_MESSAGE)
    assert "applied the pasted settings" in message, f"Apply pasted: {message!r}"


def upload_settings_file(page, path: Path) -> None:
    """Drop `path` on the "Drop a PNG/YAML/JSON" button (through its file chooser).

    ipywidgets' FileUpload keeps its <input type=file> out of the document, so the file goes in
    through the chooser the button opens, as a person picks it. The same name twice in a row
    shows no new message; give the tests' files distinct names.
    """
    open_files_section(page)
    watch_text(page, "files", FILES_MESSAGE)
    with page.expect_file_chooser(timeout=30_000) as chooser:
        page.locator(UPLOAD).first.click()
    chooser.value.set_files(str(path))
    message = wait_seen(page, "files", r"loaded|error", 30_000)
    assert f"loaded {path.name}" in message, f"dropping {path.name}: {message!r}"


# -- what the issue asks of a person, step by step -------------------------------------------


def steer_prompt_mid_run(page, old: str, new: str, *, save_every: int = 10) -> Path:
    """Render `old`, replace it with `new` in the scenes box mid-run; proves the run took it.

    The frame PNGs record the settings in force when each was saved, so the frames before the
    step the status names carry `old` and the rest `new`. The render is long enough never to
    end by itself first; once a save point past the edit is rendered, Stop ends it (saving a
    last frame). Returns the run folder.
    """
    apply_settings_text(
        page, tiny_settings(scenes=old, steps_per_scene=STEER_STEPS, save_every=save_every)
    )
    watch_text(page, "status", STATUS)
    start_render(page, old)
    wait_step(page, save_every + 2)  # past the first save point: frame 1 holds `old`
    page.locator(SCENES).first.fill(new)  # typed while the render runs
    said = wait_seen(page, "status", rf"live edit applied at step \d+|{ENDED}", RENDER_TIMEOUT_MS)
    applied = re.search(r"live edit applied at step (\d+)", said)
    assert applied, (
        "the status never said the live edit was applied (did the render end "
        f"before the edit reached the kernel?); it said: {seen_texts(page, 'status')}"
    )
    at = int(applied.group(1))
    assert save_every < at < STEER_STEPS, f"the edit was applied at step {at}"
    saved_after = -(-at // save_every) * save_every  # the first save point from step `at` on
    wait_step(page, saved_after)
    page.locator(STOP).first.click()
    wait_outcome(page, "stopped")
    run_dir = run_dir_in_status(page, "stopped")
    frames = frame_metadata(run_dir)
    scenes = [(m["step"], m["settings"]["scenes"]) for m in frames]
    expected = [(step, old if step < at else new) for step, _ in scenes]
    assert scenes == expected, f"frames' (step, scenes) with the edit applied at step {at}"
    assert scenes[0] == (save_every, old) and (saved_after, new) in scenes, scenes
    assert page.locator(SCENES).first.input_value() == new, "the scenes box lost the edit"
    return run_dir


def reload_settings_from_png(page, png: Path, decoy: str) -> None:
    """Type `decoy` over the prompt, drop `png` on the studio: every control shows its settings."""
    from playwright.sync_api import expect

    from pytti_nb.io.png_meta import read_png_metadata

    wanted = read_png_metadata(png)["settings"]
    assert wanted["scenes"] != decoy
    scenes = page.locator(SCENES).first
    scenes.fill(decoy)
    scenes.press("Tab")
    steps = page.locator(".pytti-panel").first.get_by_label("steps_per_scene", exact=True)
    steps.fill(str(wanted["steps_per_scene"] + 7))
    steps.press("Tab")
    upload_settings_file(page, png)
    expect(scenes).to_have_value(wanted["scenes"], timeout=10_000)
    expect(steps).to_have_value(str(wanted["steps_per_scene"]), timeout=10_000)
    # The "copy settings" box shows every control's value as YAML: all of them match the PNG's.
    shown = yaml.safe_load(page.locator(SETTINGS_YAML).first.input_value())
    differ = {
        k: (shown.get(k), v) for k, v in wanted.items() if k != "output_root" and shown.get(k) != v
    }
    assert not differ, f"settings (shown, in the PNG) that did not load: {differ}"


def stop_then_resume(page, prompt: str, *, steps: int = RESUME_STEPS) -> Path:
    """Start a render, Stop it, resume it from its run folder to the end; returns the folder."""
    from playwright.sync_api import expect

    apply_settings_text(page, tiny_settings(scenes=prompt, steps_per_scene=steps, save_every=20))
    before = start_render(page, prompt)
    page.wait_for_function(
        "(b) => new Set(window.__pyttiSrcs.filter((s) => s !== b)).size >= 1",
        arg=before,
        timeout=RENDER_TIMEOUT_MS,
        polling=50,
    )
    page.locator(STOP).first.click()
    wait_outcome(page, "stopped")
    run_dir = run_dir_in_status(page, "stopped")
    stopped_at = checkpoint_step(run_dir)
    assert 0 < stopped_at < steps, f"stopped at step {stopped_at} of {steps}"
    folders = run_folders(run_dir.parent)

    open_files_section(page)
    folder = page.locator(RESUME_PATH).first
    # Resume offers the run just stopped (its own widget message, just after the status line's)
    expect(folder).to_have_value(str(run_dir), timeout=10_000)
    folder.fill(str(run_dir))  # as a person pastes the folder of a stopped run
    watch_text(page, "files", FILES_MESSAGE)
    watch_run(page)
    page.locator(RESUME).first.click()
    message = wait_seen(page, "files", r"resuming|error", 30_000)
    assert f"resuming {run_dir}" in message, message
    wait_end(page, steps)
    assert run_dir_in_status(page, "done") == run_dir, "the resumed run wrote somewhere else"
    assert checkpoint_step(run_dir) == steps
    assert run_folders(run_dir.parent) == folders, "resuming started a new run folder"
    frames = frame_metadata(run_dir)
    assert frames[-1]["step"] == steps and frames[-1]["settings"]["scenes"] == prompt
    return run_dir


def render_animation(page, prompt: str, *, frames: int = 4, steps_per_frame: int = 2) -> Path:
    """Render a small 2D animation to the end: the progress line counts its frames, and the
    finished video appears in the studio and plays. Returns the run folder."""
    steps = frames * steps_per_frame
    settings = tiny_settings(
        scenes=prompt,
        steps_per_scene=steps,
        animation_mode="2D",
        steps_per_frame=steps_per_frame,
        save_every=steps_per_frame,
        display_every=2,
        translate_x=1,
        rotate_2d=5,
    )
    apply_settings_text(page, settings)
    watch_text(page, "progress", PROGRESS)
    start_render(page, prompt)
    wait_end(page, steps)
    counted = {
        (int(m.group(1)), int(m.group(2)))
        for t in seen_texts(page, "progress")
        if (m := re.search(r"frame (\d+)/(\d+)", t))
    }
    assert counted, f"the progress line never counted frames: {seen_texts(page, 'progress')}"
    assert {total for _, total in counted} == {frames}, counted
    assert max(n for n, _ in counted) == frames, counted
    run_dir = run_dir_in_status(page, "done")
    assert [m["frame"] for m in frame_metadata(run_dir)] == list(range(frames))
    video = page.locator(f"{STUDIO} video").first
    video.wait_for(state="attached", timeout=30_000)
    # the browser decodes it: it knows the picture's size and plays past the first frame
    video.evaluate("(v) => { v.muted = true; return v.play(); }")
    page.wait_for_function(
        "(v) => v.videoWidth > 0 && v.currentTime > 0",
        arg=video.element_handle(),
        timeout=30_000,
        polling=100,
    )
    return run_dir


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


# -- the "Sweep" section ---------------------------------------------------------------------


def sweep_seeds(page, seeds: int) -> None:
    """Unfold the Sweep section, sweep `seeds` seeds and wait for its contact sheet."""
    button = page.locator(SWEEP).first
    if not button.is_visible():
        page.locator(EXTRAS).first.get_by_text(SWEEP_TITLE, exact=True).click()
    button.wait_for(state="visible")
    page.locator(SWEEP_SEEDS).first.fill(str(seeds))
    page.locator(SWEEP_SEEDS).first.press("Enter")
    watch_text(page, "sweep", SWEEP_LOG)
    button.click()
    # how it ended: "sweep done: ..." (failed, stopped), or "error: ..." when it could not run
    said = wait_seen(page, "sweep", r"sweep (done|failed|stopped):|error:", SWEEP_TIMEOUT_MS)
    assert "sweep done:" in said and "error:" not in said, f"the sweep's log: {said}"
    page.locator(SWEEP_SHEET).first.wait_for(state="visible", timeout=10_000)
