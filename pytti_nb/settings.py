"""Settings from and to dicts, YAML, JSON and PNG files (and PyTTI's files, converted), with
per-setting type and range checks."""

import dataclasses
import difflib
import json
import re
from pathlib import Path

import yaml

from .errors import PyttiError, SettingsError
from .schema import Settings, schema_by_name
from .schema import steerable as schema_steerable

SETTINGS_SUFFIXES = (".yaml", ".yml", ".json", ".txt", ".png")
SEED_MODULUS = 2**63  # seeds are 0 to 2^63-1; any other integer is taken modulo 2^63
_IDENTIFIER = re.compile(r"[A-Za-z_]\w*")


def to_dict(settings: Settings) -> dict:
    """Plain dict of every setting, in schema order."""
    return {f.name: _plain(getattr(settings, f.name)) for f in dataclasses.fields(settings)}


def to_yaml(settings: Settings) -> str:
    """YAML text of every setting, in schema order."""
    return yaml.safe_dump(to_dict(settings), sort_keys=False, allow_unicode=True, width=100)


def replace(settings: Settings, **changes) -> Settings:
    """A copy with some settings changed, checked like any other input."""
    return from_dict({**to_dict(settings), **changes})


def split_changes(current: Settings, wanted: Settings) -> tuple[dict, list[str]]:
    """What differs between two settings: (steerable name -> new value, sorted fixed names)."""
    steerable = schema_steerable()
    now, new = to_dict(current), to_dict(wanted)
    changed = {k: v for k, v in new.items() if now[k] != v}
    live = {k: v for k, v in changed.items() if k in steerable}
    return live, sorted(k for k in changed if k not in steerable)


def from_dict(data, *, source: str = "settings") -> Settings:
    """Build Settings from a mapping, reporting every unknown key and bad value at once."""
    settings, problems = from_dict_lenient(data, source=source)
    if problems:
        raise SettingsError(problems)
    return settings


def from_dict_lenient(data, *, source: str = "settings") -> tuple[Settings, list[str]]:
    """Settings from the valid entries of a mapping (defaults elsewhere), plus every problem."""
    if not isinstance(data, dict):
        return Settings(), [
            f"{source}: expected a mapping of setting names to values, got {type(data).__name__}"
        ]
    infos = schema_by_name()
    problems, values = [], {}
    for key, raw in data.items():
        info = infos.get(key)
        if info is None:
            problems.append(_unknown_key_message(str(key), infos))
            continue
        try:
            values[key] = coerce(info, raw)
        except ValueError as e:
            problems.append(f"{key}: {e}")
    return Settings(**values), problems


def coerce(info, raw):
    """Convert one raw value to the setting's type, or raise ValueError saying what is allowed."""
    if raw is None and info.kind == "audio_filters":
        return []  # YAML's empty `input_audio_filters:`
    if raw is None or (info.optional and raw == ""):
        if info.optional:
            return None
        raise ValueError(f"a value is required ({_allowed(info)})")
    value = _COERCERS[info.kind](info, raw)
    if info.name == "seed":
        value = fold_seed(value)
    if info.kind in ("int", "float"):
        _check_range(info, value)
    return value


def fold_seed(seed: int) -> int:
    """Any integer seed in 0 to 2^63-1: itself there, else modulo 2^63 (PyTTI drew seeds from
    -2^63 to 2^64-1); the same number always gives the same seed."""
    return seed % SEED_MODULUS


def apply_overrides(data: dict, assignments) -> dict:
    """Apply 'key=value' strings (values parsed as YAML) on top of a settings mapping."""
    out = dict(data)
    problems = []
    for item in assignments:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            problems.append(f"--set {item!r}: expected KEY=VALUE, e.g. --set width=256")
            continue
        try:
            out[key.strip()] = yaml.safe_load(text) if text.strip() else ""
        except yaml.YAMLError:
            out[key.strip()] = text
    if problems:
        raise SettingsError(problems)
    return out


def read_settings_dict(path) -> dict:
    """Read a raw settings mapping (unconverted) from a YAML, JSON, PyTTI .txt or pytti_nb PNG
    file."""
    return _read_raw(path)[0]


def read_settings_file(path, overrides=()) -> tuple[dict, list[str] | None]:
    """Our settings mapping from a file of ours or of PyTTI's (converted: see pytti_import),
    with 'key=value' overrides on top; and the conversion notes, None for a file of ours."""
    data, text, pytti_form = _read_raw(path)
    return settings_source(data, text, overrides, pytti=pytti_form, source=str(path))


def settings_from_text(text: str, overrides=(), *, source="pasted settings", suffix=".yaml"):
    """Like read_settings_file, for settings text: ours in YAML or JSON, or PyTTI's in any of
    its forms (a Hydra file, a _settings.txt, the notebook's printed dict)."""
    data, pytti_form = parse_settings_text(text, source, suffix)
    return settings_source(data, text, overrides, pytti=pytti_form, source=source)


def settings_source(data, text="", overrides=(), *, pytti=False, source="settings"):
    """A raw mapping (and its text) as our settings plus overrides, converting PyTTI's; and the
    conversion notes, None when the mapping is ours."""
    from .pytti_import import import_pytti, is_pytti

    if not isinstance(data, dict):
        raise SettingsError(
            [
                f"{source}: expected 'name: value' settings (YAML, JSON, a pytti_nb PNG, or "
                f"PyTTI's .yaml or _settings.txt), got {type(data).__name__}"
            ]
        )
    if pytti or is_pytti(data, text):
        return import_pytti(data, overrides)
    return apply_overrides(data, overrides), None


def parse_settings_text(text: str, source: str, suffix: str = ".yaml") -> tuple[object, bool]:
    """The value in settings text, and whether its form alone is PyTTI's."""
    from .pytti_import import parse_pytti_text

    found = parse_pytti_text(text)
    if found is not None:
        return found, True
    kind = "JSON" if suffix == ".json" else "YAML"
    try:
        data = json.loads(text) if suffix == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as e:
        raise SettingsError([f"{source}: not valid {kind}: {e}"]) from None
    return ({} if data is None else data), suffix == ".txt"


def _read_raw(path) -> tuple[object, str, bool]:
    """A settings file's raw value, its text, and whether its form alone is PyTTI's."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in SETTINGS_SUFFIXES:
        raise SettingsError(
            [
                f"settings file {str(path)!r}: unknown type; use one of "
                f"{', '.join(SETTINGS_SUFFIXES)}"
            ]
        )
    if suffix == ".png":
        from .output import read_png_metadata

        return dict(read_png_metadata(path).get("settings", {})), "", False
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise SettingsError(
            [f"settings file {str(path)!r}: cannot read it ({e.strerror})"]
        ) from None
    data, pytti_form = parse_settings_text(text, f"settings file {str(path)!r}", suffix)
    return data, text, pytti_form


def load_settings(path, overrides=()) -> Settings:
    """Settings from a file (ours, PyTTI's, or a PNG this tool wrote) plus 'key=value'
    overrides."""
    return from_dict(load_settings_dict(path, overrides), source=str(path or "settings"))


def load_settings_dict(path, overrides=()) -> dict:
    """Our settings mapping of a file (if any; PyTTI's converted) with 'key=value' overrides."""
    return read_settings_file(path, overrides)[0] if path else apply_overrides({}, overrides)


def save_settings(settings: Settings, path) -> None:
    """Write settings atomically as YAML or JSON, chosen by the file's suffix."""
    from .atomic import atomic_write_text

    path = Path(path)
    if path.suffix.lower() == ".json":
        text = json.dumps(to_dict(settings), indent=2, ensure_ascii=False) + "\n"
    elif path.suffix.lower() in (".yaml", ".yml"):
        text = to_yaml(settings)
    else:
        raise PyttiError(f"cannot save settings as {str(path)!r}: use a .yaml or .json name")
    atomic_write_text(path, text)


def _plain(value):
    """A JSON/YAML-safe copy of a setting value."""
    return list(value) if isinstance(value, (list, tuple)) else value


def _unknown_key_message(key, infos):
    """Error line for an unknown setting, with a did-you-mean hint."""
    close = difflib.get_close_matches(key, list(infos), n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]!r}?" if close else "; see the settings table in README.md"
    return f"{key}: unknown setting{hint}"


def _allowed(info):
    """Human description of the values a setting accepts."""
    if info.kind == "choice":
        return "one of " + ", ".join(repr(c) for c in info.choices)
    if info.kind in ("int", "float"):
        word = "an integer" if info.kind == "int" else "a number"
        empty = " or empty for the default" if info.optional else ""
        return f"{word} from {info.min} to {info.max}{empty}"
    return {
        "text": "text",
        "scenes": "scenes in the prompt grammar",
        "direct_prompts": "'path:weight_mask:stop' entries separated by |",
        "bool": "true or false",
        "path": "a file path or empty",
        "schedule": "a number, an expression of t, or a schedule like '0:(1), 30:(2.5)'",
        "motion": "a number, an expression of t (and of r, R, mu in 3D), or a schedule like "
        "'0:(1), 30:(2.5)'",
        "quaternion": "four values [w, x, y, z], each a number or an expression of t",
        "pixel_weight": "WEIGHT[_MASK][:STOP]: a number or expression, an optional image mask "
        "and stop, e.g. '1', '0.5_[mask.png]', '1:-0.5'",
        "clip_weight": "WEIGHT[_MASK][:STOP] as in prompts, e.g. '1', '2_baby', '1:-0.5'",
        "audio_filters": "a list of {variable_name, f_center, f_width, order} mappings",
        "list": "a list of strings, or one comma-separated string",
    }[info.kind]


def _as_text(info, raw):
    """Text settings accept strings and plain numbers."""
    if isinstance(raw, bool) or not isinstance(raw, (str, int, float)):
        raise ValueError(f"{raw!r} is not text; expected {_allowed(info)}")
    return str(raw)


def _as_int(info, raw):
    """Integers, also from whole floats and numeric strings."""
    if isinstance(raw, bool):
        raise ValueError(f"{raw!r} is not an integer; expected {_allowed(info)}")
    if isinstance(raw, str) and raw.strip().lstrip("+-").isdigit():
        return int(raw)  # exact: a 62-bit seed must not pass through a float
    try:
        value = float(raw) if isinstance(raw, str) else raw
        if isinstance(value, float) and not value.is_integer():
            raise TypeError
        return int(value)
    except (TypeError, ValueError, OverflowError):
        raise ValueError(f"{raw!r} is not an integer; expected {_allowed(info)}") from None


def _as_float(info, raw):
    """Finite numbers, also from numeric strings."""
    try:
        if isinstance(raw, bool):
            raise TypeError
        value = float(raw)
    except (TypeError, ValueError):
        raise ValueError(f"{raw!r} is not a number; expected {_allowed(info)}") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise ValueError(f"{raw!r} is not finite; expected {_allowed(info)}")
    return value


def _as_bool(info, raw):
    """Booleans, also from the usual words."""
    if isinstance(raw, bool):
        return raw
    words = {
        "true": True,
        "yes": True,
        "on": True,
        "1": True,
        "false": False,
        "no": False,
        "off": False,
        "0": False,
    }
    key = str(raw).strip().lower()
    if key in words:
        return words[key]
    raise ValueError(f"{raw!r} is not true or false")


def _as_choice(info, raw):
    """One of the allowed choices, matched case-insensitively."""
    if raw is False and "off" in info.choices:  # YAML reads an unquoted off as False
        return "off"
    for choice in info.choices:
        if str(raw).strip().lower() == choice.lower():
            return choice
    raise ValueError(f"{raw!r} is not allowed; expected {_allowed(info)}")


def _as_schedule(info, raw):
    """A number, expression or keyframe schedule, syntax-checked now."""
    from .schedules import parse_time_value

    text = _as_text(info, raw).strip()
    if not text:
        raise ValueError(f"empty; expected {_allowed(info)}")
    try:
        parse_time_value(text, names=mentioned_names(text), where=f"setting {info.name!r}")
    except PyttiError as e:
        raise ValueError(str(e)) from None
    return text


def _as_audio_filters(info, raw):
    """Band-pass filters as a list of plain mappings; YAML text (from the studio) is read."""
    from .media.audio import parse_filters

    if isinstance(raw, str):
        try:
            raw = yaml.safe_load(raw) if raw.strip() else []
        except yaml.YAMLError as e:
            raise ValueError(f"not valid YAML: {e}") from None
    bands = parse_filters(raw)  # raises ValueError naming the filter and field
    return [
        {
            "variable_name": b.variable_name,
            "f_center": b.f_center,
            "f_width": b.f_width,
            "order": b.order,
        }
        for b in bands
    ]


def expression_names(filters=()) -> tuple[str, ...]:
    """The variables every expression may use: t, and each audio band and its _prev."""
    from .media.audio import parse_filters

    try:
        bands = [f.variable_name for f in parse_filters(filters)]
    except ValueError:
        bands = []  # the filters' own check reports them
    return ("t", *bands, *(f"{b}_prev" for b in bands))


def mentioned_names(text: str) -> tuple[str, ...]:
    """Every name an expression text mentions, but functions and constants.

    A setting is checked on its own for syntax, allowing any such name; which names exist
    (t, the audio bands, r R mu in 3D) is checked by the plan, which sees every setting.
    """
    from .expressions import CONSTANTS, FUNCTIONS

    found = (
        set(_IDENTIFIER.findall(text))
        - set(FUNCTIONS)
        - set(CONSTANTS)
        - {"and", "or", "not", "if", "else"}
    )
    return tuple(sorted(found | {"t"}))


def _as_motion(info, raw):
    """A schedule evaluated per frame (the same syntax as any schedule)."""
    return _as_schedule(info, raw)


def _as_quaternion(info, raw):
    """Four motion values as '[w, x, y, z]' text (a YAML list is accepted too)."""
    from .schedules import parse_time_vector

    if isinstance(raw, (list, tuple)):
        if any(isinstance(v, bool) or not isinstance(v, (str, int, float)) for v in raw):
            raise ValueError(f"{raw!r}: expected {_allowed(info)}")
        raw = "[" + ", ".join(str(v) for v in raw) + "]"
    text = _as_text(info, raw).strip()
    try:
        parse_time_vector(text, 4, names=mentioned_names(text), where=f"setting {info.name!r}")
    except PyttiError as e:
        raise ValueError(str(e)) from None
    return text


def _as_weight(info, raw):
    """A PyTTI weight setting WEIGHT[_MASK][:STOP], syntax-checked now; empty means 0."""
    from .prompts import parse_target_weight

    text = "0" if raw is None else _as_text(info, raw).strip() or "0"
    try:
        parse_target_weight(text, pixel=info.kind == "pixel_weight", names=mentioned_names(text))
    except PyttiError as e:
        raise ValueError(str(e)) from None
    return text


def _as_list(info, raw):
    """A list of non-empty strings, or one comma-separated string."""
    items = raw.split(",") if isinstance(raw, str) else raw
    if not isinstance(items, (list, tuple)) or not all(isinstance(s, str) for s in items):
        raise ValueError(f"{raw!r}: expected {_allowed(info)}")
    items = [s.strip() for s in items if s.strip()]
    if not items:
        raise ValueError(f"at least one entry is required ({_allowed(info)})")
    return items


def _check_range(info, value):
    """Raise ValueError when a number is outside the setting's bounds."""
    if (info.min is not None and value < info.min) or (info.max is not None and value > info.max):
        raise ValueError(f"{value!r} is out of range; expected {_allowed(info)}")


_COERCERS = {
    "text": _as_text,
    "path": _as_text,
    "scenes": _as_text,
    "direct_prompts": _as_text,
    "int": _as_int,
    "float": _as_float,
    "bool": _as_bool,
    "choice": _as_choice,
    "schedule": _as_schedule,
    "motion": _as_motion,
    "quaternion": _as_quaternion,
    "pixel_weight": _as_weight,
    "clip_weight": _as_weight,
    "audio_filters": _as_audio_filters,
    "list": _as_list,
}
