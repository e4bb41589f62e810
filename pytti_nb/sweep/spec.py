"""The sweep file: a base, the settings to vary and those that follow them; expanded to renders.

    base: demo.yaml             # a settings file (relative to this file) or a settings mapping
    set: {steps_per_scene: 60}  # fixed changes to the base
    grid:                       # every combination: one axis per setting
      cutouts: [8, 16]
      learning_rate: [0.05, 0.1]
    zip:                        # lists of one length, varied together: one axis
      width: [16, 24]
      height: [16, 24]
    seeds: 3                    # the base's seed and the next two, or a list: one axis
    follow:                     # settings whose value follows another's in every render
      steps_per_frame: save_every
      display_every: {from: cutouts, values: {8: 4, 16: 8}, default: 10}

Axes vary in the order they are written, the last fastest (the contact sheet's columns). Where a
sweep writes comes only from the person running it (--out, the studio), never from the file:
a sweep file's `out:` and its base's output_root and allow_overwrite are not used (with a note).
"""

import difflib
import itertools
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from ..config.files import read_settings_file, settings_source
from ..config.output_choices import output_choices_from_user
from ..config.overrides import apply_overrides
from ..config.schema import Settings, names_where, schema_by_name
from ..config.settings import from_dict_lenient
from ..config.values import coerce, fold_seed
from ..errors import SettingsError, shown, shown_path
from ..io.bounded import load_yaml, read_text_bounded
from .naming import render_names

SECTIONS = ("base", "set", "grid", "zip", "seeds", "follow", "out")  # out: read, not used
AXIS_SECTIONS = ("grid", "zip", "seeds")
RESERVED = names_where(run_folder=True)  # the sweep sets them per render
FOLLOW_KEYS = ("from", "values", "default")
MAX_RENDERS = 1000
SWEEP_SUFFIXES = (".yaml", ".yml", ".json")


@dataclass(frozen=True)
class Axis:
    """One dimension of a sweep: settings that change together, one row of values per step."""

    names: tuple[str, ...]
    rows: tuple[tuple, ...]
    seeds: bool = False  # the seeds: section's axis (rows filled in once the seed is known)


@dataclass(frozen=True)
class Follow:
    """A setting whose value follows another's: copied, or looked up in a table."""

    target: str
    source: str
    table: tuple[tuple, ...] | None = None  # (source value, target value) pairs
    default: tuple = ()  # (value,) when the table has a default


@dataclass(frozen=True)
class SweepSpec:
    """A checked sweep file: what to render, before any seed is drawn."""

    base: dict  # raw settings (ours), with `set` and overrides applied
    axes: tuple[Axis, ...]  # the seeds axis has no rows: they need the base's seed
    follows: tuple[Follow, ...]  # in an order where every source comes before its followers
    out: Path
    source: str = "sweep"
    seeds: int | tuple[int, ...] | None = None
    notes: tuple[str, ...] | None = None  # how a PyTTI base file was converted
    dropped: tuple[str, ...] = ()  # output choices the file made that are not used
    sections: dict = field(default_factory=dict)  # as written, for the manifest


@dataclass(frozen=True)
class Render:
    """One render of a sweep."""

    name: str  # its run folder, under the sweep's output folder
    values: dict  # the values it varies, in axis order (its label)
    changes: dict  # every setting the sweep gives it on top of the base
    settings: dict  # the raw settings to render


def load_sweep(path, *, out=None, overrides=(), allow_env=False) -> SweepSpec:
    """Read and check a sweep file; its output folder is `out` (the --out option), else
    `<the default output_root>/<file name>`."""
    path = Path(path)
    label = f"sweep file {shown_path(path)}"
    if path.suffix.lower() not in SWEEP_SUFFIXES:
        raise SettingsError([f"{label}: unknown type; use one of {', '.join(SWEEP_SUFFIXES)}"])
    try:
        data = load_yaml(read_text_bounded(path, label))  # JSON is YAML too
    except yaml.YAMLError as e:
        raise SettingsError([f"{label}: not valid YAML: {shown(str(e), 400)}"]) from None
    return parse_sweep(
        data, source=str(path), folder=path.parent, out=out, overrides=overrides,
        default_name=path.stem, allow_env=allow_env,
    )  # fmt: skip


def parse_sweep(
    data,
    *,
    source="sweep",
    folder=".",
    out=None,
    overrides=(),
    default_name="sweep",
    allow_env=False,
) -> SweepSpec:
    """Check a sweep mapping completely, raising one SettingsError with every problem.

    Paths in it are relative to `folder`; without `out`, the output folder is
    `<the default output_root>/<default_name>` (the mapping's own `out:` is not used). A PyTTI
    base reads the environment only with `allow_env`.
    """
    problems = []
    if not isinstance(data, dict):
        raise SettingsError([f"{source}: expected a mapping with base: and grid:, zip: or seeds:"])
    _check_sections(data, source, problems)
    folder = Path(folder)
    base, notes = _base(data, folder, problems, allow_env)
    base, dropped = output_choices_from_user(base, "base")
    if "out" in data:
        dropped.append(
            f"out: {shown(data['out'])} is not used: where a sweep writes comes only from "
            "--out (or the studio), never from the sweep file"
        )
    fixed = _mapping(data, "set", problems)
    base = {**base, **fixed}
    try:
        base = apply_overrides(base, overrides)
    except SettingsError as e:
        problems += e.problems
    given = [f"--set {item.partition('=')[0].strip()}" for item in overrides]
    if base.get("seed") is not None:
        try:
            coerce(schema_by_name()["seed"], base["seed"])
        except ValueError as e:
            problems.append(f"base: seed: {e}")
    axes, seeds, varied = _axes(data, problems)
    follows = _follows(data, problems)
    _check_places(fixed, given, varied, follows, problems)
    total = 1
    for axis in axes:
        total *= _count(seeds) if axis.seeds else len(axis.rows)
    if not axes and (not problems or not any(k in data for k in AXIS_SECTIONS)):
        problems.append(f"{source}: nothing varies; give grid:, zip: or seeds:")
    elif total > MAX_RENDERS:
        problems.append(
            f"{source}: the sweep makes {total} renders, more than {MAX_RENDERS}; "
            "split it into several sweeps"
        )
    if total <= MAX_RENDERS:
        _check_tables(base, axes, follows, problems)
    out_path = _out(out, default_name)
    if problems:
        raise SettingsError(problems)
    sections = {k: data[k] for k in ("set", "grid", "zip", "seeds", "follow") if k in data}
    return SweepSpec(
        base, tuple(axes), follows, out_path, source, seeds, notes, tuple(dropped), sections
    )


def base_seed(spec: SweepSpec) -> int | None:
    """The base's seed, or None when it leaves the seed to be drawn."""
    settings, _ = from_dict_lenient({k: v for k, v in spec.base.items() if k == "seed"})
    return settings.seed


def expand(spec: SweepSpec, seed: int) -> list[Render]:
    """Every render of the sweep, the last axis varying fastest; `seed` is used when the base
    has none (one seed for the whole sweep, so renders differ only in what the sweep varies)."""
    first = _first_seed(spec, seed)
    axes = resolved_axes(spec, seed)
    out = str(spec.out)
    combos = []
    problems = []
    for rows in itertools.product(*(axis.rows for axis in axes)):
        pairs = zip(axes, rows, strict=True)
        values = {n: v for axis, row in pairs for n, v in zip(axis.names, row, strict=True)}
        settings = {**spec.base, "seed": first, **values}
        changes = {**values}
        for rule in spec.follows:
            value = _follow(rule, settings, problems)
            settings[rule.target] = changes[rule.target] = value
        combos.append((values, changes, settings))
    if problems:
        raise SettingsError(list(dict.fromkeys(problems)))
    names = render_names([values for values, _, _ in combos])
    renders = []
    for name, (values, changes, settings) in zip(names, combos, strict=True):
        own = {"file_namespace": name, "output_root": out, "allow_overwrite": False}
        if "seed" not in changes:
            own["seed"] = first
        renders.append(Render(name, values, {**changes, **own}, {**settings, **own}))
    return renders


def resolved_axes(spec: SweepSpec, seed: int) -> list[Axis]:
    """The axes with the seeds axis filled in (from the base's seed, or `seed`)."""
    first = _first_seed(spec, seed)
    return [_seed_axis(spec.seeds, first) if a.seeds else a for a in spec.axes]


def _first_seed(spec: SweepSpec, seed: int) -> int:
    """The base's seed, or `seed` when it has none."""
    first = base_seed(spec)
    return seed if first is None else first


def _check_sections(data, source, problems):
    """Unknown top-level keys, with a hint when the file is a settings file."""
    for key in data:
        if key in SECTIONS:
            continue
        close = difflib.get_close_matches(str(key), SECTIONS, n=1, cutoff=0.6)
        if str(key) in schema_by_name():
            hint = f"; settings go under base: or set: (set: {{{key}: ...}})"
        elif close:
            hint = f"; did you mean {close[0]!r}?"
        else:
            hint = f"; a sweep file has {', '.join(SECTIONS)}"
        problems.append(f"{source}: {key}: unknown section{hint}")
    if "base" not in data:
        problems.append(
            f"{source}: base: missing; give a settings file (e.g. base: demo.yaml, relative to "
            "the sweep file) or a mapping of settings"
        )


def _base(data, folder, problems, allow_env=False) -> tuple[dict, tuple | None]:
    """The base settings (ours, converted from PyTTI's) and the conversion notes."""
    raw = data.get("base")
    try:
        if isinstance(raw, str) and raw.strip():
            base, notes = read_settings_file(folder / raw, allow_env=allow_env)
        elif isinstance(raw, dict):
            base, notes = settings_source(raw, source="base", allow_env=allow_env)
        else:
            if "base" in data:
                problems.append(
                    f"base: {shown(raw)}: expected a settings file name or a mapping of settings"
                )
            return {}, None
    except SettingsError as e:
        problems += [f"base: {p}" for p in e.problems]
        return {}, None
    return dict(base), (tuple(notes) if notes is not None else None)


def _mapping(data, section, problems) -> dict:
    """A section that must be a mapping (empty when absent)."""
    value = data.get(section)
    if value is None:
        return {}
    if not isinstance(value, dict):
        problems.append(f"{section}: expected a mapping of setting names, got {shown(value)}")
        return {}
    return value


def _axes(data, problems) -> tuple[list[Axis], object, dict]:
    """The axes in the order their sections are written; the seeds; what varies where."""
    axes, seeds, varied = [], None, {}
    for section in (k for k in data if k in AXIS_SECTIONS):
        if section == "seeds":
            seeds = _seeds(data["seeds"], problems)
            if seeds is not None:
                axes.append(Axis(("seed",), (), seeds=True))
                varied.setdefault("seed", []).append("seeds")
            continue
        lists = {}
        for name, values in _mapping(data, section, problems).items():
            where = f"{section}: {name}"
            if _setting(name, section, problems) is None:
                continue
            if not isinstance(values, list) or not values:
                problems.append(
                    f"{where}: expected a list of values, e.g. [1, 2], got {shown(values)}"
                )
                continue
            bad = _check_values(name, values, where, problems)
            varied.setdefault(name, []).append(section)
            if not bad:
                lists[name] = values
        if section == "grid":
            axes += [Axis((n,), tuple((v,) for v in vs)) for n, vs in lists.items()]
        elif lists:
            lengths = {len(vs) for vs in lists.values()}
            if len(lengths) > 1:
                counts = ", ".join(f"{n} has {len(vs)}" for n, vs in lists.items())
                problems.append(f"zip: the lists must have one length; {counts}")
            else:
                axes.append(Axis(tuple(lists), tuple(zip(*lists.values(), strict=True))))
    return axes, seeds, varied


def _seeds(raw, problems):
    """A seed count, or a list of distinct seeds (folded as every seed is)."""
    info = schema_by_name()["seed"]
    if isinstance(raw, int) and not isinstance(raw, bool):
        if 1 <= raw <= MAX_RENDERS:
            return raw
        problems.append(
            f"seeds: {shown(raw)}: give a count from 1 to {MAX_RENDERS} or a list of seeds"
        )
        return None
    if not isinstance(raw, list) or not raw:
        problems.append(
            f"seeds: {shown(raw)}: give a count (seeds: 4) or a list (seeds: [1, 7, 42])"
        )
        return None
    seeds = []
    for value in raw:
        try:
            seeds.append(coerce(info, value))
        except ValueError as e:
            problems.append(f"seeds: {e}")
    if len(set(seeds)) < len(seeds):
        problems.append(f"seeds: {shown(raw)}: a seed is listed twice")
    return tuple(seeds) if len(seeds) == len(raw) and len(set(seeds)) == len(seeds) else None


def _count(seeds) -> int:
    """How many seeds a seeds: entry makes."""
    return seeds if isinstance(seeds, int) else len(seeds or ())


def _seed_axis(seeds, first) -> Axis:
    """The seeds axis: a list as given, a count as the first seed and the ones after it."""
    values = seeds if not isinstance(seeds, int) else [fold_seed(first + i) for i in range(seeds)]
    return Axis(("seed",), tuple((s,) for s in values), seeds=True)


def _follows(data, problems) -> tuple[Follow, ...]:
    """The follow: rules, ordered so that a source is set before what follows it."""
    rules = {}
    for target, rule in _mapping(data, "follow", problems).items():
        where = f"follow: {target}"
        if _setting(target, "follow", problems) is None:
            continue
        if isinstance(rule, str):
            if _setting(rule, where, problems) is not None:
                rules[target] = Follow(target, rule)
            continue
        if not isinstance(rule, dict):
            problems.append(
                f"{where}: expected a setting name (follow: {{{target}: save_every}}) or "
                f"{{from: SETTING, values: {{SOURCE VALUE: VALUE, ...}}}}, got {shown(rule)}"
            )
            continue
        unknown = [k for k in rule if k not in FOLLOW_KEYS]
        if unknown:
            problems.append(f"{where}: unknown key(s) {unknown}; use from, values and default")
        source, table = rule.get("from"), rule.get("values")
        if not isinstance(source, str):
            problems.append(f"{where}: from: expected the setting it follows, got {shown(source)}")
            continue
        if _setting(source, f"{where}: from", problems) is None:
            continue
        if not isinstance(table, dict) or not table:
            problems.append(
                f"{where}: values: expected a mapping of {source}'s values to {target}'s, "
                f"e.g. {{8: 4, 16: 8}}, got {shown(table)}"
            )
            continue
        pairs = list(table.items()) + ([("default", rule["default"])] if "default" in rule else [])
        if not _check_values(target, [v for _, v in pairs], f"{where}: values", problems):
            default = (rule["default"],) if "default" in rule else ()
            rules[target] = Follow(target, source, tuple(table.items()), default)
    for target, rule in rules.items():
        if rule.source == target:
            problems.append(f"follow: {target}: a setting cannot follow itself")
    return _ordered(rules, problems)


def _ordered(rules: dict, problems) -> tuple[Follow, ...]:
    """The rules with every source before its followers; a cycle is a problem."""
    done, order = set(), []
    for start in rules:
        chain, name = [], start
        while name in rules and name not in done:
            if name in chain:
                loop = " follows ".join(chain[chain.index(name) :] + [name])
                problems.append(f"follow: a cycle: {loop}")
                return ()
            chain.append(name)
            name = rules[name].source
        for name in reversed(chain):
            done.add(name)
            order.append(rules[name])
    return tuple(order)


def _check_places(fixed, given, varied, follows, problems):
    """Every setting is given in one place, and none the sweep sets itself."""
    places = {name: list(sections) for name, sections in varied.items()}
    for rule in follows:
        places.setdefault(rule.target, []).append("follow")
    for name in fixed:
        places.setdefault(name, []).append("set")
    for item in given:
        places.setdefault(item.removeprefix("--set "), []).append("--set")
    for name, where in places.items():
        if name in RESERVED:
            problems.append(
                f"{'/'.join(where)}: {name}: the sweep sets it for every render (each render's "
                "folder is named from its values, under the sweep's output folder); remove it"
            )
        elif len(where) > 1 and any(w != "set" and w != "--set" for w in where):
            problems.append(
                f"{name}: given in {' and '.join(where)}; vary or fix each setting in one place"
            )
    for rule in follows:
        if rule.source in RESERVED:
            problems.append(f"follow: {rule.target}: it cannot follow {rule.source}")


def _out(out, default_name) -> Path:
    """The sweep's output folder, absolute: `out`, else one named after the sweep in the
    default output_root."""
    if out is not None:
        return Path(out).expanduser().resolve()
    return (Path(Settings().output_root).expanduser() / (default_name or "sweep")).resolve()


def _check_tables(base, axes, follows, problems) -> None:
    """Report a follow: table that lacks a value some render needs, before any render."""
    if all(rule.table is None for rule in follows) or any(r.source == "seed" for r in follows):
        return  # nothing to look up, or the seeds are not known yet: expand() checks those
    axes = [a for a in axes if not a.seeds]
    found = []
    for rows in itertools.product(*(a.rows for a in axes)):
        settings = {**base}
        for axis, row in zip(axes, rows, strict=True):
            settings.update(zip(axis.names, row, strict=True))
        for rule in follows:
            settings[rule.target] = _follow(rule, settings, found)
    problems += list(dict.fromkeys(found))


def _follow(rule: Follow, settings: dict, problems):
    """The value a follower takes in one render."""
    source = settings[rule.source] if rule.source in settings else _default(rule.source)
    if rule.table is None:
        return source
    for key, value in rule.table:
        if _same(key, source):
            return value
    if rule.default:
        return rule.default[0]
    keys = ", ".join(str(k) for k, _ in rule.table)
    problems.append(
        f"follow: {rule.target}: no value for {rule.source} {shown(source)} (values has {keys}); "
        "add it, or give a default:"
    )
    return None


def _same(key, value) -> bool:
    """A table key matches a value when equal (booleans only to booleans) or written alike."""
    if isinstance(key, bool) != isinstance(value, bool):
        return False
    return key == value or str(key).strip() == str(value).strip()


def _default(name):
    """A setting's default value (what a follower copies when nothing sets the source)."""
    from ..config.settings import to_dict

    defaults, _ = from_dict_lenient({})
    return to_dict(defaults)[name]


def _setting(name, where, problems):
    """The SettingInfo of a setting name, or None after reporting an unknown name."""
    infos = schema_by_name()
    info = infos.get(name) if isinstance(name, str) else None
    if info is None:
        close = difflib.get_close_matches(str(name), list(infos), n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]!r}?" if close else "; see the settings table"
        problems.append(f"{where}: {shown(name)} is not a setting{hint}")
    return info


def _check_values(name, values, where, problems) -> bool:
    """Report every value a setting refuses; True when one was refused."""
    info = schema_by_name()[name]
    bad = False
    for value in values:
        try:
            coerce(info, value)
        except ValueError as e:
            problems.append(f"{where}: {e}")
            bad = True
    return bad
