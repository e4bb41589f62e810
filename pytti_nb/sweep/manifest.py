"""manifest.json: a sweep's renders with their values, status, folder and time; rewritten
atomically after every change, so a killed sweep leaves the last state it reached."""

import json
import time
from pathlib import Path

from ..config.settings import from_dict_lenient, to_dict
from ..errors import OutputError
from ..io.atomic import atomic_write_text
from ..io.run_folder import check_writable
from .spec import resolved_axes

MANIFEST_NAME = "manifest.json"
FORMAT = 1
STATUSES = ("pending", "running", "done", "stopped", "failed")
RESULT_FIELDS = ("frames", "last_frame", "video", "notes", "resumed_from_step", "error_kind")


def read_manifest(out: Path) -> dict | None:
    """The manifest in a sweep's output folder, or None when there is none yet."""
    path = Path(out) / MANIFEST_NAME
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise OutputError(
            f"cannot read '{path}' ({e}); delete it to start the manifest afresh (finished "
            "renders are found again from their folders)"
        ) from None
    if not isinstance(data, dict) or not isinstance(data.get("renders"), list):
        raise OutputError(f"'{path}' is not a sweep manifest; move it or use another --out")
    return data


class Manifest:
    """The manifest of one run of a sweep; every update is written at once."""

    def __init__(self, spec, renders, seed: int, previous: dict | None = None):
        """Entries for every render, keeping what an earlier run of the sweep recorded."""
        self.out = Path(spec.out)
        self.path = self.out / MANIFEST_NAME
        check_writable(self.out)
        before = {e.get("name"): e for e in (previous or {}).get("renders", [])}
        base, _ = from_dict_lenient(spec.base)
        self.data = {
            "format": FORMAT,
            "sweep": spec.source,
            "status": "running",
            "seed": seed,
            "axes": [
                {"settings": list(a.names), "values": [list(row) for row in a.rows]}
                for a in resolved_axes(spec, seed)
            ],
            "sections": spec.sections,
            "base": to_dict(base),
            "renders": [_entry(r, before.get(r.name)) for r in renders],
            "updated": now(),
        }
        self._by_name = {e["name"]: e for e in self.data["renders"]}

    def entry(self, name: str) -> dict:
        """The entry of one render."""
        return self._by_name[name]

    def finished(self, name: str) -> bool:
        """Whether an earlier run finished this render and its files are still there."""
        e = self.entry(name)
        files = [e.get("last_frame")] + ([e["video"]] if e.get("video") else [])
        return e["status"] == "done" and all(f and (self.out / f).is_file() for f in files)

    def reset(self, names) -> None:
        """Mark these renders pending (still to render, or to resume) and write the manifest."""
        for name in names:
            self.entry(name)["status"] = "pending"
        self.write("running")

    def update(self, name: str, **fields) -> None:
        """Change one render's entry and write the manifest."""
        entry = self.entry(name)
        for key in ("last_frame", "video"):
            if fields.get(key):
                fields[key] = _relative(fields[key], self.out)
        entry.update(fields)
        self.write()

    def write(self, status: str | None = None) -> None:
        """Write the manifest atomically (with the sweep's status, when given)."""
        if status is not None:
            self.data["status"] = status
        self.data["updated"] = now()
        text = json.dumps(self.data, indent=2, ensure_ascii=False, default=str)
        atomic_write_text(self.path, text + "\n")

    def counts(self) -> dict:
        """How many renders have each status."""
        found = [e["status"] for e in self.data["renders"]]
        return {s: found.count(s) for s in STATUSES if s in found}


def _entry(render, before: dict | None) -> dict:
    """A render's entry: its values and settings, and what an earlier run recorded of it."""
    entry = {
        "name": render.name,
        "values": render.values,
        "settings": render.changes,
        "run_dir": render.name,
        "status": "pending",
        "error": None,
        "wall_s": None,
    }
    if before and before.get("settings") == json.loads(json.dumps(render.changes, default=str)):
        kept = ("status", "error", "wall_s", "worker", "started", "ended", *RESULT_FIELDS)
        entry.update({k: before[k] for k in kept if k in before})
    return entry


def _relative(path, out: Path) -> str:
    """A path inside the output folder relative to it (so the folder can be moved)."""
    try:
        return Path(path).resolve().relative_to(out.resolve()).as_posix()
    except ValueError:
        return str(path)


def now() -> str:
    """The time now, ISO 8601 in UTC."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
