"""Settings as plain dicts and YAML, built from mappings with every problem reported at once;
copies with changes, and what differs between two."""

import dataclasses
import difflib

import yaml

from ..errors import SettingsError, shown
from .schema import Settings, schema_by_name
from .schema import steerable as schema_steerable
from .values import coerce

MAX_ALL_TEXT = 100_000  # characters of all settings together (so every PNG can carry them)


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
        info = infos.get(key) if isinstance(key, str) else None
        if info is None:
            # past the problems a message lists, skip the (slow) did-you-mean
            hint = len(problems) < SettingsError.MAX_PROBLEMS
            problems.append(_unknown_key_message(key, infos, hint=hint))
            continue
        try:
            values[key] = coerce(info, raw)
        except ValueError as e:
            problems.append(f"{key}: {e}")
    total = sum(_text_length(v) for v in values.values())
    if total > MAX_ALL_TEXT:
        problems.append(
            f"{source}: the settings hold {total} characters of text in all; at most "
            f"{MAX_ALL_TEXT} (shorten the prompts or other long values)"
        )
        values = {}
    return Settings(**values), problems


def _text_length(value) -> int:
    """Characters of text in a coerced setting value."""
    if isinstance(value, str):
        return len(value)
    if isinstance(value, (list, tuple)):
        return sum(_text_length(v) for v in value)
    if isinstance(value, dict):
        return sum(_text_length(k) + _text_length(v) for k, v in value.items())
    return 0


def _plain(value):
    """A JSON/YAML-safe copy of a setting value."""
    return list(value) if isinstance(value, (list, tuple)) else value


def _unknown_key_message(key, infos, *, hint=True):
    """Error line for an unknown setting, with a did-you-mean hint."""
    plain = isinstance(key, str) and len(key) <= 60 and key.isprintable()
    name = key if plain else shown(key)
    close = difflib.get_close_matches(key, list(infos), n=1, cutoff=0.6) if plain and hint else []
    hint = f"; did you mean {close[0]!r}?" if close else "; see the settings table in README.md"
    return f"{name}: unknown setting{hint}"
