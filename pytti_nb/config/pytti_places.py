"""Where a converted PyTTI file uses a feature: the places (prompts, settings) the departures'
predicates name in the import report. Nothing here fails: what does not parse is left out (the
plan reports it)."""

from functools import cached_property

from ..errors import PyttiError, shown
from ..lang.prompts import MaskKind
from .schema import MOTION_KINDS, TIME_KINDS, WEIGHT_KINDS, Settings, schema
from .variables import expression_names

DEPTH_NAMES = ("r", "R", "mu")  # 3D motion's depth range (animation.motion's names)
POSITION_MASKS = frozenset(
    {MaskKind.RIGHT, MaskKind.LEFT, MaskKind.UP, MaskKind.DOWN, MaskKind.NEAR, MaskKind.FAR}
)
QUOTE = 48  # characters of a prompt or value a place quotes


class Places:
    """A converted file's prompts, weight settings and time values, parsed once, and queries
    naming where each is used: 'scenes prompt 'sky:2_u'', 'setting rotate_2d '20*fLo''."""

    def __init__(self, settings: Settings):
        self.s = settings
        self.bands = expression_names(settings.input_audio_filters)[1:]  # fLo ..., fLo_prev ...

    @cached_property
    def _values(self) -> dict:
        """Every setting's value, for the schema's visibility rules."""
        return vars(self.s)

    def in_force(self, name: str) -> bool:
        """Whether a setting applies to this run (its schema's visible_when holds)."""
        return _INFO[name].visible(self._values)

    @cached_property
    def prompts(self) -> tuple:
        """(place, Prompt) of every prompt of every scene."""
        from ..lang.prompts import parse_scenes

        s = self.s
        scenes = _quiet(parse_scenes, s.scenes, s.scene_prefix, s.scene_suffix, names=self._names)
        return tuple(
            (f"scenes prompt {_q(p.source)}", p) for sc in scenes or () for p in sc.prompts
        )

    @cached_property
    def direct(self) -> tuple:
        """(place, DirectImagePrompt) of every direct image prompt."""
        from ..lang.prompts import parse_direct_image_prompts

        found = _quiet(parse_direct_image_prompts, self.s.direct_image_prompts, names=self._names)
        return tuple((f"direct_image_prompts {_q(d.source)}", d) for d in found or ())

    @cached_property
    def weights(self) -> dict:
        """Setting name -> (place, TargetWeight) of every weight setting in force and not 0."""
        from ..lang.prompts import parse_target_weight

        out = {}
        for info in schema():
            if info.kind in WEIGHT_KINDS and self.in_force(info.name):
                text = getattr(self.s, info.name)
                pixel = info.kind == "pixel_weight"
                w = _quiet(parse_target_weight, text, pixel=pixel, names=self._names)
                if w is not None and not w.weight.is_zero:
                    out[info.name] = (f"{info.name} {_q(text)}", w)
        return out

    def on(self, name: str) -> bool:
        """Whether a weight setting is in force and not 0."""
        return name in self.weights

    @cached_property
    def values(self) -> tuple:
        """(place, TimeValue) of every time value: prompts' and weights' weights, stops and
        cutoffs, and the schedule and motion settings in force."""
        out = []
        for place, p in (*self.prompts, *self.direct, *self.weights.values()):
            out += [(place, p.weight), (place, p.stop)]
            if p.mask.cutoff is not None:
                out.append((place, p.mask.cutoff))
        for info in schema():
            if info.kind in TIME_KINDS + MOTION_KINDS and self.in_force(info.name):
                out += [
                    (f"{info.name} {_q(getattr(self.s, info.name))}", v) for v in self._parsed(info)
                ]
        return tuple(out)

    def using(self, names) -> list[str]:
        """The places whose expressions read any of these names."""
        names = frozenset(names)
        return _unique(place for place, v in self.values if v.names_used & names)

    def masked(self, kinds, *, clip=True, pixel=True, inverted=None) -> list[str]:
        """The places with a mask of these kinds: prompts and CLIP weight settings (clip),
        direct prompts and pixel weight settings (pixel); `inverted` True or False picks."""
        found = []
        if clip:
            found += self.prompts
            found += [
                (pl, w) for n, (pl, w) in self.weights.items() if _INFO[n].kind == "clip_weight"
            ]
        if pixel:
            found += self.direct
            found += [
                (pl, w) for n, (pl, w) in self.weights.items() if _INFO[n].kind == "pixel_weight"
            ]
        return _unique(
            place
            for place, p in found
            if p.mask.kind in kinds and (inverted is None or p.mask.inverted == inverted)
        )

    def image_prompts(self) -> list[str]:
        """The image prompts ([photo.png]) of the scenes."""
        return _unique(place for place, p in self.prompts if p.image)

    def files(self) -> list[tuple[str, str]]:
        """(place, path) of every file the prompts, masks and image settings name."""
        s = self.s
        out = [(f"{n} {_q(getattr(s, n))}", getattr(s, n)) for n in FILE_SETTINGS if getattr(s, n)]
        for place, p in self.prompts:
            if p.image:
                out.append((place, p.image))
        for place, d in self.direct:
            out.append((place, d.path))
        for place, p in (*self.prompts, *self.direct, *self.weights.values()):
            if p.mask.kind.is_file:
                out.append((place, p.mask.path))
        return [(place, path) for place, path in out if self._reads(place)]

    def _reads(self, place: str) -> bool:
        """Whether the run reads the file a place names (a setting's, only when in force)."""
        name = place.split(" ", 1)[0]
        return name not in _INFO or self.in_force(name)

    @property
    def _names(self) -> tuple:
        """The names expressions may use; 3D motion's depth range too (only motion reads it)."""
        return ("t", *self.bands, *DEPTH_NAMES)

    def _parsed(self, info) -> tuple:
        """A time or motion setting's TimeValues (four for a quaternion), or none."""
        from ..lang.schedules import parse_time_value, parse_time_vector

        text = getattr(self.s, info.name)
        if info.kind == "quaternion":
            return _quiet(parse_time_vector, text, 4, names=self._names) or ()
        value = _quiet(parse_time_value, text, names=self._names)
        return () if value is None else (value,)


# the files a render reads: path settings but the models' folder and the output root
FILE_SETTINGS = tuple(
    i.name for i in schema() if i.kind == "path" and not (i.models or i.user_only)
)
_INFO = {info.name: info for info in schema()}


def _quiet(parse, *args, **kwargs):
    """A parser's result, or None where it fails (the plan reports why)."""
    try:
        return parse(*args, **kwargs)
    except (PyttiError, TypeError, ValueError):
        return None


def _q(text) -> str:
    """A prompt or value quoted for a place, bounded."""
    return shown(str(text), QUOTE)


def _unique(places) -> list[str]:
    """Places in order, each once."""
    return list(dict.fromkeys(places))
