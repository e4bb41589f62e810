"""PyTTI's scene and prompt grammar, parsed into frozen dataclasses (pure, no torch).

Scenes (setting `scenes`, with `scene_prefix` / `scene_suffix`):
    SCENES  = SCENE ( "||" SCENE )*          scenes run one after another
    full    = prefix + SCENE + suffix        for every SCENE with a prompt of its own
    prompts = stripped non-empty parts of full.split("|")

One prompt:
    PROMPT     = TEXT [ ":" WEIGHTPART [ ":" STOP ] ]
    WEIGHTPART = WEIGHT [ "_" MASK [ "_" CUTOFF ] ]
    TEXT       = words to CLIP-encode | "[" path-or-url "]" (an image prompt)
    MASK       = a | r | l | u | d | n | f   (all/right/left/up/down/near/far; CUTOFF
                                              defaults to 0.5 for these)
               | "[" file "]"  | "[-" file "]" (image mask; '-' inverts; a video
                                               extension such as .mp4 makes a video mask)
               | any other text              (a semantic mask: CLIP-encoded text)
    WEIGHT, STOP, CUTOFF = time values (schedules.py): a number, an expression of t
               like sin(t)*2, or a keyframe schedule IN BRACES, {FRAME:(VALUE), ...}:
               castle:{0:(1), 30:(3)}:0.8  ramps the weight from 1 to 3 over frames 0-30.
Defaults: WEIGHT 1, STOP -inf, MASK a, CUTOFF not given (None; PyTTI's sentinel
0.5000873264). A negative weight pushes the image away from the prompt.

Splitting: ':' splits at most 3 fields and '_' (in WEIGHTPART only) at most 3 fields,
never inside [ ], { } or ( ). PyTTI protects only [ ]; protecting ( ) and { } too keeps
schedules and expressions whole, e.g. castle:(10*fHi_prev) for an audio variable.
TEXT keeps its underscores. A colon in text or a URL must sit inside [ ].

Direct image prompts (setting `direct_image_prompts`): "|"-separated
    PATH [ ":" WEIGHT [ "_" MASK ] [ ":" STOP ] ]
PATH may be a URL (the ':' of "scheme://" is not a separator) or "[path]"; MASK is an
image or video path with an optional '-' to invert; there is no CUTOFF.

Errors: malformed input raises PromptError quoting the prompt and pointing at the bad
field; a bad WEIGHT/STOP/CUTOFF expression is re-raised as PromptError (chained to the
ExpressionError). Errors while *evaluating* a time value later are ExpressionError, and
name the prompt and field.
"""

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import pairwise

from pytti_nb.errors import ExpressionError, PromptError
from pytti_nb.schedules import Constant, TimeValue, parse_time_value

CUTOFF_NOT_GIVEN = 0.5000873264  # PyTTI's sentinel; here a Mask's cutoff is None instead
LETTER_MASK_CUTOFF = 0.5  # what letter masks (r l u d n f) use when no CUTOFF is given
LETTER_MASKS = {
    "a": "all",
    "r": "right",
    "l": "left",
    "u": "up",
    "d": "down",
    "n": "near",
    "f": "far",
}
MASK_KINDS = (*LETTER_MASKS.values(), "image", "video", "semantic")
VIDEO_EXTENSIONS = (".mp4", ".mov", ".avi", ".webm", ".mkv", ".m4v")
_PAIRS = {")": "(", "]": "[", "}": "{"}
_URL_COLON = re.compile(r"(?:^|[\s_:\[])[A-Za-z][A-Za-z0-9+.\-]*$")  # 'https' before '://'
_DRIVE_COLON = re.compile(r"(?:^|[\s_:\[])[A-Za-z]$")  # 'C' before ':\' or ':/'


@dataclass(frozen=True)
class Mask:
    """Which cutouts a prompt applies to; see the module docstring for the MASK forms."""

    kind: str = "all"
    cutoff: TimeValue | None = None  # None: not given (letter masks then use 0.5)
    path: str | None = None  # image/video masks
    inverted: bool = False  # image/video masks written [-path]
    text: str | None = None  # semantic masks


ALL = Mask()
DEFAULT_WEIGHT = Constant(1.0, "1")
DEFAULT_STOP = Constant(-math.inf, "-inf")


@dataclass(frozen=True)
class Prompt:
    """One semantic prompt: a text or an image, with weight, stop and mask."""

    source: str  # the prompt as written (stripped)
    text: str | None = None  # text prompts
    image: str | None = None  # image prompts: the path or URL inside [ ]
    weight: TimeValue = DEFAULT_WEIGHT
    stop: TimeValue = DEFAULT_STOP
    mask: Mask = ALL


@dataclass(frozen=True)
class Scene:
    """The prompts active together for one stretch of steps_per_scene steps."""

    index: int  # 0-based among the kept scenes
    source: str  # the scene as written, without prefix/suffix
    prompts: tuple[Prompt, ...]


@dataclass(frozen=True)
class DirectImagePrompt:
    """A pixel/latent-space target image with weight, stop and optional image mask."""

    source: str
    path: str
    weight: TimeValue = DEFAULT_WEIGHT
    stop: TimeValue = DEFAULT_STOP
    mask: Mask = ALL


@dataclass(frozen=True)
class TargetWeight:
    """A weight setting in PyTTI's prompt form (init and stabilisation weights)."""

    source: str
    weight: TimeValue = DEFAULT_WEIGHT
    stop: TimeValue = DEFAULT_STOP
    mask: Mask = ALL


def _error(source: str, problem: str, pos: int | None = None) -> PromptError:
    """Build a PromptError quoting the prompt, with a caret under `pos` when it helps."""
    message = f"prompt {source!r}: {problem}"
    if pos is not None and "\n" not in source and len(source) <= 160:
        message += f"\n  {source}\n  {' ' * pos}^"
    return PromptError(message)


def _top_level(source: str, sep: str, start: int = 0, end: int | None = None) -> list[int]:
    """Positions of `sep` in source[start:end] outside [ ] { } ( ); checks bracket balance.

    Inside [ ] (paths, URLs) only [ and ] count, as in PyTTI.
    """
    stack: list[tuple[str, int]] = []
    hits = []
    for i in range(start, len(source) if end is None else end):
        ch = source[i]
        if stack and stack[-1][0] == "[" and ch not in "[]":
            continue
        if ch in "([{":
            stack.append((ch, i))
        elif ch in _PAIRS:
            if not stack or stack[-1][0] != _PAIRS[ch]:
                raise _error(source, f"unbalanced {ch!r}: no matching {_PAIRS[ch]!r} before it", i)
            stack.pop()
        elif ch == sep and not stack:
            hits.append(i)
    if stack:
        ch, i = stack[-1]
        raise _error(source, f"unbalanced {ch!r}: it is never closed", i)
    return hits


def _fields(source: str, cuts: list[int], start: int, end: int) -> list[tuple[int, str]]:
    """Cut source[start:end] at `cuts`; returns (offset, stripped text) per field."""
    bounds = [start - 1, *cuts, end]
    fields = []
    for a, b in pairwise(bounds):
        raw = source[a + 1 : b]
        fields.append((a + 1 + len(raw) - len(raw.lstrip()), raw.strip()))
    return fields


def _time_value(source: str, field: str, text: str, names: Iterable[str]) -> TimeValue:
    """Parse one WEIGHT/STOP/CUTOFF field; expression errors become PromptError."""
    try:
        return parse_time_value(text, names=names, where=f"prompt {source!r}, {field}")
    except ExpressionError as err:
        raise PromptError(str(err)) from err


def _bracketed(text: str) -> str | None:
    """Return the inside of `[...]` when the whole text is one bracket pair, else None."""
    if not (text.startswith("[") and text.endswith("]")):
        return None
    depth = 0
    for i, ch in enumerate(text):
        depth += {"[": 1, "]": -1}.get(ch, 0)
        if depth == 0:
            return text[1:-1].strip() if i == len(text) - 1 else None
    return None


def _file_mask(source: str, path_text: str, pos: int) -> Mask:
    """An image or video mask from a path with optional leading '-' (inverted)."""
    inverted = path_text.startswith("-")
    path = path_text[1:].strip() if inverted else path_text
    if not path:
        raise _error(source, "MASK names no file; write e.g. [mask.png] or [-mask.png]", pos)
    kind = "video" if path.lower().endswith(VIDEO_EXTENSIONS) else "image"
    return Mask(kind=kind, path=path, inverted=inverted)


def _parse_mask(source: str, text: str, pos: int, cutoff: TimeValue | None) -> Mask:
    """Parse the MASK field (letter, [file], [-file], or semantic text)."""
    if text in LETTER_MASKS:
        return Mask(kind=LETTER_MASKS[text], cutoff=cutoff)
    inner = _bracketed(text)
    if inner is not None:
        mask = _file_mask(source, inner, pos)
        return Mask(kind=mask.kind, cutoff=cutoff, path=mask.path, inverted=mask.inverted)
    return Mask(kind="semantic", cutoff=cutoff, text=text)


def parse_prompt(text: str, *, names: Iterable[str] = ("t",)) -> Prompt:
    """Parse one prompt `TEXT:WEIGHT_MASK_CUTOFF:STOP`; raises PromptError."""
    if not isinstance(text, str):
        raise PromptError(f"a prompt must be a string, got {text!r}")
    source = text.strip()
    if not source:
        raise PromptError("prompt is empty; write e.g. 'a castle:2'")
    if "|" in source:
        raise _error(
            source,
            "contains '|', which separates prompts; split scenes with parse_scenes",
            source.index("|"),
        )
    colons = _top_level(source, ":")
    if len(colons) > 2:
        raise _error(
            source,
            "too many ':' fields (TEXT:WEIGHT_MASK_CUTOFF:STOP); protect colons inside "
            "[ ] and write keyframe schedules in braces, e.g. castle:{0:(1), 30:(3)}",
            colons[2],
        )
    fields = _fields(source, colons, 0, len(source))
    names = tuple(names)
    prompt_text, image = _parse_text(source, fields[0][1])
    weight, mask = DEFAULT_WEIGHT, ALL
    if len(fields) > 1:
        weight, mask = _parse_weight_part(source, fields[1], colons, names)
    stop = _stop(source, fields[2], names) if len(fields) > 2 else DEFAULT_STOP
    return Prompt(source=source, text=prompt_text, image=image, weight=weight, stop=stop, mask=mask)


def _parse_text(source: str, text: str) -> tuple[str | None, str | None]:
    """Return (text, None) for a text prompt or (None, path) for an image prompt."""
    if not text:
        raise _error(source, "TEXT is empty; a prompt starts with words or [image path]", 0)
    path = _bracketed(text)
    if path is None:
        return text, None
    if not path:
        raise _error(source, "image prompt [] names no image; write e.g. [photo.png]", 0)
    return None, path


def _parse_weight_part(
    source: str, field: tuple[int, str], colons: list[int], names: tuple
) -> tuple[TimeValue, Mask]:
    """Parse WEIGHT[_MASK[_CUTOFF]] into (weight, mask)."""
    pos, text = field
    if not text:
        raise _error(source, "WEIGHT is empty; give a number or drop the ':'", colons[0] + 1)
    cuts = _top_level(source, "_", pos, pos + len(text))
    if len(cuts) > 2:
        raise _error(
            source,
            "too many '_' fields in WEIGHT_MASK_CUTOFF; wrap expressions that contain '_' "
            "in ( ) and file names in [ ]",
            cuts[2],
        )
    parts = _fields(source, cuts, pos, pos + len(text))
    for (part_pos, part), label in zip(parts, ("WEIGHT", "MASK", "CUTOFF"), strict=False):
        if not part:
            raise _error(source, f"{label} is empty; give a value or drop the '_'", part_pos)
    weight = _time_value(source, "WEIGHT", parts[0][1], names)
    if len(parts) == 1:
        return weight, ALL
    cutoff = _time_value(source, "CUTOFF", parts[2][1], names) if len(parts) > 2 else None
    return weight, _parse_mask(source, parts[1][1], parts[1][0], cutoff)


def parse_scenes(
    scenes: str, prefix: str = "", suffix: str = "", *, names: Iterable[str] = ("t",)
) -> tuple[Scene, ...]:
    """Split `scenes` on '||' and '|' (adding prefix/suffix) and parse every prompt."""
    for label, value in (("scenes", scenes), ("scene_prefix", prefix), ("scene_suffix", suffix)):
        if not isinstance(value, str):
            raise PromptError(f"{label} must be a string, got {value!r}")
    names = tuple(names)
    result = []
    for scene in scenes.split("||"):
        if not scene.replace("|", "").strip():
            continue  # an empty scene (or only separators) is dropped, as in PyTTI
        full = prefix + scene + suffix
        prompts = tuple(parse_prompt(p, names=names) for p in full.split("|") if p.strip())
        result.append(Scene(index=len(result), source=scene.strip(), prompts=prompts))
    if not result:
        raise PromptError(
            f"scenes is empty ({scenes!r}); give at least one prompt, e.g. "
            "'a castle:2 | blue sky:0.5', with '||' between scenes"
        )
    return tuple(result)


def parse_direct_image_prompts(
    text: str, *, names: Iterable[str] = ("t",)
) -> tuple[DirectImagePrompt, ...]:
    """Parse the `direct_image_prompts` setting ('|'-separated PATH:WEIGHT_MASK:STOP)."""
    if not isinstance(text, str):
        raise PromptError(f"direct_image_prompts must be a string, got {text!r}")
    names = tuple(names)
    return tuple(_parse_direct(p.strip(), names) for p in text.split("|") if p.strip())


def _separator_colons(source: str) -> list[int]:
    """Top-level ':' positions, skipping those of 'scheme://' URLs and 'C:\\' drives."""
    cuts = []
    for i in _top_level(source, ":"):
        before, after = source[:i], source[i + 1 : i + 3]
        if after == "//" and _URL_COLON.search(before):
            continue
        if after[:1] in ("\\", "/") and _DRIVE_COLON.search(before):
            continue
        cuts.append(i)
    return cuts


def _parse_direct(source: str, names: tuple) -> DirectImagePrompt:
    """Parse one direct image prompt."""
    colons = _separator_colons(source)
    if len(colons) > 2:
        raise _error(
            source, "too many ':' fields (PATH:WEIGHT_MASK:STOP); put the path in [ ]", colons[2]
        )
    fields = _fields(source, colons, 0, len(source))
    path_pos, path = fields[0]
    path = _bracketed(path) if _bracketed(path) is not None else path
    if not path:
        raise _error(source, "PATH is empty; give an image path or URL", path_pos)
    weight, mask = DEFAULT_WEIGHT, ALL
    if len(fields) > 1:
        weight, mask = _pixel_weight_part(source, fields[1], names)
    stop = _stop(source, fields[2], names) if len(fields) > 2 else DEFAULT_STOP
    return DirectImagePrompt(source=source, path=path, weight=weight, stop=stop, mask=mask)


def parse_target_weight(text: str, *, pixel: bool, names: Iterable[str] = ("t",)) -> TargetWeight:
    """Parse a weight setting written as PyTTI writes them: WEIGHT[_MASK][:STOP].

    `direct_init_weight: 1:-0.5` is weight 1 with stop -0.5, as in PyTTI. A keyframe schedule
    is written in braces ({0:(1), 30:(3)}); one without braces is recognised by its top-level
    ',' (0:(1), 30:(3)), which WEIGHT:STOP never has. Pixel losses (pixel=True) take an image
    or video MASK, bracketed or not ('1_[mask.png]', '1_mask.mp4'); CLIP losses take every
    mask of the prompt grammar. Empty text means off (weight 0), as in PyTTI.
    """
    if not isinstance(text, str):
        text = str(text)
    source, names = text.strip(), tuple(names)
    try:
        return _parse_target_weight(source, pixel, names)
    except PromptError as e:
        # the helpers speak of prompts; this text is a weight setting
        message = str(e)
        prefix = f"prompt {source!r}"
        if message.startswith(prefix):
            message = f"weight {source!r}" + message[len(prefix) :]
        raise PromptError(message) from e


def _parse_target_weight(source: str, pixel: bool, names: tuple) -> TargetWeight:
    """parse_target_weight without the message rewording."""
    if not source:
        return TargetWeight(source, weight=Constant(0.0, "0"))
    if not source.startswith("{") and _top_level(source, ":") and _top_level(source, ","):
        schedule = _time_value(source, "WEIGHT", "{" + source + "}", names)
        return TargetWeight(source, weight=schedule)
    colons = _top_level(source, ":")
    if len(colons) > 1:
        raise _error(
            source,
            "too many ':' fields (WEIGHT_MASK:STOP); write a keyframe schedule in braces, "
            "e.g. {0:(1), 30:(3)}",
            colons[1],
        )
    fields = _fields(source, colons, 0, len(source))
    if pixel:
        weight, mask = _pixel_weight_part(source, fields[0], names)
    else:
        weight, mask = _parse_weight_part(source, fields[0], [-1], names)
    stop = _stop(source, fields[1], names) if len(fields) > 1 else DEFAULT_STOP
    return TargetWeight(source, weight=weight, stop=stop, mask=mask)


def _stop(source: str, field: tuple[int, str], names: tuple) -> TimeValue:
    """The STOP field (the last ':' field) of a prompt, direct prompt or weight setting."""
    pos, stop_text = field
    if not stop_text:
        raise _error(source, "STOP is empty; give a number or drop the last ':'", pos)
    return _time_value(source, "STOP", stop_text, names)


def _pixel_weight_part(source: str, field: tuple[int, str], names: tuple):
    """WEIGHT[_MASKFILE] of a pixel loss: split at the first '_' only (there is no CUTOFF, and
    mask file names often contain '_')."""
    pos, part = field
    cuts = _top_level(source, "_", pos, pos + len(part))[:1]
    weight_text = source[pos : cuts[0]].strip() if cuts else part
    if not weight_text:
        raise _error(source, "WEIGHT is empty; give a number or drop the ':'", pos)
    weight = _time_value(source, "WEIGHT", weight_text, names)
    if not cuts:
        return weight, ALL
    mask_text = source[cuts[0] + 1 : pos + len(part)].strip()
    if not mask_text:
        raise _error(source, "MASK is empty; give an image path or drop the '_'", cuts[0])
    inner = _bracketed(mask_text)
    return weight, _file_mask(source, inner if inner is not None else mask_text, cuts[0] + 1)
