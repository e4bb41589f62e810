r"""PyTTI's scene and prompt grammar, parsed into frozen dataclasses (pure, no torch).

Scenes (setting `scenes`, with `scene_prefix` / `scene_suffix`), as PyTTI's parse_scenes:
    SCENES  = SCENE ( "||" SCENE )*          scenes run one after another
    full    = prefix + SCENE + suffix        for every SCENE that is not exactly "" (a
                                             whitespace-only SCENE is kept: it runs the
                                             prefix and suffix alone, or no prompt at all)
    prompts = stripped non-empty parts of full.split("|")

One prompt:
    PROMPT     = TEXT [ ":" WEIGHTPART [ ":" STOP ] ]
    WEIGHTPART = WEIGHT [ "_" MASK [ "_" CUTOFF ] ]
    TEXT       = words to CLIP-encode | "[" path-or-url "]" (an image prompt: TEXT starts
                 with '[' and ends with ']'; whatever is between is the path)
    MASK       = a | r | l | u | d | n | f   (all/right/left/up/down/near/far; CUTOFF
                                              defaults to 0.5 for these)
               | "[" file "]"  | "[-" file "]" (image mask; '-' inverts; a video
                                               extension such as .mp4 makes a video mask)
               | any other text              (a semantic mask: CLIP-encoded text)
    WEIGHT, STOP, CUTOFF = time values (schedules.py): a number, an expression of t
               like sin(t)*2, or a keyframe schedule IN BRACES, {FRAME:(VALUE), ...}:
               castle:{0:(1), 30:(3)}:0.8  ramps the weight from 1 to 3 over frames 0-30.
Defaults: WEIGHT 1, STOP -inf, MASK a, CUTOFF not given (None; PyTTI's sentinel
0.5000873264, which also means "not given" when written). A negative weight pushes the
image away from the prompt.

Splitting, two readings:
1. PyTTI's reading, exactly as Prompt.py's parse_prompt: re.split(r":(?![^\[]*\])",
   prompt, 2) then re.split(r"_(?![^\[]*\])", WEIGHTPART, 2). A ':' or '_' is protected
   only when a ']' follows it before any '['; the last field keeps any further separators
   (cat:1_r_fHi_prev has CUTOFF fHi_prev). Brackets need not balance: 'a (cat:2' is the
   text 'a (cat' with weight 2.
2. Our reading, which also protects separators inside ( ) and { } pairs, keeps
   schedules and expressions whole (castle:{0:(1), 30:(3)}, castle:(10*fHi_prev)).
PyTTI's reading wins whenever every field PyTTI would eval() (WEIGHT, CUTOFF, STOP) is
valid Python syntax; only when one is not (so PyTTI can never run the prompt) is our
reading used. Our reading needs balanced ( ) { } [ ] and at most 3 fields of each kind,
which is where its errors come from. So a prompt PyTTI runs parses to PyTTI's fields.

Direct image prompts (setting `direct_image_prompts`): "|"-separated
    PATH [ ":" WEIGHT [ "_" MASK ] [ ":" STOP ] ]
PyTTI's reading is MSELoss.TargetImage's: split ':' by r"(?<!^http)(?<!s):|:(?!/)" (so
'https://' and a leading 'http://' are kept), then WEIGHT_MASK at its first '_'. Our
reading (used as above) also keeps any 'scheme://' and drive-letter ('C:') colons and protects
[ ] ( ) { }. PATH may be "[path]"; MASK is an image or video path, bracketed or not, with
an optional '-' to invert; there is no CUTOFF.

Weight settings (init and stabilisation weights, parse_target_weight) are what PyTTI
appends to a prompt: "stabilization:" + text for CLIP losses (WEIGHT_MASK_CUTOFF:STOP),
"direct stabilization:" + text for pixel losses (WEIGHT_MASKFILE:STOP), read the same
two ways. Our reading also takes a keyframe schedule without braces, recognised by a
top-level ',' (0:(1), 30:(3)); PyTTI cannot run such text (its STOP '(1), 30:(3)' is a
syntax error), while '1:-0.5' is PyTTI's weight 1, stop -0.5.

Errors: malformed input raises PromptError quoting the prompt and pointing at the bad
field; a bad WEIGHT/STOP/CUTOFF expression is re-raised as PromptError (chained to the
ExpressionError). Errors while *evaluating* a time value later are ExpressionError, and
name the prompt and field.
"""

import ast
import enum
import math
import re
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import pairwise
from types import MappingProxyType

from pytti_nb.errors import ExpressionError, PromptError, shown
from pytti_nb.lang.schedules import Constant, TimeValue, parse_time_value

CUTOFF_NOT_GIVEN = 0.5000873264  # PyTTI's sentinel; here a Mask's cutoff is None instead
LETTER_MASK_CUTOFF = 0.5  # what position masks (r l u d n f) use when no CUTOFF is given


class MaskKind(str, enum.Enum):
    """What a prompt's MASK is; a position kind knows the cutout measure it gates."""

    ALL = "all"
    RIGHT = "right"
    LEFT = "left"
    UP = "up"
    DOWN = "down"
    NEAR = "near"
    FAR = "far"
    IMAGE = "image"
    VIDEO = "video"
    SEMANTIC = "semantic"

    __str__ = str.__str__

    @property
    def is_file(self) -> bool:
        """An image or a video mask (its pixels weight the cutouts)."""
        return self in (MaskKind.IMAGE, MaskKind.VIDEO)

    @property
    def gate(self) -> tuple[int, bool]:
        """A position kind's (measure, inside when above): measure 0 is the cutout centre's x,
        1 its y (growing downward), 2 its size; a cutout equal to the cutoff is inside (PyTTI)."""
        return _POSITION_GATES[self]


_POSITION_GATES = MappingProxyType(
    {
        MaskKind.RIGHT: (0, True),
        MaskKind.LEFT: (0, False),
        MaskKind.UP: (1, False),
        MaskKind.DOWN: (1, True),
        MaskKind.NEAR: (2, True),
        MaskKind.FAR: (2, False),
    }
)
# PyTTI's mask letters (Perceptor/Prompt.py); 'a' is every cutout
LETTER_MASKS = MappingProxyType(
    {
        "a": MaskKind.ALL,
        "r": MaskKind.RIGHT,
        "l": MaskKind.LEFT,
        "u": MaskKind.UP,
        "d": MaskKind.DOWN,
        "n": MaskKind.NEAR,
        "f": MaskKind.FAR,
    }
)
VIDEO_EXTENSIONS = (".mp4", ".mov", ".avi", ".webm", ".mkv", ".m4v")
_PAIRS = {")": "(", "]": "[", "}": "{"}
MAX_SCENES = 1_000  # scenes of one run
MAX_PROMPTS = 2_000  # prompts of all scenes together (prefix and suffix counted in each)
MAX_QUOTED = 160  # characters of a prompt an error message quotes
# PyTTI's separators: Perceptor/Prompt.py parse_prompt, LossAug/MSELossClass.py TargetImage
_COLON = re.compile(r":(?![^\[]*\])")
_UNDERSCORE = re.compile(r"_(?![^\[]*\])")
_PIXEL_COLON = re.compile(r"(?<!^http)(?<!s):|:(?!/)")
_PIXEL_UNDERSCORE = re.compile("_")
# what PyTTI puts before a weight setting: a CLIP loss is the prompt f"stabilization:{w}",
# a pixel loss the direct prompt f"{kind} stabilization:{w}" (or f"... (init path):{w}")
_CLIP_WEIGHT_PREFIX = "stabilization:"
_PIXEL_WEIGHT_PREFIX = "direct stabilization:"
_URL_COLON = re.compile(r"(?:^|[\s_:\[])[A-Za-z][A-Za-z0-9+.\-]*$")  # 'https' before '://'
_DRIVE_COLON = re.compile(r"(?:^|[\s_:\[])[A-Za-z]$")  # 'C' before ':\' or ':/'


@dataclass(frozen=True)
class Mask:
    """Which cutouts a prompt applies to; see the module docstring for the MASK forms."""

    kind: MaskKind = MaskKind.ALL
    cutoff: TimeValue | None = None  # None: not given (letter masks then use 0.5)
    path: str | None = None  # image/video masks
    inverted: bool = False  # image/video masks written [-path]
    text: str | None = None  # semantic masks

    def __post_init__(self):
        object.__setattr__(self, "kind", MaskKind(self.kind))  # "image" and MaskKind.IMAGE alike


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
    message = f"prompt {_quoted(source)}: {problem}"
    if pos is not None and "\n" not in source and len(source) <= MAX_QUOTED:
        message += f"\n  {source}\n  {' ' * pos}^"
    return PromptError(message)


def _quoted(source: str) -> str:
    """A prompt as error messages quote it: whole when short, else shortened."""
    return shown(source, MAX_QUOTED + 2)


def _top_level(source: str, sep: str, start: int = 0, end: int | None = None) -> list[int]:
    """Positions of `sep` in source[start:end] outside [ ] { } ( ); checks bracket balance.

    Inside [ ] (paths, URLs) only [ and ] count.
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


def _matches(pattern: re.Pattern, source: str, start: int, end: int, most: int) -> list[int]:
    """Where PyTTI's re.split(pattern, source[start:end], most) cuts, as source positions."""
    return [start + m.start() for m in pattern.finditer(source[start:end])][:most]


def _raw_fields(source: str, cuts: list[int], start: int, end: int) -> list[tuple[int, str]]:
    """Cut source[start:end] at `cuts`; returns (offset, unstripped text) per field."""
    bounds = [start - 1, *cuts, end]
    return [(a + 1, source[a + 1 : b]) for a, b in pairwise(bounds)]


def _fields(source: str, cuts: list[int], start: int, end: int) -> list[tuple[int, str]]:
    """Cut source[start:end] at `cuts`; returns (offset, stripped text) per field."""
    return [
        (pos + len(raw) - len(raw.lstrip()), raw.strip())
        for pos, raw in _raw_fields(source, cuts, start, end)
    ]


def _weight_span(source: str, colons: list[int]) -> tuple[int, int]:
    """Start and end of the WEIGHTPART field (after the first ':')."""
    return colons[0] + 1, colons[1] if len(colons) > 1 else len(source)


def _python_syntax(text: str) -> bool:
    """Whether PyTTI's eval() could compile this field (eval drops leading spaces and tabs)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ast.parse(text.lstrip(" \t"), mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False
    return True


def _pytti_split(source: str, pixel: bool) -> tuple[list[int], list[int]]:
    """PyTTI's reading: the ':' cuts of a whole prompt and the '_' cuts of its WEIGHTPART."""
    colon, underscore, most = (
        (_PIXEL_COLON, _PIXEL_UNDERSCORE, 1) if pixel else (_COLON, _UNDERSCORE, 2)
    )
    colons = _matches(colon, source, 0, len(source), 2)
    if not colons:
        return colons, []
    return colons, _matches(underscore, source, *_weight_span(source, colons), most)


def _pytti_fields_compile(source: str, colons: list[int], underscores: list[int]) -> bool:
    """Whether every field PyTTI evaluates (WEIGHT, CUTOFF, STOP) is valid Python syntax."""
    evaluated = []
    if colons:
        parts = _raw_fields(source, underscores, *_weight_span(source, colons))
        evaluated += [parts[0][1]] + ([parts[2][1]] if len(parts) > 2 else [])
    if len(colons) > 1:
        evaluated.append(source[colons[1] + 1 :])
    return all(_python_syntax(text) for text in evaluated)


def _our_split(source: str, pixel: bool) -> tuple[list[int], list[int]]:
    """Our reading: separators inside balanced ( ) { } [ ] (and URL colons) are protected."""
    colons = _separator_colons(source) if pixel else _top_level(source, ":")
    if len(colons) > 2:
        hint = (
            "(PATH:WEIGHT_MASK:STOP); put the path in [ ]"
            if pixel
            else "(TEXT:WEIGHT_MASK_CUTOFF:STOP); protect colons inside [ ] and write keyframe "
            "schedules in braces, e.g. castle:{0:(1), 30:(3)}"
        )
        raise _error(source, f"too many ':' fields {hint}", colons[2])
    if not colons:
        return colons, []
    underscores = _top_level(source, "_", *_weight_span(source, colons))
    if pixel:
        return colons, underscores[:1]  # no CUTOFF; mask file names often contain '_'
    _check_underscores(source, underscores)
    return colons, underscores


def _check_underscores(source: str, underscores: list[int]) -> None:
    """Our reading allows WEIGHT_MASK_CUTOFF: at most two '_' cuts."""
    if len(underscores) > 2:
        raise _error(
            source,
            "too many '_' fields in WEIGHT_MASK_CUTOFF; wrap expressions that contain '_' "
            "in ( ) and file names in [ ]",
            underscores[2],
        )


def _reading(source: str, pixel: bool) -> tuple[list[int], list[int]]:
    """PyTTI's reading when PyTTI could run it, else ours (see the module docstring)."""
    colons, underscores = _pytti_split(source, pixel)
    if _pytti_fields_compile(source, colons, underscores):
        return colons, underscores
    return _our_split(source, pixel)


def _time_value(source: str, field: str, text: str, names: Iterable[str]) -> TimeValue:
    """Parse one WEIGHT/STOP/CUTOFF field; expression errors become PromptError."""
    try:
        return parse_time_value(text, names=names, where=f"prompt {_quoted(source)}, {field}")
    except ExpressionError as err:
        raise PromptError(str(err)) from err


def _bracketed(text: str) -> str | None:
    """The stripped inside of text when it starts with '[' and ends with ']' (PyTTI's test)."""
    if len(text) >= 2 and text[0] == "[" and text[-1] == "]":
        return text[1:-1].strip()
    return None


def _file_mask(source: str, path_text: str, pos: int) -> Mask:
    """An image or video mask from a path with optional leading '-' (inverted)."""
    inverted = path_text.startswith("-")
    path = path_text[1:].strip() if inverted else path_text
    if not path:
        raise _error(source, "MASK names no file; write e.g. [mask.png] or [-mask.png]", pos)
    kind = MaskKind.VIDEO if path.lower().endswith(VIDEO_EXTENSIONS) else MaskKind.IMAGE
    return Mask(kind=kind, path=path, inverted=inverted)


def _parse_mask(source: str, text: str, pos: int, cutoff: TimeValue | None) -> Mask:
    """Parse the MASK field (letter, [file], [-file], or semantic text)."""
    if text in LETTER_MASKS:
        return Mask(kind=LETTER_MASKS[text], cutoff=cutoff)
    inner = _bracketed(text)
    if inner is not None:
        mask = _file_mask(source, inner, pos)
        return Mask(kind=mask.kind, cutoff=cutoff, path=mask.path, inverted=mask.inverted)
    return Mask(kind=MaskKind.SEMANTIC, cutoff=cutoff, text=text)


def parse_prompt(text: str, *, names: Iterable[str] = ("t",)) -> Prompt:
    """Parse one prompt `TEXT:WEIGHT_MASK_CUTOFF:STOP`; raises PromptError."""
    if not isinstance(text, str):
        raise PromptError(f"a prompt must be a string, got {shown(text)}")
    source = text.strip()
    if not source:
        raise PromptError("prompt is empty; write e.g. 'a castle:2'")
    if "|" in source:
        raise _error(
            source,
            "contains '|', which separates prompts; split scenes with parse_scenes",
            source.index("|"),
        )
    colons, underscores = _reading(source, pixel=False)
    fields = _fields(source, colons, 0, len(source))
    names = tuple(names)
    prompt_text, image = _parse_text(source, fields[0][1])
    weight, mask = DEFAULT_WEIGHT, ALL
    if colons:
        span = _weight_span(source, colons)
        weight, mask = _parse_weight_part(source, span, underscores, names)
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


def _parts(source: str, span: tuple[int, int], cuts: list[int], labels) -> list[tuple[int, str]]:
    """The '_' fields of WEIGHTPART, each checked non-empty."""
    parts = _fields(source, cuts, *span)
    if not parts[0][1] and len(parts) == 1:
        raise _error(source, "WEIGHT is empty; give a number or drop the ':'", parts[0][0])
    for (pos, part), label in zip(parts, labels, strict=False):
        if not part:
            raise _error(source, f"{label} is empty; give a value or drop the '_'", pos)
    return parts


def _parse_weight_part(
    source: str, span: tuple[int, int], cuts: list[int], names: tuple
) -> tuple[TimeValue, Mask]:
    """Parse WEIGHT[_MASK[_CUTOFF]] into (weight, mask)."""
    parts = _parts(source, span, cuts, ("WEIGHT", "MASK", "CUTOFF"))
    weight = _time_value(source, "WEIGHT", parts[0][1], names)
    if len(parts) == 1:
        return weight, ALL
    cutoff = _cutoff(source, parts[2][1], names) if len(parts) > 2 else None
    return weight, _parse_mask(source, parts[1][1], parts[1][0], cutoff)


def _cutoff(source: str, text: str, names: tuple) -> TimeValue | None:
    """The CUTOFF field; PyTTI's sentinel value written out means 'not given', as there."""
    cutoff = _time_value(source, "CUTOFF", text, names)
    if cutoff.is_constant and cutoff(0.0) == CUTOFF_NOT_GIVEN:
        return None
    return cutoff


def parse_scenes(
    scenes: str, prefix: str = "", suffix: str = "", *, names: Iterable[str] = ("t",)
) -> tuple[Scene, ...]:
    """Split `scenes` on '||' and '|' (adding prefix/suffix) and parse every prompt."""
    for label, value in (("scenes", scenes), ("scene_prefix", prefix), ("scene_suffix", suffix)):
        if not isinstance(value, str):
            raise PromptError(f"{label} must be a string, got {shown(value)}")
    names = tuple(names)
    _check_counts(scenes, prefix, suffix)
    result = []
    for scene in scenes.split("||"):
        if not scene:
            continue  # as PyTTI: only exactly empty scenes are dropped, ' ' is a scene
        full = prefix + scene + suffix
        prompts = tuple(parse_prompt(p, names=names) for p in full.split("|") if p.strip())
        result.append(Scene(index=len(result), source=scene.strip(), prompts=prompts))
    if not result:
        raise PromptError(
            f"scenes is empty ({shown(scenes)}); give at least one prompt, e.g. "
            "'a castle:2 | blue sky:0.5', with '||' between scenes"
        )
    return tuple(result)


def _check_counts(scenes: str, prefix: str, suffix: str) -> None:
    """Raise PromptError when there are more scenes or prompts than a run can take (counted
    before any is parsed, so a huge list is refused at once)."""
    count = sum(1 for scene in scenes.split("||") if scene)
    if count > MAX_SCENES:
        raise PromptError(
            f"scenes has {count} scenes; at most {MAX_SCENES} (scenes are separated by ||)"
        )
    extra = sum(1 for p in (prefix + suffix).split("|") if p.strip())
    prompts = sum(
        sum(1 for p in scene.split("|") if p.strip()) + extra
        for scene in scenes.split("||")
        if scene
    )
    if prompts > MAX_PROMPTS:
        raise PromptError(
            f"scenes has {prompts} prompts in all (scene_prefix and scene_suffix count in every "
            f"scene); at most {MAX_PROMPTS}"
        )


def parse_direct_image_prompts(
    text: str, *, names: Iterable[str] = ("t",)
) -> tuple[DirectImagePrompt, ...]:
    """Parse the `direct_image_prompts` setting ('|'-separated PATH:WEIGHT_MASK:STOP)."""
    if not isinstance(text, str):
        raise PromptError(f"direct_image_prompts must be a string, got {shown(text)}")
    names = tuple(names)
    parts = [p.strip() for p in text.split("|") if p.strip()]
    if len(parts) > MAX_PROMPTS:
        raise PromptError(f"direct_image_prompts has {len(parts)} entries; at most {MAX_PROMPTS}")
    return tuple(_parse_direct(p, names) for p in parts)


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
    colons, underscores = _reading(source, pixel=True)
    fields = _fields(source, colons, 0, len(source))
    path_pos, path = fields[0]
    inner = _bracketed(path)
    path = inner if inner is not None else path
    if not path:
        raise _error(source, "PATH is empty; give an image path or URL", path_pos)
    weight, mask = DEFAULT_WEIGHT, ALL
    if colons:
        weight, mask = _pixel_weight_part(source, _weight_span(source, colons), underscores, names)
    stop = _stop(source, fields[2], names) if len(fields) > 2 else DEFAULT_STOP
    return DirectImagePrompt(source=source, path=path, weight=weight, stop=stop, mask=mask)


def parse_target_weight(text: str, *, pixel: bool, names: Iterable[str] = ("t",)) -> TargetWeight:
    """Parse a weight setting as PyTTI does: WEIGHT[_MASK][:STOP] (see the module docstring).

    `direct_init_weight: 1:-0.5` is weight 1 with stop -0.5, as in PyTTI. A keyframe schedule
    is written in braces ({0:(1), 30:(3)}) or without them (0:(1), 30:(3), which PyTTI cannot
    run). Pixel losses (pixel=True) take an image or video MASK, bracketed or not
    ('1_[mask.png]', '1_mask.mp4'); CLIP losses take every mask of the prompt grammar.
    Empty text means off (weight 0), as in PyTTI.
    """
    if not isinstance(text, str):
        text = str(text)
    source, names = text.strip(), tuple(names)
    try:
        return _parse_target_weight(source, pixel, names)
    except PromptError as e:
        # the helpers speak of prompts; this text is a weight setting
        message = str(e)
        prefix = f"prompt {_quoted(source)}"
        if message.startswith(prefix):
            message = f"weight {_quoted(source)}" + message[len(prefix) :]
        raise PromptError(message) from e


def _parse_target_weight(source: str, pixel: bool, names: tuple) -> TargetWeight:
    """parse_target_weight without the message rewording."""
    if not source:
        return TargetWeight(source, weight=Constant(0.0, "0"))
    reading = _pytti_weight_reading(source, pixel)
    if reading is None and _bare_schedule(source):
        return TargetWeight(source, weight=_time_value(source, "WEIGHT", "{" + source + "}", names))
    colons, underscores = reading if reading is not None else _our_weight_split(source, pixel)
    span = (0, colons[0] if colons else len(source))
    if pixel:
        weight, mask = _pixel_weight_part(source, span, underscores, names)
    else:
        weight, mask = _parse_weight_part(source, span, underscores, names)
    stop = DEFAULT_STOP
    if colons:
        stop = _stop(source, _fields(source, colons, 0, len(source))[1], names)
    return TargetWeight(source, weight=weight, stop=stop, mask=mask)


def _pytti_weight_reading(source: str, pixel: bool) -> tuple[list[int], list[int]] | None:
    """PyTTI's reading of prefix + weight text, as cuts in the text; None if PyTTI can't run it."""
    prefix = _PIXEL_WEIGHT_PREFIX if pixel else _CLIP_WEIGHT_PREFIX
    full = prefix + source
    colons, underscores = _pytti_split(full, pixel)
    # a ']' before any '[' hides PyTTI's separator colon: it would ignore the whole setting
    if colons[:1] != [len(prefix) - 1] or not _pytti_fields_compile(full, colons, underscores):
        return None
    shift = len(prefix)
    return [c - shift for c in colons[1:]], [u - shift for u in underscores]


def _bare_schedule(source: str) -> bool:
    """A keyframe schedule without braces: a top-level ':' and a top-level ','."""
    return (
        not source.startswith("{")
        and bool(_top_level(source, ":"))
        and bool(_top_level(source, ","))
    )


def _our_weight_split(source: str, pixel: bool) -> tuple[list[int], list[int]]:
    """Our reading of WEIGHT_MASK:STOP (see _our_split)."""
    colons = _separator_colons(source) if pixel else _top_level(source, ":")
    if len(colons) > 1:
        raise _error(
            source,
            "too many ':' fields (WEIGHT_MASK:STOP); write a keyframe schedule in braces, "
            "e.g. {0:(1), 30:(3)}",
            colons[1],
        )
    underscores = _top_level(source, "_", 0, colons[0] if colons else len(source))
    if pixel:
        return colons, underscores[:1]
    _check_underscores(source, underscores)
    return colons, underscores


def _stop(source: str, field: tuple[int, str], names: tuple) -> TimeValue:
    """The STOP field (the last ':' field) of a prompt, direct prompt or weight setting."""
    pos, stop_text = field
    if not stop_text:
        raise _error(source, "STOP is empty; give a number or drop the last ':'", pos)
    return _time_value(source, "STOP", stop_text, names)


def _pixel_weight_part(source: str, span: tuple[int, int], cuts: list[int], names: tuple):
    """WEIGHT[_MASKFILE] of a pixel loss: there is no CUTOFF, MASKFILE may be in [ ], and an
    empty MASKFILE is no mask (as PyTTI's set_mask)."""
    parts = _parts(source, span, cuts, ("WEIGHT",))
    weight = _time_value(source, "WEIGHT", parts[0][1], names)
    if len(parts) == 1 or not parts[1][1]:
        return weight, ALL
    mask_pos, mask_text = parts[1]
    inner = _bracketed(mask_text)
    return weight, _file_mask(source, inner if inner is not None else mask_text, mask_pos)
