"""Import PyTTI (pytti-core) settings: its own defaults, its keys mapped onto ours with a note
on every key dropped or changed, and an error naming whatever cannot be imported.

PyTTI settings come as Hydra overlay files (`# @package _global_`, the keys left out taking
PyTTI's defaults), full copies of its default.yaml, the `<name>_settings.txt` files it wrote
beside its images and the notebook's printed `SETTINGS:` dict (read by pytti_forms); their
${...} interpolations are resolved by pytti_interpolation.
"""

from __future__ import annotations

import difflib
import re
from functools import cache
from importlib import resources

import yaml

from ..errors import SettingsError, shown
from ..io.bounded import load_yaml
from .overrides import apply_overrides
from .pytti_interpolation import key_name, resolved
from .schema import schema, schema_by_name
from .values import coerce, fold_seed, kind_of

HYDRA_HEADER = re.compile(r"^\s*#\s*@package\s+_global_\s*$", re.MULTILINE)
MANDATORY = "???"  # OmegaConf's "the user must give this"
DEFAULTS_FILE = "pytti_defaults.yaml"
# PyTTI's perceptor flags and the open_clip spec each one means.
PERCEPTOR_FLAGS = {
    "ViTB32": "ViT-B-32@openai",
    "ViTB16": "ViT-B-16@openai",
    "ViTL14": "ViT-L-14@openai",
    "ViTL14_336px": "ViT-L-14-336@openai",
    "RN50": "RN50@openai",
    "RN101": "RN101@openai",
    "RN50x4": "RN50x4@openai",
    "RN50x16": "RN50x16@openai",
    "RN50x64": "RN50x64@openai",
}
# OpenAI's CLIP names, as mmc's `id` writes them, and the flag of each.
OPENAI_IDS = {
    "ViT-B/32": "ViTB32",
    "ViT-B/16": "ViTB16",
    "ViT-L/14": "ViTL14",
    "ViT-L/14@336px": "ViTL14_336px",
    "RN50": "RN50",
    "RN101": "RN101",
    "RN50x4": "RN50x4",
    "RN50x16": "RN50x16",
    "RN50x64": "RN50x64",
}
MMC_KEYS = ("use_mmc", "mmc_models")
RENAMED = {info.pytti: info.name for info in schema() if info.pytti}  # PyTTI key -> ours
# Values PyTTI's own files and notebooks spell otherwise, and what each one means.
RESPELLED = {
    ("image_model", "Limimted Palette"): ("Limited Palette", "the spelling of PyTTI's validator"),
    ("vqgan_model", "sflickr"): ("sflckr", "PyTTI itself refused this spelling"),
}
# PyTTI keys with no counterpart here, and why.
IGNORED = {
    "clear_every": "it clears the notebook's output; the studio shows one preview",
    "display_scale": "it scales the notebook's preview only",
    "backups": "PyTTI's .bak files; pytti_nb keeps checkpoint.pt and the frames long-term "
    "flow needs itself",
    "show_graphs": "matplotlib loss plots in the notebook; pytti_nb has none",
    "approximate_vram_usage": "PyTTI's VRAM accounting (broken in PyTTI itself)",
    "use_tensorboard": "pytti_nb writes no TensorBoard logs",
    "restore": "resume a stopped run with `render --resume RUN_FOLDER`",
    "resume": "resume a stopped run with `render --resume RUN_FOLDER`",
    "base_name": "the notebook's copy of file_namespace",
    "device": "PyTTI's CUDA device index; pytti_nb picks the device itself (device: auto), "
    "and CUDA_VISIBLE_DEVICES chooses among several GPUs",
}
# Our settings that PyTTI had no key for, where PyTTI's behaviour is not our default: an
# imported file keeps PyTTI's (augmentations: its kornia chain).
PYTTI_BEHAVIOUR = {info.name: info.pytti_value for info in schema() if info.pytti_value is not None}
# Hydra's own keys in a config file: none is a PyTTI setting.
HYDRA_KEYS = {
    "defaults": "Hydra's defaults list; not followed (PyTTI's default.yaml fills what the file "
    "leaves out)",
    "conf": "it picks a Hydra config file; not followed: import that file itself",
    "hydra": "Hydra's own settings (its output folders, logging)",
}
PYTTI_STANDARD_DEFAULTS = ["_self_", {"conf": "_empty"}]  # the defaults list of default.yaml
ALLOW_ENV_HELP = (
    "let a PyTTI file's ${oc.env:NAME} read environment variables (their values go into the "
    "run's files; without this a file cannot read your environment)"
)
MAX_NOTED = 50  # unknown keys noted one by one (the rest are counted)
SWITCH_WORDS = {
    "true": True, "yes": True, "on": True, "1": True,
    "false": False, "no": False, "off": False, "0": False, "": False,
}  # fmt: skip


@cache
def pytti_defaults() -> dict:
    """PyTTI's assets/default.yaml (vendored, see its header), key by key."""
    text = resources.files("pytti_nb").joinpath(DEFAULTS_FILE).read_text(encoding="utf-8")
    return yaml.safe_load(text)


def pytti_keys() -> frozenset:
    """Every setting name PyTTI reads: its default.yaml's and the notebook's extra ones."""
    return frozenset(pytti_defaults()) | {"mmc_models"} | set(IGNORED)


def is_pytti(data, text: str = "") -> bool:
    """Whether a settings mapping (with its file's text) is PyTTI's rather than ours: a Hydra
    header, a key only PyTTI has, an OmegaConf ${...} value or PyTTI's 'Limimted Palette'."""
    if HYDRA_HEADER.search(text):
        return True
    if not isinstance(data, dict):
        return False
    ours = schema_by_name()
    only_pytti = (pytti_keys() | set(HYDRA_KEYS)) - set(ours)
    if any(_hydra_name(key) in only_pytti for key in data):
        return True
    if any(isinstance(v, str) and "${" in v for v in data.values()):
        return True
    return data.get("image_model") == "Limimted Palette"


def import_pytti(data: dict, overrides=(), *, allow_env: bool = False) -> tuple[dict, list[str]]:
    """Our settings for a PyTTI mapping with 'key=value' overrides, and the conversion notes
    (ending with one per departure from PyTTI the file depends on).

    Overrides of PyTTI's own keys (ViTB16=true, models_parent_dir=...) apply before the
    conversion, overrides of ours after it: they satisfy what the file lacks (perceptors=...).
    The file's ${oc.env:...} may read the environment only with `allow_env` (the person
    rendering says so); each variable read is noted.
    """
    if not isinstance(data, dict):
        raise SettingsError(
            [f"PyTTI settings: expected 'name: value' settings, got {kind_of(data)}"]
        )
    sets = apply_overrides({}, overrides)
    ours = schema_by_name()
    before = {k: v for k, v in sets.items() if k not in ours and _hydra_name(k) in pytti_keys()}
    after = {k: v for k, v in sets.items() if k not in before}
    converted, notes = from_pytti({**data, **before}, given=set(after), allow_env=allow_env)
    ours = {**converted, **after}
    return ours, notes + _departure_notes(ours)


def from_pytti(data: dict, *, given=(), allow_env: bool = False) -> tuple[dict, list[str]]:
    """Our settings mapping for a PyTTI one, and a note on every key dropped or changed.

    Keys the file leaves out take PyTTI's own defaults (noted where they differ from ours and
    matter). `given` names our settings the caller sets itself, which satisfy what the file
    lacks. Raises SettingsError naming everything that cannot be imported.
    """
    if not isinstance(data, dict):
        raise SettingsError([f"PyTTI settings: expected a mapping, got {type(data).__name__}"])
    notes, problems = [], []
    data = _without_hydra_keys(data, notes)
    full = resolved({**pytti_defaults(), **data}, problems, notes, allow_env=allow_env)
    known = schema_by_name()
    ours, at_default, unknown = {}, [], []
    if "perceptors" not in data and "perceptors" not in given:
        ours["perceptors"] = _perceptors(full, data, notes, problems)
    elif flags := [key for key in [*PERCEPTOR_FLAGS, *MMC_KEYS] if key in data]:
        notes.append(f"{', '.join(flags)}: ignored: the perceptors given choose the models")
    for key, value in full.items():
        if key in PERCEPTOR_FLAGS or key in MMC_KEYS:
            continue
        if value == MANDATORY:
            if key not in given:
                name = key_name(key)
                problems.append(
                    f"{name}: PyTTI requires it (its default.yaml has ???, 'must be given'); "
                    f"add '{name}: ...' to the file or give --set {name}=..."
                )
            continue
        our = RENAMED.get(key, key)
        if key == "device" and str(value).strip().lower() in known["device"].choices:
            ours["device"] = str(value).strip().lower()  # a device name, not PyTTI's index
        elif key in IGNORED:
            if key in data and value == pytti_defaults().get(key):
                at_default.append(key)
            elif key in data:
                notes.append(f"{key}: dropped: {IGNORED[key]}")
        elif key == "seed":
            ours["seed"] = _seed(value, notes, problems)
        elif our in known:
            ours[our] = _translated(key, value, key in data, notes)
        else:
            unknown.append(key)
    notes += [_unknown_note(key, known) for key in unknown[:MAX_NOTED]]
    if len(unknown) > MAX_NOTED:
        notes.append(f"... and {len(unknown) - MAX_NOTED} more keys neither PyTTI nor pytti_nb has")
    for key, value in PYTTI_BEHAVIOUR.items():
        if key not in given:
            ours[key] = value
    if at_default:
        notes.append(
            f"{', '.join(at_default)}: dropped, at PyTTI's defaults (notebook display, logging "
            "and device options with no equivalent here)"
        )
    notes += _default_notes(data, ours, known, given)
    if problems:
        raise SettingsError(problems)
    return ours, notes


def _departure_notes(ours: dict) -> list[str]:
    """A note for each place the file depends on where pytti_nb renders differently from PyTTI
    (pytti_departures; what does not convert is left to the plan's checks)."""
    from .pytti_departures import report_lines
    from .settings import from_dict_lenient

    settings, _ = from_dict_lenient(ours)
    return report_lines(settings)


def _hydra_name(key) -> str:
    """A key without Hydra's '+' (add) or '++' (force-add) prefix."""
    return str(key).lstrip("+")


def _without_hydra_keys(data, notes) -> dict:
    """The mapping without Hydra's own keys and prefixes, each dropped one noted."""
    out = {}
    for key, value in data.items():
        name = _hydra_name(key)
        if name.startswith("~"):
            notes.append(
                f"{key_name(key)}: dropped: Hydra's 'delete this key' syntax; PyTTI's default "
                "is used"
            )
        elif name in HYDRA_KEYS:
            if not (name == "defaults" and value == PYTTI_STANDARD_DEFAULTS):
                notes.append(f"{name}: dropped: {HYDRA_KEYS[name]}")
        else:
            out[name] = value
    return out


def _perceptors(full, data, notes, problems) -> list:
    """Our perceptors for PyTTI's CLIP flags, or for its mmc_models while use_mmc is on."""
    flags = [flag for flag in PERCEPTOR_FLAGS if _on(full.get(flag), flag, problems)]
    if _on(full.get("use_mmc"), "use_mmc", problems):
        if any(flag in data for flag in flags):
            notes.append(f"{', '.join(flags)}: ignored while use_mmc is on (as in PyTTI)")
        return _mmc_perceptors(full.get("mmc_models"), problems)
    if full.get("mmc_models") not in (None, [], ""):
        notes.append("mmc_models: ignored: use_mmc is off (as in PyTTI)")
    if not flags:
        problems.append(
            f"{', '.join(PERCEPTOR_FLAGS)}: none is true, so no CLIP model is chosen (PyTTI "
            "stops such a run: 'Please select at least one CLIP model'); set one to true, or "
            "choose pytti_nb perceptors, e.g. --set perceptors=[ViT-B-32@openai] or [demo]"
        )
    return [PERCEPTOR_FLAGS[flag] for flag in flags]


def _mmc_perceptors(models, problems) -> list:
    """Our perceptors for mmc's model entries: OpenAI's CLIP and open_clip's (mlfoundations)."""
    if isinstance(models, str):
        models = _hydra_list(models)
    if not isinstance(models, list) or not models:
        problems.append(
            f"use_mmc: on, but mmc_models lists no model ({shown(models)}); give "
            "mmc_models: [{architecture: clip, publisher: openai, id: ViT-B/32}] or choose "
            "pytti_nb perceptors with --set perceptors=[...]"
        )
        return []
    specs = []
    for item in models:
        spec = _mmc_spec(item) if isinstance(item, dict) else None
        if spec is None:
            problems.append(
                f"mmc_models: {shown(item)} needs mmc, which pytti_nb does not have: only CLIP "
                "models (publisher openai, or mlfoundations' open_clip ids) import; SLIP, "
                "CLOOB, multilingual CLIP, CLIPfa, KELIP and the rest are missing features. "
                "Remove it, or choose perceptors with --set perceptors=[...]"
            )
        else:
            specs.append(spec)
    return specs


def _mmc_spec(item: dict):
    """The open_clip spec of one mmc entry {architecture, publisher, id}, or None."""
    architecture = item.get("architecture", "clip")
    publisher, model = item.get("publisher"), str(item.get("id", ""))
    if architecture != "clip":
        return None
    if publisher in (None, "openai") and model in OPENAI_IDS:
        return PERCEPTOR_FLAGS[OPENAI_IDS[model]]
    if publisher == "mlfoundations" and "--" in model:
        name, _, tag = model.partition("--")  # mmc joins open_clip's (model, tag) with --
        return f"{name}@{tag}"
    return None


def _hydra_list(text: str):
    """A list written in Hydra's override syntax, [{architecture:'clip',id:'RN50'}], or text."""
    try:
        return load_yaml(re.sub(r"(\w):(?=['\"\w\[{])", r"\1: ", text))
    except yaml.YAMLError:
        return text


def _on(value, key: str, problems: list) -> bool:
    """A switch's truth: true/false, 1/0, or the words Hydra overrides and pastes give (yes,
    no, on, off); anything else is a problem (PyTTI took any non-empty text as true)."""
    if isinstance(value, bool) or value is None:
        return bool(value)
    if isinstance(value, (int, float)) and value in (0, 1):
        return bool(value)
    word = value.strip().lower() if isinstance(value, str) else None
    if word in SWITCH_WORDS:
        return SWITCH_WORDS[word]
    problems.append(f"{key}: {shown(value)} is not true or false (nor yes/no, on/off, 1/0)")
    return False


def _seed(value, notes, problems):
    """PyTTI's seed in our range: any integer, folded modulo 2^63 (see values.fold_seed)."""
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # torch.manual_seed took int(seed)
    try:
        number = int(str(value).strip()) if not isinstance(value, (bool, float)) else None
    except ValueError:
        number = None
    if number is None:
        problems.append(
            f"seed: {shown(value)} is not an integer (PyTTI passed it to torch.manual_seed)"
        )
        return None
    folded = fold_seed(number)
    if folded != number:
        notes.append(
            f"seed: {number} is outside pytti_nb's 0 to 2^63-1; {folded} is used (the seed "
            "modulo 2^63: the same PyTTI seed always gives the same image)"
        )
    return folded


def _translated(key, value, given, notes):
    """A PyTTI value of a setting we share, where ours spells or bounds it otherwise."""
    info = schema_by_name()[RENAMED.get(key, key)]
    if isinstance(value, str) and (key, value) in RESPELLED:
        spelled, why = RESPELLED[key, value]
        notes.append(f"{key}: {shown(value)} read as {spelled!r} ({why})")
        return spelled
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if key in ("display_every", "save_every") and number and value > info.max:
        notes.append(
            f"{key}: {shown(value)} steps is beyond any run (PyTTI's way of saying never); 0 is "
            "used" + (", which still saves the last step" if key == "save_every" else ", never")
        )
        return 0
    if key == "save_every" and value == 0 and given:
        notes.append("save_every: 0 saved nothing in PyTTI; pytti_nb still saves the last step")
    if key == "file_namespace" and value == "":
        notes.append("file_namespace: empty; 'out' is used, as PyTTI's notebook did")
        return "out"
    return value


def _unknown_note(key, known) -> str:
    """The note for a key neither PyTTI nor pytti_nb knows (PyTTI ignored it)."""
    names = sorted(pytti_keys() | set(known))
    plain = key_name(key) == key
    close = difflib.get_close_matches(key, names, n=1, cutoff=0.75) if plain else []
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return f"{key_name(key)}: dropped: PyTTI did not read it either, and pytti_nb has no such " + (
        f"setting{hint}"
    )


def _default_notes(data, ours, known, given) -> list:
    """Notes on PyTTI defaults that stand in for keys the file leaves out (and the caller does
    not set), where ours differ and matter."""
    view = {}
    for name, value in ours.items():
        try:
            view[name] = coerce(known[name], value)
        except (KeyError, ValueError):
            view[name] = value
    notes = []
    for key in pytti_defaults():
        our = RENAMED.get(key, key)
        if key in data or our in given or our not in ours or our not in known:
            continue
        info = known[our]
        if view[our] != info.default and info.visible(view):
            notes.append(
                f"{key}: not in the file; PyTTI's default {shown(ours[our])} is used "
                f"(pytti_nb's own default is {info.default!r})"
            )
    return notes
