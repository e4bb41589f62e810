"""Settings from and to dicts, YAML, JSON and PNG files (and PyTTI's files, converted), with
per-setting type and range checks."""

import dataclasses
import difflib
import json
import re
import unicodedata
from pathlib import Path

import yaml

from ..errors import PyttiError, SettingsError, clipped, reason, shown, shown_path
from .schema import Settings, names_where, schema_by_name
from .schema import steerable as schema_steerable

SETTINGS_SUFFIXES = (".yaml", ".yml", ".json", ".txt", ".png")
SEED_MODULUS = 2**63  # seeds are 0 to 2^63-1; any other integer is taken modulo 2^63
_IDENTIFIER = re.compile(r"[A-Za-z_]\w*")
# Bounds on what settings may hold, so no file, paste or --set can exhaust memory or time.
MAX_FILE_BYTES = 262_144  # a settings file (YAML, JSON, PyTTI's text): 256 KiB
MAX_VALUES = 100_000  # values in one document, counting each repetition through an alias
MAX_CHARS = 2_000_000  # characters of text in one document, counting repetitions
MAX_DEPTH = 20  # nesting of lists and mappings
MAX_TEXT = {"scenes": 20_000, "path": 4_096}  # characters of one setting (others: 10_000)
MAX_OTHER_TEXT = 10_000
MAX_NAME_BYTES = 255  # one folder or file name, on every common file system
MAX_ALL_TEXT = 100_000  # characters of all settings together (so every PNG can carry them)
MAX_ITEMS = 32  # entries of a list setting (perceptors, audio filters)
# Where a render writes and whether it may reuse a run folder: only the person running it
# decides (--out, --set, the studio, the caller's own settings), never a file (see README).
OUTPUT_CHOICES = names_where(user_only=True)
# Kinds whose --set value is the text typed, not YAML (file_namespace=010 stays '010').
TEXT_KINDS = (
    "text", "path", "scenes", "direct_prompts", "schedule", "motion", "quaternion",
    "pixel_weight", "clip_weight", "choice",
)  # fmt: skip
_ALLOWED_CONTROLS = set("\t\n\r")


class _TooLarge(yaml.YAMLError):
    """A YAML document nested or expanded beyond the bounds."""


class _Int(int):
    """A YAML integer that remembers the text it was written as (for text settings)."""

    text = ""


class _Float(float):
    """A YAML float that remembers the text it was written as (for text settings)."""

    text = ""


class _SettingsLoader(yaml.SafeLoader):
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
    _SettingsLoader.add_implicit_resolver(
        f"tag:yaml.org,2002:{_name}", re.compile(f"^(?:{_pattern})$"), list(_first)
    )
for _tag, _constructor in (
    ("null", yaml.SafeLoader.construct_yaml_null),
    ("bool", yaml.SafeLoader.construct_yaml_bool),
    ("int", _SettingsLoader.construct_yaml_int),
    ("float", _SettingsLoader.construct_yaml_float),
    ("str", yaml.SafeLoader.construct_yaml_str),
    ("seq", yaml.SafeLoader.construct_yaml_seq),
    ("map", yaml.SafeLoader.construct_yaml_map),
):
    _SettingsLoader.add_constructor(f"tag:yaml.org,2002:{_tag}", _constructor)
_SettingsLoader.add_constructor(None, yaml.SafeLoader.construct_undefined)


def load_yaml(text: str):
    """The value of YAML text, read safely with YAML 1.2's types and within the bounds; raises
    yaml.YAMLError (any problem, bounds included)."""
    if len(text) > MAX_FILE_BYTES:
        raise _TooLarge(f"{len(text)} characters; at most {MAX_FILE_BYTES}")
    try:
        value = yaml.load(text, Loader=_SettingsLoader)  # noqa: S506 (a SafeLoader)
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


def to_dict(settings: Settings) -> dict:
    """Plain dict of every setting, in schema order."""
    return {f.name: _plain(getattr(settings, f.name)) for f in dataclasses.fields(settings)}


yaml.add_representer(_Int, yaml.SafeDumper.represent_int, Dumper=yaml.SafeDumper)
yaml.add_representer(_Float, yaml.SafeDumper.represent_float, Dumper=yaml.SafeDumper)


def to_yaml(settings: Settings) -> str:
    """YAML text of every setting, in schema order."""
    return yaml.safe_dump(to_dict(settings), sort_keys=False, allow_unicode=True, width=100)


def cache_dir_of(settings: Settings) -> str | None:
    """The folder models download into (models_cache_dir with ~ expanded: a file may write it
    as ~/... so no machine's home is in it), or None for each library's own cache."""
    folder = settings.models_cache_dir
    return str(Path(folder).expanduser()) if folder else None


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


def apply_overrides(data: dict, assignments) -> dict:
    """Apply 'key=value' strings on top of a settings mapping: the value of a text setting is
    the text given (one pair of YAML quotes removed), any other value is read as YAML."""
    out = dict(data)
    problems = []
    infos = schema_by_name()
    for item in assignments:
        key, sep, text = str(item).partition("=")
        key = key.strip()
        if not sep or not key:
            problems.append(f"--set {shown(item)}: expected KEY=VALUE, e.g. --set width=256")
            continue
        info = infos.get(key)
        if info is not None and info.kind in TEXT_KINDS:
            out[key] = _unquoted(text)
            continue
        try:
            out[key] = load_yaml(text) if text.strip() else ""
        except yaml.YAMLError:
            out[key] = text
    if problems:
        raise SettingsError(problems)
    return out


def _unquoted(text: str) -> str:
    """Text as typed, or the string inside it when it is one quoted YAML scalar."""
    stripped = text.strip()
    if len(stripped) < 2 or stripped[0] not in "'\"" or stripped[-1] != stripped[0]:
        return text
    try:
        value = load_yaml(stripped)
    except yaml.YAMLError:
        return text
    return value if isinstance(value, str) else text


def output_choices_from_user(data: dict, source: str, user=None) -> tuple[dict, list[str]]:
    """A file's settings mapping without the output choices (output_root, allow_overwrite),
    which only the person rendering makes; `user` holds theirs (the studio's current ones).
    Also a note for each one the file set that is not used."""
    if not isinstance(data, dict):
        return data, []
    user = user or {}
    kept = {k: v for k, v in data.items() if _bare_key(k) not in OUTPUT_CHOICES}
    notes = []
    for key, value in data.items():
        name = _bare_key(key)
        if name not in OUTPUT_CHOICES:
            continue
        used = user.get(name, getattr(Settings(), name))
        if str(value).lower() != str(used).lower():
            notes.append(
                f"{source}: {name} {shown(value)} is not used: where a render writes and whether "
                "it may reuse a run folder come only from your command (--out, --set), the "
                "studio or the defaults, never from a settings file"
            )
    return {**kept, **{k: user[k] for k in OUTPUT_CHOICES if k in user}}, notes


def _bare_key(key) -> str:
    """A key without Hydra's '+'/'++' prefixes (so '+allow_overwrite' counts too)."""
    return str(key).lstrip("+") if isinstance(key, str) else ""


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
    from .pytti_import import import_pytti, is_pytti

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
    from .pytti_import import parse_pytti_text

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
        raise SettingsError([f"{source}: not valid {kind}: {_first_lines(e)}"]) from None
    return ({} if data is None else data), suffix == ".txt"


def _first_lines(error, limit: int = 400) -> str:
    """A parser's message, bounded (YAML's quotes the offending line)."""
    return clipped(str(error), limit)


def kind_of(value) -> str:
    """What a top-level value is, for a message."""
    if isinstance(value, (list, tuple)):
        return "a list"
    return "empty" if value is None else f"a single value {shown(value)}"


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


def _png_settings(path: Path, label: str) -> dict:
    """The settings mapping stored in a PNG pytti_nb wrote."""
    from ..errors import OutputError
    from ..io.output import read_png_metadata

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
    from ..errors import OutputError
    from ..io.atomic import atomic_write_text

    path = Path(path)
    text = settings_text(settings, path)
    try:
        atomic_write_text(path, text)
    except (OSError, ValueError) as e:  # ValueError: a NUL in the path
        raise OutputError(f"cannot write the settings file {shown_path(path)}: {reason(e)}") from e


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
            raise ValueError(f"not valid YAML: {_first_lines(e)}") from None
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


def expression_names(filters=()) -> tuple[str, ...]:
    """The variables every expression may use: t, and each audio band and its _prev."""
    from ..media.audio import parse_filters

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
    from ..lang.expressions import CONSTANTS, FUNCTIONS

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
