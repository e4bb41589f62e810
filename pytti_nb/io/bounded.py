"""Bounded reading: YAML and JSON values within bounds on size, nesting and aliases, text
files of at most MAX_FILE_BYTES, and names no file system refuses; so no file, paste or --set
can exhaust memory or time."""

import json
import re
from pathlib import Path

import yaml

from ..errors import SettingsError, reason, shown

MAX_FILE_BYTES = 262_144  # a settings file (YAML, JSON, PyTTI's text): 256 KiB
MAX_VALUES = 100_000  # values in one document, counting each repetition through an alias
MAX_CHARS = 2_000_000  # characters of text in one document, counting repetitions
MAX_DEPTH = 20  # nesting of lists and mappings
MAX_NAME_BYTES = 255  # one folder or file name, on every common file system


class _TooLarge(yaml.YAMLError):
    """A YAML document nested or expanded beyond the bounds."""


class _Int(int):
    """A YAML integer that remembers the text it was written as (for text settings)."""

    text = ""


class _Float(float):
    """A YAML float that remembers the text it was written as (for text settings)."""

    text = ""


class _BoundedLoader(yaml.SafeLoader):
    """safe_load with YAML 1.2's core types (yes/no/on/off, 010, 1_000, dates stay text) and
    a bound on nesting; only plain values (no sets, pairs, binary or merge keys)."""

    yaml_implicit_resolvers = {}
    yaml_constructors = {}

    def __init__(self, stream):
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent, index):
        """Compose one node, refusing nesting deeper than MAX_DEPTH (before any recursion)."""
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise _TooLarge(f"nested more than {MAX_DEPTH} levels deep")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_yaml_int(self, node):
        """YAML 1.2 integers: decimal (leading zeros are decimal), 0o octal, 0x hex."""
        text = self.construct_scalar(node)
        base = {"0o": 8, "0x": 16}.get(text[:2].lower(), 10)
        try:
            value = _Int(int(text[2:] if base != 10 else text, base))
        except ValueError:  # more digits than Python converts
            raise _TooLarge(f"the integer {shown(text)} has too many digits") from None
        value.text = text
        return value

    def construct_yaml_float(self, node):
        """YAML 1.2 floats, .inf and .nan included."""
        text = self.construct_scalar(node)
        special = text.lower().lstrip("+-")
        number = float(special.replace(".", "") if special in (".inf", ".nan") else text)
        value = _Float(-number if text.startswith("-") and special == ".inf" else number)
        value.text = text
        return value


_CORE_TYPES = [
    ("bool", r"true|True|TRUE|false|False|FALSE", "tTfF"),
    ("null", r"~|null|Null|NULL|", ["~", "n", "N", ""]),
    ("int", r"[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+", "-+0123456789"),
    (
        "float",
        r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)"
        r"|\.(?:nan|NaN|NAN)",
        "-+0123456789.",
    ),
]
for _name, _pattern, _first in _CORE_TYPES:
    _BoundedLoader.add_implicit_resolver(
        f"tag:yaml.org,2002:{_name}", re.compile(f"^(?:{_pattern})$"), list(_first)
    )
for _tag, _constructor in (
    ("null", yaml.SafeLoader.construct_yaml_null),
    ("bool", yaml.SafeLoader.construct_yaml_bool),
    ("int", _BoundedLoader.construct_yaml_int),
    ("float", _BoundedLoader.construct_yaml_float),
    ("str", yaml.SafeLoader.construct_yaml_str),
    ("seq", yaml.SafeLoader.construct_yaml_seq),
    ("map", yaml.SafeLoader.construct_yaml_map),
):
    _BoundedLoader.add_constructor(f"tag:yaml.org,2002:{_tag}", _constructor)
_BoundedLoader.add_constructor(None, yaml.SafeLoader.construct_undefined)


def load_yaml(text: str):
    """The value of YAML text, read safely with YAML 1.2's types and within the bounds; raises
    yaml.YAMLError (any problem, bounds included)."""
    if len(text) > MAX_FILE_BYTES:
        raise _TooLarge(f"{len(text)} characters; at most {MAX_FILE_BYTES}")
    try:
        value = yaml.load(text, Loader=_BoundedLoader)  # noqa: S506 (a SafeLoader)
    except (RecursionError, MemoryError):
        raise _TooLarge(f"nested more than {MAX_DEPTH} levels deep") from None
    problem = size_problem(value)
    if problem:
        raise _TooLarge(problem)
    return value


def load_json(text: str):
    """The value of JSON text within the bounds; raises ValueError (any problem)."""
    if len(text) > MAX_FILE_BYTES:
        raise ValueError(f"{len(text)} characters; at most {MAX_FILE_BYTES}")
    try:
        value = json.loads(text)
    except RecursionError:
        raise ValueError(f"nested more than {MAX_DEPTH} levels deep") from None
    problem = size_problem(value)
    if problem:
        raise ValueError(problem)
    return value


def size_problem(value) -> str | None:
    """What makes a loaded value too big (nesting, values or characters counted with every
    repetition of a shared part), or None; never expands anything."""
    sizes = {}  # id -> (values, characters) of a finished container
    stack = [(value, 0, False)]
    while stack:
        item, depth, done = stack.pop()
        if depth > MAX_DEPTH:
            return f"nested more than {MAX_DEPTH} levels deep"
        if not isinstance(item, (dict, list, tuple)) or (not done and id(item) in sizes):
            continue
        children = [*item.keys(), *item.values()] if isinstance(item, dict) else list(item)
        if not done:
            sizes[id(item)] = None  # in progress: seeing it again below means a cycle
            stack.append((item, depth, True))
            stack += [(c, depth + 1, False) for c in children if id(c) not in sizes]
            if any(sizes.get(id(c), 0) is None for c in children):
                return "a value contains itself (a recursive alias)"
            continue
        count, chars = 1, 0
        for c in children:
            n, k = sizes.get(id(c)) or _leaf_size(c)
            count, chars = count + n, chars + k
        if count > MAX_VALUES or chars > MAX_CHARS:
            return (
                f"it expands to more than {MAX_VALUES} values or {MAX_CHARS} characters "
                "(aliases repeat what they name)"
            )
        sizes[id(item)] = (count, chars)
    n, k = sizes.get(id(value)) or _leaf_size(value)
    return None if k <= MAX_CHARS else f"it holds more than {MAX_CHARS} characters"


def _leaf_size(item) -> tuple[int, int]:
    """(values, characters) of a plain value."""
    return 1, len(item) if isinstance(item, (str, bytes)) else 0


yaml.add_representer(_Int, yaml.SafeDumper.represent_int, Dumper=yaml.SafeDumper)
yaml.add_representer(_Float, yaml.SafeDumper.represent_float, Dumper=yaml.SafeDumper)


def path_problem(text: str) -> str | None:
    """What makes text a path no file system holds (a name longer than 255 bytes), or None;
    checked before the path is looked at, since the OS refuses such a name with an error."""
    for part in Path(text).parts:
        size = len(part.encode("utf-8", "surrogatepass"))
        if size > MAX_NAME_BYTES:
            return (
                f"has a folder or file name {shown(part, 40)} of {size} bytes; file systems "
                f"allow at most {MAX_NAME_BYTES}"
            )
    return None


def read_text_bounded(path: Path, label: str) -> str:
    """A settings (or sweep) file's text: at most MAX_FILE_BYTES of UTF-8."""
    try:
        with open(path, "rb") as f:
            raw = f.read(MAX_FILE_BYTES + 1)
    except (OSError, ValueError) as e:  # ValueError: a NUL in the path
        raise SettingsError([f"{label}: cannot read it ({reason(e)})"]) from None
    if len(raw) > MAX_FILE_BYTES:
        raise SettingsError(
            [f"{label}: larger than {MAX_FILE_BYTES} bytes; a settings file is much smaller"]
        )
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise SettingsError(
            [
                f"{label}: not UTF-8 text (byte 0x{raw[e.start]:02x} at offset {e.start}); "
                "save it as UTF-8, or give a PNG that pytti_nb wrote"
            ]
        ) from None
