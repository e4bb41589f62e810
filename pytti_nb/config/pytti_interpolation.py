"""PyTTI's ${...} interpolations resolved as OmegaConf did, bounded, and without letting the
machine in unasked: ${oc.env:...} reads the environment only when the person rendering allows it."""

from __future__ import annotations

import datetime
import difflib
import os
import re
from pathlib import Path

from ..errors import shown

MAX_INTERPOLATION_DEPTH = 100  # ${a} -> ${b} -> ... (PyTTI's files use two or three)
RESOLVERS = ("user_cache", "now", "path_join", "oc.env")
USER_CACHE = "~/.cache"  # ${user_cache:}: PyTTI's ~/.cache, written unexpanded
_INNERMOST = re.compile(r"\$\{([^${}]*)\}")
MAX_INTERPOLATED = 20_000  # characters of one value after its ${...} are resolved
MAX_INTERPOLATIONS = 1_000  # ${...} resolved in one value


def resolved(full: dict, problems, notes, *, allow_env: bool) -> dict:
    """The mapping with every ${...} interpolation resolved as OmegaConf and PyTTI did, except
    that nothing of the machine gets in unasked: ${oc.env:...} reads the environment only with
    `allow_env`, and paths stay as written (no absolute path of this machine is made).

    ${user_cache:} as models_parent_dir is pytti_nb's own model cache (empty), and ${now:...}
    as the seed draws a seed (PyTTI's default: the clock's microseconds).
    """
    environment = _Environment(allow_env)
    out = dict(full)
    if out.get("models_parent_dir") == "${user_cache:}":
        out["models_parent_dir"] = ""
    seed = out.get("seed")
    if isinstance(seed, str) and re.fullmatch(r"\s*\$\{now:[^}]*\}\s*", seed):
        out["seed"] = None
    done, busy = {}, set()

    def value_of(key):
        if key in done:
            return done[key]
        if key not in out:
            close = difflib.get_close_matches(key, [k for k in out if isinstance(k, str)], n=1)
            hint = f"; did you mean ${{{close[0]}}}?" if close else ""
            raise _Unresolvable(f"${{{key}}} names no setting of the file or of PyTTI{hint}")
        if key in busy:
            raise _Unresolvable(f"${{{key}}} refers back to itself")
        if len(busy) >= MAX_INTERPOLATION_DEPTH:  # one Python frame per level: bound it
            raise _Unresolvable(f"interpolations nest more than {MAX_INTERPOLATION_DEPTH} deep")
        busy.add(key)
        value = out[key]
        if isinstance(value, str) and "${" in value:
            value = _interpolate(value, value_of, environment)
        busy.discard(key)
        done[key] = value
        return value

    for key in list(out):
        try:
            out[key] = value_of(key)
        except _Unresolvable as e:
            busy.clear()
            problems.append(f"{key_name(key)}: {shown(out[key])}: {e}")
            done[key] = out[key]
    notes.extend(environment.notes())
    return out


class _Environment:
    """The environment variables a file's ${oc.env:...} may read: none unless the person
    rendering allowed it; remembers what was read, and what was asked for in vain."""

    def __init__(self, allowed: bool):
        self.allowed = allowed
        self.read, self.defaulted = [], []

    def get(self, expr: str, var: str, default: str | None):
        """The variable's value, its default when not allowed or not set, else _Unresolvable."""
        if self.allowed and var in os.environ:
            self.read.append(var)
            return os.environ[var]
        if default is not None:
            if not self.allowed:
                self.defaulted.append((var, default))
            return default
        if not self.allowed:
            raise _Unresolvable(
                f"${{{expr}}} reads the environment variable {shown(var)}; a settings file reads "
                "your environment only when you allow it (--allow-env, or the studio's 'let "
                "PyTTI files read environment variables'), as its value goes into the run's "
                "files"
            )
        raise _Unresolvable(f"${{{expr}}}: the environment variable {shown(var)} is not set")

    def notes(self) -> list[str]:
        """What the report says: each variable read, each one not read."""
        read = sorted(set(self.read))
        notes = [f"read the environment variable {shown(v)} (allowed)" for v in read]
        return notes + [
            f"the environment variable {shown(v)} was not read (not allowed: --allow-env); "
            f"the file's default {shown(d)} is used"
            for v, d in dict(self.defaulted).items()
        ]


class _Unresolvable(Exception):
    """An interpolation that cannot be resolved; the message says why."""


def _interpolate(text: str, value_of, environment):
    """Text with each ${...} resolved, innermost first; one whole ${...} keeps its value's type."""
    for _ in range(MAX_INTERPOLATIONS):
        m = _INNERMOST.search(text)
        if m is None:
            return text
        value = _evaluate(m.group(1).strip(), value_of, environment)
        if m.span() == (0, len(text)):
            return value
        text = text[: m.start()] + ("" if value is None else str(value)) + text[m.end() :]
        if len(text) > MAX_INTERPOLATED:
            raise _Unresolvable(f"it expands to more than {MAX_INTERPOLATED} characters")
    raise _Unresolvable(f"it needs more than {MAX_INTERPOLATIONS} interpolations")


def _evaluate(expr: str, value_of, environment):
    """The value of one interpolation: a key of the file or one of PyTTI's resolvers."""
    name, colon, arg = expr.partition(":")
    if not colon:
        return value_of(expr)
    if name == "user_cache":
        return USER_CACHE  # the same folder, without this machine's home in the run's files
    if name == "now":
        return datetime.datetime.now().strftime(arg)
    if name == "path_join":  # joined as written: a relative path stays relative
        first, _, second = arg.partition(",")
        return str(Path(first.strip()) / Path(second.strip()))
    if name == "oc.env":
        var, comma, default = arg.partition(",")
        return environment.get(expr, var.strip(), default.strip() if comma else None)
    raise _Unresolvable(
        f"{shown('${' + expr + '}')} uses the resolver {shown(name)}, which pytti_nb does not know "
        f"(it knows {', '.join(RESOLVERS)} and references to other settings)"
    )


def key_name(key) -> str:
    """A key as messages name it: itself when it is a short printable name, else quoted."""
    plain = isinstance(key, str) and len(key) <= 60 and key.isprintable()
    return key if plain else shown(key)
