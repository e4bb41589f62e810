"""A setup shared as one notebook: a copy of pyttitools.ipynb whose parameters cell holds the
settings as YAML text. The copy runs no code of the sender's: the text is a string literal, and
the studio reads it back through the same bounded loader as any settings file, without the
output choices (where a render writes is always the person rendering's)."""

import ast
import json
from importlib import resources
from pathlib import Path

from ..errors import OutputError, SettingsError, shown_path
from .output_choices import OUTPUT_CHOICES
from .schema import Settings
from .settings import to_dict

TEMPLATE = "pyttitools.ipynb"  # the notebook itself, installed with the package
SHARED_DIR = "shared"  # where the studio's Share button writes, under the output folder
PARAMETER = "settings_yaml"  # the parameters cell's name for the embedded settings
MAX_SHARED_BYTES = 2 * 2**20  # a shared notebook is the template and one settings text


def shared_yaml(settings: Settings) -> str:
    """The settings a shared notebook carries, as YAML: all of them but the output choices."""
    import yaml

    data = {k: v for k, v in to_dict(settings).items() if k not in OUTPUT_CHOICES}
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)


def python_string(text: str) -> str:
    """A Python string literal that reads back as exactly `text`: triple-quoted for people to
    read when that is exact, else repr()'s one line."""
    if '"""' not in text and "\\" not in text and not text.endswith('"') and "\r" not in text:
        literal = f'"""\\\n{text}"""'
        if ast.literal_eval(literal) == text:
            return literal
    return repr(text)


def template() -> dict:
    """The notebook shipped with the package (pyttitools.ipynb), as nbformat JSON."""
    return json.loads((resources.files("pytti_nb") / TEMPLATE).read_text(encoding="utf-8"))


def shared_notebook(settings: Settings) -> dict:
    """The template with `settings` in its parameters cell (settings_yaml = the YAML text)."""
    notebook = template()
    cells = [c for c in notebook["cells"] if "parameters" in c.get("metadata", {}).get("tags", ())]
    if len(cells) != 1:
        raise OutputError(f"{TEMPLATE} has {len(cells)} parameters cells; expected one")
    lines = "".join(cells[0]["source"]).splitlines()
    assignment = f"{PARAMETER} = {python_string(shared_yaml(settings))}"
    index = next(i for i, line in enumerate(lines) if line.startswith(f"{PARAMETER} ="))
    lines[index] = assignment
    cells[0]["source"] = "\n".join(lines)
    notebook["metadata"]["pytti_nb"] = {"shared": True}
    return notebook


def write_shared_notebook(settings: Settings, path, *, inputs=(), replace=False) -> Path:
    """Write the shared notebook to `path`: a new .ipynb file, never one of `inputs`, and an
    existing file only with `replace` (the command's --force)."""
    from ..io.user_files import user_file_check, write_user_file

    path = Path(path).expanduser()
    if path.suffix != ".ipynb":
        raise SettingsError([f"share: {shown_path(path)} should end in .ipynb"])
    target = dict(what="the shared notebook", inputs=inputs, replace=replace)
    user_file_check(path, **target)
    text = json.dumps(shared_notebook(settings), indent=1, ensure_ascii=False) + "\n"
    return write_user_file(path, text.encode("utf-8"), **target)


def share_notebook(settings: Settings) -> Path:
    """Write a shared notebook of these settings as output_root/shared/<file_namespace>.ipynb
    (numbered when that exists: an earlier share is never replaced)."""
    folder = Path(settings.output_root).expanduser() / SHARED_DIR
    if folder.is_symlink():
        raise OutputError(f"{shown_path(folder)} is a link; shared notebooks are not written there")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OutputError(f"cannot make {shown_path(folder)}: {e.strerror or e}") from e
    stem = settings.file_namespace.replace("/", "_").strip("._") or "pytti"
    return write_shared_notebook(settings, free_name(folder, stem))


def free_name(folder, stem: str) -> Path:
    """folder/stem.ipynb, or stem(1).ipynb, stem(2).ipynb... the first that does not exist."""
    folder = Path(folder).expanduser()
    for n in range(10_000):
        path = folder / (f"{stem}.ipynb" if n == 0 else f"{stem}({n}).ipynb")
        if not path.exists() and not path.is_symlink():
            return path
    raise OutputError(f"{shown_path(folder)} holds 10000 shared notebooks named {stem}")
