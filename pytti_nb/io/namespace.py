"""file_namespace values: a safe relative folder name under the output folder, checked without
touching the file system, and resolved without leaving it."""

from __future__ import annotations

from pathlib import Path

from ..errors import OutputError, shown, shown_path

MAX_NAMESPACE_CHARS = 400
MAX_FOLDER_NAME_BYTES = 200  # leaves room for '(k)' and the temp files' names within 255
# Characters some OS refuses in a file name (Windows: these and control characters); PyTTI
# took any name, so everything else that every OS stores is allowed.
NAMESPACE_FORBIDDEN = set('<>:"\\|?*')
WINDOWS_DEVICES = {"CON", "PRN", "AUX", "NUL"} | {
    f"{d}{i}" for d in ("COM", "LPT") for i in range(1, 10)
}
NAMESPACE_ALLOWED = (
    "use a relative folder name of letters, digits, spaces and punctuation other than "
    "< > : \" \\ | ? *, with '/' between nested folders (e.g. 'my_run' or 'tests/run_1')"
)


def namespace_problem(ns: object) -> str | None:
    """Say what is wrong with a file_namespace value, or None if it is allowed."""
    if not isinstance(ns, str):
        return f"must be text, not {type(ns).__name__}"
    if not ns.strip():
        return "is empty"
    if len(ns) > MAX_NAMESPACE_CHARS:
        return f"is {len(ns)} characters long; at most {MAX_NAMESPACE_CHARS}"
    if ns.startswith("/"):
        return "is an absolute path"
    for part in ns.split("/"):
        problem = _folder_name_problem(part)
        if problem:
            return problem
    return None


def _folder_name_problem(part: str) -> str | None:
    """What is wrong with one folder name of a file_namespace, or None."""
    if not part:
        return "has an empty folder name (a trailing or doubled '/')"
    if set(part) == {"."}:
        return f"contains {part!r}, which would leave or alias the output folder"
    bad = sorted({c for c in part if c in NAMESPACE_FORBIDDEN or not c.isprintable()})
    if bad:
        return f"contains the character(s) {shown(''.join(bad[:8]))}"
    size = len(part.encode("utf-8", "surrogatepass"))
    if size > MAX_FOLDER_NAME_BYTES:
        return (
            f"has the folder name {shown(part, 40)}, {size} bytes long; at most "
            f"{MAX_FOLDER_NAME_BYTES} (file systems store 255, and pytti_nb adds to it)"
        )
    if part != part.strip():
        return f"has the folder name {shown(part)}, which starts or ends with a space"
    if part.endswith("."):
        return f"has the folder name {shown(part)}, which ends in '.' (Windows drops it)"
    if part.split(".")[0].upper() in WINDOWS_DEVICES:
        return f"has the folder name {shown(part)}, a device name on Windows"
    return None


def validate_namespace(ns: str) -> None:
    """Raise OutputError unless `ns` is a safe relative file_namespace (pure: no filesystem)."""
    problem = namespace_problem(ns)
    if problem:
        raise OutputError(f"file_namespace {shown(ns)} {problem}; {NAMESPACE_ALLOWED}")


def run_dir_inside(root: Path, name: str, file_namespace: str) -> Path:
    """Resolve `root/name`, raising OutputError if symlinks take it outside `root`."""
    run_dir = (root / name).resolve()
    if not run_dir.is_relative_to(root):
        raise OutputError(
            f"file_namespace {shown(file_namespace)} resolves to {shown_path(run_dir)}, outside "
            f"the output folder {shown_path(root)} (through a symlink); {NAMESPACE_ALLOWED}"
        )
    return run_dir
