"""One setting's value: converted to its kind (coerce) and checked for type, size and range,
with a message saying what is allowed."""

import unicodedata

import yaml

from ..errors import PyttiError, clipped, shown
from ..io.bounded import load_yaml, path_problem, size_problem
from .variables import mentioned_names

SEED_MODULUS = 2**63  # seeds are 0 to 2^63-1; any other integer is taken modulo 2^63
# Bounds on what one setting may hold, so no file, paste or --set can exhaust memory or time.
MAX_TEXT = {"scenes": 20_000, "path": 4_096}  # characters of one setting (others: 10_000)
MAX_OTHER_TEXT = 10_000
MAX_ITEMS = 32  # entries of a list setting (perceptors, audio filters)
_ALLOWED_CONTROLS = set("\t\n\r")


def coerce(info, raw):
    """Convert one raw value to the setting's type, or raise ValueError saying what is allowed."""
    if raw is None and info.kind == "audio_filters":
        return []  # YAML's empty `input_audio_filters:`
    if raw is None or (info.optional and raw == ""):
        if info.optional:
            return None
        raise ValueError(f"a value is required ({_allowed(info)})")
    _check_size(info, raw)
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


def _check_size(info, raw) -> None:
    """Raise ValueError when a raw value is longer or larger than its setting allows."""
    limit = MAX_TEXT.get(info.kind, MAX_OTHER_TEXT)
    if isinstance(raw, str) and len(raw) > limit:
        raise ValueError(f"{shown(raw)} is {len(raw)} characters long; at most {limit}")
    if isinstance(raw, (list, tuple, dict)) and len(raw) > MAX_ITEMS:
        raise ValueError(f"{len(raw)} entries; at most {MAX_ITEMS} ({_allowed(info)})")
    problem = size_problem(raw)
    if problem:
        raise ValueError(f"{shown(raw)}: {problem}")


def kind_of(value) -> str:
    """What a top-level value is, for a message."""
    if isinstance(value, (list, tuple)):
        return "a list"
    return "empty" if value is None else f"a single value {shown(value)}"


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
    """Text settings accept strings and plain numbers (as written in YAML: 010 stays '010')."""
    if isinstance(raw, bool) or not isinstance(raw, (str, int, float)):
        raise ValueError(f"{shown(raw)} is not text; expected {_allowed(info)}")
    text = raw if isinstance(raw, str) else getattr(raw, "text", "") or str(raw)
    problem = text_problem(text)
    if problem:
        raise ValueError(f"{shown(text)} {problem}")
    return str(text)


def _as_path(info, raw):
    """A path: text whose every folder and file name a file system can hold."""
    text = _as_text(info, raw)
    problem = path_problem(text)
    if problem:
        raise ValueError(f"{shown(text)} {problem}")
    return text


def text_problem(text: str) -> str | None:
    """What makes text unusable in a setting (control characters, unpaired surrogates that
    no file can store), or None."""
    controls = sorted({c for c in text if unicodedata.category(c) == "Cc"} - _ALLOWED_CONTROLS)
    if controls:
        return (
            f"contains the control character(s) {shown(''.join(controls[:5]))}; "
            "only printable text, tabs and line breaks are allowed"
        )
    if any(0xD800 <= ord(c) <= 0xDFFF for c in text):
        return "contains an unpaired surrogate (not a character); only real text is allowed"
    return None


def _as_int(info, raw):
    """Integers, also from whole floats and numeric strings."""
    if isinstance(raw, bool):
        raise ValueError(f"{shown(raw)} is not an integer; expected {_allowed(info)}")
    if isinstance(raw, str) and raw.strip().lstrip("+-").isdigit():
        return int(raw)  # exact: a 62-bit seed must not pass through a float
    try:
        value = float(raw) if isinstance(raw, str) else raw
        if isinstance(value, float) and not value.is_integer():
            raise TypeError
        return int(value)
    except (TypeError, ValueError, OverflowError):
        raise ValueError(f"{shown(raw)} is not an integer; expected {_allowed(info)}") from None


def _as_float(info, raw):
    """Finite numbers, also from numeric strings."""
    try:
        if isinstance(raw, bool):
            raise TypeError
        value = float(raw)
    except (TypeError, ValueError):
        raise ValueError(f"{shown(raw)} is not a number; expected {_allowed(info)}") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise ValueError(f"{shown(raw)} is not finite; expected {_allowed(info)}")
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
    key = str(raw).strip().lower() if isinstance(raw, (str, int)) else None
    if key in words:
        return words[key]
    raise ValueError(f"{shown(raw)} is not true or false")


def _as_choice(info, raw):
    """One of the allowed choices, matched case-insensitively."""
    if raw is False and "off" in info.choices:  # YAML 1.1 readers give an unquoted off as False
        return "off"
    if isinstance(raw, (str, int, float)) and not isinstance(raw, bool):
        text = raw if isinstance(raw, str) else getattr(raw, "text", "") or str(raw)
        for choice in info.choices:
            if text.strip().lower() == choice.lower():
                return choice
    raise ValueError(f"{shown(raw)} is not allowed; expected {_allowed(info)}")


def _as_schedule(info, raw):
    """A number, expression or keyframe schedule, syntax-checked now."""
    from ..lang.schedules import parse_time_value

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
    from ..media.audio import parse_filters

    if isinstance(raw, str):
        try:
            raw = load_yaml(raw) if raw.strip() else []
        except yaml.YAMLError as e:
            raise ValueError(f"not valid YAML: {clipped(str(e), 400)}") from None
    _check_filters_shape(raw)
    bands = parse_filters(raw)  # raises ValueError naming the filter and field
    return [
        {
            "variable_name": str(b.variable_name),
            "f_center": _exact(b.f_center),
            "f_width": _exact(b.f_width),
            "order": _exact(b.order),
        }
        for b in bands
    ]


def _exact(number):
    """A number as a plain int or float (not the YAML reader's subclasses, which no file of
    ours could store)."""
    return int(number) if isinstance(number, int) else float(number)


def _check_filters_shape(raw) -> None:
    """Raise ValueError unless audio filters are a short list of small mappings of plain
    values (parse_filters then checks their meaning)."""
    if raw in (None, ""):
        return
    example = "- {variable_name: fLo, f_center: 80, f_width: 40, order: 5}"
    if not isinstance(raw, (list, tuple)):
        raise ValueError(f"{shown(raw)} is not a list of filters; write e.g. {example}")
    if len(raw) > MAX_ITEMS:
        raise ValueError(f"{len(raw)} filters; at most {MAX_ITEMS}")
    for i, item in enumerate(raw):
        plain = isinstance(item, dict) and len(item) <= 8
        plain = plain and all(
            isinstance(k, str) and len(k) <= 40 and isinstance(v, (str, int, float, type(None)))
            and (not isinstance(v, str) or len(v) <= 100)
            for k, v in item.items()
        )  # fmt: skip
        if not plain:
            raise ValueError(
                f"filter {i + 1}: {shown(item)} is not a mapping of names to numbers; "
                f"write e.g. {example}"
            )


def _as_motion(info, raw):
    """A schedule evaluated per frame (the same syntax as any schedule)."""
    return _as_schedule(info, raw)


def _as_quaternion(info, raw):
    """Four motion values as '[w, x, y, z]' text (a YAML list is accepted too)."""
    from ..lang.schedules import parse_time_vector

    if isinstance(raw, (list, tuple)):
        if any(isinstance(v, bool) or not isinstance(v, (str, int, float)) for v in raw):
            raise ValueError(f"{shown(raw)}: expected {_allowed(info)}")
        raw = "[" + ", ".join(str(v) for v in raw) + "]"
    text = _as_text(info, raw).strip()
    try:
        parse_time_vector(text, 4, names=mentioned_names(text), where=f"setting {info.name!r}")
    except PyttiError as e:
        raise ValueError(str(e)) from None
    return text


def _as_weight(info, raw):
    """A PyTTI weight setting WEIGHT[_MASK][:STOP], syntax-checked now; empty means 0."""
    from ..lang.prompts import parse_target_weight

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
        raise ValueError(f"{shown(raw)}: expected {_allowed(info)}")
    items = [s.strip() for s in items if s.strip()]
    if not items:
        raise ValueError(f"at least one entry is required ({_allowed(info)})")
    if len(items) > MAX_ITEMS:
        raise ValueError(f"{len(items)} entries; at most {MAX_ITEMS}")
    for item in items:
        problem = text_problem(item) if len(item) <= MAX_TEXT["path"] else "is too long"
        if problem:
            raise ValueError(f"{shown(item)} {problem}")
    return items


def _check_range(info, value):
    """Raise ValueError when a number is outside the setting's bounds."""
    if (info.min is not None and value < info.min) or (info.max is not None and value > info.max):
        raise ValueError(f"{shown(value)} is out of range; expected {_allowed(info)}")


_COERCERS = {
    "text": _as_text,
    "path": _as_path,
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
