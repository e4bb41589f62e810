"""Sweeps on a local Ray instance: run folders, manifest and contact sheet; a killed sweep skips
what it finished and resumes the rest exactly."""

import io
import json
import os
from pathlib import Path

import numpy as np
import pytest
import shared_ray
import yaml
from forked import Forked
from PIL import Image
from tiny import tiny_settings
from waiting import wait_for

from pytti_nb.sweep.runner import run_sweep
from pytti_nb.sweep.sheet import PAD, TILE
from pytti_nb.sweep.spec import load_sweep

BASE = tiny_settings(
    smaller=True,
    drop=("steps_per_scene", "learning_rate", "file_namespace"),
    display_every=0,
    seed=3,
)
SWEEP_COMMAND = "pytti_nb.sweep.command:main"  # the sweep command's main, as `pytti-nb sweep`
LONG = 60  # steps of the render that is killed partway
GRID = {"steps_per_scene": [4, LONG], "learning_rate": [0.05, 0.2]}


@pytest.fixture(scope="module")
def ray_address():
    """The run's local Ray instance (shared_ray: started as the sweep command starts one),
    connected to as the sweep command connects to --address."""
    # Ray comes with requirements-dev.txt; under CI a missing Ray is a failure, never a skip
    ray = pytest.importorskip("ray") if not os.environ.get("CI") else __import__("ray")
    from pytti_nb.sweep.cluster import connect

    address = shared_ray.address()
    connect(address)
    yield address
    ray.shutdown()


@pytest.fixture(scope="module")
def killed(ray_address, tmp_path_factory):
    """The 2x2 sweep of grid_sweep (two lengths, two learning rates), its command killed
    (SIGKILL) once the two short renders are done and the first long one has a checkpoint;
    the manifest's entries at that moment."""
    folder = tmp_path_factory.mktemp("killed")
    path = write_sweep(folder, grid=GRID)
    long = folder / "out" / f"steps_per_scene-{LONG}_learning_rate-0.05"
    # one worker: the short renders, then the long ones, so the kill point always comes
    args = [path, "--address", ray_address, "--workers", "1", "--out", folder / "out"]
    driver = Forked(args, output=folder / "driver.log", cwd=folder, entry=SWEEP_COMMAND)
    try:
        entries = _wait_for_kill_point(folder / "out" / "manifest.json", long, driver)
    finally:
        driver.kill()
        driver.wait(timeout=30)
    # its workers end with it; wait, so that two renders never share a folder
    _wait_until_gone(int(entries[long.name]["worker"].split(" pid ")[1]))
    return path, entries


@pytest.fixture(scope="module")
def pool(killed):
    """Two workers kept for the module, as the studio keeps them between its sweeps (started
    after the killed sweep, whose own workers needed the two cores)."""
    from pytti_nb.sweep.pool import start_pool

    with start_pool(count=2) as workers:
        yield workers


def write_sweep(folder: Path, **sections) -> Path:
    """A sweep file of the tiny base with these sections (rendered into folder/out)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "sweep.yaml"
    path.write_text(yaml.safe_dump({"base": BASE, **sections}, sort_keys=False))
    return path


def checked(path: Path):
    """The sweep file checked, its output in out/ beside it (as --out would put it)."""
    return load_sweep(path, out=path.parent / "out")


def pixels(path) -> np.ndarray:
    """A PNG's pixels."""
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


@pytest.fixture(scope="module")
def grid_sweep(pool, tmp_path_factory):
    """A 2x2 sweep (two lengths, two learning rates) run to the end."""
    path = write_sweep(tmp_path_factory.mktemp("grid"), grid=GRID)
    lines = []
    result = run_sweep(checked(path), pool=pool, report=lines.append)
    return result, lines


def test_a_2x2_sweep_writes_its_runs_manifest_and_contact_sheet(grid_sweep):
    result, lines = grid_sweep
    out = result.out
    manifest = json.loads((out / "manifest.json").read_text())
    names = [e["name"] for e in manifest["renders"]]
    assert names == [
        "steps_per_scene-4_learning_rate-0.05",
        "steps_per_scene-4_learning_rate-0.2",
        f"steps_per_scene-{LONG}_learning_rate-0.05",
        f"steps_per_scene-{LONG}_learning_rate-0.2",
    ]
    assert result.counts == {"done": 4} and manifest["status"] == "done"
    assert "rendering 4 on 2 1-CPU worker(s)" in lines
    for e in manifest["renders"]:
        run = out / e["run_dir"]
        assert e["status"] == "done" and e["error"] is None and e["wall_s"] > 0
        assert (run / "checkpoint.pt").is_file()
        assert (run / f"{run.name}.mp4").is_file() == (e["frames"] > 1)
        assert e["last_frame"] == f"{e['run_dir']}/frames/{e['frames']:06d}.png"
        saved = yaml.safe_load((run / "settings.yaml").read_text())
        assert saved["file_namespace"] == run.name and saved["allow_overwrite"] is False
        assert {k: saved[k] for k in e["values"]} == e["values"]
    sheet = Image.open(result.sheet).convert("RGB")
    assert sheet.tobytes() == Image.open(io.BytesIO(result.sheet_png)).convert("RGB").tobytes()
    width, height = sheet.size
    assert width == 2 * TILE + 3 * PAD  # columns: the two learning rates
    label_h = (height - 3 * PAD) // 2 - TILE
    assert label_h >= 20  # two lines of labels under each tile
    for i, e in enumerate(manifest["renders"]):
        left = PAD + (i % 2) * (TILE + PAD)
        top = PAD + (i // 2) * (TILE + label_h + PAD)
        frame = Image.open(out / e["last_frame"]).convert("RGB")
        k = TILE // frame.width
        tile = sheet.crop((left, top, left + TILE, top + TILE))
        assert tile.tobytes() == frame.resize((TILE, TILE), Image.Resampling.NEAREST).tobytes()
        assert k == 16
        label = np.asarray(sheet.crop((left, top + TILE, left + TILE, top + TILE + label_h)))
        assert (label.sum(axis=2) < 200).any(axis=1).sum() > 10  # rows with dark text pixels


def test_a_killed_2x2_sweep_skips_what_it_finished_and_resumes_the_rest_exactly(
    killed, pool, grid_sweep
):
    path, entries = killed
    out = path.parent / "out"
    names = list(entries)
    short, (first, second) = [out / n for n in names[:2]], names[2:]
    log = (path.parent / "driver.log").read_text()
    assert [entries[n]["status"] for n in names[:3]] == ["done", "done", "running"], log
    assert not (out / first / f"{first}.mp4").exists()  # killed partway
    finished = {p: p.stat().st_mtime_ns for run in short for p in run.rglob("*")}

    result = run_sweep(checked(path), pool=pool)  # as the command started again would

    assert {p: p.stat().st_mtime_ns for run in short for p in run.rglob("*")} == finished
    assert result.skipped == 2 and result.counts == {"done": 4}
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "done" and (out / "contact_sheet.png").is_file()
    resumed = {e["name"]: e for e in manifest["renders"]}
    assert 0 < resumed[first]["resumed_from_step"] < LONG
    assert (out / first / f"{first}.mp4").is_file() and (out / second / f"{second}.mp4").is_file()
    # every render as in the same sweep never interrupted: the same last frame, bit for bit
    for e in manifest["renders"]:
        final = out / e["last_frame"]
        assert np.array_equal(pixels(final), pixels(grid_sweep[0].out / e["last_frame"]))


def test_a_stopped_sweep_saves_checkpoints_and_resumes(pool, tmp_path):
    path = write_sweep(tmp_path, grid={"steps_per_scene": [LONG], "learning_rate": [0.1, 0.3]})
    stopped = run_sweep(checked(path), pool=pool, should_stop=lambda: True)
    assert stopped.counts == {"stopped": 2}
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["status"] == "stopped"
    assert all(
        (tmp_path / "out" / e["name"] / "checkpoint.pt").is_file() for e in manifest["renders"]
    )
    finished = run_sweep(checked(path), pool=pool)  # the stop does not outlive its sweep
    assert finished.counts == {"done": 2} and finished.skipped == 0
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert all(0 < e["resumed_from_step"] < LONG for e in manifest["renders"])


def test_the_studio_gets_a_contact_sheet_of_a_few_seeds(pool, tmp_path):
    from pytti_nb.config.settings import from_dict
    from pytti_nb.sweep.studio import quick_sweep

    settings = from_dict({**BASE, "steps_per_scene": 4, "output_root": str(tmp_path)})
    png = quick_sweep(settings, seeds=2, vary=("learning_rate", [0.1, 0.2]), pool=pool)
    sheet = Image.open(io.BytesIO(png))
    assert sheet.width == 2 * TILE + 3 * PAD  # the seeds: the last axis, the columns
    out = tmp_path / "default-sweep"
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == [
        "learning_rate-0.1_seed-3",
        "learning_rate-0.1_seed-4",
        "learning_rate-0.2_seed-3",
        "learning_rate-0.2_seed-4",
    ]
    assert (out / "contact_sheet.png").read_bytes() == png


def _wait_for_kill_point(manifest: Path, long: Path, driver) -> dict:
    """The manifest's entries once the short render is done and the long one has a checkpoint."""
    entries = {}

    def reached():
        try:
            entries.update({e["name"]: e for e in json.loads(manifest.read_text())["renders"]})
        except (OSError, ValueError, KeyError):
            return False
        done = [e for e in entries.values() if e["status"] == "done"]
        return len(done) >= 2 and (long / "checkpoint.pt").is_file()

    wait_for(reached, "the sweep's kill point", process=driver)
    return entries


def _wait_until_gone(pid: int, timeout=30) -> None:
    """Wait for a killed sweep's worker to end, so two renders never share a folder."""

    def gone():
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        return False

    wait_for(gone, f"the end of worker {pid} after its sweep", timeout)


def test_the_studio_sweep_button_shows_a_contact_sheet_and_frees_render(pool, tmp_path):
    import asyncio

    from pytti_nb.config.settings import from_dict
    from pytti_nb.ui import build_studio

    studio = build_studio(settings=from_dict({**BASE, "steps_per_scene": 4}), output_root=tmp_path)
    panel = studio.sweeps
    panel.options["pool"] = pool  # the workers this module keeps, as a studio session would
    panel.mode.value = "setting"
    panel.setting.value = "learning_rate"
    panel.values.value = "0.1\n0.4\n"
    seen = []

    async def main():
        panel.sweep_button.click()
        seen.append((studio.render_button.disabled, panel.stop_button.disabled))
        return await panel.wait()

    png = asyncio.run(main())
    assert seen == [(True, False)]  # no render may start while the sweep runs
    out = tmp_path / "default-sweep"
    assert png == (out / "contact_sheet.png").read_bytes() == panel.sheet.value
    assert panel.sheet.layout.display is None and "sweep done: 2 done" in panel.log.value
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == [
        "learning_rate-0.1",
        "learning_rate-0.4",
    ]
    a, b = (
        pixels(max((out / n / "frames").glob("*.png")))
        for n in ("learning_rate-0.1", "learning_rate-0.4")
    )
    assert np.abs(a.astype(int) - b).mean() > 1  # the value reached the renders
    assert not studio.render_button.disabled and panel.stop_button.disabled
    panel.mode.value = "seeds"
    panel.seeds.value = 2
    asyncio.run(_click_and_wait(panel))
    assert (tmp_path / "default-sweep(1)" / "seed-3").is_dir()  # a new folder for each sweep


async def _click_and_wait(panel):
    """Click Sweep inside an event loop (as in a kernel) and wait for the sheet."""
    panel.sweep_button.click()
    return await panel.wait()


class _Dying:
    """A worker whose process dies in every render."""

    def render(self, settings, run_dir):
        os._exit(1)


class _OneWorker:
    """A pool of one worker, as _render_all uses a pool.RenderPool."""

    kind = "test"

    def __init__(self, actor):
        self.actors, self.where = [actor], {actor: "here"}

    def __len__(self):
        return 1


class _Manifest:
    """What _render_all writes to a manifest, kept in memory."""

    def __init__(self, out):
        self.out, self.entries = out, {}

    def update(self, name, **fields):
        self.entries.setdefault(name, {}).update(fields)


def test_a_worker_that_dies_for_good_gets_no_more_renders(ray_address, tmp_path):
    import types

    import ray

    from pytti_nb.sweep.pool import WORKER_RESTARTS
    from pytti_nb.sweep.runner import _render_all

    # no CPU held: the module's pool may hold every core
    actor = ray.remote(max_restarts=0, num_cpus=0)(_Dying).remote()
    pool = _OneWorker(actor)
    renders = [types.SimpleNamespace(name=f"r{i}", settings={}) for i in range(4)]
    manifest, lines = _Manifest(tmp_path), []
    _render_all(pool, renders, manifest, lambda: False, lines.append)
    tried = WORKER_RESTARTS + 1  # the first death, then each restart Ray allows
    failed = [n for n, e in manifest.entries.items() if e.get("status") == "failed"]
    assert failed == [f"r{i}" for i in range(tried)]
    assert all("worker process died" in manifest.entries[n]["error"] for n in failed)
    assert lines[-1] == f"no worker left; {4 - tried} render(s) not started: start the sweep again"
