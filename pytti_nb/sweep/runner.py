"""Run a sweep on Ray: every render checked first, then rendered by workers that each keep their
models loaded (pool.py), the manifest written as renders finish, the contact sheet at the end."""

import contextlib
import os
import secrets
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path

from ..errors import OutputError, SettingsError, shown, shown_path
from ..io.run_folder import RunLock, check_writable
from .checks import check_renders
from .cluster import ClusterError, LocalRay, check_address, chosen_address, connect, import_ray
from .manifest import MANIFEST_NAME, Manifest, now, read_manifest
from .pool import WORKER_RESTARTS
from .sheet import SHEET_NAME, Tile, columns_for, is_sheet, write_sheet
from .spec import base_seed, expand, resolved_axes

OBJECT_STORE_BYTES = 100 * 2**20  # only small dicts travel through it; Ray's minimum is 75 MiB
POLL_S = 0.5  # how often the driver looks at should_stop while renders run
MAX_ERROR_CHARS = 4000
# Ray's raylet gives its agents 15 s to start; on a busy machine a second try, with their
# files in the page cache, often succeeds where the first did not
START_TRIES = 2
NAME_BYTES = 255  # the longest file or folder name file systems take
DRAWN_SEEDS = 1_000_000  # a base without a seed gets one below this for the whole sweep


@dataclass
class SweepResult:
    """What a run of a sweep did."""

    out: Path
    manifest: Path
    sheet: Path
    sheet_png: bytes
    counts: dict  # renders by status: done, stopped, failed, pending
    skipped: int  # renders an earlier run had finished
    failure: str | None = None  # the first failed render's error_kind (input, model, ...)


def run_sweep(
    spec,
    *,
    address=None,
    cpus_per_render: int = 1,
    workers: int | None = None,
    pool=None,
    check_models: bool = True,
    should_stop=lambda: False,
    report=None,
    out_locked: bool = False,
) -> SweepResult:
    """Check every render, then render those not finished yet on Ray: on `pool`'s workers, or
    on new ones (at most `workers`) in the Ray instance this process is connected to, else on
    `address`'s cluster or a new local instance. The output folder is locked for the sweep
    (OutputError when another holds it) unless the caller holds its lock (`out_locked`)."""
    if cpus_per_render < 1 or (workers is not None and workers < 1):
        raise SettingsError(
            [f"--cpus-per-render {cpus_per_render}, --workers {workers}: give 1 or more"]
        )
    chosen, named = chosen_address(address)
    if chosen and pool is None:
        check_address(chosen, named)  # at once, not after every render is checked
    say = report or (lambda line: None)
    created = not os.path.lexists(spec.out)  # (lexists is False for a name too long)
    with contextlib.ExitStack() as held:
        if not out_locked:
            held.callback(claim_out(spec.out).release)
        try:
            return _run_claimed(
                spec, held, address, cpus_per_render, workers, pool, check_models, should_stop, say
            )
        except BaseException:
            if created:  # a sweep refused before it wrote anything leaves no folder behind
                with contextlib.suppress(OSError):
                    spec.out.rmdir()
            raise


def _run_claimed(spec, held, address, cpus_per_render, workers, pool, check_models, stop, say):
    """run_sweep in its claimed output folder; Ray and the workers, when started, held by
    `held` until the end."""
    previous = read_manifest(spec.out)
    check_same_sweep(spec, previous)
    check_own_sheet(spec.out)
    seed = base_seed(spec)
    if seed is None:  # one seed for the whole sweep, kept for its restarts
        seed = (previous or {}).get("seed")
        # short, so that the folder names and labels of `seeds: N` stay readable
        seed = seed if isinstance(seed, int) else secrets.randbelow(DRAWN_SEEDS)
    renders = expand(spec, seed)
    check_renders(renders, check_models=check_models)
    manifest = Manifest(spec, renders, seed, previous)
    todo = [r for r in renders if not manifest.finished(r.name)]
    skipped = len(renders) - len(todo)
    before = f", {skipped} done before" if skipped else ""
    say(f"sweep: {len(renders)} renders in {spec.out}{before}")
    if todo and pool is not None:
        pool.ready()
    elif todo:  # before the manifest changes: a cluster that cannot be reached changes nothing
        from .pool import start_pool

        devices = [r.settings.get("device", "auto") for r in todo]
        count = min(len(todo), workers or len(todo))
        held.enter_context(ray_session(address, stop))
        pool = held.enter_context(
            start_pool(cpus_per_render=cpus_per_render, count=count, devices=devices)
        )
    manifest.reset([r.name for r in todo])
    if todo:
        _render_all(pool, todo, manifest, stop, say)
    counts = manifest.counts()
    sheet = spec.out / SHEET_NAME
    columns = columns_for([len(a.rows) for a in resolved_axes(spec, seed)], len(renders))
    png = write_sheet(sheet, _tiles(renders, manifest), columns)
    status = _status(counts, len(renders))
    manifest.write(status)
    say(f"sweep {status}: {_counted(counts)}; wrote {sheet} and {manifest.path}")
    failed = [e for e in manifest.data["renders"] if e["status"] == "failed"]
    failure = failed[0].get("error_kind") if failed else None
    return SweepResult(spec.out, spec.out / MANIFEST_NAME, sheet, png, counts, skipped, failure)


def claim_out(out: Path) -> RunLock:
    """The sweep's output folder, created and locked for this sweep alone (OutputError when
    another sweep holds it); release the lock at the end."""
    long = next(
        (p for p in out.parts if len(p.encode("utf-8", "surrogateescape")) > NAME_BYTES), None
    )
    if long is not None:
        raise OutputError(
            f"the sweep folder {shown_path(out)}: the name {shown(long)} is "
            f"{len(long.encode('utf-8', 'surrogateescape'))} bytes long; a file system takes "
            f"at most {NAME_BYTES}: give a shorter --out"
        )
    check_writable(out)
    lock = RunLock.acquire(out)
    if lock is None:
        raise OutputError(
            f"the sweep folder {shown_path(out)} is in use by another sweep; wait until it "
            "ends, or give this one another --out"
        )
    return lock


def check_same_sweep(spec, previous: dict | None) -> None:
    """Refuse a folder holding the manifest of another sweep (by its file's name: a sweep file
    may be edited and moved between runs), whose record this sweep would replace."""
    before = str((previous or {}).get("sweep", ""))
    if previous is not None and Path(before).name != Path(spec.source).name:
        raise OutputError(
            f"the sweep folder {shown_path(spec.out)} holds the manifest of another sweep "
            f"({shown(before)}); give this one another --out, or move {MANIFEST_NAME} away "
            "to let it take the folder over"
        )


def check_own_sheet(out: Path) -> None:
    """Refuse a folder holding a contact sheet that no sweep wrote (a file of the user's)."""
    path = out / SHEET_NAME
    if (path.exists() or path.is_symlink()) and not is_sheet(path):
        raise OutputError(
            f"the sweep folder {shown_path(out)} holds {shown_path(path)}, which no sweep "
            "wrote; move it (a sweep writes its contact sheet there), or give another --out"
        )


@contextlib.contextmanager
def ray_session(address=None, should_stop=lambda: False):
    """Ray, connected for the duration: the running connection when there is one (left open),
    else `address`'s cluster or a new local instance (ended afterwards, or with this process)."""
    ray = import_ray()
    if ray.is_initialized():
        yield ray
        return
    local = start_ray(address, should_stop)
    try:
        yield ray
    finally:
        try:
            ray.shutdown()
        finally:
            if local is not None:
                local.close()


def start_local(should_stop=lambda: False, cpus: int | None = None) -> LocalRay:
    """A new small, quiet local Ray instance (tried START_TRIES times), not connected to."""
    for tries_left in reversed(range(START_TRIES)):
        try:
            return LocalRay(OBJECT_STORE_BYTES, should_stop, cpus)
        except ClusterError:
            if not tries_left:
                raise


def start_ray(address=None, should_stop=lambda: False):
    """Connect to the cluster at `address` (else RAY_ADDRESS's), or start a small, quiet local
    Ray instance and connect to it; the local instance (cluster.LocalRay: close it to end it),
    or None."""
    address, named = chosen_address(address)
    if address:
        connect(address, should_stop, named)
        return None
    local = start_local(should_stop)
    try:
        connect(local.address, should_stop)
    except ClusterError as e:
        raise ClusterError(
            f"could not connect to the local Ray instance just started: {e}"
        ) from None
    finally:
        if not import_ray().is_initialized():
            local.close()
    return local


def _render_all(pool, todo, manifest, should_stop, say) -> None:
    """Hand the renders to the workers one at a time each, recording each as it ends."""
    import ray

    say(f"rendering {len(todo)} on {len(pool)} {pool.kind} worker(s)")
    queue, idle, running = deque(todo), list(pool.actors), {}
    stopping, done, deaths = False, 0, {}
    while running or (queue and idle and not stopping):
        while idle and queue and not stopping:
            worker, render = idle.pop(0), queue.popleft()
            run_dir = str(manifest.out / render.name)
            running[worker.render.remote(render.settings, run_dir)] = (worker, render, time.time())
            where = pool.where[worker]
            manifest.update(render.name, status="running", worker=where, started=now(), error=None)
        if not stopping and should_stop():
            stopping = True
            pool.stop()
            say("stopping: each render ends after its step, with a checkpoint")
        ready, _ = ray.wait(list(running), num_returns=1, timeout=POLL_S)
        for ref in ready:
            worker, render, began = running.pop(ref)
            outcome, died = _outcome(ray, ref)
            done += 1
            manifest.update(render.name, **outcome, ended=now())
            took = outcome.get("wall_s") or time.time() - began
            line = f"[{done}/{len(todo)}] {render.name}: {outcome['status']} in {took:.1f} s"
            say(line + (f": {outcome['error']}" if outcome.get("error") else ""))
            deaths[worker] = deaths.get(worker, 0) + died
            if deaths[worker] <= WORKER_RESTARTS:  # Ray restarts a dead worker this often
                idle.append(worker)
    if queue and not stopping:  # every worker died for good: the rest wait for a restart
        say(f"no worker left; {len(queue)} render(s) not started: start the sweep again")


def _outcome(ray, ref) -> tuple[dict, bool]:
    """What a render returned, or its failure when its worker raised or died; and whether
    the worker died."""
    try:
        return ray.get(ref), False
    except ray.exceptions.RayActorError as e:
        error = f"its worker process died ({str(e).splitlines()[0][:300]})"
        return {"status": "failed", "error": error, "error_kind": "internal"}, True
    except ray.exceptions.RayTaskError as e:  # a bug: keep the remote traceback
        error = str(e)[-MAX_ERROR_CHARS:]
        return {"status": "failed", "error": error, "error_kind": "internal"}, False


def _tiles(renders, manifest) -> list[Tile]:
    """Each render's tile: its last frame and the values it varies."""
    tiles = []
    for r in renders:
        e = manifest.entry(r.name)
        frame = manifest.out / e["last_frame"] if e.get("last_frame") else None
        lines = [f"{k} = {_shown(v)}" for k, v in r.values.items()]
        if e["status"] != "done":
            lines.append(e["status"] if e["status"] != "pending" else "not rendered")
        tiles.append(Tile(frame, tuple(lines), "" if e["status"] == "done" else e["status"]))
    return tiles


def _status(counts: dict, total: int) -> str:
    """The sweep's status: done when every render is, failed when one failed, else stopped."""
    if counts.get("done") == total:
        return "done"
    return "failed" if "failed" in counts else "stopped"


def _shown(value) -> str:
    """A value as a label shows it."""
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value)
    return str(value)


def _counted(counts: dict) -> str:
    """'3 done, 1 failed'."""
    return ", ".join(f"{n} {status}" for status, n in counts.items())
