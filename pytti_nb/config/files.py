"""Settings files: ours (YAML, JSON), PyTTI's (converted: see pytti_import) and the PNGs
pytti_nb wrote, read within bounds; ours written as YAML or JSON."""

import json
from pathlib import Path

import yaml

from ..errors import OutputError, PyttiError, SettingsError, clipped, reason, shown_path
from ..io.atomic import atomic_write_text
from ..io.bounded import MAX_FILE_BYTES, load_json, load_yaml, read_text_bounded
from ..io.png_meta import read_png_metadata
from .output_choices import OUTPUT_CHOICES, output_choices_from_user
from .overrides import apply_overrides
from .pytti_forms import parse_pytti_text
from .pytti_import import import_pytti, is_pytti
from .schema import Settings
from .settings import from_dict, to_dict, to_yaml
from .values import kind_of

SETTINGS_SUFFIXES = (".yaml", ".yml", ".json", ".txt", ".png")


def read_settings_dict(path) -> dict:
    """Read a raw settings mapping (unconverted) from a YAML, JSON, PyTTI .txt or pytti_nb PNG
    file."""
    return _read_raw(path)[0]


def read_settings_file(
    path, overrides=(), *, allow_env: bool = False
) -> tuple[dict, list[str] | None]:
    """Our settings mapping from a file of ours or of PyTTI's (converted: see pytti_import),
    with 'key=value' overrides on top; and the conversion notes, None for a file of ours.
    A PyTTI file's ${oc.env:...} reads the environment only with `allow_env`."""
    data, text, pytti_form = _read_raw(path)
    return settings_source(
        data, text, overrides, pytti=pytti_form, source=str(path), allow_env=allow_env
    )


def read_render_settings(
    path, overrides=(), *, allow_env: bool = False
) -> tuple[dict, list[str] | None, list[str]]:
    """Like read_settings_file, for a render: the file's output_root and allow_overwrite are
    not used (only the overrides' are); the third item notes each one dropped."""
    data, text, pytti_form = _read_raw(path)
    given = apply_overrides({}, overrides)
    user = {k: given[k] for k in OUTPUT_CHOICES if k in given}
    data, dropped = output_choices_from_user(data, _file_label(path), user)
    converted, notes = settings_source(
        data, text, overrides, pytti=pytti_form, source=str(path), allow_env=allow_env
    )
    return converted, notes, dropped


def render_settings_from_text(
    text: str, source: str, *, allow_env: bool = False
) -> tuple[dict, list[str] | None, list[str]]:
    """Like read_render_settings, for settings text (a shared notebook's): the text's output
    choices are not used, and the third item notes each one dropped."""
    data, pytti_form = parse_settings_text(text, source)
    data, dropped = output_choices_from_user(data, _label(source))
    converted, notes = settings_source(
        data, text, pytti=pytti_form, source=source, allow_env=allow_env
    )
    return converted, notes, dropped


def settings_from_text(
    text: str, overrides=(), *, source="pasted settings", suffix=".yaml", allow_env=False
):
    """Like read_settings_file, for settings text: ours in YAML or JSON, or PyTTI's in any of
    its forms (a Hydra file, a _settings.txt, the notebook's printed dict)."""
    data, pytti_form = parse_settings_text(text, source, suffix)
    return settings_source(
        data, text, overrides, pytti=pytti_form, source=source, allow_env=allow_env
    )


def settings_source(
    data, text="", overrides=(), *, pytti=False, source="settings", allow_env=False
):
    """A raw mapping (and its text) as our settings plus overrides, converting PyTTI's; and the
    conversion notes, None when the mapping is ours. A PyTTI mapping's ${oc.env:...} reads
    the environment only with `allow_env` (see pytti_import)."""
    if not isinstance(data, dict):
        raise SettingsError(
            [
                f"{_label(source)}: expected 'name: value' settings (YAML, JSON, a pytti_nb "
                f"PNG, or PyTTI's .yaml or _settings.txt), got {kind_of(data)}"
            ]
        )
    if pytti or is_pytti(data, text):
        return import_pytti(data, overrides, allow_env=allow_env)
    return apply_overrides(data, overrides), None


def parse_settings_text(text: str, source: str, suffix: str = ".yaml") -> tuple[object, bool]:
    """The value in settings text, and whether its form alone is PyTTI's."""
    if len(text) > MAX_FILE_BYTES:
        raise SettingsError(
            [f"{source}: {len(text)} characters of settings; at most {MAX_FILE_BYTES}"]
        )
    found = parse_pytti_text(text)
    if found is not None:
        return found, True
    kind = "JSON" if suffix == ".json" else "YAML"
    try:
        data = load_json(text) if suffix == ".json" else load_yaml(text)
    except (ValueError, yaml.YAMLError) as e:
        raise SettingsError([f"{source}: not valid {kind}: {clipped(str(e), 400)}"]) from None
    return ({} if data is None else data), suffix == ".txt"


def _read_raw(path) -> tuple[object, str, bool]:
    """A settings file's raw value, its text, and whether its form alone is PyTTI's."""
    path = Path(path)
    label = _file_label(path)
    suffix = path.suffix.lower()
    if suffix not in SETTINGS_SUFFIXES:
        raise SettingsError([f"{label}: unknown type; use one of {', '.join(SETTINGS_SUFFIXES)}"])
    if suffix == ".png":
        return _png_settings(path, label), "", False
    text = read_text_bounded(path, label)
    data, pytti_form = parse_settings_text(text, label, suffix)
    return data, text, pytti_form


def _file_label(path) -> str:
    """How messages name a settings file."""
    return f"settings file {shown_path(path)}"


def _label(source: str) -> str:
    """A source for a message: a path-like source bounded in length."""
    return source if len(source) <= 100 else shown_path(source)


def _png_settings(path: Path, label: str) -> dict:
    """The settings mapping stored in a PNG pytti_nb wrote."""
    try:
        settings = read_png_metadata(path).get("settings")
    except OutputError as e:
        raise SettingsError([f"{label}: {e}"]) from None
    if not isinstance(settings, dict):
        raise SettingsError(
            [
                f"{label}: its pytti_nb metadata holds no settings mapping (found "
                f"{kind_of(settings)}); give a PNG that pytti_nb wrote"
            ]
        )
    return dict(settings)


def load_settings(path, overrides=()) -> Settings:
    """Settings from a file (ours, PyTTI's, or a PNG this tool wrote) plus 'key=value'
    overrides."""
    return from_dict(load_settings_dict(path, overrides), source=str(path or "settings"))


def load_settings_dict(path, overrides=()) -> dict:
    """Our settings mapping of a file (if any; PyTTI's converted) with 'key=value' overrides."""
    return read_settings_file(path, overrides)[0] if path else apply_overrides({}, overrides)


def settings_text(settings: Settings, path) -> str:
    """Settings as the text of a file named `path`: JSON or YAML, chosen by its suffix."""
    path = Path(path)
    if path.suffix.lower() == ".json":
        return json.dumps(to_dict(settings), indent=2, ensure_ascii=False) + "\n"
    if path.suffix.lower() in (".yaml", ".yml"):
        return to_yaml(settings)
    raise PyttiError(f"cannot save settings as {shown_path(path)}: use a .yaml or .json name")


def save_settings(settings: Settings, path) -> None:
    """Write settings atomically as YAML or JSON, chosen by the file's suffix."""
    path = Path(path)
    text = settings_text(settings, path)
    try:
        atomic_write_text(path, text)
    except (OSError, ValueError) as e:  # ValueError: a NUL in the path
        raise OutputError(f"cannot write the settings file {shown_path(path)}: {reason(e)}") from e
